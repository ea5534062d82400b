"""newsdesk ask: one question, or many with --jsonl"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from bot.context import CommandError, print_json
from retrieval.errors import NewsdeskError

if TYPE_CHECKING:
    from bot.context import Context


def cmd_ask(ctx: Context) -> int:
    """newsdesk ask "question" [--json] | newsdesk ask --jsonl < questions.jsonl"""
    from bot.render import SentencePrinter, answer_to_dict, print_answer

    args = ctx.args
    if args.jsonl:
        if args.question:
            raise CommandError("give the question on stdin with --jsonl, not as an argument")
        return _ask_jsonl(ctx)
    if args.question is None:
        raise CommandError('what is the question? e.g. newsdesk ask "Why won\'t Turkey sanction Russia?"')
    from retrieval.engine import check_question

    question = check_question(args.question, ctx.settings.max_question_chars)  # fail before loading
    answerer = ctx.answerer()
    engine = ctx.ready_engine()
    if args.json:
        answer = engine.ask(question, k=args.k, dates=ctx.dates(), answerer=answerer)
        print_json(ctx, answer_to_dict(answer))
        return 0
    printer = SentencePrinter(ctx.out)
    answer = engine.ask(question, k=args.k, dates=ctx.dates(), answerer=answerer, on_sentence=printer)
    print_answer(ctx.out, answer, streamed=printer.printed)
    return 0


def _ask_jsonl(ctx: Context) -> int:
    from bot.render import answer_to_dict

    answerer = ctx.answerer()
    engine = ctx.ready_engine()
    dates = ctx.dates()
    failures = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        record_id: object = None
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("question"), str):
                raise CommandError('each line must be a JSON object with a "question" string')
            record_id = record.get("id", number)
            answer = engine.ask(record["question"], k=ctx.args.k, dates=dates, answerer=answerer)
            out = {"id": record_id, **answer_to_dict(answer)}
        except (json.JSONDecodeError, NewsdeskError) as exc:
            failures += 1
            reason = f"not valid JSON ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else str(exc)
            ctx.err.print(f"newsdesk: line {number}: {reason}", markup=False)
            out = {"id": record_id if record_id is not None else number, "error": reason}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 1 if failures else 0


def register(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``newsdesk ask``."""
    p = sub.add_parser("ask", parents=[parents["common"], parents["filters"]], help="answer a question with citations")
    p.add_argument("question", nargs="?", help="the question (omit with --jsonl)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--jsonl", action="store_true", help="read {id, question} lines on stdin, write answers")
    p.add_argument(
        "--answerer",
        choices=("extractive", "llm"),
        help="quoted sentences, or a language model's sentences verified against their passages (NEWSDESK_ANSWERER)",
    )
    p.set_defaults(handler=cmd_ask)
