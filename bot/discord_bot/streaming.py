"""Written answers as they are written: verified sentences arrive from the engine's worker thread and are
shown by editing the reply, at most once a second (later sentences coalesce into the next edit)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import discord

from retrieval.types import AnswerSentence, Citation

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

EDIT_SECONDS = 1.0
"""At most one edit of a streamed reply per this many seconds (the final one included)."""

Written = tuple[AnswerSentence, Citation | None]
"""A sentence shown so far and its citation as it stood then."""


class Coalescer(Generic[T]):
    """Sends the latest of a changing value with ``send``, at most once every ``interval`` seconds.

    Runs on the event loop: ``push`` never waits; values pushed while a send is due or in flight
    coalesce into the next one. ``stop`` ends it; ``last`` then sends a final value in turn.
    """

    def __init__(
        self,
        send: Callable[[T], Awaitable[object]],
        *,
        interval: float = EDIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self.interval = interval
        self._clock = clock
        self._value: T | None = None
        self._waiting = False
        self._sending = False
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        self._last: float | None = None
        self.sends = 0
        """Sends so far (the final one included)."""

    def push(self, value: T) -> None:
        """Show ``value`` at the next allowed moment (now, if the last send is ``interval`` old)."""
        if self._stopped:
            return
        self._value, self._waiting = value, True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _due_in(self) -> float:
        return 0.0 if self._last is None else max(0.0, self._last + self.interval - self._clock())

    async def _run(self) -> None:
        while self._waiting and not self._stopped:
            wait = self._due_in()
            if wait > 0:
                await asyncio.sleep(wait)
            value, self._waiting = self._value, False
            self._last, self._sending = self._clock(), True
            try:
                await self._send(value)  # type: ignore[arg-type]
            except discord.HTTPException as exc:  # a lost intermediate edit: the final one still comes
                log.warning("could not update the streamed reply: %s", exc)
            except Exception:
                log.exception("updating the streamed reply failed")
            finally:
                self._sending = False
                self.sends += 1

    async def stop(self) -> None:
        """No more pushes: a send waiting for its turn is dropped, one in flight is waited for."""
        self._stopped = True
        self._waiting = False
        task = self._task
        if task is None or task.done():
            return
        if not self._sending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def last(self, send: Callable[[], Awaitable[R]]) -> R:
        """After ``stop``: wait for the next allowed moment, then ``send()`` the final value (errors raise)."""
        wait = self._due_in()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last = self._clock()
        self.sends += 1
        return await send()


class AnswerStream:
    """Collects the verified sentences the engine reports from its worker thread, on the event loop, and
    shows them through a Coalescer (``show`` gets every sentence so far)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        show: Callable[[list[Written]], Awaitable[object]],
        *,
        interval: float = EDIT_SECONDS,
    ) -> None:
        self._loop = loop
        self._context = contextvars.copy_context()
        """The asking handler's context vars (discord.py's webhook adapter is one): the edits run in them,
        not in the worker thread's."""
        self.written: list[Written] = []
        self.edits = Coalescer(show, interval=interval)

    def on_sentence(self, sentence: AnswerSentence, citation: Citation | None) -> None:
        """The engine's callback (any thread): hand the sentence to the event loop."""
        with contextlib.suppress(RuntimeError):  # the loop closed (shutting down): nobody is watching
            self._loop.call_soon_threadsafe(self._add, sentence, citation, context=self._context)

    def _add(self, sentence: AnswerSentence, citation: Citation | None) -> None:
        self.written.append((sentence, citation))
        self.edits.push(list(self.written))

    @property
    def started(self) -> bool:
        """True once a sentence arrived: the reply is (or is about to be) the streamed one."""
        return bool(self.written)
