"""robots.txt for article pages (RFC 9309, via Protego), fetched once per host and kept for a day."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from retrieval.errors import FetchError
from retrieval.feeds.http import Fetcher, decode_body

log = logging.getLogger(__name__)

UNREACHABLE_TTL = 900.0
"""A robots.txt that could not be fetched (5xx, timeout) is asked again after this many seconds."""


@dataclass(frozen=True)
class RobotsRules:
    """What a host's robots.txt said: ``allow_all``, ``deny_all`` or ``rules`` (its text)."""

    kind: str
    text: str = ""
    fetched_at: float = 0.0


def rules_from_fetch(fetch: Callable[[], tuple[int, bytes]], now: float) -> RobotsRules:
    """The rules a robots.txt fetch implies (RFC 9309 §2.3.1): 4xx allows all, 5xx or no answer denies all."""
    try:
        status, body = fetch()
    except FetchError as exc:
        if exc.status is not None and 400 <= exc.status < 500:
            return RobotsRules("allow_all", fetched_at=now)
        return RobotsRules("deny_all", text=exc.reason, fetched_at=now)
    if 200 <= status < 300:
        return RobotsRules("rules", decode_body(body, "text/plain")[:500_000], now)
    return RobotsRules("allow_all", fetched_at=now)


class Robots:
    """Answers "may this page be fetched?" for a user agent, fetching each host's robots.txt once per TTL.

    ``load`` and ``save`` keep the rules across processes (the feed state database).
    """

    def __init__(
        self,
        fetcher: Fetcher,
        agent: str,
        ttl: float,
        *,
        load: Callable[[str], RobotsRules | None] | None = None,
        save: Callable[[str, RobotsRules], None] | None = None,
    ) -> None:
        self._fetcher = fetcher
        self._agent = agent
        self._ttl = ttl
        self._load = load
        self._save = save
        self._rules: dict[str, RobotsRules] = {}
        self._parsed: dict[str, object] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def allowed(self, url: str) -> bool:
        """True if robots.txt lets this agent fetch ``url``; FetchError while the host's robots.txt is unreachable."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        rules = self._rules_for(origin)
        if rules.kind == "allow_all":
            return True
        if rules.kind == "deny_all":
            raise FetchError(f"robots.txt of {origin} unreachable ({rules.text}): the page waits")
        parser = self._parser(origin, rules)
        allowed = bool(parser.can_fetch(url, self._agent))  # type: ignore[attr-defined]
        delay = parser.crawl_delay(self._agent)  # type: ignore[attr-defined]
        if delay:
            self._fetcher.gate.slow_down((parts.hostname or "").lower(), float(delay))
        return allowed

    def _parser(self, origin: str, rules: RobotsRules) -> object:
        from protego import Protego

        key = f"{origin}@{rules.fetched_at}"
        if key not in self._parsed:
            self._parsed[key] = Protego.parse(rules.text)
        return self._parsed[key]

    def _rules_for(self, origin: str) -> RobotsRules:
        with self._lock:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:  # one fetch per host, however many pages wait for it
            now = time.time()
            rules = self._rules.get(origin)
            if rules is None and self._load is not None:
                rules = self._load(origin)
            ttl = min(self._ttl, UNREACHABLE_TTL) if rules is not None and rules.kind == "deny_all" else self._ttl
            if rules is None or now - rules.fetched_at > ttl:
                rules = rules_from_fetch(lambda: self._get(origin), now)
                log.info("robots.txt of %s: %s", origin, rules.kind)
                if self._save is not None:
                    self._save(origin, rules)
            self._rules[origin] = rules
            return rules

    def _get(self, origin: str) -> tuple[int, bytes]:
        response = self._fetcher.get(origin + "/robots.txt", accept="text/plain, */*;q=0.5")
        return response.status, response.body
