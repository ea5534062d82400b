"""newsdesk feedback export: the Discord votes as JSONL"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.context import CommandError

if TYPE_CHECKING:
    from bot.context import CommandContext


def cmd_feedback_export(ctx: CommandContext) -> int:
    """newsdesk feedback export [--out FILE]: the votes with their questions, answers and cited ids."""
    from bot.discord_bot.feedback import FeedbackStore

    store = FeedbackStore(ctx.settings.discord.feedback_db)
    if ctx.args.out is None:
        count = store.export_jsonl(sys.stdout)
    else:
        try:
            with ctx.args.out.open("w", encoding="utf-8") as out:
                count = store.export_jsonl(out)
        except OSError as exc:
            raise CommandError(f"cannot write {ctx.args.out}: {exc.strerror or exc}") from exc
    ctx.note(f"Exported {count} vote{'s' if count != 1 else ''} from {ctx.settings.discord.feedback_db}.")
    return 0


def register(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``newsdesk feedback export``."""
    p = sub.add_parser("feedback", help="the Discord bot's 👍/👎 feedback")
    feedback = p.add_subparsers(dest="feedback_command", required=True, metavar="ACTION")
    p = feedback.add_parser("export", parents=[parents["common"]], help="write the votes as JSONL")
    p.add_argument("--out", type=Path, metavar="FILE", help="output file (default: standard output)")
    p.set_defaults(handler=cmd_feedback_export)
