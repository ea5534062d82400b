"""Which question a Discord follow-up follows: the one answered by the message it replies to, or the
last one asked in its thread; and the threads the bot has answered in (where a message needs no
mention to be a follow-up). Kept in memory: after a restart, a follow-up mentions the bot again."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

MAX_REMEMBERED = 4096
"""Answer messages and threads remembered (the oldest are forgotten first)."""


class Conversations:
    """Remembers the question (as searched) behind each answer message and the last one of each thread,
    and the threads the bot answered in."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self.limit = limit
        self._questions: OrderedDict[int, str] = OrderedDict()
        self._threads: OrderedDict[int, None] = OrderedDict()
        self._lock = threading.Lock()

    def join(self, threads: Iterable[int]) -> None:
        """The bot answered in these threads."""
        with self._lock:
            for thread in threads:
                self._threads[thread] = None
                self._threads.move_to_end(thread)
            while len(self._threads) > self.limit:
                self._threads.popitem(last=False)

    def answered_in(self, thread: int) -> bool:
        """Whether the bot has answered in ``thread`` (and not forgotten it)."""
        with self._lock:
            return thread in self._threads

    def remember(self, ids: Iterable[int | None], question: str) -> None:
        """``question`` is what the messages or threads with these ids were last about."""
        with self._lock:
            for key in ids:
                if key is None:
                    continue
                self._questions[key] = question
                self._questions.move_to_end(key)
            while len(self._questions) > self.limit:
                self._questions.popitem(last=False)

    def previous(self, ids: Iterable[int | None]) -> str | None:
        """The question the first known id was about (a replied-to answer before the thread), if any."""
        with self._lock:
            for key in ids:
                if key is not None and key in self._questions:
                    return self._questions[key]
        return None
