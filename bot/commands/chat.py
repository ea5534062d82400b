"""newsdesk chat: interactive questions with history"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.errors import NewsdeskError

if TYPE_CHECKING:
    from bot.context import CommandContext

HISTORY_FILE = Path.home() / ".newsdesk_history"


def cmd_chat(ctx: CommandContext) -> int:
    """An interactive loop: one question a line, history kept, Ctrl-D to quit."""
    from bot.render import print_answer

    engine = ctx.ready_engine()
    dates = ctx.dates()
    as_of = ctx.as_of()
    previous: str | None = None
    reconfigure = getattr(sys.stdin, "reconfigure", None)
    if reconfigure is not None:  # bytes that are not UTF-8 arrive as U+FFFD, never as an error
        reconfigure(errors="replace")
    try:
        import readline

        HISTORY_FILE.touch(exist_ok=True)
        readline.read_history_file(HISTORY_FILE)
        readline.set_history_length(1000)
    except (ImportError, OSError):
        readline = None  # type: ignore[assignment]
    stats = engine.stats()
    ctx.note(
        f"newsdesk: {stats.articles} articles, {stats.passages} passages. Ask a question; "
        "/as-of YYYY-MM-DD changes the day, /new starts a new conversation, Ctrl-D quits."
    )
    try:
        while True:
            try:
                question = input("newsdesk> ")
            except KeyboardInterrupt:
                print()
                continue
            if not question.strip():
                continue
            if question.strip().lower() in {"exit", "quit", ":q"}:
                break
            if question.strip().startswith("/"):
                as_of, previous = _chat_command(ctx, question.strip(), as_of, previous)
                continue
            try:
                answer = engine.ask(question, k=ctx.args.k, dates=dates, as_of=as_of, previous=previous)
                print_answer(ctx.out, answer)
                previous = answer.searched or answer.question
            except NewsdeskError as exc:
                ctx.fail(str(exc))
            except Exception as exc:  # a bug: this question fails, the session goes on
                ctx.fail(ctx.internal_error(exc, "`newsdesk chat`"))
            print()
    except EOFError:
        print()
    finally:
        if readline is not None:
            with contextlib.suppress(OSError):
                readline.write_history_file(HISTORY_FILE)
    return 0


def _chat_command(ctx: CommandContext, line: str, as_of: dt.date, previous: str | None) -> tuple[dt.date, str | None]:
    """A ``/`` command typed in chat: ``/as-of YYYY-MM-DD`` or ``/new``; returns the new (as-of, previous)."""
    name, _, value = line.partition(" ")
    if name == "/new":
        ctx.fail("a new conversation (follow-ups no longer refer to earlier questions)")
        return as_of, None
    if name == "/as-of":
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            ctx.fail(f"'{value.strip()}' is not a date; use /as-of YYYY-MM-DD")
            return as_of, previous
        ctx.fail(f"answering as of {day.isoformat()}")
        return day, previous
    ctx.fail(f"unknown command {name}; try /as-of YYYY-MM-DD or /new")
    return as_of, previous


def register(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``newsdesk chat``."""
    p = sub.add_parser(
        "chat",
        parents=[parents["common"], parents["filters"]],
        help="ask questions interactively (Ctrl-D quits)",
        description=(
            'Ask questions one a line. A follow-up that points back ("What did NATO say about it?", "why?") '
            'keeps the previous question\'s subject, "and Erdogan?" or "what about Erdogan?" swaps it; '
            "the answer then shows what was searched. /new starts a new conversation, "
            "/as-of YYYY-MM-DD changes the day, Ctrl-D quits."
        ),
    )
    p.set_defaults(handler=cmd_chat)
