"""/feeds add|list|remove: follow news feeds from Discord (Manage Server only). An extension: ``setup(bot)``
adds the command group; the work is ``FeedWatch``'s, on worker threads."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.discord_bot.commands import can_manage_server
from bot.discord_bot.embeds import escape, split_text
from bot.discord_bot.limits import CONTENT_LIMIT
from bot.render import feed_status, plural, when
from retrieval.errors import NewsdeskError, UnknownFeedError

if TYPE_CHECKING:
    from bot.discord_bot.client import NewsdeskBot
    from retrieval.feeds.types import Feed

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]


def feed_entry(feed: Feed) -> str:
    """One feed of /feeds list: name and URL, then how it is doing (as `newsdesk feeds list` prints it)."""
    return (
        f"**{escape(feed.name)}** <{feed.url}>\n"
        f"last fetched {when(feed.last_polled)} · {escape(feed_status(feed))} · {plural(feed.articles, 'article')}"
        f" · next poll {when(feed.next_poll)}"
    )


def list_text(feeds: list[Feed]) -> str:
    """The whole /feeds list reply."""
    if not feeds:
        return "No feeds yet: add one with `/feeds add URL`."
    return f"Following {plural(len(feeds), 'feed')}:\n\n" + "\n\n".join(feed_entry(f) for f in feeds)


async def add_command(bot: NewsdeskBot, interaction: Interaction, url: str, name: str | None) -> None:
    """/feeds add: fetch the URL once (a feed, or the feed its page announces), follow it, poll it now."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        feed = await bot.run_io(bot.feed_watch.add, url, name)
    except NewsdeskError as exc:  # not a feed, announces none, unreachable, an HTTP error, a bad URL, a taken name
        await interaction.followup.send(f"Cannot follow it: {exc}"[:CONTENT_LIMIT], ephemeral=True)
        return
    announced = f"\n({url.strip()} announced this feed.)" if feed.url.rstrip("/") != url.strip().rstrip("/") else ""
    log.info("feeds: %s followed %s (%s)", interaction.user.id, feed.url, feed.name)
    await interaction.followup.send(
        f"Following **{escape(feed.name)}**: <{feed.url}>{announced}\n"
        "Its new stories are fetched and indexed in the background; questions can use them minutes after.",
        ephemeral=True,
    )


async def list_command(bot: NewsdeskBot, interaction: Interaction) -> None:
    """/feeds list: every feed, last fetched, last status, articles, next poll."""
    try:
        feeds = await bot.run_io(bot.feed_watch.feeds)
    except NewsdeskError as exc:
        await interaction.response.send_message(str(exc)[:CONTENT_LIMIT], ephemeral=True)
        return
    parts = split_text(list_text(feeds), CONTENT_LIMIT)
    await interaction.response.send_message(parts[0], ephemeral=True)
    for part in parts[1:]:
        await interaction.followup.send(part, ephemeral=True)


async def remove_command(bot: NewsdeskBot, interaction: Interaction, feed: str) -> None:
    """/feeds remove: stop following a feed (its articles stay indexed)."""
    try:
        removed = await bot.run_io(bot.feed_watch.remove, feed)
    except NewsdeskError as exc:
        see = " (see `/feeds list`)" if isinstance(exc, UnknownFeedError) else ""
        await interaction.response.send_message(f"Cannot remove it: {exc}{see}"[:CONTENT_LIMIT], ephemeral=True)
        return
    log.info("feeds: %s stopped following %s", interaction.user.id, removed.url)
    await interaction.response.send_message(
        f"No longer following **{escape(removed.name)}** (<{removed.url}>); its articles stay indexed.",
        ephemeral=True,
    )


def setup(bot: NewsdeskBot) -> None:
    """Add the /feeds group: hidden from members without Manage Server, and refused to them if shown."""
    group = app_commands.Group(
        name="feeds",
        description="Follow news feeds (Manage Server only)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    @group.command(name="add", description="Follow a feed (RSS, Atom, JSON Feed) or the feed a web page announces")
    @app_commands.describe(url="The feed's URL, or a page that announces one", name="What to call it")
    @app_commands.check(can_manage_server)
    async def add(interaction: Interaction, url: app_commands.Range[str, 1, 2000], name: str | None = None) -> None:
        await add_command(bot, interaction, url, name)

    @group.command(name="list", description="The feeds followed and how they are doing")
    @app_commands.check(can_manage_server)
    async def list_(interaction: Interaction) -> None:
        await list_command(bot, interaction)

    @group.command(name="remove", description="Stop following a feed")
    @app_commands.describe(feed="The feed's URL or name")
    @app_commands.check(can_manage_server)
    async def remove(interaction: Interaction, feed: str) -> None:
        await remove_command(bot, interaction, feed)

    bot.tree.add_command(group)
