"""Topic alerts in a simulated Discord (simcord): /follow permissions, /follow /following /unfollow, exactly one
card when a matching article arrives from the loopback news site (none for one that does not match), one card
for a story several outlets carried, the hourly cap and its one-line summary."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import discord
import pytest

from bot.discord_bot.client import NewsdeskBot, create_bot
from bot.discord_bot.commands import NOT_ALLOWED_TOPICS
from bot.discord_bot.embeds import fits
from bot.discord_bot.feedback import FeedbackStore
from bot.settings import Settings
from retrieval.engine import Engine
from retrieval.feeds.state import FeedStore
from retrieval.feeds.updater import FeedUpdater
from tests.bot.discord_bot.test_feeds import FAST_FEEDS, cites, eventually
from tests.retrieval.alerts.conftest import HASH_MATCH
from tests.retrieval.feeds.newssite import NewsSite


@pytest.fixture
def bot_options(tmp_path: Path) -> dict[str, object]:
    return {"feeds_db": tmp_path / "feeds.sqlite3", "alerts_per_hour": 2, **FAST_FEEDS}


@pytest.fixture
def follow() -> dict[str, str]:
    """Feeds (name: path on the loopback site) followed before the bot starts; override to follow some."""
    return {}


@pytest.fixture
def simcord_bot(
    engine: Engine, settings: Settings, feedback: FeedbackStore, request: pytest.FixtureRequest, follow: dict[str, str]
) -> Iterator[NewsdeskBot]:
    if follow:
        site: NewsSite = request.getfixturevalue("site")
        updater = FeedUpdater(FeedStore(settings.following.feeds_db), settings.seeds_dir, settings.feeds)
        for name, path in follow.items():
            updater.add_unchecked(site.base + path, name)
        updater.close()
        updater.store.close()
    bot = create_bot(engine, settings, feedback=feedback)
    bot.alerts.match_config = HASH_MATCH  # the fitted threshold is MiniLM's, these tests embed with hashes
    yield bot
    bot.feed_watch.stop()
    bot.alerts.close()


@pytest.fixture
def world(simcord_env):
    """A guild with #news, a member, and a moderator with Manage Channels and Manage Server."""
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("news")
    member = guild.add_member(simcord_env.create_user("alice"))
    mods = guild.create_role("Mods", permissions=discord.Permissions(manage_channels=True, manage_guild=True))
    mod = guild.add_member(simcord_env.create_user("mod"), roles=[mods])
    return guild, channel, member, mod


def cards(bot: NewsdeskBot, channel) -> list[discord.Message]:  # noqa: ANN001
    """The alert cards the bot posted in ``channel``."""
    return [
        m
        for m in channel.history()
        if bot.user
        and m.author.id == bot.user.id
        and m.embeds
        and (m.embeds[0].footer.text or "").startswith("Following")
    ]


def summaries(bot: NewsdeskBot, channel) -> list[str]:  # noqa: ANN001
    """The one-line summaries of stories over the hourly cap."""
    return [
        m.content for m in channel.history() if bot.user and m.author.id == bot.user.id and m.content.startswith("…and")
    ]


async def growth_handled(bot: NewsdeskBot, before: int) -> bool:
    return await eventually(lambda: bot.alerts.rounds > before)


def article_at(engine: Engine, url: str) -> str | None:
    return next((a for a in engine.article_ids() if engine.index.articles[a].url == url), None)


async def handled(bot: NewsdeskBot, engine: Engine, url: str) -> bool:
    """True once the article at ``url`` has been matched as new and its cards (if any) posted."""
    return await eventually(lambda: (found := article_at(engine, url)) is not None and found in bot.alerts.done)


async def test_follow_is_hidden_from_members_and_refused_if_shown_to_them(simcord_env, world):
    guild, channel, alice, mod = world
    assert not {"follow", "unfollow"} & set(alice.available_commands(channel))
    assert {"follow", "following", "unfollow", "brief"} <= set(mod.available_commands(channel))
    assert {"following", "brief"} <= set(alice.available_commands(channel))
    [command] = [c for c in await simcord_env.bot.tree.fetch_commands() if c.name == "follow"]
    guild.set_command_permissions(command, {alice: True})  # a server that shows /follow to everyone
    result = await alice.slash(channel, "follow", topic="grain exports")
    assert result.ephemeral and result.response.content == NOT_ALLOWED_TOPICS
    assert [type(e) for e in simcord_env.errors] == [discord.app_commands.MissingPermissions]
    simcord_env.errors.clear()
    assert (await alice.slash(channel, "following")).response.content.startswith("No topic is followed")


async def test_follow_following_unfollow(simcord_env, world):
    guild, channel, alice, mod = world
    other = guild.create_text_channel("wire")
    added = await mod.slash(channel, "follow", topic="  grain   exports ", channel=other)
    assert added.ephemeral
    assert added.response.content.startswith(f"Following “grain exports” in <#{other.id}>. Each new story")
    again = await mod.slash(channel, "follow", topic="Grain Exports", channel=other)
    assert again.response.content == "Cannot follow it: this channel already follows “grain exports”"
    nothing = await mod.slash(channel, "follow", topic="?!")
    assert nothing.response.content.startswith("Cannot follow it: the topic “?!” has nothing to match")
    listed = await alice.slash(channel, "following")
    assert f"• “grain exports” in <#{other.id}> (id 1)" in listed.response.content
    removed = await mod.slash(channel, "unfollow", topic="GRAIN exports")
    assert removed.response.content == f"No longer following “grain exports” in <#{other.id}>."
    gone = await mod.slash(channel, "unfollow", topic="grain exports")
    assert gone.response.content == "Cannot unfollow it: not following “grain exports” (see `/following`)"


@pytest.mark.parametrize("follow", [{"Top stories": "/feeds/top.rss"}])
async def test_a_matching_article_from_the_news_site_gets_exactly_one_card(
    simcord_env, world, site, engine, news_stories, follow
):
    _, channel, _, mod = world
    bot = simcord_env.bot
    assert await eventually(lambda: cites(engine, news_stories[0], site))  # there before the topic is followed
    wanted = news_stories[2]
    topic = wanted.title[:100]
    assert (await mod.slash(channel, "follow", topic=topic)).response.content.startswith("Following")

    site.publish("top", news_stories[1])  # another subject
    assert await handled(bot, engine, site.base + news_stories[1].path)
    assert cards(bot, channel) == []

    site.publish("top", wanted)
    assert await handled(bot, engine, site.base + wanted.path)
    [card] = cards(bot, channel)
    embed = card.embeds[0]
    assert embed.title == discord.utils.escape_markdown(wanted.title)[:256]
    assert embed.url == site.base + wanted.path
    quoted = embed.description.split("\n")[0]
    assert quoted.startswith("> “") and quoted.endswith("” [1]") and len(quoted.split()) >= 8  # a whole sentence
    assert f"<{site.base + wanted.path}>" in embed.description
    assert "[1] Loopback Daily · " + wanted.date in embed.description
    assert embed.footer.text == f"Following “{topic}” · /unfollow to stop"
    assert not card.mentions and not card.role_mentions and not card.mention_everyone
    assert fits(card.embeds, card.content)


@pytest.mark.parametrize("follow", [{"Top stories": "/feeds/top.rss"}])
async def test_one_story_from_two_outlets_is_one_card_naming_both(
    simcord_env, world, site, engine, news_stories, follow
):
    _, channel, _, mod = world
    bot = simcord_env.bot
    assert await eventually(lambda: cites(engine, news_stories[0], site))
    wanted = news_stories[2]
    wire = dataclasses.replace(wanted, slug=wanted.slug + "-wire", outlet="Wire Service")  # the same text
    assert (await mod.slash(channel, "follow", topic=wanted.title[:100])).response.content.startswith("Following")
    site.publish("top", wire)
    site.publish("top", wanted)  # both in the feed's next poll
    urls = (site.base + wanted.path, site.base + wire.path)
    assert await eventually(lambda: any(article_at(engine, u) in bot.alerts.done for u in urls))
    [card] = cards(bot, channel)
    embed = card.embeds[0]
    shown, other = ("Loopback Daily", "Wire Service") if embed.url == urls[0] else ("Wire Service", "Loopback Daily")
    assert f"[1] {shown} · " in embed.description and f"also reported by {other}" in embed.description


GLACIERS = {
    "aletsch": "Rescuers pulled three climbers from a crevasse on the Aletsch glacier on Sunday.",
    "rhone": "A helicopter rescue team reached two hikers stranded on the Rhone glacier overnight.",
    "gorner": "Guides found a missing skier near the Gorner glacier after a rescue lasting nine hours.",
    "fiesch": "The Fiesch glacier rescue of a British mountaineer ended when a storm cleared at dawn.",
}


def glacier_article(name: str, sentence: str, source: str = "Alpine Post") -> str:
    return (
        f"---\ntitle: Glacier rescue at {name.title()}\ndate: 2022-08-0{1 + len(name) % 8}\nsource: {source}\n"
        f"url: https://example.com/{name}-{source.split()[0].lower()}\n---\n{sentence} "
        f"The {name.title()} valley police thanked the volunteers of the {name} station.\n"
    )


async def test_the_hourly_cap_sums_up_the_rest_in_one_line(simcord_env, world, tmp_path):
    _, channel, _, mod = world
    bot = simcord_env.bot
    assert (await mod.slash(channel, "follow", topic="glacier rescue")).response.content.startswith("Following")
    seeds = tmp_path / "seeds"
    for name, sentence in GLACIERS.items():
        (seeds / f"{name}.md").write_text(glacier_article(name, sentence), encoding="utf-8")
    # the Aletsch story carried by a second outlet too: one card, the outlet named on it
    copy = glacier_article("aletsch", GLACIERS["aletsch"], "Valais Daily") + "Our reporter contributed.\n"
    (seeds / "aletsch-copy.md").write_text(copy, encoding="utf-8")

    before = bot.alerts.rounds
    reindexed = await mod.slash(channel, "reindex")
    assert "(5 new, 0 changed" in reindexed.response.content
    assert await growth_handled(bot, before)
    posted = cards(bot, channel)
    assert len(posted) == 2  # alerts_per_hour
    [line] = summaries(bot, channel)
    assert line.startswith("…and 2 more stories on “glacier rescue” this hour")
    assert sum("Glacier rescue at Aletsch" in text for text in [line, *(c.embeds[0].title for c in posted)]) == 1
    also = [c for c in posted if "also reported by" in c.embeds[0].description]
    assert all(c.embeds[0].title == "Glacier rescue at Aletsch" for c in also)

    (seeds / "morteratsch.md").write_text(
        glacier_article("morteratsch", "A glacier rescue on the Morteratsch freed a trapped climber."), encoding="utf-8"
    )
    before = bot.alerts.rounds
    await mod.slash(channel, "reindex")
    assert await growth_handled(bot, before)
    assert len(cards(bot, channel)) == 2  # still within the same hour: no more cards
    assert summaries(bot, channel)[-1].startswith("…and 1 more story on “glacier rescue” this hour")


def test_a_card_fits_whatever_its_article() -> None:
    from bot.discord_bot.alerts import card_embed, held_line
    from retrieval.alerts.matching import TopicMatch
    from retrieval.alerts.planner import Card, TopicAlerts
    from retrieval.alerts.store import Follow
    from retrieval.alerts.stories import Story
    from retrieval.types import Article, Quote

    def article(n: int) -> Article:
        return Article(f"a{n}", "T" * 400, None, f"Outlet {n} " * 30, "word " * 3000, "example.org/no-scheme")

    lead = article(0)
    match = TopicMatch("topic", lead, 0.9, Quote(lead.text, 0, len(lead.text), 0))
    card = Card(Follow(1, "x" * 100, 5), match, Story(tuple(article(n) for n in range(40))))
    embed = card_embed(card)
    assert fits([embed]) and embed.url is None and "also reported by Outlet 1" in embed.description
    line = held_line(TopicAlerts(card.follow, (), (card,) * 80))
    assert len(line) <= 2000 and line.startswith("…and 80 more stories on “")
