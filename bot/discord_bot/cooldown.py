"""A per-user sliding-window rate limit: at most N questions in any window of S seconds."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class Cooldown:
    """Counts each user's recent questions; ``hit`` says how long to wait, 0 if the question may go."""

    def __init__(self, rate: int, per: float, clock: Callable[[], float] | None = None) -> None:
        if rate < 1 or per <= 0:
            raise ValueError("rate must be >= 1 and per > 0")
        self.rate = rate
        self.per = per
        self._clock = clock
        self._seen: dict[int, deque[float]] = {}
        self._warned: dict[int, float] = {}

    def _now(self) -> float:
        # time.monotonic is looked up at each call so a test clock patched onto it is honoured
        return self._clock() if self._clock is not None else time.monotonic()

    def _recent(self, user_id: int, now: float) -> deque[float]:
        stamps = self._seen.setdefault(user_id, deque())
        while stamps and now - stamps[0] >= self.per:
            stamps.popleft()
        return stamps

    def hit(self, user_id: int) -> float:
        """Record a question and return 0.0, or return the seconds until the user may ask again."""
        now = self._now()
        stamps = self._recent(user_id, now)
        if len(stamps) >= self.rate:
            return max(self.per - (now - stamps[0]), 0.001)
        stamps.append(now)
        if len(self._seen) > 10_000:  # forget idle users now and then
            for uid in [u for u, s in self._seen.items() if not s or now - s[-1] >= self.per]:
                self._seen.pop(uid, None)
                self._warned.pop(uid, None)
        return 0.0

    def should_warn(self, user_id: int) -> bool:
        """True once per window for a limited user, so replies to spam do not become spam."""
        now = self._now()
        last = self._warned.get(user_id)
        if last is not None and now - last < self.per:
            return False
        self._warned[user_id] = now
        return True
