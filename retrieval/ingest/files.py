"""Read articles from a seeds directory: seed-format text, Markdown, HTML and JSONL, cleaned."""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import errno
import gzip
import hashlib
import json
import logging
import os
import pickle
import re
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from retrieval.config import IngestConfig
from retrieval.errors import SeedsNotFoundError
from retrieval.ingest.cleaning import clean_scraped_text, derive_title
from retrieval.ingest.textclean import scrub
from retrieval.text import sentence_ends
from retrieval.types import Article, publication_day

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".text", ""}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl", ".jsonl.gz"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES

_DATE_HEADER = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\b[ \t]*", re.IGNORECASE)
_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
RAW_SLACK = 4
"""Text read before cleaning, as a multiple of the article limit: scraped pages carry furniture."""
HTML_SLACK = 20
"""Bytes of HTML read, as a multiple of the article limit: markup outweighs the text it holds (4 MB at
the default: trafilatura takes ~7 s there, 35 s on 10 MB)."""
_FILE_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


@dataclass(frozen=True)
class SkippedFile:
    """A file (or JSONL line) that was not ingested, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class IngestWarning:
    """An article read, but not quite as written (a bad date left out, an over-long text cut), and where."""

    path: str
    message: str


@dataclass(frozen=True)
class IngestResult:
    """Articles read from a directory, plus what was skipped and how many duplicates were dropped."""

    articles: tuple[Article, ...]
    skipped: tuple[SkippedFile, ...] = ()
    duplicates: int = 0
    files: int = 0
    warnings: tuple[IngestWarning, ...] = ()


@dataclass(frozen=True)
class ReadProgress:
    """Reading the seeds: ``done`` of ``total`` files, and the one being read now (``""`` at the end)."""

    done: int
    total: int
    path: str


ReadProgressFn = Callable[[ReadProgress], None]


@dataclass
class _Collector:
    """What reading gives; skips and warnings are logged where the results are gathered (cached or not)."""

    articles: list[Article] = field(default_factory=list)
    notes: list[SkippedFile | IngestWarning] = field(default_factory=list)
    """Skips and warnings, in the order they happened."""

    @property
    def skipped(self) -> list[SkippedFile]:
        """The files (or JSONL lines) skipped, and why."""
        return [n for n in self.notes if isinstance(n, SkippedFile)]

    @property
    def warnings(self) -> list[IngestWarning]:
        """The articles read with a problem, and what it was."""
        return [n for n in self.notes if isinstance(n, IngestWarning)]

    def skip(self, path: str, reason: str) -> None:
        self.notes.append(SkippedFile(path, reason))

    def warn(self, path: str, message: str) -> None:
        self.notes.append(IngestWarning(path, message))


def _log_note(note: SkippedFile | IngestWarning) -> None:
    if isinstance(note, SkippedFile):
        log.warning("skipped %s: %s", note.path, note.reason)
    else:
        log.warning("%s: %s", note.path, note.message)


def parse_date(value: object) -> dt.date | None:
    """A date from an ISO string, a datetime or a date; None if there is none.

    ValueError if there is a value but not a whole calendar date: a number (``12``), a day that does
    not exist (``2022-13-45``), or a date missing its year, month or day (``March 2023``). Nothing
    is filled in: dateutil's defaults (today's year, month and day) never become an article's date.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date")
    text = value.strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        pass
    from dateutil import parser as date_parser

    try:  # parsed against two different defaults: a part taken from a default differs between them
        first = date_parser.parse(text, fuzzy=False, default=dt.datetime(1904, 1, 1))
        second = date_parser.parse(text, fuzzy=False, default=dt.datetime(1908, 2, 2))
    except (ValueError, OverflowError):
        raise ValueError(f"'{text[:40]}' is not a date") from None
    if first.date() != second.date():
        raise ValueError(f"'{text[:40]}' is not a whole date (year, month and day)")
    return first.date()


def _date_or_warn(value: object, where: str, out: _Collector, what: str = "date") -> dt.date | None:
    """``parse_date(value)``; a bad value is a warning naming ``where``, and the article stays undated."""
    try:
        return parse_date(value)
    except ValueError as exc:
        out.warn(where, f"bad {what}: {exc}; the article is left undated")
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


def _decode(raw: bytes, complete: bool = True) -> str:
    """Text from bytes: UTF-8, or UTF-8/16/32 with a byte order mark. ``complete``: false if ``raw``
    was cut short (a character split at the end is dropped, not an error)."""
    encoding, start = "utf-8", 0
    for bom, name in _BOMS:
        if raw.startswith(bom):
            encoding, start = name, len(bom)
            break
    else:
        if b"\x00" in raw[:8192]:
            raise ValueError("binary file")
    try:
        return codecs.getincrementaldecoder(encoding)().decode(raw[start:], final=complete)
    except UnicodeDecodeError as exc:
        label = encoding.upper().removesuffix("-LE").removesuffix("-BE")
        raise ValueError(f"not {label} text ({exc.reason} at byte {start + exc.start})") from exc


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


def _limit_article(
    article: Article | None, where: str, extent: str, cut_before: bool, limit: int, out: _Collector
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


def read_seed_text(article_id: str, raw: str, out: _Collector | None = None) -> Article | None:
    """Parse the scraped-page seed format: a ``date YYYY-MM-DD`` header, then the page text."""
    out = out if out is not None else _Collector()
    date = None
    header = _DATE_HEADER.match(raw)
    if header:
        date = _date_or_warn(header.group(1), article_id, out, "date header")
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


def read_markdown(article_id: str, raw: str, out: _Collector | None = None) -> Article | None:
    """Parse Markdown with optional YAML front matter (title, date, url, source)."""
    import frontmatter

    out = out if out is not None else _Collector()
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
        date=_date_or_warn(meta.get("date"), article_id, out, "front matter date") or cleaned.dateline,
        source=str(meta.get("source") or "") or None,
        url=str(meta.get("url") or "") or None,
    )


def read_html(article_id: str, raw: str, out: _Collector | None = None) -> Article | None:
    """Extract the main text and metadata of an HTML page with trafilatura."""
    import trafilatura

    out = out if out is not None else _Collector()
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
        date=_date_or_warn(getattr(doc, "date", None), article_id, out, "page date"),
        source=getattr(doc, "sitename", None) or getattr(doc, "hostname", None),
        url=url,
    )


def read_jsonl(rel: str, raw: str, out: _Collector, limit: int = IngestConfig.max_article_chars) -> None:
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
        article = _finish(
            article_id,
            cleaned.text,
            title=_field(record, "title") or cleaned.title,
            date=_date_or_warn(record.get("date"), where, out),
            source=_field(record, "source") or None,
            url=_field(record, "url") or None,
        )
        extent = f"its text has {length:,}"
        out.articles.append(_limit_article(article, where, extent, cut_before, limit, out))  # type: ignore[arg-type]


def _field(record: dict[str, object], name: str) -> str:
    """A JSONL record's text field, at the top level or under ``meta`` (as the benchmark corpora have
    ``meta.url`` and ``meta.source``); a number or other scalar as text, a list or object ignored."""
    value = record.get(name)
    meta = record.get("meta")
    if (value is None or value == "") and isinstance(meta, dict):
        value = meta.get(name)
    return "" if value is None or isinstance(value, dict | list) else str(value)


def file_suffix(path: Path) -> str:
    """The suffix that says how to read a file: ``.jsonl.gz`` for gzipped JSONL, else the last one."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes == [".jsonl", ".gz"]:
        return ".jsonl.gz"
    return path.suffix.lower()


def iter_seed_files(seeds_dir: Path, out: _Collector | None = None) -> Iterator[Path]:
    """Every non-hidden regular file under ``seeds_dir``, in a stable order (sorted by path parts).

    Symbolic links are followed, to files and to directories; a link that leads nowhere (dangling),
    round in a loop or back to a directory already walked, and anything that is not a regular file
    or directory (a FIFO, a socket, a device) is recorded in ``out`` as skipped, never opened.
    """
    out = out if out is not None else _Collector()
    seen: set[tuple[int, int]] = set()
    try:
        top = seeds_dir.stat()
    except OSError:
        return
    seen.add((top.st_dev, top.st_ino))
    yield from _walk(seeds_dir, seeds_dir, ((top.st_dev, top.st_ino),), seen, out)


def _walk(
    root: Path, directory: Path, above: tuple[tuple[int, int], ...], seen: set[tuple[int, int]], out: _Collector
) -> Iterator[Path]:
    """The regular files under ``directory``; ``above``: it and the directories it is in."""
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError as exc:
        out.skip(directory.relative_to(root).as_posix() + "/", f"unreadable directory ({exc.strerror or exc})")
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        rel = path.relative_to(root).as_posix()
        try:
            info = os.stat(entry.path)  # follows a link
        except OSError as exc:
            out.skip(rel, _unreachable(entry, exc))
            continue
        if stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key in above:
                out.skip(rel + "/", "a symlink loop (a link back to a directory it is in)")
            elif key in seen:
                out.skip(rel + "/", "a link to a directory already read: not read twice")
            else:
                seen.add(key)
                yield from _walk(root, path, (*above, key), seen, out)
        elif stat.S_ISREG(info.st_mode):
            yield path
        else:
            out.skip(rel, f"not a regular file ({_FILE_KINDS.get(stat.S_IFMT(info.st_mode), 'special file')})")


def _unreachable(entry: os.DirEntry[str], exc: OSError) -> str:
    """Why a directory entry cannot be reached: a dangling link, a link loop, or an error."""
    if entry.is_symlink():
        if exc.errno == errno.ELOOP:
            return "a symlink loop"
        if exc.errno == errno.ENOENT:
            with contextlib.suppress(OSError):
                return f"a broken symlink (to {os.readlink(entry.path)}, which does not exist)"
            return "a broken symlink"
    return f"unreadable ({exc.strerror or exc})"


@dataclass(frozen=True)
class _FileRecord:
    key: tuple[int, int, int, int]
    articles: tuple[Article, ...]
    fingerprints: tuple[str, ...]
    notes: tuple[SkippedFile | IngestWarning, ...]


class IngestCache:
    """What each seed file gave when it was last read, so a file unchanged since is not read again.

    A file counts as unchanged when its size, modification and change times (nanoseconds) and inode
    are the same, as git's index and make trust them. What it gave includes why it (or a JSONL line)
    was skipped and what was wrong with it, so a build that reuses it says the same as the one that
    read it. A long-lived process (the bot, a benchmark) keeps one and passes it to every
    :func:`load_articles`; a full rebuild passes none.
    """

    FORMAT = 3
    """Bumped when reading or cleaning changes what a file gives (3: lone category words dropped)."""

    def __init__(self, config: IngestConfig | None = None) -> None:
        self.config = config or IngestConfig()
        """How the files were read (a cache read otherwise is not used)."""
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

    def _use(self, config: IngestConfig) -> None:
        """Forget what was read under another config (another article size limit)."""
        if config != self.config:
            self.config, self._files, self.unsaved = config, {}, -1

    def save(self, path: Path, seeds_dir: Path) -> None:
        """Keep the cache in ``path`` (written whole, then renamed: readers never see half a file)."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as handle:
                state = (self.FORMAT, str(Path(seeds_dir).resolve()), self.config, self._files)
                pickle.dump(state, handle, protocol=5)
            os.replace(tmp, path)
            self.unsaved = 0
        except OSError as exc:
            log.warning("could not save the seed cache %s: %s", path, exc)
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path, seeds_dir: Path, config: IngestConfig | None = None) -> IngestCache:
        """The cache saved in ``path`` for ``seeds_dir`` and ``config``; an empty one if there is none
        or it is unusable (another format, directory or config).

        The file is a pickle written by :meth:`save` into the index directory, which newsdesk trusts
        as it trusts the FAISS files beside it (both must only ever come from newsdesk itself).
        """
        cache = cls(config)
        try:
            with path.open("rb") as handle:
                version, seeds, saved_config, files = pickle.load(handle)
        except FileNotFoundError:
            return cache
        except Exception as exc:  # a damaged, older or foreign cache is only slower: read everything again
            log.info("ignoring the seed cache %s (%s)", path, type(exc).__name__)
            return cache
        if (
            version == cls.FORMAT
            and seeds == str(Path(seeds_dir).resolve())
            and saved_config == cache.config
            and isinstance(files, dict)
        ):
            cache._files = files
            cache.unsaved = 0
        return cache


def _read_bytes(path: Path, cap: int | None) -> tuple[bytes, int]:
    """The file's bytes (at most ``cap``) and its size. Opened without blocking and checked to be a
    regular file once open, so a FIFO put in a file's place is refused, never waited on."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            kind = _FILE_KINDS.get(stat.S_IFMT(info.st_mode), "special file")
            raise ValueError(f"not a regular file ({kind})")
        return handle.read(-1 if cap is None else cap), info.st_size


def _read_file(path: Path, rel: str, suffix: str, config: IngestConfig | None = None) -> _Collector:
    """The articles of one seed file, or why it (or its JSONL lines) was skipped, and what was wrong."""
    limit = (config or IngestConfig()).max_article_chars
    out = _Collector()
    jsonl = suffix in JSONL_SUFFIXES
    # A JSONL file is a corpus and is read whole; any other file is one article, so reading more
    # than its limit allows (a 5 GB log named .txt) is only memory spent.
    cap = None if jsonl else (HTML_SLACK if suffix in HTML_SUFFIXES else 4 * RAW_SLACK) * limit
    try:
        data, size = _read_bytes(path, cap)
        if suffix.endswith(".gz"):
            data = gzip.decompress(data)
            size = len(data)
        raw = _decode(data, complete=len(data) == size)
    except OSError as exc:
        out.skip(rel, f"unreadable ({exc.strerror or exc})")
        return out
    except (ValueError, EOFError, gzip.BadGzipFile) as exc:
        out.skip(rel, str(exc) or "not a readable gzip file")
        return out
    if not raw.strip():
        out.skip(rel, "empty file")
        return out
    if jsonl:
        read_jsonl(rel, raw, out, limit)
        return out
    extent = f"{len(raw):,} characters in the file" if len(data) == size else f"{size:,} bytes in the file"
    cut_before = len(data) < size or (suffix not in HTML_SUFFIXES and len(raw) > RAW_SLACK * limit)
    if cut_before and suffix not in HTML_SUFFIXES:
        raw = raw[: RAW_SLACK * limit]
    try:
        if suffix in MARKDOWN_SUFFIXES:
            article = read_markdown(rel, raw, out)
        elif suffix in HTML_SUFFIXES:
            article = read_html(rel, raw, out)
        else:
            article = read_seed_text(rel, raw, out)
    except ValueError as exc:
        out.skip(rel, str(exc))
        return out
    if article is None:
        out.skip(rel, "no article text found")
        return out
    out.articles.append(_limit_article(article, rel, extent, cut_before, limit, out))  # type: ignore[arg-type]
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
    out = _Collector()
    if seeds_dir.is_dir():
        root, paths = seeds_dir, list(iter_seed_files(seeds_dir, out))
    elif seeds_dir.is_file():  # a single file (a .jsonl corpus, say) is a directory of one
        root, paths = seeds_dir.parent, [seeds_dir]
    elif seeds_dir.exists():
        raise SeedsNotFoundError(f"the seeds path {seeds_dir} is not a directory or a regular file")
    else:
        raise SeedsNotFoundError(f"seeds directory not found: {seeds_dir}")
    for note in out.notes:
        _log_note(note)
    if cache is not None:
        cache._use(config)
    fingerprints: list[str] = []
    files = 0
    seen: dict[str, _FileRecord] = {}
    reused = 0
    for number, path in enumerate(paths):
        rel = path.relative_to(root).as_posix()
        suffix = file_suffix(path)
        if suffix not in SUPPORTED_SUFFIXES:
            out.skip(rel, f"unsupported file type '{suffix}'")
            _log_note(out.notes[-1])
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
            record = _FileRecord(
                key or (-1, -1, -1, -1),
                tuple(read.articles),
                tuple(_text_fingerprint(a.text) for a in read.articles),
                tuple(read.notes),
            )
        seen[rel] = record
        out.articles.extend(record.articles)
        fingerprints.extend(record.fingerprints)
        out.notes.extend(record.notes)
        for note in record.notes:
            _log_note(note)
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
        fingerprints = [_text_fingerprint(a.text) for a in articles]
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
