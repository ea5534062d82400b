"""What every command gets: the settings, the parsed arguments, consoles, and the engine (loaded once)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from retrieval.errors import NewsdeskError
from retrieval.types import DateRange

if TYPE_CHECKING:
    from bot.settings import Settings
    from retrieval.engine import Engine
    from retrieval.index.indexer import BuildProgress


class CommandError(NewsdeskError):
    """A command-line problem the user can fix (bad option, bad input line)."""


class Context:
    """What a command needs: settings, consoles, and the engine (loaded on first use, once)."""

    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.settings = settings
        self.args = args
        self.index_dir: Path = args.index or settings.index_dir
        self.seeds_dir: Path = args.seeds or settings.seeds_dir
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False)
        self._engine: Engine | None = None

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
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
        )
        tasks: dict[str, int] = {}

        def on_progress(event: BuildProgress) -> None:
            task = tasks.get(event.stage)
            if task is None:
                task = tasks[event.stage] = progress.add_task(event.stage, total=event.total or None, rate="")
            elapsed = progress.tasks[task].elapsed or 0.0
            rate = f"{event.done / elapsed:,.0f}/s" if elapsed > 0.5 and event.done else ""
            progress.update(task, completed=event.done, total=event.total or None, rate=rate)

        with progress:
            summary, ingest = self.engine.build(self.seeds_dir, full=full, progress=on_progress)
        skipped = len(ingest.skipped)
        self.err.print(
            f"Indexed {summary.articles} articles ({summary.added} new, {summary.changed} changed, "
            f"{summary.removed} removed, {summary.unchanged} unchanged) into {summary.passages} passages; "
            f"embedded {summary.embedded} sentences in {summary.seconds:.1f}s ({summary.rate:.1f}/s); "
            f"skipped {skipped} file{'s' if skipped != 1 else ''}, {ingest.duplicates} duplicate"
            f"{'s' if ingest.duplicates != 1 else ''}; index at {self.index_dir}"
        )

    def ready_engine(self) -> Engine:
        """The engine with an index: built from the seeds first if there is none yet."""
        engine = self.engine
        if not engine.has_index():
            absence = engine.missing_index()
            if absence is not None and absence.damaged:  # one was built: say what happened
                self.err.print(
                    f"newsdesk: {absence.message}; rebuilding it from {self.seeds_dir}.", markup=False, soft_wrap=True
                )
            else:
                self.err.print(f"No index at {self.index_dir} yet: building it from {self.seeds_dir} first.")
            self.build(full=True)
        return engine

    def dates(self) -> DateRange:
        """The --since/--until filter."""
        since, until = getattr(self.args, "since", None), getattr(self.args, "until", None)
        if since and until and since > until:
            raise CommandError(f"--since {since} is after --until {until}")
        return DateRange(since, until)


def print_json(ctx: Context, data: object) -> None:
    ctx.out.print_json(json.dumps(data, ensure_ascii=False)) if ctx.out.is_terminal else print(
        json.dumps(data, ensure_ascii=False, indent=2)
    )
