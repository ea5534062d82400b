"""An article finished from what a reader found: scrubbed fields, the content hash, the length limit."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace
from urllib.parse import urlparse

from retrieval.ingest.cleaning import derive_title
from retrieval.ingest.results import Collector
from retrieval.ingest.textclean import scrub
from retrieval.text import sentence_ends
from retrieval.types import Article

RAW_SLACK = 4
"""Text read before cleaning, as a multiple of the article limit: scraped pages carry furniture."""


def content_hash(*parts: object) -> str:
    """A stable hash of an article's fields, used to spot changed articles."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(str(part if part is not None else "").encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


def text_fingerprint(text: str) -> str:
    return hashlib.sha256(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def finish_article(
    article_id: str,
    text: str,
    *,
    title: str | None,
    date: dt.date | None,
    source: str | None,
    url: str | None,
) -> Article:
    # Text from outside: no lone surrogates (no tokenizer encodes them), no control characters.
    text = scrub(text, keep="\n\t\r")
    article_id = scrub(article_id, keep="")
    title = " ".join(scrub(title or "", keep="").split()) or derive_title(text)
    url = scrub(url, keep="").strip() if url else None
    source = scrub(source, keep="").strip() if source else None
    if not source:
        source = urlparse(url).netloc if url else article_id
    return Article(
        id=article_id,
        title=title,
        date=date,
        source=source,
        text=text,
        url=url or None,
        content_hash=content_hash(title, date, source, url, text),
    )


def cut_text(text: str, limit: int) -> str:
    """``text`` if it is at most ``limit`` characters, else cut after the last sentence end before
    the limit (or the last space, if there is no sentence end in its second half)."""
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    ends = sentence_ends(head, limit // 2)
    if ends:
        return head[: ends[-1]].rstrip()
    space = head.rfind(" ", limit // 2)
    return (head[:space] if space > 0 else head[:limit]).rstrip()


def limit_article(
    article: Article | None, where: str, extent: str, cut_before: bool, limit: int, out: Collector
) -> Article | None:
    """``article`` cut to ``limit`` characters, with a warning naming ``where``, if it is longer (or if
    its raw text was already cut before cleaning: ``cut_before``). ``extent``: how long the source is."""
    if article is None or (len(article.text) <= limit and not cut_before):
        return article
    text = cut_text(article.text, limit)
    out.warn(
        where,
        f"longer than the article limit of {limit:,} characters ({extent}): only its first {len(text):,} "
        "characters are indexed (NEWSDESK_MAX_ARTICLE_CHARS)",
    )
    cut = replace(article, text=text)
    return replace(cut, content_hash=content_hash(cut.title, cut.date, cut.source, cut.url, cut.text))
