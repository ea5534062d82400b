"""/brief [topic] [since]: the top stories of the last day (or since a date), grouped by story, most reported
first, each one quoted sentence with its citations. An extension: ``setup(bot)`` adds the command."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.discord_bot.embeds import ABSTAIN_COLOUR, INFO_COLOUR, build_embeds, escape, link, pack_messages, shorten
from bot.discord_bot.limits import FIELD_NAME_LIMIT, FIELD_VALUE_LIMIT
from bot.render import plural
from retrieval.errors import NewsdeskError

if TYPE_CHECKING:
    from bot.discord_bot.client import NewsdeskBot
    from retrieval.alerts.briefing import Briefing, BriefStory

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]
BRIEF_QUOTE_CHARS = 500
"""How much of a story's sentence a briefing quotes (the citations share the rest of the field)."""


def brief_title(briefing: Briefing) -> str:
    """ "Briefing 2023-03-09 … 2023-03-10 on “topic”"."""
    span = briefing.since.isoformat()
    if briefing.until != briefing.since:
        span += f" … {briefing.until.isoformat()}"
    return f"Briefing {span}" + (f" on “{escape(briefing.topic)}”" if briefing.topic else "")


def story_field(number: int, story: BriefStory) -> tuple[str, str]:
    """One story: its quoted sentence with citation markers, then each citation, then the outlets."""
    markers = "".join(f"[{c.number}]" for c in story.citations)
    quote = shorten(escape(story.quote.text), BRIEF_QUOTE_CHARS)
    lines = [f"> “{quote}” {markers}"]
    for c in story.citations:
        day = c.date.isoformat() if c.date else "undated"
        lines.append(f"[{c.number}] {' · '.join(p for p in (escape(c.source), day, link(c.url)) if p)}")
    if len(story.outlets) > 1:
        lines.append(f"carried by {plural(len(story.outlets), 'outlet')}: {escape(', '.join(story.outlets))}")
    value = "\n".join(lines)
    if len(value) > FIELD_VALUE_LIMIT:  # drop citation URLs before cutting anything else
        value = "\n".join(line.split(" · <", 1)[0] for line in lines)
    lead = story.citations[0]
    return shorten(f"{number}. {escape(lead.title) or 'Untitled'}", FIELD_NAME_LIMIT), shorten(value, FIELD_VALUE_LIMIT)


def brief_embeds(briefing: Briefing) -> list[list[discord.Embed]]:
    """A briefing as messages of embeds within Discord's limits (or one embed saying there is nothing)."""
    if not briefing.stories:
        what = f" on “{escape(briefing.topic)}”" if briefing.topic else ""
        return pack_messages(
            build_embeds(
                brief_title(briefing),
                f"No article{what} was published in these days. Try a longer `since` (e.g. 7d).",
                [],
                colour=ABSTAIN_COLOUR,
            )
        )
    shown = len(briefing.stories)
    footer = (
        f"{shown} {'story' if shown == 1 else 'stories'} of {briefing.total_stories} from "
        f"{plural(briefing.articles, 'article')}"
        " · most reported first · quotes are verbatim"
    )
    fields = [story_field(n, s) for n, s in enumerate(briefing.stories, start=1)]
    return pack_messages(build_embeds(brief_title(briefing), "", fields, colour=INFO_COLOUR, footer=footer))


async def brief_command(bot: NewsdeskBot, interaction: Interaction, topic: str | None, since: str | None) -> None:
    """/brief: defer, make the briefing off the loop, post it."""
    from retrieval.alerts.briefing import window

    as_of = interaction.created_at.date()
    try:
        start, end = window(as_of, since)
    except NewsdeskError as exc:
        await interaction.response.send_message(f"Cannot brief: {exc}.", ephemeral=True)
        return
    await interaction.response.defer(thinking=True)
    try:
        briefing = await bot.run_engine(bot.engine.brief, since=start, until=end, topic=topic or None)
    except NewsdeskError as exc:
        await interaction.followup.send(f"Cannot brief: {exc}."[:2000], ephemeral=True)
        return
    except Exception:
        log.exception("/brief failed")
        await interaction.followup.send("Sorry, the briefing failed; it has been logged.", ephemeral=True)
        return
    for embeds in brief_embeds(briefing):
        await interaction.followup.send(embeds=embeds)


def setup(bot: NewsdeskBot) -> None:
    """Add /brief."""

    @bot.tree.command(name="brief", description="The top stories since yesterday (or a date), most reported first")
    @app_commands.describe(
        topic="Only stories on this topic, e.g. grain exports",
        since="From this date (YYYY-MM-DD) or this far back (24h, 3d, 1w); default: since yesterday",
    )
    @app_commands.guild_only()
    async def brief(
        interaction: Interaction,
        topic: app_commands.Range[str, 1, 100] | None = None,
        since: app_commands.Range[str, 1, 20] | None = None,
    ) -> None:
        await brief_command(bot, interaction, topic, since)
