"""/feeds and the background feed watcher in a simulated Discord (simcord), against the loopback news site
the feed tests run: permissions, add/list/remove, one-line errors, items published while the bot runs
becoming answerable, /stats, a failing feed that never stops the bot, a clean stop."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import discord
import pytest

from bot.cli import main
from bot.context import CommandContext
from bot.discord_bot import freshness
from bot.discord_bot.client import NewsdeskBot, create_bot
from bot.discord_bot.commands import NOT_ALLOWED_FEEDS
from bot.discord_bot.feedback import FeedbackStore
from bot.settings import Settings
from retrieval.engine import Engine
from retrieval.feeds.state import FeedStore
from retrieval.feeds.updater import FeedUpdater
from tests.bot.discord_bot.fake_discord import GOOD_TOKEN
from tests.bot.discord_bot.test_transport import posts
from tests.retrieval.feeds.newssite import (
    NewsSite,
    Story,
    wait_for,
)
from tests.retrieval.feeds.test_updater import a_sentence

FAST_FEEDS = {
    "feeds_interval": 1.0,
    "feeds_host_delay": 0.0,
    "feeds_connect_timeout": 2.0,
    "feeds_timeout": 2.0,
    "feeds_total_timeout": 5.0,
    "feeds_max_backoff": 2.0,
    "watch_poll_seconds": 0.2,
}


@pytest.fixture
def bot_options(tmp_path: Path) -> dict[str, object]:
    return {"feeds_db": tmp_path / "feeds.sqlite3", **FAST_FEEDS}


@pytest.fixture
def follow() -> dict[str, str]:
    """Feeds (name: path on the site) followed before the bot starts; override to follow some."""
    return {}


@pytest.fixture
def simcord_bot(
    engine: Engine, settings: Settings, feedback: FeedbackStore, site: NewsSite, follow: dict[str, str]
) -> Iterator[NewsdeskBot]:
    if follow:
        updater = FeedUpdater(FeedStore(settings.following.feeds_db), settings.seeds_dir, settings.feeds)
        for name, path in follow.items():
            updater.add_unchecked(site.base + path, name)
        updater.close()
        updater.store.close()
    bot = create_bot(engine, settings, feedback=feedback)
    yield bot
    bot.feed_watch.stop()


@pytest.fixture
def world(simcord_env):
    """A guild with a #news channel, a member and an admin."""
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("news")
    member = guild.add_member(simcord_env.create_user("alice"))
    admins = guild.create_role("Admins", permissions=discord.Permissions(manage_guild=True))
    admin = guild.add_member(simcord_env.create_user("root"), roles=[admins])
    return guild, channel, member, admin


async def eventually(predicate, timeout: float = 30.0) -> bool:  # noqa: ANN001
    """Wait (off the event loop) for ``predicate``, which may call the engine."""
    return await asyncio.to_thread(wait_for, predicate, timeout, 0.1)


def cites(engine: Engine, story: Story, site: NewsSite) -> bool:
    return any(c.url == site.base + story.path for c in engine.ask(a_sentence(story)).citations)


def watcher_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in ("newsdesk-bot-watch", "newsdesk-files")]


async def test_feeds_are_hidden_from_members_and_refused_if_shown_to_them(simcord_env, world):
    guild, channel, alice, admin = world
    assert not [c for c in alice.available_commands(channel) if c.startswith("feeds")]
    assert {"feeds add", "feeds list", "feeds remove"} <= set(admin.available_commands(channel))
    [command] = [c for c in await simcord_env.bot.tree.fetch_commands() if c.name == "feeds"]
    guild.set_command_permissions(command, {alice: True})  # a server that shows the command to everyone
    for name, options in [("feeds list", {}), ("feeds add", {"url": "https://example.org/feed"})]:
        result = await alice.slash(channel, name, **options)
        assert result.ephemeral and result.response.content == NOT_ALLOWED_FEEDS
    assert [type(e) for e in simcord_env.errors] == [discord.app_commands.MissingPermissions] * 2
    simcord_env.errors.clear()
    assert not simcord_env.bot.feed_watch.feeds()


async def test_add_list_remove(simcord_env, world, site, engine, news_stories):
    _, channel, _, admin = world
    empty = await admin.slash(channel, "feeds list")
    assert empty.ephemeral and empty.response.content.startswith("No feeds yet")

    added = await admin.slash(channel, "feeds add", url=site.base + "/")  # the home page announces the feed
    assert added.ephemeral
    text = added.response.content
    assert text.startswith("Following **Top stories**: <" + site.base + "/feeds/top.rss>") and "announced" in text
    # following it started the watcher: the story is fetched, indexed and answerable without a command
    assert await eventually(lambda: cites(engine, news_stories[0], site))

    listed = await admin.slash(channel, "feeds list")
    assert "**Top stories** <" + site.base + "/feeds/top.rss>" in listed.response.content
    assert "· ok · 1 article · next poll" in listed.response.content
    removed = await admin.slash(channel, "feeds remove", feed="Top stories")
    assert removed.response.content.startswith("No longer following **Top stories**")
    again = await admin.slash(channel, "feeds remove", feed="Top stories")
    assert again.response.content == "Cannot remove it: not following 'Top stories' (see `/feeds list`)"
    assert (await admin.slash(channel, "feeds list")).response.content.startswith("No feeds yet")


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/bad/page.html", "is a web page that announces no feed"),
        ("/bad/error500.rss", "HTTP 500"),
        ("/bad/malformed.rss", "is not a feed"),
        ("ftp://example.org/feed", "not an http(s) URL: 'ftp://example.org/feed'"),
    ],
)
async def test_what_is_no_feed_is_one_line(simcord_env, world, site, path, fragment):
    _, channel, _, admin = world
    url = path if "://" in path else site.base + path
    result = await admin.slash(channel, "feeds add", url=url)
    [reply] = result.followups or [result.response]
    assert result.ephemeral and reply.content.startswith("Cannot follow it: ")
    assert fragment in reply.content and "\n" not in reply.content
    assert not simcord_env.bot.feed_watch.feeds()


@pytest.mark.parametrize("follow", [{"Top stories": "/feeds/top.rss"}])
async def test_an_item_published_while_the_bot_runs_becomes_answerable(
    simcord_env, world, site, engine, news_stories, follow
):
    _, channel, alice, _ = world
    bot = simcord_env.bot
    assert bot.feed_watch.watching  # feeds configured: the watcher started with the bot
    assert await eventually(lambda: cites(engine, news_stories[0], site))
    site.publish("top", news_stories[1])  # published while the bot runs
    assert await eventually(lambda: cites(engine, news_stories[1], site))

    result = await alice.slash(channel, "ask", question=a_sentence(news_stories[1]))
    embed = result.response.embeds[0]
    assert any(site.base + news_stories[1].path in f.value for f in embed.fields), embed.to_dict()
    stats = await alice.slash(channel, "stats")
    fields = {f.name: f.value for f in stats.response.embeds[0].fields}
    assert fields["Feeds"].startswith("1 feed · last poll 2") and fields["Feeds"].endswith("no failures")
    assert fields["Last grew"].endswith("(+1 article)")
    assert site.page_requests()[news_stories[1].path] == 1  # fetched once

    bot.feed_watch.stop()  # what close() does: the watcher and its file watcher end
    assert not bot.feed_watch.watching and not watcher_threads()


@pytest.mark.parametrize("follow", [{"broken": "/bad/error500.rss"}])
async def test_a_failing_feed_is_logged_and_never_stops_the_bot(simcord_env, world, site, follow, caplog):
    caplog.set_level(logging.INFO)
    _, channel, alice, _ = world
    assert await eventually(lambda: site.requests["/bad/error500.rss"] >= 2)  # retried on the next polls
    result = await alice.slash(channel, "ask", question="Where will ships be inspected?")
    assert result.response.embeds[0].description == "Ships will be inspected in Istanbul. [1 · 2022-07-22]"
    assert any("✗ broken: failed — HTTP 500" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    stats = await alice.slash(channel, "stats")
    fields = {f.name: f.value for f in stats.response.embeds[0].fields}
    assert "1 failing: broken (" in fields["Feeds"] and "in a row" in fields["Feeds"]
    assert fields["Last grew"] == "not since the bot started"
    assert simcord_env.bot.feed_watch.watching


@pytest.mark.parametrize("follow", [{"Top stories": "/feeds/top.rss"}])
async def test_a_watcher_that_fails_is_logged_and_run_again(
    simcord_env, world, site, engine, news_stories, follow, monkeypatch, caplog
):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(freshness, "RESTART_SECONDS", 0.2)
    _, channel, alice, _ = world
    watch = simcord_env.bot.feed_watch
    assert await eventually(lambda: cites(engine, news_stories[0], site))
    watch.updater().store.close()  # the feed state's connection breaks under the running watcher
    site.publish("top", news_stories[1])
    assert await eventually(lambda: any("the feed watcher failed" in r.getMessage() for r in caplog.records))
    assert await eventually(lambda: cites(engine, news_stories[1], site))  # running again, the state reopened
    result = await alice.slash(channel, "ask", question="Where will ships be inspected?")
    assert result.response.embeds[0].description == "Ships will be inspected in Istanbul. [1 · 2022-07-22]"
    assert watch.watching


# -- `newsdesk bot` over the wire ------------------------------------------------------------------


async def test_newsdesk_bot_watches_the_feeds_and_stops_cleanly(
    fake, engine, site, news_stories, tmp_path, monkeypatch
):
    """`newsdesk bot` with a feed followed: what the site publishes while it runs is answered over the wire."""
    from bot.discord_bot import client

    monkeypatch.chdir(tmp_path)  # tmp_path/seeds and tmp_path/index: the tiny corpus
    updater = FeedUpdater(FeedStore(tmp_path / "feeds.sqlite3"), tmp_path / "seeds")
    updater.add_unchecked(site.base + "/feeds/top.rss", "Top stories")
    updater.close()
    updater.store.close()
    for name, value in {"DISCORD_TOKEN": GOOD_TOKEN, "FEEDS_DB": "feeds.sqlite3", "FEEDS_HOST_DELAY": "0"}.items():
        monkeypatch.setenv(f"NEWSDESK_{name}", value)
    monkeypatch.setenv("NEWSDESK_FEEDS_INTERVAL", "1")
    monkeypatch.setattr(CommandContext, "ready_engine", lambda self: engine)
    started: list[NewsdeskBot] = []
    real_create_bot = client.create_bot
    monkeypatch.setattr(client, "create_bot", lambda *a, **k: started.append(real_create_bot(*a, **k)) or started[-1])

    def in_bot_loop(coroutine):  # noqa: ANN001, ANN202
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, started[0].loop))

    command = asyncio.create_task(asyncio.to_thread(main, ["bot", "--seeds", "seeds", "--index", "index"]))
    try:
        await asyncio.wait_for(fake.ready.wait(), 15)
        assert started[0].feed_watch.watching
        assert await eventually(lambda: cites(engine, news_stories[0], site))
        site.publish("top", news_stories[1])
        assert await eventually(lambda: cites(engine, news_stories[1], site))
        token = await fake.slash(fake.user("alice"), "ask", question=a_sentence(news_stories[1]))
        url = site.base + news_stories[1].path

        def answered(requests) -> list:  # noqa: ANN001
            return [r for r in posts(requests, f"/webhooks/{fake.app_id}/{token}") if url in str(r.body)]

        assert answered(await fake.wait_for(answered, 15))
    finally:
        if started:
            await asyncio.wait_for(in_bot_loop(started[0].close()), 40)
        assert await asyncio.wait_for(command, 40) == 0
    assert not started[0].feed_watch.watching and not watcher_threads()
