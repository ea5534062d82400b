"""The scraped-page seed format: a ``date YYYY-MM-DD`` header line, then the page's text."""

from __future__ import annotations

import re

from retrieval.ingest.article import finish_article
from retrieval.ingest.cleaning import clean_scraped_text
from retrieval.ingest.dates import date_or_warn
from retrieval.ingest.results import Collector
from retrieval.types import Article

SUFFIXES = {".txt", ".text", ""}
_DATE_HEADER = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\b[ \t]*", re.IGNORECASE)


def read_seed_text(article_id: str, raw: str, out: Collector | None = None) -> Article | None:
    """Parse the scraped-page seed format: a ``date YYYY-MM-DD`` header, then the page text."""
    out = out if out is not None else Collector()
    date = None
    header = _DATE_HEADER.match(raw)
    if header:
        date = date_or_warn(header.group(1), article_id, out, "date header")
        raw = raw[header.end() :]
    cleaned = clean_scraped_text(raw)
    if not cleaned.text:
        return None
    return finish_article(
        article_id,
        cleaned.text,
        title=cleaned.title,
        date=date or cleaned.dateline,
        source=article_id,
        url=None,
    )
