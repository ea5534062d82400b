"""What reading the seeds gives: the articles, the files skipped and why, warnings, progress."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from retrieval.types import Article

log = logging.getLogger("retrieval.ingest.files")
"""One logger for all of reading the seeds (what ``-v`` and the tests listen to)."""


@dataclass(frozen=True)
class SkippedFile:
    """A file (or JSONL line) that was not ingested, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class IngestWarning:
    """An article read, but not quite as written (a bad date left out, an over-long text cut), and where."""

    path: str
    message: str


@dataclass(frozen=True)
class IngestResult:
    """Articles read from a directory, plus what was skipped and how many duplicates were dropped."""

    articles: tuple[Article, ...]
    skipped: tuple[SkippedFile, ...] = ()
    duplicates: int = 0
    files: int = 0
    warnings: tuple[IngestWarning, ...] = ()


@dataclass(frozen=True)
class ReadProgress:
    """Reading the seeds: ``done`` of ``total`` files, and the one being read now (``""`` at the end)."""

    done: int
    total: int
    path: str


ReadProgressFn = Callable[[ReadProgress], None]


@dataclass
class Collector:
    """What reading gives; skips and warnings are logged where the results are gathered (cached or not)."""

    articles: list[Article] = field(default_factory=list)
    notes: list[SkippedFile | IngestWarning] = field(default_factory=list)
    """Skips and warnings, in the order they happened."""

    @property
    def skipped(self) -> list[SkippedFile]:
        """The files (or JSONL lines) skipped, and why."""
        return [n for n in self.notes if isinstance(n, SkippedFile)]

    @property
    def warnings(self) -> list[IngestWarning]:
        """The articles read with a problem, and what it was."""
        return [n for n in self.notes if isinstance(n, IngestWarning)]

    def skip(self, path: str, reason: str) -> None:
        self.notes.append(SkippedFile(path, reason))

    def warn(self, path: str, message: str) -> None:
        self.notes.append(IngestWarning(path, message))


def log_note(note: SkippedFile | IngestWarning) -> None:
    if isinstance(note, SkippedFile):
        log.warning("skipped %s: %s", note.path, note.reason)
    else:
        log.warning("%s: %s", note.path, note.message)
