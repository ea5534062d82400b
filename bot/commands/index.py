"""newsdesk index [--full]"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.context import CommandContext


def cmd_index(ctx: CommandContext) -> int:
    """newsdesk index [--full]"""
    ctx.build(full=ctx.args.full)
    return 0


def register(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``newsdesk index``."""
    p = sub.add_parser("index", parents=[parents["common"]], help="build or update the index from the seeds")
    p.add_argument("--full", action="store_true", help="rebuild from scratch instead of updating")
    p.set_defaults(handler=cmd_index)
