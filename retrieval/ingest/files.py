"""Read articles from a seeds directory: every supported format, cleaned, cached and de-duplicated.

The formats are in ``formats/``; the walk, decoding, dates, finishing an article and the seed cache each
have their module. This one reads a file by its suffix and gathers what every file gave.
"""

from __future__ import annotations

import contextlib
import gzip
import time
from dataclasses import replace
from pathlib import Path

from retrieval.config import IngestConfig
from retrieval.errors import SeedsNotFoundError
from retrieval.ingest.article import RAW_SLACK, limit_article, text_fingerprint
from retrieval.ingest.cache import CachedFile, IngestCache
from retrieval.ingest.decode import decode, read_bytes
from retrieval.ingest.formats import html, jsonl, markdown, seed_text
from retrieval.ingest.formats.html import HTML_SLACK
from retrieval.ingest.results import Collector, IngestResult, ReadProgress, ReadProgressFn, log, log_note
from retrieval.ingest.walk import file_suffix, iter_seed_files
from retrieval.types import Article, publication_day

TEXT_SUFFIXES = seed_text.SUFFIXES
MARKDOWN_SUFFIXES = markdown.SUFFIXES
HTML_SUFFIXES = html.SUFFIXES
JSONL_SUFFIXES = jsonl.SUFFIXES
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES


def _read_file(path: Path, rel: str, suffix: str, config: IngestConfig | None = None) -> Collector:
    """The articles of one seed file, or why it (or its JSONL lines) was skipped, and what was wrong."""
    limit = (config or IngestConfig()).max_article_chars
    out = Collector()
    is_jsonl = suffix in JSONL_SUFFIXES
    # A JSONL file is a corpus and is read whole; any other file is one article, so reading more
    # than its limit allows (a 5 GB log named .txt) is only memory spent.
    cap = None if is_jsonl else (HTML_SLACK if suffix in HTML_SUFFIXES else 4 * RAW_SLACK) * limit
    try:
        data, size = read_bytes(path, cap)
        if suffix.endswith(".gz"):
            data = gzip.decompress(data)
            size = len(data)
        raw = decode(data, complete=len(data) == size)
    except OSError as exc:
        out.skip(rel, f"unreadable ({exc.strerror or exc})")
        return out
    except (ValueError, EOFError, gzip.BadGzipFile) as exc:
        out.skip(rel, str(exc) or "not a readable gzip file")
        return out
    if not raw.strip():
        out.skip(rel, "empty file")
        return out
    if is_jsonl:
        jsonl.read_jsonl(rel, raw, out, limit)
        return out
    extent = f"{len(raw):,} characters in the file" if len(data) == size else f"{size:,} bytes in the file"
    cut_before = len(data) < size or (suffix not in HTML_SUFFIXES and len(raw) > RAW_SLACK * limit)
    if cut_before and suffix not in HTML_SUFFIXES:
        raw = raw[: RAW_SLACK * limit]
    try:
        if suffix in MARKDOWN_SUFFIXES:
            article = markdown.read_markdown(rel, raw, out)
        elif suffix in HTML_SUFFIXES:
            article = html.read_html(rel, raw, out)
        else:
            article = seed_text.read_seed_text(rel, raw, out)
    except ValueError as exc:
        out.skip(rel, str(exc))
        return out
    if article is None:
        out.skip(rel, "no article text found")
        return out
    out.articles.append(limit_article(article, rel, extent, cut_before, limit, out))  # type: ignore[arg-type]
    return out


SLOW_FILE_SECONDS = 5.0
"""A file that takes longer than this to read is logged (at INFO) with its time."""


def load_articles(
    seeds_dir: Path,
    cache: IngestCache | None = None,
    config: IngestConfig | None = None,
    progress: ReadProgressFn | None = None,
) -> IngestResult:
    """Read, clean and de-duplicate every article under ``seeds_dir`` (or in that one file).

    With a ``cache``, files unchanged since the last call are not read again; their skips and
    warnings are logged again all the same. ``progress`` hears of each file before it is read.
    """
    config = config or (cache.config if cache is not None else IngestConfig())
    seeds_dir = Path(seeds_dir)
    out = Collector()
    if seeds_dir.is_dir():
        root, paths = seeds_dir, list(iter_seed_files(seeds_dir, out))
    elif seeds_dir.is_file():  # a single file (a .jsonl corpus, say) is a directory of one
        root, paths = seeds_dir.parent, [seeds_dir]
    elif seeds_dir.exists():
        raise SeedsNotFoundError(f"the seeds path {seeds_dir} is not a directory or a regular file")
    else:
        raise SeedsNotFoundError(f"seeds directory not found: {seeds_dir}")
    for note in out.notes:
        log_note(note)
    if cache is not None:
        cache._use(config)
    fingerprints: list[str] = []
    files = 0
    seen: dict[str, CachedFile] = {}
    reused = 0
    for number, path in enumerate(paths):
        rel = path.relative_to(root).as_posix()
        suffix = file_suffix(path)
        if suffix not in SUPPORTED_SUFFIXES:
            out.skip(rel, f"unsupported file type '{suffix}'")
            log_note(out.notes[-1])
            continue
        files += 1
        if progress is not None:
            progress(ReadProgress(number, len(paths), rel))
        record = None
        key = None
        if cache is not None:
            with contextlib.suppress(OSError):
                st = path.stat()
                key = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
            known = cache._files.get(rel)
            if key is not None and known is not None and known.key == key:
                record = known
                reused += 1
        if record is None:
            started = time.perf_counter()
            read = _read_file(path, rel, suffix, config)
            seconds = time.perf_counter() - started
            if seconds > SLOW_FILE_SECONDS:
                log.info("reading %s took %.1fs", rel, seconds)
            record = CachedFile(
                key or (-1, -1, -1, -1),
                tuple(read.articles),
                tuple(text_fingerprint(a.text) for a in read.articles),
                tuple(read.notes),
            )
        seen[rel] = record
        out.articles.extend(record.articles)
        fingerprints.extend(record.fingerprints)
        out.notes.extend(record.notes)
        for note in record.notes:
            log_note(note)
    if progress is not None:
        progress(ReadProgress(len(paths), len(paths), ""))
    if cache is not None:
        records = {rel: r for rel, r in seen.items() if r.key[0] >= 0}
        fresh = sum(r.key[0] for rel, r in records.items() if cache._files.get(rel) is not r)
        if cache.unsaved >= 0:
            cache.unsaved += fresh
        cache.total = sum(r.key[0] for r in records.values())
        cache._files = records
        cache.reused = reused
    kept, duplicates = dedupe_articles(out.articles, fingerprints)
    return IngestResult(tuple(kept), tuple(out.skipped), duplicates, files, tuple(out.warnings))


def dedupe_articles(articles: list[Article], fingerprints: list[str] | None = None) -> tuple[list[Article], int]:
    """Keep one of identical articles (same text) and rename articles sharing an id.

    Of identical texts the earliest publication is kept (undated last; on the same day, the first
    read); a copy from another outlet is kept too, for the search to list that outlet as "also
    reported by" against the earliest (see ``search.retriever``). Copies from the same outlet, or
    from files that name none, are dropped.
    """
    if fingerprints is None:
        fingerprints = [text_fingerprint(a.text) for a in articles]
    order = sorted(range(len(articles)), key=lambda i: (publication_day(articles[i]), i))
    outlets_of: dict[str, set[str]] = {}
    keep: set[int] = set()
    for i in order:
        article, outlet = articles[i], _outlet(articles[i])
        seen = outlets_of.get(fingerprints[i])
        if seen is not None and (not outlet or outlet in seen or "" in seen):
            log.info("duplicate article %s: indexed once", article.id)
            continue
        outlets_of.setdefault(fingerprints[i], set()).add(outlet)
        keep.add(i)
    seen_ids: dict[str, int] = {}
    kept: list[Article] = []
    for i, article in enumerate(articles):  # in reading order, as before
        if i not in keep:
            continue
        if article.id in seen_ids:
            seen_ids[article.id] += 1
            article = replace(article, id=f"{article.id}~{seen_ids[article.id]}")
        else:
            seen_ids[article.id] = 0
        kept.append(article)
    return kept, len(articles) - len(kept)


def _outlet(article: Article) -> str:
    """The outlet an article names (its source, or its URL's host); "" for a file that names none."""
    return article.source if article.source != article.id else ""
