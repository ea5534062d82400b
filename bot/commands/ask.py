"""newsdesk ask: one question, or many with --jsonl"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.context import EXIT_ERROR, EXIT_INTERNAL, EXIT_OK, CommandError, print_json
from retrieval.errors import NewsdeskError
from retrieval.ingest.textclean import fix_surrogates

if TYPE_CHECKING:
    from bot.context import CommandContext


def cmd_ask(ctx: CommandContext) -> int:
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

    question = check_question(args.question, ctx.settings.answer.max_question_chars)  # fail before loading
    answerer = ctx.answerer()
    engine = ctx.ready_engine()
    if args.json:
        answer = engine.ask(question, k=args.k, dates=ctx.dates(), as_of=ctx.as_of(), answerer=answerer)
        print_json(ctx, answer_to_dict(answer))
        return 0
    if answerer == "llm" and ctx.out.is_terminal:
        return _ask_written_live(ctx, question)
    printer = SentencePrinter(ctx.out)
    answer = engine.ask(
        question, k=args.k, dates=ctx.dates(), as_of=ctx.as_of(), answerer=answerer, on_sentence=printer
    )
    print_answer(ctx.out, answer, streamed=printer.printed)
    return 0


def _ask_written_live(ctx: CommandContext, question: str) -> int:
    """On a terminal: the extractive answer at once, replaced by the written one once it is verified."""
    from rich.live import Live

    from bot.render import answer_preview, print_answer

    args = ctx.args
    engine = ctx.ready_engine()
    quoted = engine.ask(question, k=args.k, dates=ctx.dates(), as_of=ctx.as_of(), answerer="extractive")
    if quoted.abstained:
        print_answer(ctx.out, quoted)
        return 0
    with Live(answer_preview(quoted), console=ctx.out, transient=True, auto_refresh=False):
        answer = engine.write(quoted, as_of=ctx.as_of())
    print_answer(ctx.out, answer)
    return 0


def _line_as_of(value: object) -> dt.date | None:
    """A ``--jsonl`` line's ``as_of`` (YYYY-MM-DD), or None if it has none."""
    if value is None or value == "":
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise CommandError(f"as_of '{value}' is not a date; use YYYY-MM-DD") from None


def stdin_lines() -> Iterator[str]:
    """Standard input, a line at a time; bytes that are not UTF-8 arrive as U+FFFD, never as an error."""
    reconfigure = getattr(sys.stdin, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="replace")
    yield from sys.stdin


def _ask_jsonl(ctx: CommandContext) -> int:
    """One answer (or error) line per question line; a bad line, even a crash, does not stop the batch."""
    from bot.render import answer_to_dict

    answerer = ctx.answerer()
    engine = ctx.ready_engine()
    dates = ctx.dates()
    failures = internal = 0
    for number, line in enumerate(stdin_lines(), start=1):
        if not line.strip():
            continue
        record_id: object = None
        try:
            record = json.loads(line)
            if isinstance(record, dict):
                record_id = record.get("id", number)
            if not isinstance(record, dict) or not isinstance(record.get("question"), str):
                raise CommandError('each line must be a JSON object with a "question" string')
            as_of = _line_as_of(record.get("as_of")) or ctx.as_of()
            answer = engine.ask(record["question"], k=ctx.args.k, dates=dates, as_of=as_of, answerer=answerer)
            out = {"id": record_id, **answer_to_dict(answer)}
        except (json.JSONDecodeError, RecursionError, NewsdeskError) as exc:
            failures += 1
            if isinstance(exc, json.JSONDecodeError):
                reason = f"not valid JSON ({exc.msg})"
            else:
                reason = "not valid JSON (nested too deeply)" if isinstance(exc, RecursionError) else str(exc)
            ctx.fail(f"line {number}: {reason}")
            out = {"id": record_id if record_id is not None else number, "error": reason}
        except Exception as exc:  # a bug: this line fails, the batch goes on
            internal += 1
            reason = ctx.internal_error(exc, f"`newsdesk ask --jsonl`, line {number}")
            ctx.fail(f"line {number}: {reason}")
            out = {"id": record_id if record_id is not None else number, "error": reason}
        sys.stdout.write(fix_surrogates(json.dumps(out, ensure_ascii=False)) + "\n")
        sys.stdout.flush()
    return EXIT_INTERNAL if internal else EXIT_ERROR if failures else EXIT_OK


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
