"""A small news site on 127.0.0.1 for tests and benchmarks: RSS, Atom, RSS 1.0 and JSON feeds, article pages
with real site furniture built from real news text (read at run time, never stored), and every kind of bad feed."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import functools
import gzip
import hashlib
import html
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.quiet_http import QuietHTTPServer

CORPUS_NAME = "shared/bench/news_dev_2023h1/corpus.jsonl.gz"
FURNITURE = ("Accept all cookies", "Related stories", "All rights reserved", "Privacy policy", "Subscribe now")
"""Strings of the site furniture on every article page: none of them may reach a stored article."""


def corpus_path() -> Path | None:
    """The dev news corpus (``../shared/bench/…`` from the repo; a worktree may sit one level deeper)."""
    for base in (REPO.parent, REPO.parent.parent):
        if (base / CORPUS_NAME).is_file():
            return base / CORPUS_NAME
    return None


def real_articles(count: int, *, min_chars: int = 1500, max_chars: int = 12_000) -> list[dict[str, Any]]:
    """``count`` real news articles (title, date, text, source) from the dev corpus, read now."""
    path = corpus_path()
    if path is None:
        raise FileNotFoundError(CORPUS_NAME)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            text = record.get("text") or ""
            title = (record.get("title") or "").strip()
            if not (min_chars <= len(text) <= max_chars) or not title or title in seen:
                continue
            seen.add(title)
            out.append(
                {
                    "id": record["id"],
                    "title": title,
                    "date": record.get("date") or "2023-03-01",
                    "text": text,
                    "source": (record.get("meta") or {}).get("source") or "",
                }
            )
            if len(out) == count:
                break
    return out


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in text.split("\n") if p.strip()]


@dataclass
class Story:
    """An article on the site."""

    slug: str
    title: str
    date: str
    text: str
    author: str = "Staff Reporter"
    outlet: str = "Loopback Daily"

    @property
    def path(self) -> str:
        return f"/news/{self.slug}.html"

    @property
    def summary(self) -> str:
        return _paragraphs(self.text)[0][:300]

    @property
    def published(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.date).replace(hour=8, tzinfo=dt.UTC)


@dataclass
class FeedSpec:
    """A feed on the site: its kind (rss, atom, rdf, json) and its stories, newest first."""

    kind: str
    title: str
    slugs: list[str] = field(default_factory=list)
    links: bool = True
    dates: bool = True


def page_html(story: Story, base: str, related: list[Story]) -> str:
    """An article page with a cookie banner, navigation, related links and a footer around the article."""
    paras = "\n".join(f"<p>{html.escape(p)}</p>" for p in _paragraphs(story.text))
    rel = "\n".join(f'<li><a href="{r.path}">{html.escape(r.title)}</a></li>' for r in related[:4])
    when = story.published.isoformat()
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(story.title)} | {story.outlet}</title>
<link rel="canonical" href="{base}{story.path}">
<meta property="og:site_name" content="{story.outlet}">
<meta property="og:title" content="{html.escape(story.title)}">
<meta property="og:type" content="article">
<meta name="author" content="{story.author}">
<meta property="article:published_time" content="{when}">
<link rel="alternate" type="application/rss+xml" title="Top stories" href="/feeds/top.rss">
</head><body>
<div id="cookie-banner" class="cookie-consent"><p>We use cookies to give you the best experience on our site.</p>
<button>Accept all cookies</button> <a href="/cookies">Manage preferences</a></div>
<header><a class="logo" href="/">{story.outlet}</a><nav><ul>
<li><a href="/">Home</a></li><li><a href="/world">World</a></li><li><a href="/business">Business</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/subscribe">Subscribe now</a></li></ul></nav></header>
<main><article>
<h1>{html.escape(story.title)}</h1>
<p class="byline">By <span class="author">{story.author}</span>, <time datetime="{when}">{story.date}</time></p>
{paras}
</article>
<aside class="related"><h2>Related stories</h2><ul>
{rel}
</ul></aside></main>
<footer><p>© 2023 {story.outlet}. All rights reserved.</p>
<ul><li><a href="/privacy">Privacy policy</a></li><li><a href="/terms">Terms of use</a></li></ul></footer>
</body></html>
"""


class NewsSite:
    """The site: start it, publish stories to feeds, count requests, stall or break paths on purpose."""

    def __init__(self) -> None:
        self.stories: dict[str, Story] = {}
        self.feeds: dict[str, FeedSpec] = {}
        self.requests: Counter[str] = Counter()
        self.agents: set[str] = set()
        self.conditional: Counter[str] = Counter()
        """Requests that carried If-None-Match or If-Modified-Since, per path."""
        self.stall: dict[str, threading.Event] = {}
        """Paths whose request waits until the event is set."""
        self.stalled = threading.Event()
        """Set when a request to a stalled path arrives."""
        self.robots = "User-agent: *\nDisallow: /private/\n"
        self.robots_status = 200
        self.slow_seconds = 6.0
        self.cpu_seconds = 0.0
        self.gzipped = 0
        """Responses sent gzip-compressed."""
        """CPU time the site's request threads spent serving (benchmarks subtract it from the process's)."""
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: QuietHTTPServer | None = None

    # -- content ---------------------------------------------------------------------------

    def publish(self, feed: str, story: Story, *, keep: int | None = None) -> None:
        """Put a story on the site and at the top of a feed (which then lists only its ``keep`` newest)."""
        with self._lock:
            self.stories[story.slug] = story
            self.feeds[feed].slugs.insert(0, story.slug)
            if keep is not None:
                del self.feeds[feed].slugs[keep:]

    def add_feed(self, name: str, kind: str, title: str, **options: bool) -> str:
        """A new (empty) feed; its URL."""
        suffix = {"rss": "rss", "atom": "atom", "rdf": "rdf", "json": "json"}[kind]
        with self._lock:
            self.feeds[name] = FeedSpec(kind, title, **options)
        return f"{self.base}/feeds/{name}.{suffix}"

    def page_requests(self) -> Counter[str]:
        """Requests per article page."""
        return Counter({p: n for p, n in self.requests.items() if p.startswith("/news/")})

    # -- serving ---------------------------------------------------------------------------

    @property
    def base(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> NewsSite:
        """Serve on a free port of 127.0.0.1 in a thread."""
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                site._serve(self)

        self._server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and release every stalled request."""
        self._closing.set()
        for event in self.stall.values():
            event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> NewsSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        with self._lock:
            self.requests[path] += 1
            self.agents.add(h.headers.get("User-Agent", ""))
            if h.headers.get("If-None-Match") or h.headers.get("If-Modified-Since"):
                self.conditional[path] += 1
        event = self.stall.get(path)
        if event is not None:
            self.stalled.set()
            event.wait(60)
        started = time.thread_time()
        try:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._route(h, path)
        finally:
            with self._lock:
                self.cpu_seconds += time.thread_time() - started

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str, **headers: str) -> None:
        if ctype.startswith("text/html") and len(body) > 1000 and "gzip" in h.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
            with self._lock:
                self.gzipped += 1
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            h.send_header(name.replace("_", "-"), value)
        h.end_headers()
        h.wfile.write(body)

    def _route(self, h: BaseHTTPRequestHandler, path: str) -> None:
        if path == "/robots.txt":
            return self._send(h, self.robots_status, self.robots.encode(), "text/plain")
        if path == "/":
            links = "".join(
                f'<link rel="alternate" type="application/rss+xml" title="{f.title}" href="/feeds/{n}.rss">'
                for n, f in self.feeds.items()
                if f.kind == "rss"
            )
            page = f"<!doctype html><html><head><title>Loopback Daily</title>{links}</head><body>Hi</body></html>"
            return self._send(h, 200, page.encode(), "text/html; charset=utf-8")
        if path.startswith("/news/") and path.endswith(".html"):
            story = self.stories.get(path[len("/news/") : -len(".html")])
            if story is None:
                return self._send(h, 404, b"not found", "text/plain")
            related = [s for s in list(self.stories.values())[-6:] if s.slug != story.slug]
            return self._send(h, 200, page_html(story, self.base, related).encode(), "text/html; charset=utf-8")
        if path.startswith("/private/"):
            return self._send(h, 200, b"<html><body><p>secret</p></body></html>", "text/html")
        if path.startswith("/feeds/"):
            name = path[len("/feeds/") :].rsplit(".", 1)[0]
            spec = self.feeds.get(name)
            if spec is None:
                return self._send(h, 404, b"no such feed", "text/plain")
            body, ctype = self._feed_body(spec)
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if h.headers.get("If-None-Match") == etag:
                h.send_response(304)
                h.send_header("ETag", etag)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return None
            return self._send(h, 200, body, ctype, ETag=etag)
        if path.startswith("/bad/"):
            return self._bad(h, path[len("/bad/") :])
        return self._send(h, 404, b"not found", "text/plain")

    def _feed_body(self, spec: FeedSpec) -> tuple[bytes, str]:
        with self._lock:
            stories = [self.stories[s] for s in spec.slugs]
        return render_feed(spec, stories, self.base)

    # -- faults ----------------------------------------------------------------------------

    def _bad(self, h: BaseHTTPRequestHandler, what: str) -> None:
        if what == "slow.rss":  # answers after the client's read timeout
            self._closing.wait(self.slow_seconds)
            return self._send(h, 200, _tiny_rss(self.base), "application/rss+xml")
        if what == "error500.rss":
            return self._send(h, 500, b"Internal Server Error", "text/plain")
        if what == "busy.rss":
            return self._send(h, 503, b"Service Unavailable", "text/plain", Retry_After="120")
        if what == "gone.rss":
            return self._send(h, 404, b"not found", "text/plain")
        if what == "moved.rss":  # moved for good to the top stories feed
            h.send_response(301)
            h.send_header("Location", "/feeds/top.rss")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None
        if what in ("loop-a.rss", "loop-b.rss"):
            other = "loop-b.rss" if what == "loop-a.rss" else "loop-a.rss"
            h.send_response(302)
            h.send_header("Location", f"/bad/{other}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None
        if what == "malformed.rss":
            return self._send(h, 200, b'<?xml version="1.0"?><rss version="2.0"><chan<<el>>', "application/rss+xml")
        if what == "page.html":  # HTML where a feed should be, announcing nothing
            return self._send(h, 200, b"<!doctype html><html><body><p>Hello</p></body></html>", "text/html")
        if what == "huge.rss":  # 100 MB, no length announced: the client must stop reading
            h.send_response(200)
            h.send_header("Content-Type", "application/rss+xml")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            chunk = b"<!-- " + b"x" * 65_000 + b" -->\n"
            sent = 0
            while sent < 100 * 1024 * 1024 and not self._closing.is_set():
                h.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
            h.wfile.write(b"0\r\n\r\n")
            return None
        if what == "bomb.rss":  # 20 MB of zeros in 20 kB of gzip: the cap counts what it inflates to
            return self._send(h, 200, _bomb(), "application/rss+xml", Content_Encoding="gzip")
        if what == "huge-declared.rss":  # announces 100 MB: refused without reading
            h.send_response(200)
            h.send_header("Content-Type", "application/rss+xml")
            h.send_header("Content-Length", str(100 * 1024 * 1024))
            h.end_headers()
            return None
        if what == "charset.rss":  # says UTF-8, is windows-1252
            body = _tiny_rss(self.base, title="Café owners’ “big” week", encoding="utf-8").decode("utf-8")
            return self._send(h, 200, body.encode("windows-1252"), "application/rss+xml; charset=utf-8")
        return self._send(h, 404, b"not found", "text/plain")


@functools.cache
def _bomb() -> bytes:
    return gzip.compress(b"\0" * 20_000_000, compresslevel=1)


_bomb()  # made at import, so a loaded machine does not make the client time out waiting for it


def _tiny_rss(base: str, title: str = "A small item", encoding: str = "utf-8") -> bytes:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>Tiny</title>'
        f"<link>{base}/</link><item><title>{html.escape(title)}</title><guid>tiny-1</guid>"
        f"<description>{html.escape(title)}: the text of a small item in a small feed.</description>"
        "</item></channel></rss>"
    ).encode()


def render_feed(spec: FeedSpec, stories: list[Story], base: str) -> tuple[bytes, str]:
    """The feed document for ``spec`` listing ``stories``, and its content type."""
    if spec.kind == "json":
        doc = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": spec.title,
            "home_page_url": base + "/",
            "items": [
                {
                    "id": f"{base}{s.path}",
                    **({"url": f"{base}{s.path}"} if spec.links else {}),
                    "title": s.title,
                    "content_text": s.summary,
                    **({"date_published": s.published.isoformat()} if spec.dates else {}),
                    "authors": [{"name": s.author}],
                }
                for s in stories
            ],
        }
        return json.dumps(doc).encode(), "application/feed+json"
    esc = html.escape
    if spec.kind == "atom":
        entries = "".join(
            f"<entry><title>{esc(s.title)}</title><id>tag:loopback,2023:{s.slug}</id>"
            + (f'<link rel="alternate" href="{base}{s.path}"/>' if spec.links else "")
            + (f"<updated>{s.published.isoformat()}</updated>" if spec.dates else "")
            + f"<author><name>{s.author}</name></author><summary>{esc(s.summary)}</summary></entry>"
            for s in stories
        )
        doc = (
            f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f'<title>{esc(spec.title)}</title><link href="{base}/"/><id>{base}/</id>'
            f"<updated>2023-06-01T00:00:00Z</updated>{entries}</feed>"
        )
        return doc.encode(), "application/atom+xml; charset=utf-8"
    if spec.kind == "rdf":
        items = "".join(
            f'<item rdf:about="{base}{s.path}"><title>{esc(s.title)}</title>'
            + (f"<link>{base}{s.path}</link>" if spec.links else "")
            + (f"<dc:date>{s.published.isoformat()}</dc:date>" if spec.dates else "")
            + f"<dc:creator>{s.author}</dc:creator><description>{esc(s.summary)}</description></item>"
            for s in stories
        )
        doc = (
            '<?xml version="1.0" encoding="utf-8"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<channel rdf:about="{base}/"><title>{esc(spec.title)}</title><link>{base}/</link>'
            f"<description>d</description></channel>{items}</rdf:RDF>"
        )
        return doc.encode(), "application/rdf+xml"
    items = "".join(
        f"<item><title>{esc(s.title)}</title>"
        + (f"<link>{base}{s.path}</link><guid>{base}{s.path}</guid>" if spec.links else f"<guid>{s.slug}</guid>")
        + (f"<pubDate>{email.utils.format_datetime(s.published)}</pubDate>" if spec.dates else "")
        + f"<dc:creator>{s.author}</dc:creator>"
        + f"<description>{esc(s.summary if spec.links else s.text)}</description>"
        + "</item>"
        for s in stories
    )
    doc = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>{esc(spec.title)}</title><link>{base}/</link><description>d</description>"
        f"{items}</channel></rss>"
    )
    return doc.encode(), "application/rss+xml; charset=utf-8"


def stories_from(records: list[dict[str, Any]], outlet: str = "Loopback Daily") -> Iterator[Story]:
    """Stories made from real articles (slug from the corpus id)."""
    for record in records:
        slug = record["id"].replace("news:", "n")
        yield Story(slug, record["title"], record["date"][:10], record["text"], outlet=outlet)


def wait_for(predicate: Any, timeout: float = 30.0, step: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
