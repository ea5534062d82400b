"""One index segment: column tables (numpy), a block of article texts, BM25 postings, and tombstones.

A segment directory holds::

    tables.npz    articles (id, title, source, url, content hash, date, where the text lies, its CRC-32),
                  passages (article row, offsets, sentence spans, sentence units) and units (article row,
                  the passages holding each sentence) as flat numpy arrays
    texts.bin     the articles' cleaned texts, UTF-8, one after the other (memory-mapped, decoded per article)
    terms.npz     BM25 postings (see ``lexical.py``)
    deleted.npy   sorted rows of tombstoned articles (absent when none), the one file a later build may
                  replace (in its own generation) without rewriting the segment

Loading reads the tables (a zip whose CRC-32s numpy checks) and maps the texts: no JSON, no Python
object per passage; ``Passage`` and ``Article`` objects are made when asked for. Rows are local to the
segment; the index adds each segment's offsets (see ``data.py``). Offsets into texts are characters,
verbatim, as the chunker produced them.
"""

from __future__ import annotations

import datetime as dt
import functools
import mmap
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import IndexCorruptError
from retrieval.index.arrays import load_npy, map_npz
from retrieval.index.chunking import Chunk
from retrieval.index.lexical import POSTINGS, TermSegment
from retrieval.types import Article

TABLES = "tables.npz"
TEXTS = "texts.bin"
DELETED = "deleted.npy"
SEGMENT_FILES = (TABLES, TEXTS, POSTINGS)
"""Every segment has these; ``DELETED`` only once it has tombstones."""
TEXT_CACHE = 4096
"""Decoded article texts kept per segment (a passage read decodes its article once)."""


class SegmentDamage(ValueError):
    """A segment's files do not hold together."""


def day_of(date: dt.date | None) -> int:
    """An article date as the proleptic ordinal the index stores (0: undated)."""
    return date.toordinal() if date else 0


def date_of(day: int) -> dt.date | None:
    """The inverse of :func:`day_of`."""
    return dt.date.fromordinal(day) if day > 0 else None


@dataclass(frozen=True)
class Strings:
    """A column of strings: one decoded block and the character offset where each starts (n+1)."""

    text: str
    at: np.ndarray

    @classmethod
    def of(cls, values: Sequence[str]) -> Strings:
        """A column holding ``values``."""
        at = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum([len(v) for v in values], out=at[1:])
        return cls("".join(values), at)

    def __len__(self) -> int:
        return len(self.at) - 1

    def __getitem__(self, row: int) -> str:
        return self.text[self.at.item(row) : self.at.item(row + 1)]

    def tolist(self) -> list[str]:
        """Every value."""
        text, at = self.text, self.at.tolist()
        return [text[a:b] for a, b in zip(at, at[1:], strict=False)]

    def take(self, rows: np.ndarray) -> Strings:
        """The values of ``rows``, in that order."""
        return Strings.of([self[int(r)] for r in rows])

    @staticmethod
    def concat(columns: Sequence[Strings]) -> Strings:
        """The columns one after the other."""
        at, shift = [np.zeros(1, dtype=np.int64)], 0
        for column in columns:
            at.append(column.at[1:] + shift)
            shift += int(column.at[-1])
        return Strings("".join(c.text for c in columns), np.concatenate(at))

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """The column as arrays for ``tables.npz``: UTF-8 bytes and the offsets."""
        return {name: np.frombuffer(self.text.encode("utf-8"), dtype=np.uint8), f"{name}_at": self.at}

    @classmethod
    def from_arrays(cls, blob: np.ndarray, at: np.ndarray) -> Strings:
        """Read back what :meth:`arrays` wrote."""
        text = blob.tobytes().decode("utf-8")
        at = np.asarray(at, dtype=np.int64)
        if len(at) == 0 or at[0] != 0 or at[-1] != len(text) or np.any(np.diff(at) < 0):
            raise SegmentDamage("a string column's offsets do not fit its text")
        return cls(text, at)


_STRINGS = ("ids", "titles", "sources", "urls", "hashes")


@dataclass(frozen=True)
class SegmentTables:
    """A segment's articles, passages, sentences and units as flat arrays (rows local to the segment)."""

    ids: Strings
    titles: Strings
    sources: Strings
    urls: Strings
    hashes: Strings
    has_url: np.ndarray
    days: np.ndarray
    """Each article's date, proleptic ordinal (0: undated)."""
    text_at: np.ndarray
    """Byte offsets of each article's text in ``texts.bin`` (n+1)."""
    text_chars: np.ndarray
    text_crc: np.ndarray
    p_article: np.ndarray
    p_start: np.ndarray
    p_end: np.ndarray
    p_sent_at: np.ndarray
    """Where each passage's sentences start in the ``s_*`` arrays (n+1)."""
    s_start: np.ndarray
    s_end: np.ndarray
    s_unit: np.ndarray
    """Each sentence's unit (vector), local: overlapping passages share units."""
    u_article: np.ndarray
    u_pass_at: np.ndarray
    u_pass: np.ndarray
    """The passages holding each unit: ``u_pass[u_pass_at[u]:u_pass_at[u + 1]]``."""

    @property
    def n_articles(self) -> int:
        """Article rows."""
        return len(self.days)

    @property
    def n_passages(self) -> int:
        """Passage rows."""
        return len(self.p_article)

    @property
    def n_units(self) -> int:
        """Unit rows."""
        return len(self.u_article)

    # -- making ----------------------------------------------------------------------------

    @classmethod
    def build(
        cls, articles: Sequence[Article], chunks: Sequence[Chunk]
    ) -> tuple[SegmentTables, list[bytes], list[tuple[int, int, int]]]:
        """Tables for new articles and their chunks (in article order), the texts to write, and each
        unit's (article row, start, end): a sentence shared by overlapping chunks is one unit."""
        row_of = {a.id: row for row, a in enumerate(articles)}
        encoded = [a.text.encode("utf-8") for a in articles]
        unit_of: dict[tuple[int, int, int], int] = {}
        p_article, p_start, p_end, p_sent_at = [], [], [], [0]
        s_start, s_end, s_unit = [], [], []
        for chunk in chunks:
            row = row_of[chunk.article_id]
            p_article.append(row)
            p_start.append(chunk.start)
            p_end.append(chunk.end)
            for start, end in chunk.sentences:
                s_start.append(start)
                s_end.append(end)
                s_unit.append(unit_of.setdefault((row, start, end), len(unit_of)))
            p_sent_at.append(len(s_start))
        spans = list(unit_of)
        u_article = np.array([row for row, _, _ in spans], dtype=np.int32)
        tables = cls(
            ids=Strings.of([a.id for a in articles]),
            titles=Strings.of([a.title for a in articles]),
            sources=Strings.of([a.source for a in articles]),
            urls=Strings.of([a.url or "" for a in articles]),
            hashes=Strings.of([a.content_hash for a in articles]),
            has_url=np.array([a.url is not None for a in articles], dtype=bool),
            days=np.array([day_of(a.date) for a in articles], dtype=np.int64),
            text_at=_offsets([len(e) for e in encoded]),
            text_chars=np.array([len(a.text) for a in articles], dtype=np.int64),
            text_crc=np.array([zlib.crc32(e) for e in encoded], dtype=np.uint32),
            p_article=np.array(p_article, dtype=np.int32),
            p_start=np.array(p_start, dtype=np.int64),
            p_end=np.array(p_end, dtype=np.int64),
            p_sent_at=np.array(p_sent_at, dtype=np.int64),
            s_start=np.array(s_start, dtype=np.int64),
            s_end=np.array(s_end, dtype=np.int64),
            s_unit=np.array(s_unit, dtype=np.int32),
            u_article=u_article,
            **_unit_passages(np.array(s_unit, dtype=np.int32), np.array(p_sent_at, dtype=np.int64), len(spans)),
        )
        return tables, encoded, spans

    @staticmethod
    def concat(parts: Sequence[SegmentTables]) -> SegmentTables:
        """The tables one after the other (rows renumbered: each part's follow the previous ones)."""
        a = p = s = u = b = up = 0
        pieces: dict[str, list[np.ndarray]] = {f.name: [] for f in fields(SegmentTables) if f.name not in _STRINGS}
        for part in parts:
            shifted = {
                "has_url": part.has_url,
                "days": part.days,
                "text_at": part.text_at[:-1] + b,
                "text_chars": part.text_chars,
                "text_crc": part.text_crc,
                "p_article": part.p_article + a,
                "p_start": part.p_start,
                "p_end": part.p_end,
                "p_sent_at": part.p_sent_at[:-1] + s,
                "s_start": part.s_start,
                "s_end": part.s_end,
                "s_unit": part.s_unit + u,
                "u_article": part.u_article + a,
                "u_pass_at": part.u_pass_at[:-1] + up,
                "u_pass": part.u_pass + p,
            }
            for name, column in shifted.items():
                pieces[name].append(column)
            a, p, s, u = a + part.n_articles, p + part.n_passages, s + len(part.s_unit), u + part.n_units
            b, up = b + int(part.text_at[-1]), up + len(part.u_pass)
        for name, total in (("text_at", b), ("p_sent_at", s), ("u_pass_at", up)):
            pieces[name].append(np.array([total], dtype=np.int64))
        values: dict[str, Any] = {name: np.concatenate(v) if v else np.zeros(0) for name, v in pieces.items()}
        values.update({name: Strings.concat([getattr(part, name) for part in parts]) for name in _STRINGS})
        return _typed(SegmentTables(**values))

    def take(self, rows: np.ndarray) -> SegmentTables:
        """The tables of article ``rows`` only (sorted), with their passages and units, renumbered."""
        rows = np.asarray(rows, dtype=np.int64)
        new_article = np.full(self.n_articles, -1, dtype=np.int64)
        new_article[rows] = np.arange(len(rows))
        keep_p = np.flatnonzero(new_article[self.p_article] >= 0)
        keep_u = np.flatnonzero(new_article[self.u_article] >= 0)
        new_pass = np.full(self.n_passages, -1, dtype=np.int64)
        new_pass[keep_p] = np.arange(len(keep_p))
        new_unit = np.full(self.n_units, -1, dtype=np.int64)
        new_unit[keep_u] = np.arange(len(keep_u))
        sentences = _ranges(self.p_sent_at, keep_p)
        holders = _ranges(self.u_pass_at, keep_u)
        lengths = np.diff(self.text_at)[rows]
        return _typed(
            SegmentTables(
                **{name: getattr(self, name).take(rows) for name in _STRINGS},
                has_url=self.has_url[rows],
                days=self.days[rows],
                text_at=_offsets(lengths),
                text_chars=self.text_chars[rows],
                text_crc=self.text_crc[rows],
                p_article=new_article[self.p_article[keep_p]],
                p_start=self.p_start[keep_p],
                p_end=self.p_end[keep_p],
                p_sent_at=_offsets(np.diff(self.p_sent_at)[keep_p]),
                s_start=self.s_start[sentences],
                s_end=self.s_end[sentences],
                s_unit=new_unit[self.s_unit[sentences]],
                u_article=new_article[self.u_article[keep_u]],
                u_pass_at=_offsets(np.diff(self.u_pass_at)[keep_u]),
                u_pass=new_pass[self.u_pass[holders]],
            )
        )

    # -- disk ------------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write ``tables.npz`` into ``directory``."""
        arrays: dict[str, np.ndarray] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            arrays.update(value.arrays(f.name) if isinstance(value, Strings) else {f.name: value})
        np.savez(directory / TABLES, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, directory: Path) -> SegmentTables:
        """Read ``tables.npz``; SegmentDamage (or zipfile's errors) if it does not hold together."""
        data = map_npz(directory / TABLES)
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name in _STRINGS:
                values[f.name] = Strings.from_arrays(data[f.name], data[f"{f.name}_at"])
            else:
                values[f.name] = data[f.name]
        tables = _typed(cls(**values))  # type: ignore[arg-type]
        tables.validate()
        return tables

    def validate(self, text_bytes: int | None = None) -> None:
        """Check that every row points where it may (vectorized; SegmentDamage on the first problem)."""
        n_a, n_p, n_u, n_s = self.n_articles, self.n_passages, self.n_units, len(self.s_unit)
        if any(len(getattr(self, name)) != n_a for name in _STRINGS) or not (
            len(self.has_url) == len(self.text_chars) == len(self.text_crc) == n_a == len(self.text_at) - 1
        ):
            raise SegmentDamage("the article columns differ in length")
        _check_offsets(self.text_at, text_bytes, "article text")
        if np.any(np.diff(self.text_at) < self.text_chars):  # UTF-8 takes a byte or more per character
            raise SegmentDamage("an article's text is shorter than its length")
        _check_offsets(self.p_sent_at, n_s, "passage sentences")
        _check_offsets(self.u_pass_at, len(self.u_pass), "unit passages")
        if not (len(self.p_start) == len(self.p_end) == n_p == len(self.p_sent_at) - 1):
            raise SegmentDamage("the passage columns differ in length")
        if not (len(self.s_start) == len(self.s_end) == n_s) or len(self.u_pass_at) != n_u + 1:
            raise SegmentDamage("the sentence or unit columns differ in length")
        _check_rows(self.p_article, n_a, "a passage's article")
        _check_rows(self.u_article, n_a, "a unit's article")
        _check_rows(self.s_unit, n_u, "a sentence's unit")
        _check_rows(self.u_pass, n_p, "a unit's passage")
        if n_p and (
            np.any(self.p_start < 0)
            or np.any(self.p_end <= self.p_start)
            or np.any(self.p_end > self.text_chars[self.p_article])
        ):
            raise SegmentDamage("a passage's offsets fall outside its article")
        owner = np.repeat(np.arange(n_p), np.diff(self.p_sent_at))
        if n_s and (
            np.any(self.s_start < self.p_start[owner])
            or np.any(self.s_end > self.p_end[owner])
            or np.any(self.s_end <= self.s_start)
            or np.any(self.u_article[self.s_unit] != self.p_article[owner])
        ):
            raise SegmentDamage("a sentence falls outside its passage or its unit is another article's")
        holder_unit = np.repeat(np.arange(n_u), np.diff(self.u_pass_at))
        if len(self.u_pass) and np.any(self.p_article[self.u_pass] != self.u_article[holder_unit]):
            raise SegmentDamage("a unit is held by another article's passage")


def _typed(tables: SegmentTables) -> SegmentTables:
    """The tables with every array in its stored dtype (concatenating empty parts loses it)."""
    dtypes = {
        "has_url": bool,
        "text_crc": np.uint32,
        "p_article": np.int32,
        "s_unit": np.int32,
        "u_article": np.int32,
        "u_pass": np.int32,
    }
    values = {}
    for f in fields(tables):
        value = getattr(tables, f.name)
        values[f.name] = value if isinstance(value, Strings) else np.asarray(value, dtype=dtypes.get(f.name, np.int64))
    return SegmentTables(**values)  # type: ignore[arg-type]


def _offsets(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    at = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=at[1:])
    return at


def _ranges(at: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The concatenated index ranges ``at[r]:at[r + 1]`` of ``rows``."""
    starts, ends = at[rows], at[rows + 1]
    lengths = ends - starts
    if not len(rows) or not lengths.sum():
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - _offsets(lengths)[:-1], lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) + shift


def _unit_passages(s_unit: np.ndarray, p_sent_at: np.ndarray, n_units: int) -> dict[str, np.ndarray]:
    """Which passages hold each unit (each once, in passage order), from the sentences' units."""
    owner = np.repeat(np.arange(len(p_sent_at) - 1, dtype=np.int64), np.diff(p_sent_at))
    pairs = np.unique(np.stack([s_unit.astype(np.int64), owner]), axis=1) if len(s_unit) else np.zeros((2, 0), np.int64)
    counts = np.bincount(pairs[0], minlength=n_units) if pairs.shape[1] else np.zeros(n_units, dtype=np.int64)
    return {"u_pass_at": _offsets(counts), "u_pass": pairs[1].astype(np.int32)}


def _check_offsets(at: np.ndarray, total: int | None, what: str) -> None:
    if len(at) == 0 or at[0] != 0 or np.any(np.diff(at) < 0) or (total is not None and at[-1] != total):
        raise SegmentDamage(f"the {what} offsets are out of order or do not add up")


def _check_rows(rows: np.ndarray, n: int, what: str) -> None:
    if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= n):
        raise SegmentDamage(f"{what} is out of range")


def write_texts(path: Path, blocks: Iterable[bytes | memoryview]) -> int:
    """Write ``texts.bin`` from article texts (or runs of them); returns its size."""
    size = 0
    with path.open("wb") as handle:
        for block in blocks:
            handle.write(block)
            size += len(block)
    return size


class TextBlock:
    """``texts.bin`` memory-mapped: an article's text is decoded (and its CRC-32 checked) when read."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            self.data: mmap.mmap | bytes = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        self.size = size

    def raw(self, start: int, end: int) -> memoryview:
        """Bytes ``start:end`` (no copy)."""
        return memoryview(self.data)[start:end]


def deleted_rows(directory: Path) -> np.ndarray:
    """The segment's tombstoned article rows (sorted), or none."""
    path = directory / DELETED
    if not path.exists():
        return np.zeros(0, dtype=np.int64)
    rows = load_npy(path)
    if rows.ndim != 1 or rows.dtype.kind not in "iu":
        raise SegmentDamage("deleted.npy is not a list of rows")
    return rows.astype(np.int64)


@dataclass(frozen=True)
class Segment:
    """A loaded segment: tables, mapped texts, BM25 postings and which article rows are tombstoned."""

    name: str
    tables: SegmentTables
    texts: TextBlock
    terms: TermSegment
    deleted: np.ndarray
    """Sorted tombstoned article rows."""
    index: str = ""
    """The index directory, for messages."""

    def __post_init__(self) -> None:
        t = self.tables
        if self.terms.size != t.n_passages:
            raise SegmentDamage(f"{self.terms.size} BM25 rows for {t.n_passages} passages")
        if int(t.text_at[-1]) != self.texts.size:
            raise SegmentDamage(f"texts.bin holds {self.texts.size} bytes, the tables say {int(t.text_at[-1])}")
        d = self.deleted
        if len(d) and (d[0] < 0 or d[-1] >= t.n_articles or np.any(np.diff(d) <= 0)):
            raise SegmentDamage("a tombstone names no article of the segment")
        object.__setattr__(self, "_text", functools.lru_cache(maxsize=TEXT_CACHE)(self._decode))

    @classmethod
    def load(cls, directory: Path, reuse: Segment | None = None) -> Segment:
        """Open the segment in ``directory``; ``reuse``: the same segment already open (only its
        tombstones are read again)."""
        deleted = deleted_rows(directory)
        where = str(directory.parent.parent)
        if reuse is not None:
            return cls(reuse.name, reuse.tables, reuse.texts, reuse.terms, deleted, where)
        return cls(
            directory.name,
            SegmentTables.load(directory),
            TextBlock(directory / TEXTS),
            TermSegment.load(directory),
            deleted,
            where,
        )

    def with_deleted(self, rows: np.ndarray) -> Segment:
        """The same segment with these article rows tombstoned."""
        return Segment(self.name, self.tables, self.texts, self.terms, np.asarray(rows, dtype=np.int64), self.index)

    @functools.cached_property
    def dead_articles(self) -> np.ndarray:
        """A mask of tombstoned article rows."""
        mask = np.zeros(self.tables.n_articles, dtype=bool)
        mask[self.deleted] = True
        return mask

    @functools.cached_property
    def dead_passages(self) -> np.ndarray:
        """A mask of tombstoned passage rows."""
        return self.dead_articles[self.tables.p_article]

    @functools.cached_property
    def dead_units(self) -> np.ndarray:
        """A mask of tombstoned unit rows."""
        return self.dead_articles[self.tables.u_article]

    def _decode(self, row: int) -> str:
        t = self.tables
        raw = self.texts.raw(t.text_at.item(row), t.text_at.item(row + 1))
        try:
            if zlib.crc32(raw) != t.text_crc.item(row):
                raise SegmentDamage("fails its checksum")
            text = bytes(raw).decode("utf-8")
            if len(text) != t.text_chars.item(row):
                raise SegmentDamage("has the wrong length")
        except (SegmentDamage, UnicodeDecodeError) as exc:
            problem = exc if isinstance(exc, SegmentDamage) else "is not UTF-8"
            raise IndexCorruptError(
                f"the index at {self.index} is damaged: the text of article {row} in {self.name} {problem}"
            ) from exc
        return text

    def text(self, row: int) -> str:
        """Article ``row``'s text (decoded once, then cached)."""
        return self._text(row)  # type: ignore[attr-defined]

    def article(self, row: int) -> Article:
        """Article ``row`` as an ``Article``."""
        t = self.tables
        return Article(
            id=t.ids[row],
            title=t.titles[row],
            date=date_of(t.days.item(row)),
            source=t.sources[row],
            text=self.text(row),
            url=t.urls[row] if t.has_url.item(row) else None,
            content_hash=t.hashes[row],
        )

    def check_texts(self) -> None:
        """Decode every article's text (checksums and lengths): the deep check, not done on load."""
        for row in range(self.tables.n_articles):
            self._decode(row)
