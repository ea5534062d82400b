"""newsdesk eval: answer quality on a QA benchmark"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bot.context import CommandError, print_json

if TYPE_CHECKING:
    from bot.context import Context


def cmd_eval(ctx: Context) -> int:
    """newsdesk eval --corpus C --questions Q: index C separately, answer Q, print the metrics."""
    from bot.render import print_eval
    from retrieval.evaluation import evaluate, load_questions, select_questions

    args = ctx.args
    if not args.corpus.is_file():
        raise CommandError(f"corpus file not found: {args.corpus}")
    questions = select_questions(load_questions(args.questions), args.limit)
    if args.index is None:
        ctx.index_dir = ctx.settings.index_dir.parent / "eval-index" / args.corpus.stem
    if args.mode:
        ctx.settings = ctx.settings.model_copy(update={"search_mode": args.mode})
    ctx.seeds_dir = args.corpus
    started = time.perf_counter()
    ctx.build(full=args.full)
    build_seconds = time.perf_counter() - started
    from rich.progress import Progress

    with Progress(console=ctx.err, transient=True) as progress:
        task = progress.add_task("asking", total=len(questions))
        report = evaluate(
            ctx.engine,
            questions,
            build_seconds=build_seconds,
            progress=lambda done, _total: progress.update(task, completed=done),
        )
    if args.json:
        print_json(ctx, report.as_dict())
    else:
        print_eval(ctx.out, report)
    return 0


def register(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``newsdesk eval``."""
    p = sub.add_parser("eval", parents=[parents["common"]], help="measure answer quality on a QA benchmark")
    p.add_argument("--corpus", type=Path, required=True, help="articles as JSONL (id, title, date, text)")
    p.add_argument("--questions", type=Path, required=True, help="questions as JSONL (see README)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N answerable and N/3 unanswerable")
    p.add_argument("--mode", choices=("hybrid", "dense", "lexical"), help="search mode to measure")
    p.add_argument("--full", action="store_true", help="rebuild the eval index from scratch")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=cmd_eval)
