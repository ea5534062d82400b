"""newsdesk stats: what is indexed (no model load)"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot.context import CommandError, print_json

if TYPE_CHECKING:
    from bot.context import CommandContext


def cmd_stats(ctx: CommandContext) -> int:
    """newsdesk stats [--check]: read from the manifest, no model loaded; --check reads every file."""
    from bot.render import print_stats, stats_to_dict

    if ctx.args.check:
        return check_index(ctx)
    stats = ctx.engine.stats()
    if ctx.args.json:
        print_json(ctx, stats_to_dict(stats))
    else:
        print_stats(ctx.out, stats)
    return 0


def check_index(ctx: CommandContext) -> int:
    """newsdesk stats --check: every file against its checksum; one line per problem, exit 1 if any."""
    if ctx.engine.replica:
        raise CommandError(
            f"--check reads an index directory's files, and {ctx.index_dir} holds none: this process serves the "
            "index published in Milvus (NEWSDESK_MILVUS_CORPUS); run it where the index is built"
        )
    report = ctx.engine.check_index()
    if ctx.args.json:
        print_json(
            ctx,
            {
                "path": str(report.path),
                "ok": report.ok,
                "files": report.files,
                "bytes": report.bytes,
                "problems": list(report.problems),
            },
        )
    elif report.ok:
        ctx.out.print(f"index at {report.path}: {report.files} files, {report.bytes / 1e6:.2f} MB, all sound")
    for problem in report.problems:
        ctx.fail(problem)
    if report.problems:
        count = len(report.problems)
        ctx.fail(f"{count} problem{'s' * (count != 1)} — run `newsdesk index --full` to rebuild it")
    return 0 if report.ok else 1


def register(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``newsdesk stats``."""
    p = sub.add_parser("stats", parents=[parents["common"]], help="what is indexed")
    p.add_argument("--json", action="store_true", help="print the stats as JSON")
    p.add_argument("--check", action="store_true", help="check every file of the index against its checksum")
    p.set_defaults(handler=cmd_stats)
