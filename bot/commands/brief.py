"""newsdesk brief [TOPIC]: the top stories of the last day (or since a date), grouped by story, most reported
first, each one quoted sentence with its citations (docs/alerts.md)"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot.context import print_json

if TYPE_CHECKING:
    from bot.context import CommandContext
    from retrieval.alerts.briefing import Briefing, BriefStory
    from retrieval.types import Citation


def citation_to_dict(citation: Citation) -> dict[str, object]:
    """A briefing's citation as JSON."""
    return {
        "number": citation.number,
        "article_id": citation.article_id,
        "title": citation.title,
        "date": citation.date.isoformat() if citation.date else None,
        "source": citation.source,
        "url": citation.url,
    }


def story_to_dict(story: BriefStory) -> dict[str, object]:
    """A briefing's story as JSON (the quote's offsets are into the first citation's article)."""
    return {
        "quote": story.quote.text,
        "quote_start": story.quote.start,
        "quote_end": story.quote.end,
        "citations": [citation_to_dict(c) for c in story.citations],
        "outlets": list(story.outlets),
        "articles": story.articles,
    }


def briefing_to_dict(briefing: Briefing) -> dict[str, object]:
    """A briefing as JSON."""
    return {
        "since": briefing.since.isoformat(),
        "until": briefing.until.isoformat(),
        "topic": briefing.topic,
        "articles": briefing.articles,
        "total_stories": briefing.total_stories,
        "stories": [story_to_dict(s) for s in briefing.stories],
    }


def briefing_lines(briefing: Briefing) -> list[str]:
    """A briefing as plain text lines."""
    on = f" on “{briefing.topic}”" if briefing.topic else ""
    head = f"Briefing {briefing.since.isoformat()} … {briefing.until.isoformat()}{on}"
    if not briefing.stories:
        return [f"{head}: no article{on} was published in these days (try --since with an earlier date)."]
    lines = [
        f"{head}: {len(briefing.stories)} of {briefing.total_stories} stories from {briefing.articles} articles, "
        "most reported first",
        "",
    ]
    for number, story in enumerate(briefing.stories, start=1):
        markers = "".join(f"[{c.number}]" for c in story.citations)
        lines.append(f"{number}. “{' '.join(story.quote.text.split())}” {markers}")
        if len(story.outlets) > 1:
            lines.append(f"   carried by {len(story.outlets)} outlets: {', '.join(story.outlets)}")
        for c in story.citations:
            day = c.date.isoformat() if c.date else "undated"
            lines.append(f"   [{c.number}] {c.title} — {c.source}, {day}" + (f", {c.url}" if c.url else ""))
        lines.append("")
    return lines


def cmd_brief(ctx: CommandContext) -> int:
    """newsdesk brief [TOPIC] [--since D] [--as-of D] [--json]"""
    from retrieval.alerts.briefing import BriefConfig, window

    since, until = window(ctx.as_of(), ctx.args.since)
    engine = ctx.ready_engine()
    briefing = engine.brief(
        since=since, until=until, topic=ctx.args.topic, config=BriefConfig(stories=ctx.args.stories)
    )
    if ctx.args.json:
        print_json(ctx, briefing_to_dict(briefing))
    else:
        for line in briefing_lines(briefing):
            ctx.out.print(line)
    return 0


def _stories(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 25:
        raise argparse.ArgumentTypeError(f"'{value}' is not a number of stories from 1 to 25")
    return int(value)


def _iso_date(value: str) -> object:
    import datetime as dt

    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date; use YYYY-MM-DD") from None


def register(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``newsdesk brief``."""
    p = sub.add_parser(
        "brief",
        parents=[parents["common"]],
        help="the top stories since yesterday, grouped by story, most reported first",
        description="The top stories published from --since to --as-of (default: the day before --as-of and "
        "--as-of itself), grouped by story, most reported first, each one quoted sentence with its citations "
        "and the outlets that carried it. With TOPIC, only the stories on it (matched as topic alerts are).",
    )
    p.add_argument("topic", nargs="?", metavar="TOPIC", help='only stories on this topic, e.g. "grain exports"')
    p.add_argument(
        "--since", metavar="D", help="from this date (YYYY-MM-DD) or this far back (24h, 3d, 1w); default: 1d"
    )
    p.add_argument("--as-of", type=_iso_date, metavar="YYYY-MM-DD", help="the day of the briefing (default: today)")
    p.add_argument("--stories", type=_stories, default=8, metavar="N", help="list at most N stories (default: 8)")
    p.add_argument("--json", action="store_true", help="print the briefing as JSON")
    p.set_defaults(handler=cmd_brief)
