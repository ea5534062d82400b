"""What every command gets: the settings, the parsed arguments, consoles, and the engine (loaded once)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import ProgressColumn, Task, TaskID
from rich.text import Text

from bot.render import printable
from retrieval.errors import NewsdeskError
from retrieval.ingest.textclean import fix_surrogates
from retrieval.types import DateRange

if TYPE_CHECKING:
    from bot.settings import Settings
    from retrieval.engine import Engine
    from retrieval.index.indexer import BuildProgress
    from retrieval.ingest.results import ReadProgress

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
"""Bad input newsdesk explains in one line (a refused question, no index, missing seeds...)."""
EXIT_USAGE = 2
"""A bad option or a bad setting."""
EXIT_INTERNAL = 70
"""A bug: an exception newsdesk did not expect (sysexits' EX_SOFTWARE); the traceback is logged."""
EXIT_IO = 74
"""The system refused a file operation: disk full, permission denied, read-only (sysexits' EX_IOERR)."""
EXIT_INTERRUPTED = 130
SLOW_FILE_SECONDS = 2.0
"""The progress display names the file being read once it has taken this long."""


def crash_log_path() -> Path:
    """Where the traceback of the last unexpected error goes: ``$XDG_STATE_HOME/newsdesk/last-error.log``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "newsdesk" / "last-error.log"


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = printable(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


class _Console(Console):
    """A rich Console whose broken pipe (``newsdesk ask … | head -1``) ends the command quietly, with
    exit status 0, as the command line handles it (rich's own exits with 1)."""

    def on_broken_pipe(self) -> None:
        """Stop writing and let the command line end the command."""
        self.quiet = True
        raise BrokenPipeError


class _CurrentFile(ProgressColumn):
    """The file being read, once it has taken a while: which file is slow."""

    def render(self, task: Task) -> Text:
        """``path (12s)`` for a file read for more than ``SLOW_FILE_SECONDS``, else nothing."""
        name, since = task.fields.get("file", ""), task.fields.get("since", 0.0)
        waited = time.monotonic() - since if since else 0.0
        if not name or waited < SLOW_FILE_SECONDS:
            return Text("")
        shown = name if len(name) <= 48 else "…" + name[-47:]
        return Text(f"{printable(shown)} ({waited:.0f}s)", style="yellow")


class CommandError(NewsdeskError):
    """A command-line problem the user can fix (bad option, bad input line)."""


class CommandContext:
    """What a command needs: settings, consoles, and the engine (loaded on first use, once)."""

    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.settings = settings
        self.args = args
        self.index_dir: Path = args.index or settings.index_dir
        self.seeds_dir: Path = args.seeds or settings.seeds_dir
        # No markup, no emoji codes: nothing a user or an article wrote is read as formatting.
        self.out = _Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
        self.err = _Console(stderr=True, highlight=False, markup=False, emoji=False)
        self._engine: Engine | None = None
        self.building = False
        """True while a build runs (an interrupt then leaves the previous index serving)."""

    def note(self, message: str) -> None:
        """One line on stderr, as plain text (made printable)."""
        self.err.print(printable(message), soft_wrap=True)

    def fail(self, message: str) -> None:
        """``newsdesk: message`` on stderr: the one line an error gets."""
        self.note(f"newsdesk: {message}")

    def internal_error(self, exc: BaseException, what: str) -> str:
        """The one line for an exception newsdesk did not expect in ``what``, with where its
        traceback is: the log with ``-v``, else a file (``crash_log_path``)."""
        text = _exception_text(exc)
        if getattr(self.args, "verbose", 0):
            log.error("%s failed:\n%s", what, text.rstrip())
            where = "the traceback is in the log above"
        else:
            path = crash_log_path()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                path.write_text(f"{stamp} {what}\n{text}", encoding="utf-8", errors="backslashreplace")
                where = f"the traceback is in {path} (or run again with -v)"
            except OSError:
                where = "run again with -v for the traceback"
        return f"internal error in {what} ({_first_line(exc)}): a bug in newsdesk, not your input; {where}"

    def io_error(self, exc: OSError, what: str) -> str:
        """The one line for a file operation the system refused (a full disk, a permission)."""
        if getattr(self.args, "verbose", 0):
            log.error("%s failed:\n%s", what, _exception_text(exc).rstrip())
        name = f" ({exc.filename})" if exc.filename else ""
        reason = exc.strerror or _first_line(exc)
        return f"{what} failed: {reason}{name}" + ("" if self.args.verbose else " (-v shows where)")

    @property
    def engine(self) -> Engine:
        """The engine for these settings (its model loads on first use: ``stats`` never pays for it)."""
        if self._engine is None:
            from retrieval.engine import Engine

            self._engine = Engine.from_config(self.settings.engine_config(self.index_dir))
        return self._engine

    def build(self, full: bool) -> None:
        """Index the seeds with a progress display and print a one-line summary."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(
            TextColumn("{task.description:<10}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}", markup=False),
            TimeElapsedColumn(),
            _CurrentFile(),
            console=self.err,
            transient=True,
            disable=not self.err.is_terminal,  # a log or a pipe gets the summary line only
        )
        tasks: dict[str, TaskID] = {}

        def on_progress(event: BuildProgress) -> None:
            task = tasks.get(event.stage)
            if task is None:
                task = tasks[event.stage] = progress.add_task(
                    event.stage, total=event.total or None, rate="", file="", since=0.0
                )
            elapsed = progress.tasks[task].elapsed or 0.0
            rate = f"{event.done / elapsed:,.0f}/s" if elapsed > 0.5 and event.done else ""
            progress.update(task, completed=event.done, total=event.total or None, rate=rate)

        def on_file(event: ReadProgress) -> None:
            task = tasks.get("reading")
            if task is None:
                task = tasks["reading"] = progress.add_task("reading", total=event.total, rate="", file="", since=0.0)
            progress.update(task, completed=event.done, file=event.path, since=time.monotonic() if event.path else 0.0)

        self.building = True  # left set if the build is interrupted: main() says the old index still serves
        with progress:
            summary, ingest = self.engine.build(self.seeds_dir, full=full, progress=on_progress, reading=on_file)
        self.building = False
        skipped, warned = len(ingest.skipped), len(ingest.warnings)
        self.note(
            f"Indexed {summary.articles} articles ({summary.added} new, {summary.changed} changed, "
            f"{summary.removed} removed, {summary.unchanged} unchanged) into {summary.passages} passages; "
            f"embedded {summary.embedded} sentences in {summary.seconds:.1f}s ({summary.rate:.1f}/s); "
            f"skipped {skipped} file{'s' if skipped != 1 else ''}"
            + (f", {warned} read with a warning" if warned else "")
            + f", {ingest.duplicates} duplicate{'s' if ingest.duplicates != 1 else ''}; index at {self.index_dir}"
            + (f"; Milvus: {summary.published}" if summary.published else "")
        )

    def ready_engine(self) -> Engine:
        """The engine with an index: built from the seeds first if there is none yet (but when the whole
        index lives in Milvus, nothing published is an error: replicas do not build, `newsdesk index` does)."""
        engine = self.engine
        if not engine.has_index():
            if engine.corpus is not None:  # a replica builds nothing: it says to run the build
                engine.corpus.current()  # raises "holds no published index … run `newsdesk index`"
                return engine  # published meanwhile
            absence = engine.missing_index()
            if absence is not None and absence.damaged:  # one was built: say what happened
                self.fail(f"{absence.message}; rebuilding it from {self.seeds_dir}.")
            else:
                self.note(f"No index at {self.index_dir} yet: building it from {self.seeds_dir} first.")
            self.build(full=True)
        return engine

    def as_of(self) -> dt.date:
        """The day questions are asked as of: ``--as-of``, else today."""
        return getattr(self.args, "as_of", None) or dt.date.today()

    def answerer(self) -> str:
        """``--answerer`` or NEWSDESK_ANSWERER; ``llm`` only with a language model configured."""
        from bot.settings import NEEDS_MODEL, has_model

        answerer: str = getattr(self.args, "answerer", None) or self.settings.llm.answerer
        if answerer == "llm" and not has_model(self.settings.llm):
            raise CommandError(f"--answerer llm {NEEDS_MODEL}")
        return answerer

    def dates(self) -> DateRange:
        """The --since/--until filter."""
        since, until = getattr(self.args, "since", None), getattr(self.args, "until", None)
        if since and until and since > until:
            raise CommandError(f"--since {since} is after --until {until}")
        return DateRange(since, until)


def print_json(ctx: CommandContext, data: object) -> None:
    """``data`` as JSON on stdout (highlighted on a terminal); text that cannot be encoded becomes U+FFFD."""
    text = fix_surrogates(json.dumps(data, ensure_ascii=False))
    if ctx.out.is_terminal:
        ctx.out.print_json(text)
    else:
        print(fix_surrogates(json.dumps(data, ensure_ascii=False, indent=2)))
