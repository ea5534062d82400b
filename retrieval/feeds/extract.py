"""An article page to its main text and metadata, with trafilatura (no date guessing)."""

from __future__ import annotations

import logging

from retrieval.feeds.types import Extracted
from retrieval.ingest.dates import parse_date

log = logging.getLogger(__name__)


def extract_article(page: str, url: str) -> Extracted | None:
    """The article in an HTML page: main text without site furniture, title, date, author, site, canonical URL.

    None if trafilatura finds no main text.
    """
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(
            page,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            favor_precision=True,
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
    except Exception as exc:  # trafilatura and lxml raise many types on odd markup; any means no article
        log.info("no article extracted from %s (%s)", url, type(exc).__name__)
        return None
    if doc is None:
        return None
    text = (getattr(doc, "text", None) or "").strip()
    if not text:
        return None
    canonical = getattr(doc, "url", None) or ""
    if canonical and not canonical.startswith(("http://", "https://")):
        canonical = ""
    return Extracted(
        text=text,
        title=" ".join((getattr(doc, "title", None) or "").split()),
        date=parse_date(getattr(doc, "date", None)),
        author=" ".join((getattr(doc, "author", None) or "").split()),
        sitename=" ".join((getattr(doc, "sitename", None) or "").split()),
        canonical_url=canonical,
    )
