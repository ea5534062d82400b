"""The seed cache: what each file gave when last read, pickled in the index directory with its format number."""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

from retrieval.config import IngestConfig
from retrieval.ingest.results import IngestWarning, SkippedFile
from retrieval.types import Article

log = logging.getLogger("retrieval.ingest.files")


@dataclass(frozen=True)
class CachedFile:
    """What one seed file gave when it was read: its articles, their fingerprints and the notes on it,
    under the file's identity (size, modification and change times, inode) at that read."""

    key: tuple[int, int, int, int]
    articles: tuple[Article, ...]
    fingerprints: tuple[str, ...]
    notes: tuple[SkippedFile | IngestWarning, ...]


class IngestCache:
    """What each seed file gave when it was last read, so a file unchanged since is not read again.

    A file counts as unchanged when its size, modification and change times (nanoseconds) and inode
    are the same, as git's index and make trust them. What it gave includes why it (or a JSONL line)
    was skipped and what was wrong with it, so a build that reuses it says the same as the one that
    read it. A long-lived process (the bot, a benchmark) keeps one and passes it to every
    :func:`load_articles`; a full rebuild passes none.
    """

    FORMAT = 3
    """Bumped when reading or cleaning changes what a file gives (3: lone category words dropped)."""

    def __init__(self, config: IngestConfig | None = None) -> None:
        self.config = config or IngestConfig()
        """How the files were read (a cache read otherwise is not used)."""
        self._files: dict[str, CachedFile] = {}
        self.reused = 0
        """Files the last :func:`load_articles` took from the cache."""
        self.unsaved = -1
        """Bytes of the files read since the cache was saved or loaded (-1: never saved)."""
        self.total = 0
        """Bytes of all the files the last :func:`load_articles` looked at."""

    @property
    def worth_saving(self) -> bool:
        """True once what a new process would have to read again, without a save, is worth a save: a
        tenth of the seeds (or the cache was never saved). Saving costs about what reading a tenth
        of the seeds does, so a few small new files are not worth rewriting it."""
        return self.unsaved < 0 or self.unsaved > 0.1 * self.total

    def _use(self, config: IngestConfig) -> None:
        """Forget what was read under another config (another article size limit)."""
        if config != self.config:
            self.config, self._files, self.unsaved = config, {}, -1

    def save(self, path: Path, seeds_dir: Path) -> None:
        """Keep the cache in ``path`` (written whole, then renamed: readers never see half a file)."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as handle:
                state = (self.FORMAT, str(Path(seeds_dir).resolve()), self.config, self._files)
                pickle.dump(state, handle, protocol=5)
            os.replace(tmp, path)
            self.unsaved = 0
        except OSError as exc:
            log.warning("could not save the seed cache %s: %s", path, exc)
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path, seeds_dir: Path, config: IngestConfig | None = None) -> IngestCache:
        """The cache saved in ``path`` for ``seeds_dir`` and ``config``; an empty one if there is none
        or it is unusable (another format, directory or config).

        The file is a pickle written by :meth:`save` into the index directory, which newsdesk trusts
        as it trusts the FAISS files beside it (both must only ever come from newsdesk itself).
        """
        cache = cls(config)
        try:
            with path.open("rb") as handle:
                version, seeds, saved_config, files = pickle.load(handle)
        except FileNotFoundError:
            return cache
        except Exception as exc:  # a damaged, older or foreign cache is only slower: read everything again
            log.info("ignoring the seed cache %s (%s)", path, type(exc).__name__)
            return cache
        if (
            version == cls.FORMAT
            and seeds == str(Path(seeds_dir).resolve())
            and saved_config == cache.config
            and isinstance(files, dict)
        ):
            cache._files = files
            cache.unsaved = 0
        return cache
