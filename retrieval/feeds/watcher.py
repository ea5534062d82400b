"""Keep the index fresh without a command: poll feeds when due, index seed files as they appear or change."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.errors import NewsdeskError
from retrieval.feeds.types import UpdateReport
from retrieval.index.indexer import BuildSummary

if TYPE_CHECKING:
    from retrieval.engine import Engine
    from retrieval.feeds.updater import FeedUpdater

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchEvent:
    """What the watcher did: a feed update, an index build for changed files, or a problem."""

    kind: str
    """``update`` (a feed cycle ran), ``build`` (seed files changed and were indexed) or ``error``."""
    update: UpdateReport | None = None
    build: BuildSummary | None = None
    changed: int = 0
    """Seed files seen added, changed or removed (``build``)."""
    message: str = ""


WatchCallback = Callable[[WatchEvent], None]


def _visible(path: str, root: Path) -> bool:
    """True for the seed files ingest reads: no hidden part (temporary files are hidden)."""
    try:
        parts = Path(path).relative_to(root).parts
    except ValueError:
        return False
    return bool(parts) and not any(part.startswith(".") for part in parts)


class Watcher:
    """Polls the feeds when they are due and indexes seed files added, changed or removed, until stopped.

    File changes come from ``watchfiles`` (inotify and the like); with ``force_polling``, or if the
    native watcher fails, the seeds are polled every ``poll_seconds`` instead. Each change is indexed incrementally
    through ``Engine.build``, which swaps the new generation in while questions keep being answered.
    Run it with ``run(stop)`` in a thread of your own, or ``start()``/``stop()``.
    """

    def __init__(
        self,
        engine: Engine,
        seeds_dir: Path,
        updater: FeedUpdater | None = None,
        *,
        on_event: WatchCallback | None = None,
        force_polling: bool = False,
        poll_seconds: float = 2.0,
        debounce_ms: int = 400,
        watch_files: bool = True,
    ) -> None:
        self.engine = engine
        self.seeds_dir = Path(seeds_dir)
        self.updater = updater
        self.on_event = on_event or (lambda _e: None)
        self.force_polling = force_polling
        self.poll_seconds = poll_seconds
        self.debounce_ms = debounce_ms
        self.watch_files = watch_files
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._changed = 0
        self._dirty = False
        self._changed_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._files_thread: threading.Thread | None = None
        self.cycles = 0
        """Feed cycles run so far."""
        self.builds = 0
        """Builds run for changed files so far."""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> threading.Thread:
        """Run in a daemon thread; returns it."""
        thread = threading.Thread(target=self.run, args=(self._stop,), name="newsdesk-watch", daemon=True)
        thread.start()
        self._thread = thread  # only once started: ``stop`` joins what it finds here
        return thread

    def stop(self, timeout: float | None = 30.0) -> None:
        """Ask the loop to stop, and wait for it (a cycle in flight finishes its current requests)."""
        self._stop.set()
        self._wake.set()
        for thread in (self._thread, self._files_thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)

    def run(self, stop: threading.Event | None = None) -> None:
        """Loop until ``stop`` is set: feed cycles when due, builds when seed files change."""
        if stop is not None and stop is not self._stop:

            def relay() -> None:
                stop.wait()
                self._stop.set()
                self._wake.set()

            threading.Thread(target=relay, daemon=True).start()
        if self.watch_files:
            files = threading.Thread(target=self._watch_files, name="newsdesk-files", daemon=True)
            files.start()
            self._files_thread = files
        self._index_files()  # whatever changed while nobody watched
        while not self._stop.is_set():
            if self.updater is not None and self._feeds_due():
                self._cycle()
            with self._changed_lock:
                dirty, changed, self._dirty, self._changed = self._dirty, self._changed, False, 0
            if dirty:
                self._index_files(changed)
            self._wake.wait(self._sleep_for())
            self._wake.clear()

    # -- work ------------------------------------------------------------------------------

    def _feeds_due(self) -> bool:
        assert self.updater is not None
        due = self.updater.store.next_due()
        return due is not None and due <= dt.datetime.now(dt.UTC)

    def _sleep_for(self) -> float:
        wait = 60.0
        if self.updater is not None:
            due = self.updater.store.next_due()
            if due is not None:
                wait = (due - dt.datetime.now(dt.UTC)).total_seconds()
        if not self.watch_files:
            wait = min(wait, self.poll_seconds)
        return max(0.05, min(wait, 60.0))

    def _cycle(self) -> None:
        assert self.updater is not None
        try:
            report = self.updater.update(due_only=True, stop=self._stop)
        except NewsdeskError as exc:
            self.on_event(WatchEvent("error", message=str(exc)))
            self._stop.wait(self.poll_seconds)
            return
        except Exception as exc:  # the loop outlives any one cycle's bug
            log.exception("feed cycle failed")
            self.on_event(WatchEvent("error", message=f"{type(exc).__name__}: {exc}"))
            self._stop.wait(self.poll_seconds)
            return
        self.cycles += 1
        self.on_event(WatchEvent("update", update=report))

    def _index_files(self, changed: int = 0) -> None:
        try:
            summary, _ = self.engine.build(self.seeds_dir)
        except NewsdeskError as exc:
            self.on_event(WatchEvent("error", message=str(exc), changed=changed))
            return
        except Exception as exc:
            log.exception("indexing changed seed files failed")
            self.on_event(WatchEvent("error", message=f"{type(exc).__name__}: {exc}", changed=changed))
            return
        if summary.added or summary.changed or summary.removed:
            self.builds += 1
            self.on_event(WatchEvent("build", build=summary, changed=changed))

    def _note_change(self, count: int) -> None:
        with self._changed_lock:
            self._changed += count
            self._dirty = True
        self._wake.set()

    def _watch_files(self) -> None:
        """Feed file changes to the loop: native events from watchfiles, else stat polling.

        Polling asks ``Engine.build`` every ``poll_seconds``: its seed cache compares each file's size,
        times and inode, so an unchanged tree costs a directory walk and writes nothing.
        """
        if not self.force_polling:
            from watchfiles import watch

            root = self.seeds_dir.resolve()
            try:
                for changes in watch(
                    root,
                    watch_filter=lambda _change, path: _visible(path, root),
                    debounce=self.debounce_ms,
                    step=50,
                    stop_event=self._stop,
                    yield_on_timeout=False,
                    raise_interrupt=False,
                ):
                    self._note_change(len(changes))
            except Exception as exc:  # no inotify watches left, a filesystem it cannot watch…
                log.warning("watching %s failed (%s): polling it every %gs instead", root, exc, self.poll_seconds)
            if self._stop.is_set():
                return
        while not self._stop.wait(self.poll_seconds):
            self._note_change(0)
