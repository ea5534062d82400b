"""newsdesk chat: interactive questions with history"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.errors import NewsdeskError

if TYPE_CHECKING:
    from bot.context import Context

HISTORY_FILE = Path.home() / ".newsdesk_history"


def cmd_chat(ctx: Context) -> int:
    """An interactive loop: one question a line, history kept, Ctrl-D to quit."""
    from bot.render import print_answer

    engine = ctx.ready_engine()
    dates = ctx.dates()
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
    ctx.note(f"newsdesk: {stats.articles} articles, {stats.passages} passages. Ask a question; Ctrl-D to quit.")
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
            try:
                print_answer(ctx.out, engine.ask(question, k=ctx.args.k, dates=dates))
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


def register(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``newsdesk chat``."""
    p = sub.add_parser(
        "chat", parents=[parents["common"], parents["filters"]], help="ask questions interactively (Ctrl-D quits)"
    )
    p.set_defaults(handler=cmd_chat)
