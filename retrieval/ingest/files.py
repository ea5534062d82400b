"""Read articles from a seeds directory: seed-format text, Markdown, HTML and JSONL, cleaned."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import json
import logging
import os
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from retrieval.errors import SeedsNotFoundError
from retrieval.ingest.cleaning import clean_scraped_text, derive_title
from retrieval.types import Article

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".text", ""}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl", ".jsonl.gz"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES

_DATE_HEADER = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\b[ \t]*", re.IGNORECASE)


@dataclass(frozen=True)
class SkippedFile:
    """A file (or JSONL line) that was not ingested, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class IngestResult:
    """Articles read from a directory, plus what was skipped and how many duplicates were dropped."""

    articles: tuple[Article, ...]
    skipped: tuple[SkippedFile, ...] = ()
    duplicates: int = 0
    files: int = 0


@dataclass
class _Collector:
    articles: list[Article] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)

    def skip(self, path: str, reason: str) -> None:
        log.warning("skipped %s: %s", path, reason)
        self.skipped.append(SkippedFile(path, reason))


def parse_date(value: object) -> dt.date | None:
    """A date from an ISO string, a datetime or a date; None if there is none or it is unparseable."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        pass
    try:
        from dateutil import parser as date_parser

        return date_parser.parse(text, fuzzy=False).date()
    except (ValueError, OverflowError):
        return None


def content_hash(*parts: object) -> str:
    """A stable hash of an article's fields, used to spot changed articles."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(str(part if part is not None else "").encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


def _text_fingerprint(text: str) -> str:
    return hashlib.sha256(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def _finish(
    article_id: str,
    text: str,
    *,
    title: str | None,
    date: dt.date | None,
    source: str | None,
    url: str | None,
) -> Article:
    title = (title or "").strip() or derive_title(text)
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


def _decode(raw: bytes) -> str:
    if b"\x00" in raw[:8192]:
        raise ValueError("binary file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def read_seed_text(article_id: str, raw: str) -> Article | None:
    """Parse the scraped-page seed format: a ``date YYYY-MM-DD`` header, then the page text."""
    date = None
    header = _DATE_HEADER.match(raw)
    if header:
        date = parse_date(header.group(1))
        raw = raw[header.end() :]
    cleaned = clean_scraped_text(raw)
    if not cleaned.text:
        return None
    return _finish(
        article_id,
        cleaned.text,
        title=cleaned.title,
        date=date or cleaned.dateline,
        source=article_id,
        url=None,
    )


def read_markdown(article_id: str, raw: str) -> Article | None:
    """Parse Markdown with optional YAML front matter (title, date, url, source)."""
    import frontmatter

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
    return _finish(
        str(meta.get("id") or article_id),
        cleaned.text,
        title=title or cleaned.title,
        date=parse_date(meta.get("date")) or cleaned.dateline,
        source=str(meta.get("source") or "") or None,
        url=str(meta.get("url") or "") or None,
    )


def read_html(article_id: str, raw: str) -> Article | None:
    """Extract the main text and metadata of an HTML page with trafilatura."""
    import trafilatura

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
    return _finish(
        article_id,
        cleaned.text,
        title=getattr(doc, "title", None) or cleaned.title,
        date=parse_date(getattr(doc, "date", None)),
        source=getattr(doc, "sitename", None) or getattr(doc, "hostname", None),
        url=url,
    )


def _field(record: dict[str, object], name: str) -> str | None:
    """A text field of a JSONL record, at the top level or under ``meta`` (as benchmark corpora have it)."""
    value = record.get(name)
    meta = record.get("meta")
    if not value and isinstance(meta, dict):
        value = meta.get(name)
    return str(value) if value else None


def read_jsonl(rel: str, raw: str, out: _Collector) -> None:
    """One article per line: ``id``, ``title``, ``date``, ``url``, ``source``, ``text``."""
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{rel}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            out.skip(where, f"not valid JSON ({exc.msg})")
            continue
        if not isinstance(record, dict):
            out.skip(where, "not a JSON object")
            continue
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            out.skip(where, "no text")
            continue
        cleaned = clean_scraped_text(text)
        if not cleaned.text:
            out.skip(where, "empty after cleaning")
            continue
        article_id = str(record.get("id") or f"{rel}#{number}")
        out.articles.append(
            _finish(
                article_id,
                cleaned.text,
                title=str(record.get("title") or "") or cleaned.title,
                date=parse_date(record.get("date")),
                source=_field(record, "source"),
                url=_field(record, "url"),
            )
        )


def file_suffix(path: Path) -> str:
    """The suffix that says how to read a file: ``.jsonl.gz`` for gzipped JSONL, else the last one."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes == [".jsonl", ".gz"]:
        return ".jsonl.gz"
    return path.suffix.lower()


def iter_seed_files(seeds_dir: Path) -> Iterator[Path]:
    """Every non-hidden file under ``seeds_dir``, in a stable order."""
    for path in sorted(seeds_dir.rglob("*")):
        rel_parts = path.relative_to(seeds_dir).parts
        if any(part.startswith(".") for part in rel_parts):
            continue
        if path.is_file():
            yield path


@dataclass(frozen=True)
class _FileRecord:
    key: tuple[int, int, int, int]
    articles: tuple[Article, ...]
    fingerprints: tuple[str, ...]
    skipped: tuple[SkippedFile, ...]


class IngestCache:
    """What each seed file gave when it was last read, so a file unchanged since is not read again.

    A file counts as unchanged when its size, modification and change times (nanoseconds) and inode
    are the same, as git's index and make trust them. A long-lived process (the bot, a benchmark)
    keeps one and passes it to every :func:`load_articles`; a full rebuild passes none.
    """

    FORMAT = 1

    def __init__(self) -> None:
        self._files: dict[str, _FileRecord] = {}
        self.reused = 0
        """Files the last :func:`load_articles` took from the cache."""
        self.unsaved = -1
        """Bytes of the files read since the cache was saved or loaded (-1: never saved)."""
        self.total = 0
        """Bytes of all the files the last :func:`load_articles` looked at."""

    @property
    def worth_saving(self) -> bool:
        """True once what a new process would have to read again, without a save, is worth a save: a
        tenth of the seeds (or the cache was never saved). Saving costs about what reading a tenth
        of the seeds does, so a few small new files are not worth rewriting it."""
        return self.unsaved < 0 or self.unsaved > 0.1 * self.total

    def save(self, path: Path, seeds_dir: Path) -> None:
        """Keep the cache in ``path`` (written whole, then renamed: readers never see half a file)."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as handle:
                pickle.dump((self.FORMAT, str(Path(seeds_dir).resolve()), self._files), handle, protocol=5)
            os.replace(tmp, path)
            self.unsaved = 0
        except OSError as exc:
            log.warning("could not save the seed cache %s: %s", path, exc)
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path, seeds_dir: Path) -> IngestCache:
        """The cache saved in ``path`` for ``seeds_dir``; an empty one if there is none or it is unusable.

        The file is a pickle written by :meth:`save` into the index directory, which newsdesk trusts
        as it trusts the FAISS files beside it (both must only ever come from newsdesk itself).
        """
        cache = cls()
        try:
            with path.open("rb") as handle:
                version, seeds, files = pickle.load(handle)
        except FileNotFoundError:
            return cache
        except Exception as exc:  # a damaged or foreign cache is only slower: read everything again
            log.info("ignoring the seed cache %s (%s)", path, type(exc).__name__)
            return cache
        if version == cls.FORMAT and seeds == str(Path(seeds_dir).resolve()) and isinstance(files, dict):
            cache._files = files
            cache.unsaved = 0
        return cache


def _read_file(path: Path, rel: str, suffix: str) -> _Collector:
    """The articles of one seed file, or why it (or its JSONL lines) was skipped."""
    out = _Collector()
    try:
        data = path.read_bytes()
        if suffix.endswith(".gz"):
            data = gzip.decompress(data)
        raw = _decode(data)
    except OSError as exc:
        out.skip(rel, f"unreadable ({exc.strerror or exc})")
        return out
    except (ValueError, EOFError, gzip.BadGzipFile) as exc:
        out.skip(rel, str(exc) or "not a readable gzip file")
        return out
    if not raw.strip():
        out.skip(rel, "empty file")
        return out
    if suffix in JSONL_SUFFIXES:
        read_jsonl(rel, raw, out)
        return out
    try:
        if suffix in MARKDOWN_SUFFIXES:
            article = read_markdown(rel, raw)
        elif suffix in HTML_SUFFIXES:
            article = read_html(rel, raw)
        else:
            article = read_seed_text(rel, raw)
    except ValueError as exc:
        out.skip(rel, str(exc))
        return out
    if article is None:
        out.skip(rel, "no article text found")
        return out
    out.articles.append(article)
    return out


def load_articles(seeds_dir: Path, cache: IngestCache | None = None) -> IngestResult:
    """Read, clean and de-duplicate every article under ``seeds_dir`` (or in that one file).

    With a ``cache``, files unchanged since the last call are not read again.
    """
    seeds_dir = Path(seeds_dir)
    if seeds_dir.is_file():  # a single file (a .jsonl corpus, say) is a directory of one
        root, paths = seeds_dir.parent, [seeds_dir]
    elif seeds_dir.is_dir():
        root, paths = seeds_dir, list(iter_seed_files(seeds_dir))
    else:
        raise SeedsNotFoundError(f"seeds directory not found: {seeds_dir}")
    out = _Collector()
    fingerprints: list[str] = []
    files = 0
    seen: dict[str, _FileRecord] = {}
    reused = 0
    for path in paths:
        rel = path.relative_to(root).as_posix()
        suffix = file_suffix(path)
        if suffix not in SUPPORTED_SUFFIXES:
            out.skip(rel, f"unsupported file type '{suffix}'")
            continue
        files += 1
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
            read = _read_file(path, rel, suffix)
            record = _FileRecord(
                key or (-1, -1, -1, -1),
                tuple(read.articles),
                tuple(_text_fingerprint(a.text) for a in read.articles),
                tuple(read.skipped),
            )
        seen[rel] = record
        out.articles.extend(record.articles)
        fingerprints.extend(record.fingerprints)
        out.skipped.extend(record.skipped)
    if cache is not None:
        kept = {rel: r for rel, r in seen.items() if r.key[0] >= 0}
        fresh = sum(r.key[0] for rel, r in kept.items() if cache._files.get(rel) is not r)
        if cache.unsaved >= 0:
            cache.unsaved += fresh
        cache.total = sum(r.key[0] for r in kept.values())
        cache._files = kept
        cache.reused = reused
    kept, duplicates = dedupe_articles(out.articles, fingerprints)
    return IngestResult(tuple(kept), tuple(out.skipped), duplicates, files)


def dedupe_articles(articles: list[Article], fingerprints: list[str] | None = None) -> tuple[list[Article], int]:
    """Keep the first of identical articles (same text) and of articles sharing an id."""
    if fingerprints is None:
        fingerprints = [_text_fingerprint(a.text) for a in articles]
    seen_text: set[str] = set()
    seen_ids: dict[str, int] = {}
    kept: list[Article] = []
    duplicates = 0
    for article, fingerprint in zip(articles, fingerprints, strict=True):
        if fingerprint in seen_text:
            duplicates += 1
            log.info("duplicate article %s: indexed once", article.id)
            continue
        seen_text.add(fingerprint)
        if article.id in seen_ids:
            seen_ids[article.id] += 1
            article = replace(article, id=f"{article.id}~{seen_ids[article.id]}")
        else:
            seen_ids[article.id] = 0
        kept.append(article)
    return kept, duplicates
