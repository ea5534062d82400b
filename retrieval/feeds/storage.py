"""Fetched articles as Markdown files with YAML front matter under the seeds directory, written atomically."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import threading
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import yaml

from retrieval.feeds.types import StoredArticle

FEEDS_SUBDIR = "feeds"
"""Where under the seeds directory fetched articles go: ``feeds/<host>/<key>.md``."""
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|_ga)$", re.IGNORECASE)
_SAFE_HOST = re.compile(r"[^a-z0-9.-]+")


def normalize_url(url: str) -> str:
    """A URL as an identity: lower-case scheme and host, no default port, fragment or tracking parameters."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)])
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def fingerprint(text: str) -> str:
    """A hash of a text's words (case and spacing ignored): equal for identical copies of a story."""
    return hashlib.sha256(" ".join(text.lower().split()).encode("utf-8")).hexdigest()[:32]


def article_location(key: str, host: str) -> tuple[str, str]:
    """The article id and the path (relative to the seeds directory) of an item, decided before any fetch."""
    safe = _SAFE_HOST.sub("_", host.lower()).strip("._") or "local"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    article_id = f"{FEEDS_SUBDIR}/{safe}/{digest}"
    return article_id, f"{article_id}.md"


def render(
    article: StoredArticle, *, published: dt.datetime | None, fetched: dt.datetime, extra: dict[str, str]
) -> str:
    """The Markdown file: YAML front matter (the reader takes title, date, url, source, id), then the text."""
    meta: dict[str, object] = {
        "title": article.title,
        "date": article.date.isoformat() if article.date else None,
        "url": article.url,
        "source": article.source,
        "author": article.author or None,
        "id": article.id,
        "feed": article.feed,
        "origin": article.origin,
        "published": published.isoformat(timespec="seconds") if published else None,
        "fetched": fetched.isoformat(timespec="seconds"),
        **extra,
    }
    head = yaml.safe_dump({k: v for k, v in meta.items() if v not in (None, "")}, allow_unicode=True, sort_keys=False)
    body = article.text.strip()
    if body.startswith(("#", "---")):
        body = "\u2060" + body  # a word joiner: the reader must not take the text's first line for a heading
    return f"---\n{head}---\n\n{body}\n"


_tmp_counter = 0
_tmp_lock = threading.Lock()


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader or a crash sees the old file or the new one, never a part."""
    global _tmp_counter
    path.parent.mkdir(parents=True, exist_ok=True)
    with _tmp_lock:
        _tmp_counter += 1
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{_tmp_counter}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_front_matter(path: Path) -> dict[str, object]:
    """The front matter of a stored article ({} if it has none or is unreadable)."""
    import frontmatter

    try:
        return dict(frontmatter.load(str(path)).metadata)
    except Exception:  # a damaged file is re-fetched rather than trusted
        return {}
