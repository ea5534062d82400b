"""One update cycle: poll feeds, fetch each new item's page, extract, store under the seeds, index what is new."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from retrieval.errors import FeedError, FetchError, NewsdeskError
from retrieval.feeds import state as st
from retrieval.feeds.config import FeedsConfig
from retrieval.feeds.extract import Extracted, extract_article
from retrieval.feeds.http import FEED_ACCEPT, PAGE_ACCEPT, Fetcher, host_of
from retrieval.feeds.parse import NotAFeedError, discover_feeds, parse_feed
from retrieval.feeds.robots import Robots
from retrieval.feeds.state import FeedStore
from retrieval.feeds.storage import (
    FEEDS_SUBDIR,
    article_location,
    fingerprint,
    normalize_url,
    read_front_matter,
    render,
    write_atomically,
)
from retrieval.feeds.types import Feed, FeedReport, ParsedFeed, ParsedItem, StoredArticle, UpdateReport

if TYPE_CHECKING:
    from retrieval.engine import Engine

log = logging.getLogger(__name__)

FeedCallback = Callable[[FeedReport], None]
_HTML_TYPES = ("text/html", "application/xhtml+xml", "")
INDEX_PENDING = "index_pending"


def item_key(feed: Feed, item: ParsedItem) -> str:
    """An item's identity, known before any fetch: its link, else its GUID in the feed, else its content."""
    if item.link:
        return "url:" + normalize_url(item.link)
    if item.guid:
        return f"guid:{feed.url}\n{item.guid}"
    digest = hashlib.sha256(f"{item.title}\n{item.text}".encode()).hexdigest()
    return f"text:{feed.url}\n{digest}"


@dataclass
class _Tally:
    new: list[StoredArticle]
    pages: int = 0
    page_failures: int = 0
    notes: list[str] | None = None
    seen: set[str] = field(default_factory=set)
    """Items handled in this poll (a page that failed now is not retried in the same poll)."""

    def note(self, text: str) -> None:
        if self.notes is None:
            self.notes = []
        if text not in self.notes:
            self.notes.append(text)


class FeedUpdater:
    """Follows the feeds in a FeedStore: one ``update`` is one polite cycle over them.

    Articles go to ``<seeds>/feeds/<host>/<id>.md`` before the state says they are done, so a crash
    loses nothing and the next cycle fetches nothing it already has. With an engine, what is new is
    indexed incrementally at the end of the cycle (``Engine.build`` swaps it in while questions go on).
    """

    def __init__(
        self,
        store: FeedStore,
        seeds_dir: Path,
        config: FeedsConfig | None = None,
        *,
        engine: Engine | None = None,
        fetcher: Fetcher | None = None,
    ) -> None:
        self.store = store
        self.seeds_dir = Path(seeds_dir)
        self.config = config or FeedsConfig()
        self.engine = engine
        self.fetcher = fetcher or Fetcher(self.config)
        self.robots = Robots(
            self.fetcher, self.config.robots_agent, self.config.robots_ttl, load=store.robots, save=store.save_robots
        )
        self._lock_file = FileLock(str(store.path) + ".lock")
        self._cycle = threading.Lock()
        self._claimed: set[str] = set()
        self._claim_lock = threading.Lock()

    def close(self) -> None:
        """Close the connection pool."""
        self.fetcher.close()

    # -- subscriptions ---------------------------------------------------------------------

    def find_feed(self, url: str) -> tuple[str, ParsedFeed]:
        """The feed at ``url`` or the one the page at ``url`` announces; FeedError saying why there is none."""
        response = self.fetcher.get(url, accept=FEED_ACCEPT)
        try:
            return response.url, parse_feed(response.body, response.url, response.headers)
        except NotAFeedError as exc:
            if not exc.html:
                raise FeedError(f"{url} is not a feed: {exc}") from exc
        announced = discover_feeds(response.body, response.url, response.headers.get("content-type", ""))
        if not announced:
            raise FeedError(f'{url} is a web page that announces no feed (no <link rel="alternate"> to RSS or Atom)')
        problems = []
        for candidate in announced:
            try:
                found = self.fetcher.get(candidate.url, accept=FEED_ACCEPT)
                return found.url, parse_feed(found.body, found.url, found.headers)
            except FeedError as exc:
                problems.append(f"{candidate.url}: {exc}")
        raise FeedError(f"{url} announces feeds that cannot be read ({'; '.join(problems)})")

    def add(self, url: str, name: str | None = None) -> Feed:
        """Subscribe to the feed at ``url`` (or announced by the page there), checked by fetching it once."""
        url = url.strip()
        if not url.lower().startswith(("http://", "https://")):
            raise FeedError(f"not an http(s) URL: {url!r}")
        try:
            feed_url, parsed = self.find_feed(url)
        except FetchError as exc:
            raise FeedError(f"cannot read {url}: {exc.reason}") from exc
        if name:
            return self.store.add_feed(feed_url, name.strip(), parsed.site)
        name = parsed.title or host_of(feed_url)
        taken = {f.name for f in self.store.feeds()}
        base, number = name, 2
        while name in taken:  # two feeds called "News": the second becomes "News (2)"
            name, number = f"{base} ({number})", number + 1
        return self.store.add_feed(feed_url, name, parsed.site)

    def add_unchecked(self, url: str, name: str) -> Feed:
        """Subscribe without fetching (an OPML import): the first poll says whether it is a feed."""
        if not url.lower().startswith(("http://", "https://")):
            raise FeedError(f"not an http(s) URL: {url!r}")
        return self.store.add_feed(url, name or host_of(url))

    def remove(self, url_or_name: str, *, purge: bool = False) -> tuple[Feed, int]:
        """Unsubscribe; ``purge`` also deletes the articles this feed brought. The feed and the files deleted."""
        feed = self.store.feed(url_or_name)
        deleted = 0
        if purge:
            for record in self.store.items_of(feed.id):
                path = self.seeds_dir / record.path
                if path.exists():
                    path.unlink()
                    deleted += 1
            self.store.forget_items(feed.id)
        self.store.remove_feed(feed.id)
        return feed, deleted

    # -- the cycle -------------------------------------------------------------------------

    def update(
        self,
        *,
        due_only: bool = False,
        index: bool = True,
        on_feed: FeedCallback | None = None,
        stop: threading.Event | None = None,
    ) -> UpdateReport:
        """Poll every feed (or those due) once, store what is new, index it; one process at a time."""
        started = time.perf_counter()
        requests_before = self.fetcher.requests
        try:
            self._lock_file.acquire(timeout=0)
        except Timeout:
            raise FeedError(f"another newsdesk is updating the feeds in {self.store.path} right now") from None
        try:
            with self._cycle:
                self._clear_leftovers()
                now = dt.datetime.now(dt.UTC)
                feeds = self.store.feeds(due_before=now if due_only else None)
                reports: list[FeedReport] = []
                articles: list[StoredArticle] = []
                lock = threading.Lock()

                def one(feed: Feed) -> None:
                    if stop is not None and stop.is_set():
                        return
                    try:
                        report, stored = self.poll(feed)
                    except Exception as exc:  # a bug or a full disk on one feed must not stop the others
                        log.exception("feed %s: unexpected error", feed.url)
                        report = FeedReport(feed.name, feed.url, "failed", reason=f"{type(exc).__name__}: {exc}")
                        stored = []
                    with lock:
                        reports.append(report)
                        articles.extend(stored)
                    if on_feed is not None:
                        on_feed(report)

                workers = max(1, min(self.config.workers, len(feeds)))
                try:
                    with ThreadPoolExecutor(workers, thread_name_prefix="newsdesk-feed") as pool:
                        for future in [pool.submit(one, feed) for feed in feeds]:
                            future.result()
                finally:
                    self._claimed.clear()
                build, index_error = None, ""
                engine = self.engine if index else None
                if engine is not None and (articles or self.store.flag(INDEX_PENDING) or not engine.has_index()):
                    try:
                        build, _ = engine.build(self.seeds_dir)
                        self.store.set_flag(INDEX_PENDING, False)
                    except NewsdeskError as exc:  # the articles are stored: the next update indexes them
                        index_error = str(exc)
                        log.warning("indexing after the feed update failed: %s", exc)
                order = {f.id: n for n, f in enumerate(feeds)}
                by_url = {f.url: f.id for f in feeds}
                reports.sort(key=lambda r: order.get(by_url.get(r.url, -1), len(order)))
                return UpdateReport(
                    feeds=tuple(reports),
                    articles=tuple(articles),
                    build=build,
                    seconds=time.perf_counter() - started,
                    requests=self.fetcher.requests - requests_before,
                    index_error=index_error,
                )
        finally:
            self._lock_file.release()

    def _clear_leftovers(self) -> None:
        """Delete the temporary files a killed update left (this process holds the lock: none is being written)."""
        root = self.seeds_dir / FEEDS_SUBDIR
        if root.is_dir():
            for leftover in root.rglob(".*.tmp"):
                leftover.unlink(missing_ok=True)

    def _next_poll(
        self, feed: Feed, *, failed: bool, ttl: float | None = None, wait: float | None = None
    ) -> dt.datetime:
        interval = self.config.interval
        if failed:
            interval = min(self.config.max_backoff, interval * 2 ** min(max(feed.failures - 1, 0), 20))
        elif ttl:
            interval = min(self.config.max_backoff, max(interval, ttl))
        if wait:
            interval = max(interval, min(wait, self.config.max_backoff))
        interval *= random.uniform(0.9, 1.1)  # spread polls so many feeds do not fall due together
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=interval)

    def poll(self, feed: Feed) -> tuple[FeedReport, list[StoredArticle]]:
        """Poll one feed: conditional GET, parse, store each new item; never raises for the feed's faults."""
        started = time.perf_counter()
        tally = _Tally(new=[])
        headers = {}
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
        try:
            response = self.fetcher.get(feed.url, accept=FEED_ACCEPT, headers=headers)
            body_hash = hashlib.sha256(response.body).hexdigest()[:32] if response.status != 304 else ""
            if response.status == 304 or body_hash == self.store.body_hash(feed.id):
                self._retry_pages(feed, None, tally)
                status = "new" if tally.new else "unchanged"
                next_poll = self._next_poll(feed, failed=False)
                validators = {}
                if response.status != 304:  # same body, maybe new validators
                    validators = {
                        "etag": response.headers.get("etag", ""),
                        "last_modified": response.headers.get("last-modified", ""),
                    }
                self.store.polled(feed.id, status="unchanged", failed=False, next_poll=next_poll, **validators)
                return self._report(feed, status, tally, started, next_poll), tally.new
            parsed = parse_feed(response.body, response.url, response.headers)
        except (FetchError, NotAFeedError) as exc:
            reason = exc.reason if isinstance(exc, FetchError) else str(exc)
            wait = exc.retry_after if isinstance(exc, FetchError) else None
            next_poll = self._next_poll(replace(feed, failures=feed.failures + 1), failed=True, wait=wait)
            self.store.polled(feed.id, status=reason, failed=True, next_poll=next_poll)
            log.warning("feed %s failed: %s (next try %s)", feed.url, reason, next_poll.isoformat(timespec="seconds"))
            return self._report(feed, "failed", tally, started, next_poll, reason), []
        if parsed.warning:
            tally.note(parsed.warning)
        for item in parsed.items:
            self._handle(feed, parsed, item, tally)
        self._retry_pages(feed, parsed, tally)
        new_url = response.url if response.permanent_redirect and response.url != feed.url else None
        if new_url and any(f.url == new_url for f in self.store.feeds()):
            new_url = None
        if new_url:
            tally.note(f"moved permanently to {new_url}")
        next_poll = self._next_poll(feed, failed=False, ttl=parsed.ttl)
        self.store.polled(  # only now: a crash before this re-reads the document, it never skips its items
            feed.id,
            status="ok",
            failed=False,
            next_poll=next_poll,
            etag=response.headers.get("etag", ""),
            last_modified=response.headers.get("last-modified", ""),
            body_hash=body_hash,
            site=parsed.site or None,
            url=new_url,
        )
        status = "new" if tally.new else "unchanged"
        return self._report(feed, status, tally, started, next_poll), tally.new

    def _report(
        self, feed: Feed, status: str, tally: _Tally, started: float, next_poll: dt.datetime, reason: str = ""
    ) -> FeedReport:
        return FeedReport(
            feed=feed.name,
            url=feed.url,
            status=status,
            new=len(tally.new),
            pages=tally.pages,
            page_failures=tally.page_failures,
            reason=reason or "; ".join(tally.notes or []),
            seconds=time.perf_counter() - started,
            next_poll=next_poll,
        )

    # -- items -----------------------------------------------------------------------------

    def _handle(self, feed: Feed, parsed: ParsedFeed, item: ParsedItem, tally: _Tally) -> None:
        key = item_key(feed, item)
        link = normalize_url(item.link)
        with self._claim_lock:  # the same link in two feeds polled at once is fetched once
            if key in self._claimed or self.store.known(key, feed.id, item.guid, link):
                return
            self._claimed.add(key)
        article_id, rel = article_location(key, host_of(item.link) or host_of(feed.url))
        path = self.seeds_dir / rel
        if path.exists():  # stored by a run that died before recording it: adopt it, fetch nothing
            meta = read_front_matter(path)
            if meta.get("id") == article_id:
                self.store.record(
                    key, feed.id, item, state=st.STORED, link=link, canonical=normalize_url(str(meta.get("url", ""))),
                    article_id=article_id, path=rel, source=str(meta.get("source", "")),
                    fingerprint=str(meta.get("fingerprint", "")),
                )  # fmt: skip
                return
        tally.seen.add(key)
        if not item.link:
            tally.note("items without links: kept with the feed's text")
        self._store(feed, parsed.title, item, key, article_id, rel, attempts=0, tally=tally)

    def _retry_pages(self, feed: Feed, parsed: ParsedFeed | None, tally: _Tally) -> None:
        for record in self.store.retries(feed.id):
            if record.item is None or record.key in tally.seen:
                continue
            article_id, rel = article_location(record.key, host_of(record.item.link) or host_of(feed.url))
            title = parsed.title if parsed is not None else feed.name
            self._store(feed, title, record.item, record.key, article_id, rel, attempts=record.attempts, tally=tally)

    def _store(
        self,
        feed: Feed,
        feed_title: str,
        item: ParsedItem,
        key: str,
        article_id: str,
        rel: str,
        *,
        attempts: int,
        tally: _Tally,
    ) -> None:
        """Fetch the item's page if it has one, and write the article (the page's, else the feed's text).

        The steps: the page (robots, fetch, extract); whether a failure is retried; the text kept; a
        duplicate by canonical URL; the article written; its state recorded.
        """
        link = normalize_url(item.link)
        page = self._page(item, tally)
        retry = bool(page.problem) and not page.permanent and attempts + 1 < self.config.page_attempts
        self._note_problem(item, page, retry, tally)
        if retry and attempts > 0 and (self.seeds_dir / rel).exists():  # still failing: keep the feed's text
            self.store.record(key, feed.id, item, state=st.RETRY, link=link, article_id=article_id, path=rel,
                              reason=page.problem, attempts=attempts + 1)  # fmt: skip
            return
        text, origin = _chosen_text(item, page.extracted)
        if not text:
            state = st.RETRY if retry else st.EMPTY
            self.store.record(key, feed.id, item, state=state, link=link, reason=page.problem or "no text",
                              attempts=attempts + 1)  # fmt: skip
            return
        extracted = page.extracted
        canonical = normalize_url(extracted.canonical_url) if extracted and extracted.canonical_url else link
        if self._recorded_as_duplicate(feed, item, key, link, canonical, article_id):
            return
        now = dt.datetime.now(dt.UTC)
        article, published, extra = self._article(
            feed, feed_title, item, extracted, (article_id, rel), text, origin, now
        )
        if not self.store.flag(INDEX_PENDING):
            self.store.set_flag(INDEX_PENDING, True)  # before the file: a crash after it still gets it indexed
        write_atomically(self.seeds_dir / rel, render(article, published=published, fetched=now, extra=extra))
        self.store.record(
            key, feed.id, item, state=st.RETRY if retry else st.STORED, link=link, canonical=canonical,
            article_id=article_id, path=rel, source=article.source, fingerprint=extra["fingerprint"],
            reason=page.problem, attempts=attempts + 1 if page.problem else attempts,
        )  # fmt: skip
        if attempts == 0 or origin == "page":
            tally.new.append(article)

    def _page(self, item: ParsedItem, tally: _Tally) -> _Page:
        """The item's page, extracted; or why not (robots.txt, a fetch error, not HTML, no article in it)."""
        if not (self.config.fetch_pages and item.link):
            return _Page()
        try:
            allowed = self.robots.allowed(item.link)
        except FetchError as exc:  # robots.txt unreachable: not now, maybe on the next poll
            return _Page(problem=exc.reason or "robots.txt disallows the page", permanent=not exc.reason)
        if not allowed:
            return _Page(problem="robots.txt disallows the page", permanent=True)
        tally.pages += 1
        try:
            response = self.fetcher.get(item.link, accept=PAGE_ACCEPT)
        except FetchError as exc:
            return _Page(problem=exc.reason, permanent=exc.permanent)
        if response.content_type not in _HTML_TYPES:
            return _Page(problem=f"the page is {response.content_type}, not HTML", permanent=True)
        extracted = extract_article(response.text(), response.url)
        if extracted is None:
            return _Page(problem="no article text found on the page", permanent=True)
        return _Page(extracted)

    @staticmethod
    def _note_problem(item: ParsedItem, page: _Page, retry: bool, tally: _Tally) -> None:
        if not page.problem:
            return
        tally.page_failures += 1
        log.info("page %s: %s%s", item.link, page.problem, " (will retry)" if retry else "")
        if retry:
            tally.note(f"{tally.page_failures} page(s) to retry")

    def _recorded_as_duplicate(
        self, feed: Feed, item: ParsedItem, key: str, link: str, canonical: str, article_id: str
    ) -> bool:
        """True (and recorded) if the page's canonical URL is an article already stored under another link."""
        if not canonical or canonical == link:
            return False
        other = self.store.stored_with_canonical(canonical)
        if other is None or other == article_id:
            return False
        self.store.record(key, feed.id, item, state=st.DUPLICATE, link=link, canonical=canonical,
                          article_id=other, reason=f"same article as {other}")  # fmt: skip
        return True

    def _article(
        self,
        feed: Feed,
        feed_title: str,
        item: ParsedItem,
        extracted: Extracted | None,
        where: tuple[str, str],
        text: str,
        origin: str,
        now: dt.datetime,
    ) -> tuple[StoredArticle, dt.datetime | None, dict[str, str]]:
        """The article to write (``where``: its id and path), its publication time, and the front matter's
        extra fields."""
        article_id, rel = where
        date = item.published.date() if item.published else (extracted.date if extracted else None)
        date_from = "feed" if item.published else ("page" if date else "first seen")
        source = (extracted.sitename if extracted else "") or feed_title or host_of(item.link or feed.url)
        article = StoredArticle(
            id=article_id,
            path=rel,
            title=item.title or (extracted.title if extracted else "") or "",
            date=date or now.date(),
            url=(extracted.canonical_url if extracted and extracted.canonical_url else item.link) or "",
            source=source,
            author=item.author or (extracted.author if extracted else ""),
            text=text,
            feed=feed.name,
            origin=origin,
        )
        extra = {"feed_url": feed.url, "date_from": date_from, "fingerprint": fingerprint(text)}
        if item.guid:
            extra["guid"] = item.guid
        if item.source and item.source != source:
            extra["credited_source"] = item.source
        return article, item.published, extra


@dataclass(frozen=True)
class _Page:
    """An item's page: what was extracted from it, or why nothing was (and whether that may pass)."""

    extracted: Extracted | None = None
    problem: str = ""
    permanent: bool = False


def _chosen_text(item: ParsedItem, extracted: Extracted | None) -> tuple[str, str]:
    """The text to keep and where it came from: the page's, unless it is under half the feed's (a paywall stub)."""
    feed_text = item.text.strip()
    if extracted is not None and len(extracted.text) >= 0.5 * len(feed_text):
        return extracted.text, "page"
    return feed_text, "feed"
