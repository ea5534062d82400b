"""newsdesk eval: answer quality on a QA benchmark"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bot.context import CommandError, print_json

if TYPE_CHECKING:
    from bot.context import CommandContext
    from retrieval.evaluation import EvalReport


def cmd_eval(ctx: CommandContext) -> int:
    """newsdesk eval --corpus C --questions Q: index C separately, answer Q, print the metrics."""
    from bot.render import print_eval
    from retrieval.evaluation import evaluate, load_questions, select_questions, slice_questions

    args = ctx.args
    if not args.corpus.is_file():
        raise CommandError(f"corpus file not found: {args.corpus}")
    questions = select_questions(load_questions(args.questions), args.limit)
    if args.slice:
        questions = slice_questions(questions, args.slice, args.seed)
    if not args.as_of:
        questions = [replace(q, as_of=None) for q in questions]
    if args.asked_later < 0:
        raise CommandError(f"--asked-later must be 0 or more days, not {args.asked_later}")
    if args.index is None:
        ctx.index_dir = ctx.settings.index_dir.parent / "eval-index" / eval_index_name(args.corpus)
    if args.mode:
        ctx.settings = ctx.settings.replaced(search_mode=args.mode)
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
            asked_later=args.asked_later,
        )
    if args.dump:
        write_results(args.dump, report)
    if args.json:
        print_json(ctx, report.as_dict())
    else:
        print_eval(ctx.out, report)
    return 0


def eval_index_name(corpus: Path) -> str:
    """A benchmark's own index name: its folder and file (``news_dev_2023h1-corpus``), so two never share."""
    stem = corpus.name.split(".")[0]
    return f"{corpus.parent.name}-{stem}" if corpus.parent.name else stem


def write_results(path: Path, report: EvalReport) -> None:
    """Each question's outcome as one JSON line (for looking into what went wrong)."""
    from bot.render import answer_to_dict

    try:
        with path.open("w", encoding="utf-8") as out:
            for r in report.results:
                row = {
                    "id": r.question.id,
                    "question": r.question.question,
                    "answerable": r.question.answerable,
                    "gold": list(r.question.answers),
                    "gold_rank": r.gold_rank,
                    "contains_gold": r.contains_gold,
                    "first_sentence_contains_gold": r.first_sentence_contains_gold,
                    "gold_in_top5": r.gold_in_top5,
                    "short_contains_gold": r.short_contains_gold,
                    **answer_to_dict(r.answer),
                }
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc


def register(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``newsdesk eval``."""
    p = sub.add_parser("eval", parents=[parents["common"]], help="measure answer quality on a QA benchmark")
    p.add_argument("--corpus", type=Path, required=True, help="articles as JSONL (id, title, date, text)")
    p.add_argument("--questions", type=Path, required=True, help="questions as JSONL (see docs/answer-quality.md)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N answerable and N/3 unanswerable")
    p.add_argument("--slice", type=int, metavar="N", help="a seeded random N of the questions (for CI)")
    p.add_argument("--seed", type=int, default=0, help="the seed of --slice (default 0)")
    p.add_argument(
        "--no-as-of",
        dest="as_of",
        action="store_false",
        help="ask every question as of today instead of the day it was asked (meta.asked_on)",
    )
    p.add_argument(
        "--asked-later",
        type=int,
        default=0,
        metavar="DAYS",
        help="ask every question DAYS after its date (730: two years later); reports the refusals of "
        "answerable questions with no time word",
    )
    p.add_argument("--mode", choices=("hybrid", "dense", "lexical"), help="search mode to measure")
    p.add_argument("--full", action="store_true", help="rebuild the eval index from scratch")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--dump", type=Path, metavar="FILE", help="also write each question's result as JSONL")
    p.set_defaults(handler=cmd_eval)
