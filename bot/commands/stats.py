"""newsdesk stats: what is indexed (no model load)"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot.context import print_json

if TYPE_CHECKING:
    from bot.context import Context


def cmd_stats(ctx: Context) -> int:
    """newsdesk stats: read from the manifest, no model loaded."""
    from bot.render import print_stats, stats_to_dict

    stats = ctx.engine.stats()
    if ctx.args.json:
        print_json(ctx, stats_to_dict(stats))
    else:
        print_stats(ctx.out, stats)
    return 0


def register(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``newsdesk stats``."""
    p = sub.add_parser("stats", parents=[parents["common"]], help="what is indexed")
    p.add_argument("--json", action="store_true", help="print the stats as JSON")
    p.set_defaults(handler=cmd_stats)
