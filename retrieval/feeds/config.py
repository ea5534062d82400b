"""How newsdesk follows feeds: politeness, limits and schedule (plain values the fronts fill in)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from annotated_types import Ge, Gt, Le

VERSION = "0.1.0"


@dataclass(frozen=True)
class FeedsConfig:
    """Limits and schedule of feed following; every time is in seconds."""

    interval: Annotated[float, Ge(1)] = 1800.0
    """How often a healthy feed is polled (a feed's own RSS ``<ttl>`` can only lengthen it)."""
    max_backoff: Annotated[float, Ge(1)] = 86_400.0
    """Longest wait before retrying a failing feed (the wait doubles with each failure up to this)."""
    connect_timeout: Annotated[float, Gt(0)] = 10.0
    """Longest wait for a connection to a host."""
    read_timeout: Annotated[float, Gt(0)] = 30.0
    """Longest silence while reading a response."""
    total_timeout: Annotated[float, Gt(0)] = 60.0
    """Longest a whole response may take (a slow drip of bytes is cut off here)."""
    max_bytes: Annotated[int, Ge(10_000)] = 10 * 1024 * 1024
    """Largest body read (after decompression); a larger one is refused while it streams."""
    max_redirects: Annotated[int, Ge(0), Le(20)] = 5
    """Most redirects followed for one request."""
    host_delay: Annotated[float, Ge(0)] = 1.0
    """Least time between the starts of two requests to the same host."""
    host_connections: Annotated[int, Ge(1), Le(16)] = 2
    """Most requests in flight to one host at once."""
    workers: Annotated[int, Ge(1), Le(64)] = 8
    """Feeds and pages fetched at once, over all hosts."""
    fetch_pages: bool = True
    """Fetch each new item's page and extract the article (else keep the feed's own text)."""
    page_attempts: Annotated[int, Ge(1), Le(20)] = 3
    """Polls on which a failing article page is tried before the feed's text is kept for good."""
    robots_ttl: float = 86_400.0
    """How long a host's robots.txt is trusted before it is fetched again."""
    contact: str = ""
    """A URL or e-mail address put in the User-Agent, so site owners can reach whoever runs this."""
    user_agent: str = ""
    """The whole User-Agent header (empty: ``newsdesk/<version> (+feed reader; <contact>)``)."""

    @property
    def agent(self) -> str:
        """The User-Agent header sent with every request."""
        if self.user_agent:
            return self.user_agent
        contact = f"; +{self.contact}" if self.contact else ""
        return f"newsdesk/{VERSION} (news feed reader{contact})"

    @property
    def robots_agent(self) -> str:
        """The product token robots.txt rules are matched against."""
        return self.agent.split("/", 1)[0].split()[0] or "newsdesk"
