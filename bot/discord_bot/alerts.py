"""Topic alerts in Discord: /follow, /following, /unfollow, and one card per new story on a followed topic,
posted in the topic's channel whenever the index grows (the feed watcher, a seed-file change, /reindex).

An extension: ``setup(bot)`` adds the commands and listens to the bot's ``FeedWatch`` for growth. The
matching, the story grouping and the hourly cap are the engine's (``retrieval.alerts``); this module
opens the follows database, runs the work on worker threads and posts.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.discord_bot.embeds import escape, link, note, shorten, split_text
from bot.discord_bot.freshness import REPLICA
from bot.discord_bot.limits import CONTENT_LIMIT, DESCRIPTION_LIMIT, FOOTER_LIMIT, TITLE_LIMIT
from bot.render import plural
from retrieval.errors import NewsdeskError, TopicError, UnknownTopicError

if TYPE_CHECKING:
    from bot.discord_bot.client import NewsdeskBot
    from retrieval.alerts.matching import MatchConfig
    from retrieval.alerts.planner import Card, TopicAlerts
    from retrieval.alerts.store import Follow, TopicStore

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]
ALERT_COLOUR = discord.Colour(0x5F3DC4)
CARD_QUOTE_CHARS = 600
"""How much of the matching sentence a card quotes."""


# -- what is posted (pure) -----------------------------------------------------------------------


def card_embed(card: Card) -> discord.Embed:
    """One story as a compact card: title (linked), the sentence that matched with its citation, the
    source line, the other outlets, and the topic it was posted for."""
    article = card.match.article
    quote = shorten(escape(card.match.quote.text), CARD_QUOTE_CHARS)
    day = article.date.isoformat() if article.date else "undated"
    source = " · ".join(p for p in (escape(article.source), day, link(article.url)) if p)
    lines = [f"> “{quote}” [1]", f"[1] {source}"]
    if card.also:
        lines.append(f"also reported by {escape(', '.join(card.also))}")
    embed = discord.Embed(
        title=shorten(escape(article.title) or "Untitled", TITLE_LIMIT),
        url=article.url if (article.url or "").startswith(("http://", "https://")) else None,  # Discord's rule
        description=shorten("\n".join(lines), DESCRIPTION_LIMIT),
        colour=ALERT_COLOUR,
    )
    embed.set_footer(text=shorten(f"Following “{card.follow.topic}” · /unfollow to stop", FOOTER_LIMIT))
    return embed


def held_line(alerts: TopicAlerts) -> str:
    """The one line that sums up the stories over the hourly cap."""
    titles = "; ".join(f"{c.match.article.title} ({c.match.article.source})" for c in alerts.held)
    count = f"{len(alerts.held)} more {'story' if len(alerts.held) == 1 else 'stories'}"
    return note(f"…and {count} on “{alerts.follow.topic}” this hour (the hourly limit is reached): {titles}")


def following_text(follows: Sequence[Follow]) -> str:
    """The /following reply."""
    if not follows:
        return "No topic is followed in this server yet: `/follow topic:<what to follow>` posts its new stories here."
    lines = [f"Following {plural(len(follows), 'topic')} (new stories are posted as they are indexed):"]
    for f in follows:
        lines.append(f"• “{escape(f.topic)}” in <#{f.channel_id}> (id {f.id})")
    return "\n".join(lines)


# -- the state and the work (worker threads) -------------------------------------------------------


class AlertDesk:
    """The follows of one bot and what the index's growth brings them. The database opens on first use."""

    def __init__(self, bot: NewsdeskBot) -> None:
        self.bot = bot
        self._store: TopicStore | None = None
        self._lock = threading.Lock()
        self._posting: asyncio.Lock | None = None
        self.match_config: MatchConfig | None = None
        """How articles are matched to topics (None: the fitted defaults)."""
        self.rounds = 0
        """Builds handled so far (each one's new articles matched and their cards posted)."""
        self.done: list[str] = []
        """The articles handled so far as new, oldest first."""

    def store(self) -> TopicStore:
        """The follows database beside the index (TopicError, one line, if it cannot be opened, or if this bot
        is a replica: the bot that builds the index sees new articles, so it keeps the follows and posts)."""
        with self._lock:
            if self._store is None:
                from retrieval.alerts.store import TopicStore, alerts_db

                if self.bot.engine.replica:
                    raise TopicError(f"topics are followed on the bot that builds the index: {REPLICA}")
                self._store = TopicStore(alerts_db(self.bot.engine.index_dir))
            return self._store

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _baseline(self, store: TopicStore) -> bool:
        """Note the articles indexed now as seen, once; False if there is no index yet."""
        if store.has_baseline:
            return True
        if self.bot.engine.missing_index() is not None:
            return False
        store.set_baseline(self.bot.engine.article_ids())
        return True

    def follow(self, topic: str, channel_id: int, guild_id: int, user_id: int) -> Follow:
        """Follow ``topic`` in a channel; only articles indexed from now on are posted."""
        store = self.store()
        follow = store.add(topic, channel_id, guild_id=guild_id, added_by=str(user_id))
        self._baseline(store)
        return follow

    def follows(self, guild: discord.Guild | None) -> list[Follow]:
        """The follows of a server (those added from the command line count where their channel is)."""
        if guild is None:
            return []
        channels = {c.id for c in guild.channels}
        return [
            f for f in self.store().follows(guild_id=guild.id) if f.guild_id == guild.id or f.channel_id in channels
        ]

    def unfollow(self, topic_or_id: str, guild: discord.Guild | None) -> Follow:
        """Stop following a topic of this server (by its words or its id)."""
        store = self.store()
        follow = store.find(topic_or_id, self.follows(guild))
        store.remove(follow.id)
        return follow

    def plan(self) -> tuple[list[str], list[TopicAlerts]]:
        """The articles indexed since the last call (now noted as seen) and the cards they bring."""
        store = self.store()
        if not store.follows():
            return [], []
        if not store.has_baseline:
            self._baseline(store)  # the first index: nothing in it is news to a follow made before it
            return [], []
        new = store.take_new(self.bot.engine.article_ids())
        per_hour = self.bot.settings.discord.alerts_per_hour
        plans = self.bot.engine.alerts_for(store, new, per_hour=per_hour, match=self.match_config)
        return new, [self._with_copies(p) for p in plans]

    def _with_copies(self, alerts: TopicAlerts) -> TopicAlerts:
        """The cards with the outlets of identical copies the feeds stored (the index holds such a text once)."""
        watch = self.bot.feed_watch
        try:
            if not watch.configured():
                return alerts
            store = watch.updater().store

            def more(card: Card) -> Card:
                ids = {a.id for a in card.story.articles}
                return replace(card, copies=tuple(o.source for c in ids for o in store.copies(c) if o.source))

            return replace(alerts, cards=tuple(map(more, alerts.cards)), held=tuple(map(more, alerts.held)))
        except Exception as exc:  # the feed state unreadable: the cards go without the copies' outlets
            log.warning("alerts: cannot read the feed state for copies: %s", exc)
            return alerts

    # -- posting (the event loop) ----------------------------------------------------------

    def on_growth(self, added: int) -> None:
        """A build ran (called on any thread): match what is new since the last one and post, on the bot's loop."""
        try:
            loop = self.bot.loop
            if loop.is_closed():
                return
        except AttributeError:  # not started yet (discord.py's loop placeholder): the next growth brings them
            return
        asyncio.run_coroutine_threadsafe(self.post_new(), loop)

    async def post_new(self) -> int:
        """Post the cards for what is new, one build at a time; the number of messages sent."""
        if self._posting is None:
            self._posting = asyncio.Lock()
        async with self._posting:
            new: list[str] = []
            sent = 0
            try:
                new, plans = await self.bot.run_engine(self.plan)
                for alerts in plans:
                    sent += await self._post(alerts)
            except NewsdeskError as exc:
                log.warning("alerts: %s", exc)
            except Exception:
                log.exception("alerts: matching the new articles failed")
            finally:
                self.done.extend(new)
                self.rounds += 1
            return sent

    async def _post(self, alerts: TopicAlerts) -> int:
        channel_id = alerts.follow.channel_id
        try:
            channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
            if not isinstance(channel, discord.abc.Messageable):
                raise TypeError(f"channel {channel_id} cannot take messages")
            sent = 0
            for card in alerts.cards:
                await channel.send(embed=card_embed(card), allowed_mentions=discord.AllowedMentions.none())
                sent += 1
            if alerts.held:
                await channel.send(held_line(alerts), allowed_mentions=discord.AllowedMentions.none())
                sent += 1
        except (discord.HTTPException, TypeError) as exc:
            log.warning("alerts: cannot post to channel %s for “%s”: %s", channel_id, alerts.follow.topic, exc)
            return 0
        log.info("alerts: %d cards for “%s” in channel %s", len(alerts.cards), alerts.follow.topic, channel_id)
        return sent


# -- the commands ----------------------------------------------------------------------------------


def can_manage_channels(interaction: Interaction) -> bool:
    """The /follow and /unfollow check: Manage Channels or Administrator."""
    perms = interaction.permissions
    if perms.manage_channels or perms.administrator:
        return True
    raise app_commands.MissingPermissions(["manage_channels"])


async def follow_command(
    bot: NewsdeskBot,
    desk: AlertDesk,
    interaction: Interaction,
    topic: str,
    channel: discord.TextChannel | discord.Thread | None,
) -> None:
    """/follow: follow a topic in this channel (or the one given)."""
    target = channel or interaction.channel
    if target is None or interaction.guild_id is None or not isinstance(target, discord.abc.Messageable):
        await interaction.response.send_message(note("Pick a text channel to post the stories in."), ephemeral=True)
        return
    try:
        follow = await bot.run_io(desk.follow, topic, target.id, interaction.guild_id, interaction.user.id)
    except NewsdeskError as exc:
        await interaction.response.send_message(note(f"Cannot follow it: {exc}"), ephemeral=True)
        return
    log.info("alerts: %s followed “%s” in channel %s", interaction.user.id, follow.topic, follow.channel_id)
    await interaction.response.send_message(
        note(
            f"Following “{escape(follow.topic)}” in <#{follow.channel_id}>. Each new story on it is posted there "
            f"as it is indexed (at most {bot.settings.discord.alerts_per_hour} cards an hour). "
            "`/following` lists the topics, `/unfollow` stops one."
        ),
        ephemeral=True,
    )


async def following_command(desk: AlertDesk, interaction: Interaction) -> None:
    """/following: the topics this server follows."""
    try:
        follows = await asyncio.to_thread(desk.follows, interaction.guild)
    except NewsdeskError as exc:
        await interaction.response.send_message(note(str(exc)), ephemeral=True)
        return
    parts = split_text(following_text(follows), CONTENT_LIMIT)
    await interaction.response.send_message(parts[0], ephemeral=True)
    for part in parts[1:]:
        await interaction.followup.send(part, ephemeral=True)


async def unfollow_command(desk: AlertDesk, interaction: Interaction, topic: str) -> None:
    """/unfollow: stop following a topic."""
    try:
        follow = await asyncio.to_thread(desk.unfollow, topic, interaction.guild)
    except NewsdeskError as exc:
        see = " (see `/following`)" if isinstance(exc, UnknownTopicError) else ""
        await interaction.response.send_message(note(f"Cannot unfollow it: {exc}{see}"), ephemeral=True)
        return
    log.info("alerts: %s stopped following “%s”", interaction.user.id, follow.topic)
    await interaction.response.send_message(
        note(f"No longer following “{escape(follow.topic)}” in <#{follow.channel_id}>."), ephemeral=True
    )


def setup(bot: NewsdeskBot) -> None:
    """Add /follow, /following and /unfollow, and post new stories whenever the index grows."""
    desk = bot.alerts
    bot.feed_watch.on_growth.append(desk.on_growth)
    tree = bot.tree

    @tree.command(name="follow", description="Post each new story on a topic in a channel (Manage Channels only)")
    @app_commands.describe(
        topic="What to follow, in a few words, e.g. grain exports from Ukraine",
        channel="Where to post the stories (default: this channel)",
    )
    @app_commands.default_permissions(manage_channels=True)
    @app_commands.check(can_manage_channels)
    @app_commands.guild_only()
    async def follow(
        interaction: Interaction,
        topic: app_commands.Range[str, 1, 100],
        channel: discord.TextChannel | discord.Thread | None = None,
    ) -> None:
        await follow_command(bot, desk, interaction, topic, channel)

    @tree.command(name="following", description="The topics this server follows")
    @app_commands.guild_only()
    async def following(interaction: Interaction) -> None:
        await following_command(desk, interaction)

    @tree.command(name="unfollow", description="Stop posting a topic's stories (Manage Channels only)")
    @app_commands.describe(topic="The topic's words or its id (see /following)")
    @app_commands.default_permissions(manage_channels=True)
    @app_commands.check(can_manage_channels)
    @app_commands.guild_only()
    async def unfollow(interaction: Interaction, topic: app_commands.Range[str, 1, 100]) -> None:
        await unfollow_command(desk, interaction, topic)

    @unfollow.autocomplete("topic")
    async def topics(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        try:
            follows = await asyncio.to_thread(desk.follows, interaction.guild)
        except NewsdeskError:
            return []
        wanted = current.lower()
        return [app_commands.Choice(name=f.topic[:100], value=f.topic) for f in follows if wanted in f.topic.lower()][
            :25
        ]
