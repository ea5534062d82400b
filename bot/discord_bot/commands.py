"""The slash commands (/ask, /sources, /stats, /reindex) and mention mode."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.discord_bot.buttons import answer_view
from bot.discord_bot.embeds import answer_embeds, note, shorten, sources_embeds, stats_embed
from retrieval.engine import check_question
from retrieval.errors import BadQuestionError, NewsdeskError
from retrieval.types import DateRange

if TYPE_CHECKING:
    from bot.discord_bot.client import NewsdeskBot
    from retrieval.index.indexer import BuildProgress, BuildSummary
    from retrieval.ingest.files import IngestResult

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]

APOLOGY = "Sorry, something went wrong while answering. It has been logged; please try again later."
NOT_ALLOWED = "Only members with **Manage Server** or **Administrator** can rebuild the index."
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


def parse_dates(since: str | None, until: str | None) -> DateRange:
    """The since/until options as a DateRange; BadQuestionError if one is not a date."""

    def day(name: str, value: str | None) -> dt.date | None:
        if value is None or not value.strip():
            return None
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise BadQuestionError(f"{name} '{shorten(value, 40)}' is not a date; use YYYY-MM-DD") from None

    start, end = day("since", since), day("until", until)
    if start and end and start > end:
        raise BadQuestionError(f"since {start} is after until {end}")
    return DateRange(start, end)


def cooldown_text(bot: NewsdeskBot, wait: float) -> str:
    """The note for a user who asks too quickly."""
    s = bot.settings
    return (
        f"You're asking quickly: try again in {math.ceil(wait)} s "
        f"(up to {s.cooldown_questions} questions every {s.cooldown_seconds:g} s)."
    )


def allowed_channels_text(bot: NewsdeskBot) -> str:
    """Where the bot answers, for someone asking elsewhere."""
    return "I answer questions in " + ", ".join(f"<#{c}>" for c in bot.settings.discord_channels) + "."


def _max_chars(bot: NewsdeskBot) -> int:
    return bot.engine.max_question_chars


# -- /ask and /sources ---------------------------------------------------------------------------


async def ask_command(
    bot: NewsdeskBot, interaction: Interaction, question: str, since: str | None, until: str | None
) -> None:
    """/ask: checks first (ephemeral refusals), then defer, answer off the loop, embeds + buttons."""
    if not bot.channel_allowed(interaction.channel):
        await tell(interaction, allowed_channels_text(bot))
        return
    try:
        question = check_question(question, _max_chars(bot))
        dates = parse_dates(since, until)
    except BadQuestionError as exc:
        await tell(interaction, f"I can't ask that: {exc}.")
        return
    wait = bot.cooldown.hit(interaction.user.id)
    if wait:
        await tell(interaction, cooldown_text(bot, wait))
        return
    await interaction.response.defer(thinking=True)
    try:
        answer, answer_id = await bot.answer(
            question,
            dates,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            via="slash",
        )
    except BadQuestionError as exc:
        await tell_privately(interaction, f"I can't ask that: {exc}.")
        return
    except Exception:
        log.exception("the engine failed on /ask %r", question)
        await apologise(interaction)
        return
    messages = answer_embeds(answer, answer_chars=bot.settings.answer_chars)
    for number, embeds in enumerate(messages, start=1):
        last = number == len(messages)
        if last:
            await interaction.followup.send(embeds=embeds, view=answer_view(answer_id))
        else:
            await interaction.followup.send(embeds=embeds)


async def sources_command(bot: NewsdeskBot, interaction: Interaction, query: str) -> None:
    """/sources: the top passages, only for the asker."""
    try:
        query = check_question(query, _max_chars(bot))
    except BadQuestionError as exc:
        await tell(interaction, f"I can't search for that: {exc}.")
        return
    wait = bot.cooldown.hit(interaction.user.id)
    if wait:
        await tell(interaction, cooldown_text(bot, wait))
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        hits = await bot.run_engine(bot.engine.search, query)
    except Exception:
        log.exception("the engine failed on /sources %r", query)
        await tell(interaction, APOLOGY)
        return
    for embeds in sources_embeds(query, hits):
        await interaction.followup.send(embeds=embeds, ephemeral=True)


# -- /stats and /reindex -------------------------------------------------------------------------


async def stats_command(bot: NewsdeskBot, interaction: Interaction) -> None:
    """/stats: what is indexed (read from the manifest)."""
    try:
        stats = await bot.run_io(bot.engine.stats)
    except NewsdeskError as exc:
        await tell(interaction, f"No index to describe: {exc}.")
        return
    embed = stats_embed(stats, loaded_model=bot.engine.model_name)
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


async def reindex_command(bot: NewsdeskBot, interaction: Interaction, full: bool) -> None:
    """/reindex: rebuild on a worker thread, edit the reply with progress, swap, summarise."""
    if bot.reindexing:
        await tell(interaction, "A rebuild is already running; its reply shows the progress.")
        return
    bot.reindexing = True
    try:
        seeds = bot.settings.seeds_dir
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
        await interaction.edit_original_response(content=note(summary_text(summary, ingest)))
    finally:
        bot.reindexing = False


def can_manage_server(interaction: Interaction) -> bool:
    """The /reindex check: Manage Server or Administrator, whatever the server's command overrides say."""
    perms = interaction.permissions
    if perms.manage_guild or perms.administrator:
        return True
    raise app_commands.MissingPermissions(["manage_guild"])


# -- registration --------------------------------------------------------------------------------


def setup_commands(bot: NewsdeskBot) -> None:
    """Add the app commands and the tree's error handler to ``bot``."""
    tree = bot.tree

    @tree.command(name="ask", description="Ask the news articles a question and get a cited answer")
    @app_commands.describe(
        question="Your question, e.g. Why won't Turkey sanction Russia?",
        since="Only articles published on or after this date (YYYY-MM-DD)",
        until="Only articles published on or before this date (YYYY-MM-DD)",
    )
    @app_commands.guild_only()
    async def ask(interaction: Interaction, question: str, since: str | None = None, until: str | None = None) -> None:
        await ask_command(bot, interaction, question, since, until)

    @tree.command(name="sources", description="Show the passages that best match a query (only you see them)")
    @app_commands.describe(query="What to look for")
    @app_commands.guild_only()
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
        await reindex_command(bot, interaction, full)

    @tree.error
    async def on_tree_error(interaction: Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.MissingPermissions):
            await tell(interaction, NOT_ALLOWED)
            return
        if isinstance(error, app_commands.NoPrivateMessage):
            await tell(interaction, "Use this command in a server channel.")
            return
        log.error("command %s failed", interaction.command.name if interaction.command else "?", exc_info=error)
        await apologise(interaction)


# -- mention mode --------------------------------------------------------------------------------


def mention_question(content: str, bot_id: int) -> str:
    """The message text without the bot's own mention(s)."""
    return re.sub(rf"<@!?{bot_id}>", " ", content)


async def handle_mention(bot: NewsdeskBot, message: discord.Message) -> None:
    """Answer a message that mentions the bot in an allowed channel, replying to it (or in a thread)."""
    me = bot.user
    if message.author.bot or message.guild is None or me is None:
        return  # other bots, itself included, and DMs are ignored
    if me.id not in message.raw_mentions or not bot.channel_allowed(message.channel):
        return
    try:
        question = check_question(mention_question(message.content, me.id), _max_chars(bot))
    except BadQuestionError as exc:
        await message.reply(note(f"I can't ask that: {exc}."), mention_author=False)
        return
    wait = bot.cooldown.hit(message.author.id)
    if wait:
        if bot.cooldown.should_warn(message.author.id):
            await message.reply(note(cooldown_text(bot, wait)), mention_author=False)
        return
    try:
        async with message.channel.typing():
            answer, answer_id = await bot.answer(
                question,
                DateRange(),
                guild_id=message.guild.id,
                channel_id=message.channel.id,
                user_id=message.author.id,
                via="mention",
            )
    except Exception:
        log.exception("the engine failed on a mention %r", question)
        await message.reply(APOLOGY, mention_author=False)
        return
    messages = answer_embeds(answer, answer_chars=bot.settings.answer_chars)
    target: discord.abc.Messageable | None = None
    if bot.settings.mention_replies_in_thread and isinstance(message.channel, discord.TextChannel):
        try:
            target = await message.create_thread(name=shorten(question, 100), auto_archive_duration=1440)
        except discord.HTTPException as exc:
            log.warning("could not start a thread, replying in the channel instead: %s", exc)
    for number, embeds in enumerate(messages, start=1):
        view = answer_view(answer_id) if number == len(messages) else None
        kwargs: dict[str, Any] = {"embeds": embeds}
        if view is not None:
            kwargs["view"] = view
        if target is not None:
            await target.send(**kwargs)
        elif number == 1:
            await message.reply(mention_author=False, **kwargs)
        else:
            await message.channel.send(**kwargs)
