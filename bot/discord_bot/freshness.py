"""The bot's feeds: the subscriptions /feeds changes, and the background watcher that polls them (and the
seeds folder), indexes what is new and swaps each generation in while questions keep being answered."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.render import feed_line, seeds_line, summary_line
from retrieval.feeds.state import old_state_note, state_path

if TYPE_CHECKING:
    from bot.settings import Settings
    from retrieval.engine import Engine
    from retrieval.feeds.types import Feed
    from retrieval.feeds.updater import FeedUpdater
    from retrieval.feeds.watcher import Watcher, WatchEvent

log = logging.getLogger(__name__)

RESTART_SECONDS = 30.0
"""How long the supervisor waits before running a watcher again after it failed."""
STOP_SECONDS = 30.0
"""How long shutdown waits for a cycle in flight (its current requests, its build) to finish."""


def stop_watcher(watcher: Watcher) -> None:
    """``watcher.stop()``, tolerating its one race: stopped while its file thread is being started, it
    tries to join a thread not started yet (RuntimeError), so try again a moment later."""
    for attempt in range(20):
        try:
            watcher.stop(STOP_SECONDS)
            return
        except RuntimeError:
            if attempt == 19:
                raise
            time.sleep(0.05)


@dataclass(frozen=True)
class FeedsStatus:
    """What /stats says about the feeds and the index's growth."""

    feeds: tuple[Feed, ...]
    watching: bool
    grew_at: dt.datetime | None
    """When a build run by this bot (the watcher's or /reindex) last added articles; None: not since it started."""
    grew_by: int

    @property
    def last_polled(self) -> dt.datetime | None:
        """The latest poll of any feed."""
        return max((f.last_polled for f in self.feeds if f.last_polled is not None), default=None)

    @property
    def failing(self) -> tuple[Feed, ...]:
        """The feeds whose last poll failed."""
        return tuple(f for f in self.feeds if f.failures)


REPLICA = (
    "this one serves the index published in Milvus (NEWSDESK_MILVUS_CORPUS, no index directory) and builds nothing"
)
"""Why a replica bot leaves feeds and topic alerts to the bot that builds the index (docs/scaling.md)."""


class FeedWatch:
    """Subscriptions and the background watcher of one bot; the updater and its state open on first use.

    The watcher is ``retrieval.feeds.watcher.Watcher`` (what ``newsdesk watch`` runs) on a supervisor
    thread: a failure is logged and the watcher runs again after RESTART_SECONDS, never stopping the bot.
    Nothing here touches the event loop; the commands call it on worker threads.
    """

    def __init__(self, engine: Engine, settings: Settings, seeds_dir: Path) -> None:
        self.engine = engine
        self.settings = settings
        self.seeds_dir = seeds_dir
        self.feeds_db = state_path(engine.index_dir, settings.following.feeds_db)
        """The feed state: beside the index unless NEWSDESK_FEEDS_DB says otherwise."""
        if note := old_state_note(self.feeds_db):
            log.warning("%s", note)
        self._updater: FeedUpdater | None = None
        self._lock = threading.Lock()
        """Guards opening and closing the updater."""
        self._running = threading.RLock()
        """Guards starting and stopping the watcher (never taken on the watcher's own threads)."""
        self._grew_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watcher: Watcher | None = None
        self._grew_at: dt.datetime | None = None
        self._grew_by = 0
        self.on_growth: list[Callable[[int], None]] = []
        """Called after each build the bot runs (on its thread) with the number of articles it added: topic alerts."""

    # -- subscriptions ---------------------------------------------------------------------

    def updater(self) -> FeedUpdater:
        """The feed updater over the bot's state and seeds (opened on first use; FeedError if it cannot be,
        or if this bot is a replica, which builds nothing)."""
        with self._lock:
            if self._updater is None:
                from retrieval.errors import FeedError
                from retrieval.feeds.state import FeedStore
                from retrieval.feeds.updater import FeedUpdater

                if self.engine.replica:
                    raise FeedError(f"feeds are followed by the bot that builds the index: {REPLICA}")
                try:
                    store = FeedStore(self.feeds_db)
                except Exception as exc:  # sqlite3 errors: not a database, unwritable directory
                    raise FeedError(f"cannot open the feed state {self.feeds_db}: {exc}") from exc
                self._updater = FeedUpdater(store, self.seeds_dir, self.settings.feeds, engine=self.engine)
            return self._updater

    def configured(self) -> bool:
        """True if feeds are followed (the state is not even opened when it does not exist)."""
        if self._updater is None and not Path(self.feeds_db).exists():
            return False
        return bool(self.updater().store.feeds())

    def feeds(self) -> list[Feed]:
        """The feeds followed (none, without creating the state, when there is none)."""
        if self._updater is None and not Path(self.feeds_db).exists():
            return []
        return self.updater().store.feeds()

    def add(self, url: str, name: str | None = None) -> Feed:
        """Follow the feed at ``url`` (or the one its page announces), checked by fetching it once; then poll
        it at once in the background. FeedError (one line) when it is not a feed or cannot be read."""
        feed = self.updater().add(url, name or None)
        self.restart()  # a sleeping watcher would see the new feed only at its next wake-up
        return feed

    def remove(self, url_or_name: str) -> Feed:
        """Stop following a feed (its articles stay); FeedError if it is not followed."""
        feed, _ = self.updater().remove(url_or_name)
        return feed

    # -- the watcher -----------------------------------------------------------------------

    @property
    def watching(self) -> bool:
        """True while the background watcher runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Run the watcher in the background if feeds are followed; True if it runs."""
        with self._running:
            if self.watching:
                return True
            try:
                if not self.configured():
                    return False
            except Exception:
                log.exception("cannot read the feed state %s: not watching the feeds", self.feeds_db)
                return False
            self._stop = threading.Event()  # (its own: a predecessor that outlived STOP_SECONDS stays stopped)
            self._thread = threading.Thread(
                target=self._supervise, args=(self._stop,), name="newsdesk-bot-watch", daemon=True
            )
            self._thread.start()
            log.info("watching %d feeds and %s in the background", len(self.feeds()), self.seeds_dir)
            return True

    def restart(self) -> bool:
        """Stop the watcher (if it runs) and start it again, so it polls what is due now."""
        with self._running:
            self._halt()
            return self.start()

    def stop(self) -> None:
        """Stop the watcher (a cycle in flight finishes its current requests) and close the feed state."""
        with self._running:
            self._halt()
        with self._lock:
            if self._updater is not None:
                self._updater.close()
                self._updater.store.close()
                self._updater = None

    def _halt(self) -> None:
        self._stop.set()
        watcher = self._watcher
        if watcher is not None:
            stop_watcher(watcher)
        if self._thread is not None:
            self._thread.join(STOP_SECONDS)
            if self._thread.is_alive():
                log.warning("the feed watcher did not stop within %.0f s", STOP_SECONDS)
            self._thread = None

    def _supervise(self, stop: threading.Event) -> None:
        """Run watchers until stopped; one that fails is logged and replaced after RESTART_SECONDS, with the
        feed state opened afresh (a connection that broke does not stay broken)."""
        from retrieval.feeds.watcher import Watcher

        while not stop.is_set():
            updater = watcher = None
            try:
                updater = self.updater()
                watcher = Watcher(
                    self.engine,
                    self.seeds_dir,
                    updater,
                    on_event=self._on_event,
                    force_polling=self.settings.following.watch_polling,
                    poll_seconds=self.settings.following.watch_poll_seconds,
                )
                if stop is self._stop:
                    self._watcher = watcher
                if stop.is_set():
                    return
                watcher.run()
                if not stop.is_set():  # (it returns only when stopped)
                    log.warning("the feed watcher stopped by itself; running it again")
            except Exception:
                log.exception("the feed watcher failed; running it again in %.0f s", RESTART_SECONDS)
                if watcher is not None:
                    stop_watcher(watcher)
                self._discard(updater)
                stop.wait(RESTART_SECONDS)
            finally:
                if stop is self._stop:
                    self._watcher = None

    def _discard(self, updater: FeedUpdater | None) -> None:
        """Close ``updater`` (if it is still the current one): the next use opens the state again."""
        with self._lock:
            if updater is None or updater is not self._updater:
                return
            self._updater = None
        try:
            updater.close()
            updater.store.close()
        except Exception as exc:
            log.warning("closing the feed state failed: %s", exc)

    def _on_event(self, event: WatchEvent) -> None:
        """Log what the watcher did and remember when the index grew (on the watcher's thread)."""
        if event.kind == "update" and event.update is not None:
            for report in event.update.feeds:
                if report.status == "failed":
                    log.warning("feeds: %s", feed_line(report))
                elif report.status != "unchanged":
                    log.info("feeds: %s", feed_line(report))
            busy = event.update.new or event.update.failed or event.update.index_error
            log.log(logging.INFO if busy else logging.DEBUG, "feeds: %s", summary_line(event.update))
            if event.update.build is not None:
                self.grew(event.update.build.added)
        elif event.kind == "build" and event.build is not None:
            log.info("feeds: %s", seeds_line(event.build))
            self.grew(event.build.added)
        elif event.kind == "error":
            log.warning("feeds: %s", event.message)

    def grew(self, added: int) -> None:
        """Note that a build added ``added`` articles, and tell the ``on_growth`` listeners."""
        if added > 0:
            with self._grew_lock:
                self._grew_at = dt.datetime.now(dt.UTC)
                self._grew_by = added
        for listener in self.on_growth:  # also with none added here: another process may have indexed some
            listener(added)

    def status(self) -> FeedsStatus:
        """The feeds and the index's growth, for /stats."""
        with self._grew_lock:
            grew_at, grew_by = self._grew_at, self._grew_by
        return FeedsStatus(tuple(self.feeds()), self.watching, grew_at, grew_by)
