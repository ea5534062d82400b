"""The feed side's domain types: feeds as configured, items as parsed, articles as stored, reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from retrieval.index.indexer import BuildSummary


@dataclass(frozen=True)
class Feed:
    """A subscription and what newsdesk knows of its health."""

    id: int
    url: str
    name: str
    site: str = ""
    """The site the feed belongs to (its ``<link>``), if it says."""
    etag: str = ""
    last_modified: str = ""
    last_polled: dt.datetime | None = None
    last_status: str = ""
    """``ok``, ``unchanged``, or the reason of the last failure."""
    failures: int = 0
    """Failed polls in a row."""
    next_poll: dt.datetime | None = None
    articles: int = 0
    """Articles stored from this feed."""
    added: dt.datetime | None = None


@dataclass(frozen=True)
class ParsedItem:
    """One entry of a feed, as the feed tells it."""

    guid: str
    link: str
    title: str
    published: dt.datetime | None
    author: str
    text: str
    """The entry's own content (or summary) as plain text."""
    source: str = ""
    """The outlet the entry credits (RSS ``<source>``, Atom ``<source><title>``), for syndicated copy."""


@dataclass(frozen=True)
class ParsedFeed:
    """A feed document: its kind, title, site, suggested poll interval and entries."""

    kind: str
    """``rss20``, ``rss10``, ``atom10``, ``json1``… (feedparser's names; ``json…`` for JSON Feed)."""
    title: str
    site: str
    items: tuple[ParsedItem, ...]
    ttl: float | None = None
    """Seconds the feed asks to be cached for (RSS ``<ttl>``), if any."""
    warning: str = ""
    """What was wrong with a feed that could still be read (malformed but recoverable XML)."""


@dataclass(frozen=True)
class DiscoveredFeed:
    """A feed an HTML page announces with ``<link rel="alternate">``."""

    url: str
    type: str
    title: str = ""


@dataclass(frozen=True)
class Extracted:
    """The article trafilatura found in a page: text without site furniture, and its metadata."""

    text: str
    title: str = ""
    date: dt.date | None = None
    author: str = ""
    sitename: str = ""
    canonical_url: str = ""


@dataclass(frozen=True)
class StoredArticle:
    """A fetched article as written under the seeds directory (Markdown with YAML front matter)."""

    id: str
    path: str
    """Relative to the seeds directory."""
    title: str
    date: dt.date | None
    url: str
    source: str
    """The outlet (the page's site name, else the item's credited source, else the feed's title or host)."""
    author: str
    text: str
    feed: str
    """The feed's name."""
    origin: str
    """``page`` (extracted from the article page) or ``feed`` (the feed's own text)."""


@dataclass(frozen=True)
class FeedReport:
    """What one poll of one feed did."""

    feed: str
    url: str
    status: str
    """``new`` (stored articles), ``unchanged`` (nothing new), ``failed``."""
    new: int = 0
    pages: int = 0
    """Article pages fetched."""
    page_failures: int = 0
    """Items whose page could not be had (kept with the feed's text, or retried on a later poll)."""
    reason: str = ""
    """Why it failed, or what was odd (a recovered malformed feed, items without links…)."""
    seconds: float = 0.0
    next_poll: dt.datetime | None = None


@dataclass(frozen=True)
class UpdateReport:
    """One update cycle: each feed's report, what was indexed, and how long it took."""

    feeds: tuple[FeedReport, ...]
    articles: tuple[StoredArticle, ...]
    build: BuildSummary | None
    seconds: float
    requests: int
    """HTTP requests sent (feeds, pages and robots.txt)."""
    index_error: str = ""
    """Why indexing failed, if it did (the articles are stored: the next update indexes them)."""

    @property
    def new(self) -> int:
        """Articles stored in this cycle."""
        return len(self.articles)

    @property
    def failed(self) -> int:
        """Feeds whose poll failed."""
        return sum(1 for f in self.feeds if f.status == "failed")
