"""Feed documents to items: RSS 2.0, RSS 1.0/RDF and Atom with feedparser, JSON Feed by hand; discovery."""

from __future__ import annotations

import calendar
import datetime as dt
import html
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

from retrieval.errors import FeedError
from retrieval.feeds.http import decode_body
from retrieval.feeds.types import DiscoveredFeed, ParsedFeed, ParsedItem

log = logging.getLogger(__name__)

FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/feed+json": "json",
    "application/json": "json",
    "application/rdf+xml": "rss",
}
_BLOCK = {
    "p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "table",
    "section", "article", "pre", "figure", "figcaption", "dd", "dt",
}  # fmt: skip
_HTMLISH = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL)


class NotAFeedError(FeedError):
    """The document is not a feed (``html`` says whether it is an HTML page, which may announce one)."""

    def __init__(self, reason: str, *, html: bool = False) -> None:
        super().__init__(reason)
        self.html = html


def looks_like_html(body: bytes) -> bool:
    """True if the body starts like an HTML page."""
    return bool(_HTMLISH.match(body[:2048]))


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment (a feed's description or content), paragraphs kept apart."""
    if "<" not in fragment:
        return _tidy(html.unescape(fragment))
    import lxml.html
    from lxml.etree import ParserError

    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (ParserError, ValueError):
        return _tidy(html.unescape(re.sub(r"<[^>]+>", " ", fragment)))
    for bad in root.xpath(".//script|.//style|.//noscript"):
        bad.drop_tree()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag == "br":
            element.tail = "\n" + (element.tail or "")
        elif element.tag in _BLOCK:
            element.tail = "\n\n" + (element.tail or "")
    return _tidy(root.text_content())


def _tidy(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _when(struct: time.struct_time | None) -> dt.datetime | None:
    if not struct:
        return None
    try:
        return dt.datetime.fromtimestamp(calendar.timegm(struct), dt.UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _iso_when(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        from dateutil import parser as date_parser

        try:
            when = date_parser.parse(value)
        except (ValueError, OverflowError):
            return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def parse_feed(body: bytes, url: str, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """The feed in ``body`` (fetched from ``url``); NotAFeedError if it is none or cannot be read."""
    headers = dict(headers or {})
    stripped = body.lstrip()[:1]
    if stripped in (b"{", b"[") or "json" in headers.get("content-type", ""):
        return parse_json_feed(body, url)
    if not body.strip():
        raise NotAFeedError("an empty document, not a feed")
    if stripped != b"<" and not body.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        raise NotAFeedError("not a feed (neither XML nor JSON)")
    import feedparser

    # No base URL for feedparser: it would turn a GUID like "item-7" into a link; links are resolved below.
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True, resolve_relative_uris=False)
    problem = parsed.get("bozo_exception")
    if not parsed.get("version") and not parsed.entries:
        if looks_like_html(body):
            raise NotAFeedError("an HTML page, not a feed", html=True)
        if problem is not None and not isinstance(problem, feedparser.NonXMLContentType):
            raise NotAFeedError(f"malformed XML ({_short(problem)})")
        raise NotAFeedError("not a feed (no RSS, Atom or JSON Feed document)")
    if parsed.bozo and not parsed.entries and problem is not None:
        raise NotAFeedError(f"malformed XML ({_short(problem)})")
    meta = parsed.feed
    ttl = None
    raw_ttl = str(meta.get("ttl") or "").strip()
    if raw_ttl.isdigit():
        ttl = int(raw_ttl) * 60.0
    items = tuple(_rss_item(entry, url) for entry in parsed.entries)
    warning = ""
    if parsed.bozo and problem is not None and not isinstance(problem, feedparser.CharacterEncodingOverride):
        warning = f"recovered from {_short(problem)}"
    return ParsedFeed(
        kind=parsed.get("version") or "unknown",
        title=_tidy(str(meta.get("title") or "")),
        site=urljoin(url, str(meta.get("link") or "")) if meta.get("link") else "",
        items=items,
        ttl=ttl,
        warning=warning,
    )


def _short(problem: object) -> str:
    return " ".join(str(problem).split())[:160] or type(problem).__name__


def _link(entry: Any, base: str) -> str:
    """The entry's link made absolute; none for a GUID feedparser took for a link that is no URL."""
    link = str(entry.get("link") or "").strip()
    if not link:
        return ""
    if entry.get("guidislink") and not link.lower().startswith(("http://", "https://")):
        return ""
    absolute = urljoin(base, link)
    return absolute if absolute.lower().startswith(("http://", "https://")) else ""


def _rss_item(entry: Any, base: str) -> ParsedItem:
    content = ""
    for part in entry.get("content") or []:
        if part.get("value") and len(part["value"]) > len(content):
            content = part["value"]
    summary = entry.get("summary") or ""
    text = html_to_text(content if len(content) >= len(summary) else summary)
    source = entry.get("source") or {}
    return ParsedItem(
        guid=str(entry.get("id") or entry.get("guid") or ""),
        link=_link(entry, base),
        title=_tidy(html.unescape(str(entry.get("title") or ""))),
        published=_when(entry.get("published_parsed") or entry.get("updated_parsed")),
        author=_tidy(str(entry.get("author") or "")),
        text=text,
        source=_tidy(str(source.get("title") or "")) if isinstance(source, Mapping) else "",
    )


def parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    """A JSON Feed (version 1 or 1.1, https://jsonfeed.org); NotAFeedError if ``body`` is not one."""
    try:
        doc = json.loads(decode_body(body, "application/json"))
    except json.JSONDecodeError as exc:
        raise NotAFeedError(f"malformed JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(doc, dict) or "jsonfeed.org/version/" not in str(doc.get("version", "")):
        raise NotAFeedError("JSON, but not a JSON Feed (no jsonfeed.org version)")
    raw_items = doc.get("items")
    if not isinstance(raw_items, list):
        raise NotAFeedError("a JSON Feed without an items list")
    items = []
    for raw in raw_items:
        if not isinstance(raw, dict):
            continue
        link = raw.get("url") or raw.get("external_url") or ""
        authors = raw.get("authors") or ([raw["author"]] if isinstance(raw.get("author"), dict) else [])
        names = [str(a.get("name")) for a in authors if isinstance(a, dict) and a.get("name")]
        if raw.get("content_text"):
            text = _tidy(str(raw["content_text"]))
        else:
            text = html_to_text(str(raw.get("content_html") or raw.get("summary") or ""))
        items.append(
            ParsedItem(
                guid=str(raw.get("id") or ""),
                link=urljoin(url, str(link)) if link else "",
                title=_tidy(str(raw.get("title") or "")),
                published=_iso_when(raw.get("date_published")) or _iso_when(raw.get("date_modified")),
                author=", ".join(names),
                text=text,
            )
        )
    version = str(doc.get("version")).rstrip("/").rsplit("/", 1)[-1]
    return ParsedFeed(
        kind=f"json{version.replace('.', '')}",
        title=_tidy(str(doc.get("title") or "")),
        site=str(doc.get("home_page_url") or ""),
        items=tuple(items),
    )


def discover_feeds(page: bytes, url: str, content_type: str = "") -> list[DiscoveredFeed]:
    """The feeds an HTML page announces (``<link rel="alternate" type="application/rss+xml" …>``), in page order."""
    import lxml.html
    from lxml.etree import ParserError

    try:
        root = lxml.html.document_fromstring(decode_body(page, content_type))
    except (ParserError, ValueError):
        return []
    base = url
    for tag in root.iter("base"):
        if tag.get("href"):
            base = urljoin(url, tag.get("href"))
            break
    found: list[DiscoveredFeed] = []
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        href = (link.get("href") or "").strip()
        if "alternate" in rel and kind in FEED_TYPES and href:
            target = urljoin(base, href)
            if all(f.url != target for f in found):
                found.append(DiscoveredFeed(target, kind, " ".join((link.get("title") or "").split())))
    return found
