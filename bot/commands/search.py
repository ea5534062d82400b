"""newsdesk search: the top passages and their scores"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot.context import print_json

if TYPE_CHECKING:
    from bot.context import CommandContext


def cmd_search(ctx: CommandContext) -> int:
    """newsdesk search "query": passages only, with scores."""
    from bot.render import hit_to_dict, print_hits
    from retrieval.engine import check_question

    query = check_question(ctx.args.query, ctx.settings.answer.max_question_chars)
    hits = ctx.ready_engine().search(query, k=ctx.args.k, dates=ctx.dates(), as_of=ctx.as_of())
    if ctx.args.json:
        print_json(ctx, [hit_to_dict(h) for h in hits])
    else:
        print_hits(ctx.out, hits)
    return 0


def register(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``newsdesk search``."""
    p = sub.add_parser(
        "search", parents=[parents["common"], parents["filters"]], help="show the top passages and their scores"
    )
    p.add_argument("query")
    p.add_argument("--json", action="store_true", help="print the passages as JSON")
    p.set_defaults(handler=cmd_search)
