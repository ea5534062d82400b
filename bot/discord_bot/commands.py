"""The slash commands (/ask, /sources, /stats, /reindex): an extension, ``setup(bot)`` adds them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot.discord_bot.answering import Asking, answer_question
from bot.discord_bot.buttons import answer_view
from bot.discord_bot.embeds import APOLOGY, note, sources_embeds, stats_embed, writing_embeds
from bot.discord_bot.freshness import REPLICA
from bot.discord_bot.guard import Refusal
from bot.discord_bot.streaming import Coalescer, Written
from retrieval.errors import NewsdeskError

if TYPE_CHECKING:
    from bot.discord_bot.client import NewsdeskBot
    from retrieval.index.indexer import BuildProgress, BuildSummary
    from retrieval.ingest.results import IngestResult

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]
F = TypeVar("F", bound=Callable[..., Any])

NOT_ALLOWED = "Only members with **Manage Server** or **Administrator** can rebuild the index."
NOT_ALLOWED_FEEDS = "Only members with **Manage Server** or **Administrator** can change what newsdesk follows."
NOT_ALLOWED_TOPICS = "Only members with **Manage Channels** or **Administrator** can change the topics followed."
PROGRESS_EDIT_SECONDS = 2.0
"""At most one progress edit of the /reindex reply every this many seconds."""


# -- small helpers -------------------------------------------------------------------------------


async def tell(interaction: Interaction, text: str) -> None:
    """A short ephemeral note, whether or not the interaction has been answered yet."""
    text = note(text)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


async def tell_privately(interaction: Interaction, text: str) -> None:
    """An ephemeral note even after a public defer: a deferred "thinking…" message keeps its
    visibility, so complete it, send the note as a new ephemeral followup, then delete it."""
    if not interaction.response.is_done():
        await tell(interaction, text)
        return
    with contextlib.suppress(discord.HTTPException):
        await interaction.edit_original_response(content="…")
    await interaction.followup.send(note(text), ephemeral=True)
    with contextlib.suppress(discord.HTTPException):
        await interaction.delete_original_response()


async def apologise(interaction: Interaction) -> None:
    """The user-facing side of an unexpected error: a short ephemeral apology."""
    try:
        await tell_privately(interaction, APOLOGY)
    except discord.HTTPException as exc:
        log.warning("could not deliver the apology for interaction %s: %s", interaction.id, exc)


# -- /ask and /sources ---------------------------------------------------------------------------


async def ask_command(
    bot: NewsdeskBot, interaction: Interaction, question: str, since: str | None, until: str | None
) -> None:
    """/ask: the guard first (ephemeral refusals), then defer and the shared answer flow."""
    try:
        admitted = bot.guard.admit(
            question, user_id=interaction.user.id, channel=interaction.channel, since=since, until=until
        )
    except Refusal as refusal:
        await tell(interaction, refusal.text)
        return
    await interaction.response.defer(thinking=True)
    thread = interaction.channel_id if isinstance(interaction.channel, discord.Thread) else None
    asking = Asking(
        as_of=interaction.created_at.date(),
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        user_id=interaction.user.id,
        via="slash",
        follows=(thread,),
        thread=thread,
    )
    await answer_question(bot, admitted, asking, SlashReply(bot, interaction, admitted.text))


class SlashReply:
    """Where an /ask answer goes: the deferred reply (edited as a written answer comes), then followups;
    notes are ephemeral."""

    def __init__(self, bot: NewsdeskBot, interaction: Interaction, question: str) -> None:
        self.bot = bot
        self.interaction = interaction
        self.question = question
        self.started = False

    async def show(self, written: list[Written]) -> None:
        self.started = True
        answer_chars = self.bot.settings.discord.answer_chars
        await self.interaction.edit_original_response(
            embeds=writing_embeds(self.question, written, answer_chars=answer_chars)
        )

    async def deliver(
        self, messages: list[list[discord.Embed]], answer_id: int, edits: Coalescer[list[Written]]
    ) -> list[discord.Message]:
        interaction = self.interaction
        view = answer_view(answer_id)
        sent: list[discord.Message] = []
        if self.started:  # the reply shows the sentences so far: its last edit is the whole answer
            first = messages[0]
            last = len(messages) == 1
            sent.append(
                await edits.last(
                    lambda: interaction.edit_original_response(content=None, embeds=first, view=view if last else None)
                )
            )
            messages = messages[1:]
        for number, embeds in enumerate(messages, start=1):
            if number == len(messages):
                sent.append(await interaction.followup.send(embeds=embeds, view=view, wait=True))
            else:
                sent.append(await interaction.followup.send(embeds=embeds, wait=True))
        return sent

    async def withdraw(self) -> None:
        """Nothing to take back: the note replaces the deferred reply."""

    async def tell(self, text: str) -> None:
        try:
            await tell_privately(self.interaction, text)
        except discord.HTTPException as exc:
            log.warning("could not deliver a note for interaction %s: %s", self.interaction.id, exc)


async def sources_command(bot: NewsdeskBot, interaction: Interaction, query: str) -> None:
    """/sources: the top passages, only for the asker (the same guard as /ask)."""
    try:
        admitted = bot.guard.admit(query, user_id=interaction.user.id, channel=interaction.channel, verb="search for")
    except Refusal as refusal:
        await tell(interaction, refusal.text)
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        hits = await bot.run_engine(bot.engine.search, admitted.text)
    except Exception:
        log.exception("the engine failed on /sources %r", admitted.text)
        await tell(interaction, APOLOGY)
        return
    for embeds in sources_embeds(admitted.text, hits):
        await interaction.followup.send(embeds=embeds, ephemeral=True)


# -- /stats and /reindex -------------------------------------------------------------------------


async def stats_command(bot: NewsdeskBot, interaction: Interaction) -> None:
    """/stats: what is indexed (read from the manifest)."""
    try:
        stats = await bot.run_io(bot.engine.stats)
    except NewsdeskError as exc:
        await tell(interaction, f"No index to describe: {exc}.")
        return
    try:
        feeds = await bot.run_io(bot.feed_watch.status)
    except Exception as exc:  # the feed state unreadable: the index's stats still come
        log.warning("/stats: cannot read the feeds: %s", exc)
        feeds = None
    embed = stats_embed(stats, loaded_model=bot.engine.model_name, feeds=feeds)
    await interaction.response.send_message(embed=embed, ephemeral=True)


def progress_text(event: BuildProgress) -> str:
    """One line of /reindex progress."""
    share = f" ({event.done / event.total:.0%})" if event.total else ""
    return f"Rebuilding the index… {event.stage}: {event.done:,}/{event.total:,}{share}"


def summary_text(summary: BuildSummary, ingest: IngestResult) -> str:
    """The /reindex result, one paragraph."""
    skipped = len(ingest.skipped)
    return (
        f"Index rebuilt: {summary.articles:,} articles ({summary.added} new, {summary.changed} changed, "
        f"{summary.removed} removed, {summary.unchanged} unchanged), {summary.passages:,} passages; "
        f"embedded {summary.embedded:,} in {summary.seconds:.1f} s; skipped {skipped} file"
        f"{'s' if skipped != 1 else ''}. Questions now use the new index."
    )


@dataclass
class Rebuilds:
    """Whether a /reindex is running (one at a time per bot)."""

    running: bool = False


async def reindex_command(bot: NewsdeskBot, rebuilds: Rebuilds, interaction: Interaction, full: bool) -> None:
    """/reindex: rebuild from the bot's seeds directory on a worker thread, edit the reply with progress,
    swap, summarise."""
    if rebuilds.running:
        await tell(interaction, "A rebuild is already running; its reply shows the progress.")
        return
    if bot.engine.replica:  # a build here would publish this machine's seeds over the builder's index
        await tell(interaction, f"Cannot rebuild here: rebuilds run on the bot that builds the index; {REPLICA}.")
        return
    rebuilds.running = True
    try:
        seeds = bot.seeds_dir
        await interaction.response.send_message(
            f"Rebuilding the index from `{seeds}`{' from scratch' if full else ''}… "
            "Questions keep being answered from the current index meanwhile.",
            ephemeral=True,
        )
        latest: list[BuildProgress] = []
        loop = asyncio.get_running_loop()
        task = loop.run_in_executor(None, lambda: bot.engine.build(seeds, full=full, progress=latest.append))
        shown = -1
        while True:
            done, _ = await asyncio.wait({task}, timeout=PROGRESS_EDIT_SECONDS)
            if done:
                break
            if latest and len(latest) != shown:
                shown = len(latest)
                try:
                    await interaction.edit_original_response(content=progress_text(latest[-1]))
                except discord.HTTPException as exc:
                    log.warning("could not edit the /reindex progress: %s", exc)
        try:
            summary, ingest = task.result()
        except NewsdeskError as exc:
            log.warning("/reindex failed: %s", exc)
            await interaction.edit_original_response(
                content=note(f"The rebuild failed: {exc}. The previous index is still in use.")
            )
            return
        except Exception:
            log.exception("/reindex failed")
            await interaction.edit_original_response(
                content=note("Sorry, the rebuild failed; it has been logged. The previous index is still in use.")
            )
            return
        log.info("reindex by %s: %s", interaction.user.id, summary_text(summary, ingest))
        bot.feed_watch.grew(summary.added)
        await interaction.edit_original_response(content=note(summary_text(summary, ingest)))
    finally:
        rebuilds.running = False


def not_allowed(interaction: Interaction) -> str:
    """The refusal for a member without Manage Server, naming what the command does."""
    command: Any = interaction.command
    if isinstance(command, app_commands.Command) and command.root_parent is not None:
        command = command.root_parent
    if command is not None and command.name in ("follow", "unfollow"):
        return NOT_ALLOWED_TOPICS
    return NOT_ALLOWED_FEEDS if command is not None and command.name == "feeds" else NOT_ALLOWED


def can_manage_server(interaction: Interaction) -> bool:
    """The /reindex and /feeds check: Manage Server or Administrator, whatever the server's command overrides say."""
    perms = interaction.permissions
    if perms.manage_guild or perms.administrator:
        return True
    raise app_commands.MissingPermissions(["manage_guild"])


# -- registration --------------------------------------------------------------------------------


def max_length(max_chars: int, option: str) -> Callable[[F], F]:
    """Decorate a command callback so Discord's client refuses an ``option`` over ``max_chars`` before
    sending it. The limit is the engine's, known only at run time: it cannot be written in the
    annotation, so this sets the annotation discord.py reads when the command is made."""

    def decorate(callback: F) -> F:
        callback.__annotations__[option] = app_commands.Range[str, 1, max_chars]
        return callback

    return decorate


def setup(bot: NewsdeskBot) -> None:
    """Add /ask, /sources, /stats, /reindex and the command tree's error handler to ``bot``."""
    tree = bot.tree
    max_chars = bot.engine.max_question_chars
    rebuilds = Rebuilds()

    @tree.command(name="ask", description="Ask the news articles a question and get a cited answer")
    @app_commands.describe(
        question="Your question, e.g. Why won't Turkey sanction Russia?",
        since="Only articles published on or after this date (YYYY-MM-DD)",
        until="Only articles published on or before this date (YYYY-MM-DD)",
    )
    @app_commands.guild_only()
    @max_length(max_chars, "question")
    async def ask(interaction: Interaction, question: str, since: str | None = None, until: str | None = None) -> None:
        await ask_command(bot, interaction, question, since, until)

    @tree.command(name="sources", description="Show the passages that best match a query (only you see them)")
    @app_commands.describe(query="What to look for")
    @app_commands.guild_only()
    @max_length(max_chars, "query")
    async def sources(interaction: Interaction, query: str) -> None:
        await sources_command(bot, interaction, query)

    @tree.command(name="stats", description="What newsdesk has indexed")
    @app_commands.guild_only()
    async def stats(interaction: Interaction) -> None:
        await stats_command(bot, interaction)

    @tree.command(name="reindex", description="Rebuild the index from the articles (Manage Server only)")
    @app_commands.describe(full="Rebuild from scratch instead of updating what changed")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.check(can_manage_server)
    @app_commands.guild_only()
    async def reindex(interaction: Interaction, full: bool = False) -> None:
        await reindex_command(bot, rebuilds, interaction, full)

    @tree.error
    async def on_tree_error(interaction: Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.MissingPermissions):
            await tell(interaction, not_allowed(interaction))
            return
        if isinstance(error, app_commands.NoPrivateMessage):
            await tell(interaction, "Use this command in a server channel.")
            return
        log.error("command %s failed", interaction.command.name if interaction.command else "?", exc_info=error)
        await apologise(interaction)
