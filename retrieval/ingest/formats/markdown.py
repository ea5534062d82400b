"""Markdown with optional YAML front matter (title, date, url, source, id)."""

from __future__ import annotations

import re

from retrieval.ingest.article import finish_article
from retrieval.ingest.cleaning import clean_scraped_text
from retrieval.ingest.dates import date_or_warn
from retrieval.ingest.results import Collector
from retrieval.types import Article

SUFFIXES = {".md", ".markdown"}


def read_markdown(article_id: str, raw: str, out: Collector | None = None) -> Article | None:
    """Parse Markdown with optional YAML front matter (title, date, url, source)."""
    import frontmatter

    out = out if out is not None else Collector()
    try:
        post = frontmatter.loads(raw)
    except Exception as exc:  # yaml raises many types; any of them means bad front matter
        raise ValueError(f"bad front matter ({exc.__class__.__name__})") from exc
    meta = post.metadata
    body = post.content
    title = str(meta.get("title") or "")
    heading = re.match(r"\s*#\s+(.+)\n", body)
    if heading:
        title = title or heading.group(1).strip()
        body = body[heading.end() :]
    cleaned = clean_scraped_text(body)
    if not cleaned.text:
        return None
    return finish_article(
        str(meta.get("id") or article_id),
        cleaned.text,
        title=title or cleaned.title,
        date=date_or_warn(meta.get("date"), article_id, out, "front matter date") or cleaned.dateline,
        source=str(meta.get("source") or "") or None,
        url=str(meta.get("url") or "") or None,
    )
