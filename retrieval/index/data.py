"""A loaded index: segments composed into passage, article and unit views that search and answering read.

Nothing here is read per passage at load time: the views make a ``Passage`` or an ``Article`` from the
segments' column tables when asked for one. Passage and unit ids run through the segments in order;
a tombstoned passage keeps its id (until a compaction) but no search returns it.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, overload

import numpy as np

from retrieval.index.lexical import LexicalIndex
from retrieval.index.manifest import Manifest
from retrieval.index.segment import Segment
from retrieval.index.vectors.base import VectorStore
from retrieval.types import Article, Passage

PASSAGE_CACHE = 4096
"""Passage objects kept once made (a question reads the same passages several times)."""


def _offsets(sizes: Sequence[int]) -> list[int]:
    return list(itertools.accumulate(sizes, initial=0))


class Passages(Sequence[Passage]):
    """Every passage row by id (tombstoned ones included), made on access."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        self._segments = list(segments)
        self._first = _offsets([s.tables.n_passages for s in segments])
        self._first_unit = _offsets([s.tables.n_units for s in segments])
        self._make = functools.lru_cache(maxsize=PASSAGE_CACHE)(self._passage)

    def __len__(self) -> int:
        return self._first[-1]

    @overload
    def __getitem__(self, pid: int) -> Passage: ...

    @overload
    def __getitem__(self, pid: slice) -> list[Passage]: ...

    def __getitem__(self, pid: int | slice) -> Passage | list[Passage]:
        if isinstance(pid, slice):
            return [self[i] for i in range(*pid.indices(len(self)))]
        pid = int(pid)
        if pid < 0:
            pid += len(self)
        if not 0 <= pid < len(self):
            raise IndexError(f"passage {pid} is not in the index")
        return self._make(pid)

    def _passage(self, pid: int) -> Passage:
        number = bisect.bisect_right(self._first, pid) - 1
        segment, row = self._segments[number], pid - self._first[number]
        t = segment.tables
        article_row = t.p_article.item(row)
        start, end = t.p_start.item(row), t.p_end.item(row)
        a, b = t.p_sent_at.item(row), t.p_sent_at.item(row + 1)
        sentences = tuple(zip(t.s_start[a:b].tolist(), t.s_end[a:b].tolist(), strict=True))
        first_unit = self._first_unit[number]
        units = tuple(unit + first_unit for unit in t.s_unit[a:b].tolist())
        text = segment.text(article_row)[start:end]
        return Passage(pid, t.ids[article_row], start, end, text, sentences, units)


class Articles(Mapping[str, Article]):
    """The live articles by id, made on access (a changed article's old row is tombstoned)."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        self._segments = list(segments)
        self._first = _offsets([s.tables.n_articles for s in segments])
        self._where: dict[str, int] = {}
        """Article id -> its row counted through all segments (a later segment's row wins)."""
        for segment, first in zip(segments, self._first, strict=False):
            ids = segment.tables.ids.tolist()
            self._where.update(zip(ids, itertools.count(first)))
            for row in segment.deleted.tolist():
                if self._where.get(ids[row]) == first + row:
                    del self._where[ids[row]]

    def where(self, article_id: str) -> tuple[int, int] | None:
        """(segment number, row) of a live article, or None."""
        at = self._where.get(article_id)
        if at is None:
            return None
        number = bisect.bisect_right(self._first, at) - 1
        return number, at - self._first[number]

    def __getitem__(self, article_id: str) -> Article:
        found = self.where(article_id)
        if found is None:
            raise KeyError(article_id)
        return self._segments[found[0]].article(found[1])

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._where

    def content_hash(self, article_id: str) -> str | None:
        """The live article's content hash (no text decoded), or None."""
        found = self.where(article_id)
        if found is None:
            return None
        return self._segments[found[0]].tables.hashes[found[1]]


class UnitPassages(Sequence[tuple[int, ...]]):
    """For each unit (a sentence vector), the ids of the passages that hold it."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        self._segments = list(segments)
        self._first = _offsets([s.tables.n_units for s in segments])
        self._first_passage = _offsets([s.tables.n_passages for s in segments])

    def __len__(self) -> int:
        return self._first[-1]

    @overload
    def __getitem__(self, unit: int) -> tuple[int, ...]: ...

    @overload
    def __getitem__(self, unit: slice) -> list[tuple[int, ...]]: ...

    def __getitem__(self, unit: int | slice) -> tuple[int, ...] | list[tuple[int, ...]]:
        if isinstance(unit, slice):
            return [self[i] for i in range(*unit.indices(len(self)))]
        unit = int(unit)
        if not 0 <= unit < len(self):
            raise IndexError(f"unit {unit} is not in the index")
        number = bisect.bisect_right(self._first, unit) - 1
        t, row = self._segments[number].tables, unit - self._first[number]
        first = self._first_passage[number]
        return tuple(p + first for p in t.u_pass[t.u_pass_at.item(row) : t.u_pass_at.item(row + 1)].tolist())


@dataclass(frozen=True)
class IndexData:
    """A loaded index: everything search and answering need (texts are read when asked for)."""

    remote: ClassVar[bool] = False
    """False: filters are masks over in-memory columns (a ``RemoteIndex`` filters by expressions)."""

    manifest: Manifest
    segments: tuple[Segment, ...]
    vectors: VectorStore
    lexical: LexicalIndex
    path: Path
    passages: Passages = field(init=False, repr=False)
    articles: Articles = field(init=False, repr=False)
    unit_passages: UnitPassages = field(init=False, repr=False)
    """For each vector (a sentence), the passages that contain it."""
    passage_days: np.ndarray = field(init=False, repr=False)
    """Publication date of each passage's article as a proleptic ordinal (0 when undated)."""
    unit_days: np.ndarray = field(init=False, repr=False)
    """Publication date of each vector's article, like ``passage_days``."""
    passage_live: np.ndarray = field(init=False, repr=False)
    """False for tombstoned passages."""
    unit_live: np.ndarray = field(init=False, repr=False)
    """False for tombstoned units."""

    def __post_init__(self) -> None:
        segments = self.segments
        values = {
            "passages": Passages(segments),
            "articles": Articles(segments),
            "unit_passages": UnitPassages(segments),
            "passage_days": _concat([s.tables.days[s.tables.p_article] for s in segments], np.int64),
            "unit_days": _concat([s.tables.days[s.tables.u_article] for s in segments], np.int64),
            "passage_live": ~_concat([s.dead_passages for s in segments], bool),
            "unit_live": ~_concat([s.dead_units for s in segments], bool),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def n_live_passages(self) -> int:
        """Passages not tombstoned."""
        return int(np.count_nonzero(self.passage_live))

    def live_passages(self) -> Iterator[Passage]:
        """The passages not tombstoned, in id order."""
        for pid in np.flatnonzero(self.passage_live):
            yield self.passages[int(pid)]

    def passage_text(self, passage: Passage) -> str:
        """The passage as it stands in its article."""
        return passage.text

    def passages_of(self, pids: Iterable[int]) -> list[Passage]:
        """The passages ``pids``, in order (a ``RemoteIndex`` reads them in one query)."""
        return [self.passages[int(pid)] for pid in pids]

    def articles_of(self, article_ids: Iterable[str]) -> list[Article]:
        """The articles ``article_ids``, in order (a ``RemoteIndex`` reads them in one query)."""
        return [self.articles[article_id] for article_id in article_ids]

    def articles_between(self, low: int, high: int) -> list[str]:
        """The live articles dated from day ``low`` to day ``high`` (proleptic ordinals, both included),
        newest first, then by id."""
        dated: list[tuple[int, str]] = []
        for number, segment in enumerate(self.segments):
            tables = segment.tables
            for row, (article_id, day) in enumerate(zip(tables.ids.tolist(), tables.days.tolist(), strict=True)):
                if low <= day <= high and self.articles.where(article_id) == (number, row):
                    dated.append((day, article_id))
        dated.sort(key=lambda pair: (-pair[0], pair[1]))
        return [article_id for _, article_id in dated]

    def article_passages(self, article_ids: Iterable[str]) -> dict[str, list[Passage]]:
        """The live passages of each of ``article_ids`` that is in the index, in passage-id order (the
        articles in the order of their first passage), read from the column tables."""
        wanted = set(article_ids)
        out: dict[str, list[Passage]] = {}
        first = 0
        for number, segment in enumerate(self.segments):
            tables = segment.tables
            ids = tables.ids.tolist()
            for row, article_row in enumerate(tables.p_article.tolist()):
                article_id = ids[article_row]
                pid = first + row
                live = article_id in wanted and self.passage_live[pid]
                if live and self.articles.where(article_id) == (number, article_row):
                    out.setdefault(article_id, []).append(self.passages[pid])
            first += tables.n_passages
        return out

    def unit_article_ids(self) -> list[str]:
        """Each unit's article id (for a backend that stores it, Milvus)."""
        ids: list[str] = []
        for segment in self.segments:
            names = segment.tables.ids.tolist()
            ids.extend(names[row] for row in segment.tables.u_article.tolist())
        return ids


def _concat(arrays: Sequence[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype=dtype)
