"""HTML pages: the main text and metadata, extracted by trafilatura."""

from __future__ import annotations

from retrieval.ingest.article import finish_article
from retrieval.ingest.cleaning import clean_scraped_text
from retrieval.ingest.dates import date_or_warn
from retrieval.ingest.results import Collector
from retrieval.types import Article

SUFFIXES = {".html", ".htm"}
HTML_SLACK = 20
"""Bytes of HTML read, as a multiple of the article limit: markup outweighs the text it holds (4 MB at
the default: trafilatura takes ~7 s there, 35 s on 10 MB)."""


def read_html(article_id: str, raw: str, out: Collector | None = None) -> Article | None:
    """Extract the main text and metadata of an HTML page with trafilatura."""
    import trafilatura

    out = out if out is not None else Collector()
    doc = trafilatura.bare_extraction(
        raw,
        with_metadata=True,
        include_comments=False,
        date_extraction_params={"extensive_search": False, "original_date": True},  # no guessing
    )
    if doc is None:
        return None
    text = getattr(doc, "text", None) or ""
    cleaned = clean_scraped_text(text)
    if not cleaned.text:
        return None
    url = getattr(doc, "url", None)
    return finish_article(
        article_id,
        cleaned.text,
        title=getattr(doc, "title", None) or cleaned.title,
        date=date_or_warn(getattr(doc, "date", None), article_id, out, "page date"),
        source=getattr(doc, "sitename", None) or getattr(doc, "hostname", None),
        url=url,
    )
