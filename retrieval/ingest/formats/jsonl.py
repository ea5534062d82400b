"""JSONL corpora (optionally gzipped): one article a line, with ``meta`` fields as the benchmarks have them."""

from __future__ import annotations

import json

from retrieval.config import IngestConfig
from retrieval.ingest.article import RAW_SLACK, finish_article, limit_article
from retrieval.ingest.cleaning import clean_scraped_text
from retrieval.ingest.dates import date_or_warn
from retrieval.ingest.results import Collector

SUFFIXES = {".jsonl", ".jsonl.gz"}


def read_jsonl(rel: str, raw: str, out: Collector, limit: int = IngestConfig.max_article_chars) -> None:
    """One article per line: ``id``, ``title``, ``date``, ``url``, ``source``, ``text``."""
    # Lines end at "\n" only: str.splitlines() would also split at U+2028 and the like, which JSON
    # allows unescaped inside a string.
    for number, line in enumerate(raw.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{rel}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            out.skip(where, f"not valid JSON ({exc.msg})")
            continue
        except RecursionError:
            out.skip(where, "not valid JSON (nested too deeply)")
            continue
        if not isinstance(record, dict):
            out.skip(where, "not a JSON object")
            continue
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            out.skip(where, "no text")
            continue
        length = len(text)
        cut_before = length > RAW_SLACK * limit
        cleaned = clean_scraped_text(text[: RAW_SLACK * limit] if cut_before else text)
        if not cleaned.text:
            out.skip(where, "empty after cleaning")
            continue
        article_id = str(record.get("id") or f"{rel}#{number}")
        article = finish_article(
            article_id,
            cleaned.text,
            title=_field(record, "title") or cleaned.title,
            date=date_or_warn(record.get("date"), where, out),
            source=_field(record, "source") or None,
            url=_field(record, "url") or None,
        )
        extent = f"its text has {length:,}"
        out.articles.append(limit_article(article, where, extent, cut_before, limit, out))  # type: ignore[arg-type]


def _field(record: dict[str, object], name: str) -> str:
    """A JSONL record's text field, at the top level or under ``meta`` (as the benchmark corpora have
    ``meta.url`` and ``meta.source``); a number or other scalar as text, a list or object ignored."""
    value = record.get(name)
    meta = record.get("meta")
    if (value is None or value == "") and isinstance(meta, dict):
        value = meta.get(name)
    return "" if value is None or isinstance(value, dict | list) else str(value)
