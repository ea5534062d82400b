"""BM25 over passages: bm25s's tokenizer, postings kept per index segment so new passages append.

bm25s precomputes every document's score for every term, so adding one passage means rebuilding the
whole index (its maintainer says so: bm25s issue #5). Here the postings keep raw term frequencies and
the scores are computed at query time from the current statistics (document frequencies, average
length), as Lucene does: an index segment written once is never rewritten, a new segment only
appends, and the scores are exactly those of one index built over everything. Scoring follows
bm25s's default ("lucene": idf = log(1 + (N - df + 0.5) / (df + 0.5)), k1 = 1.5, b = 0.75).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.index.arrays import map_npz
from retrieval.text import tokenize

log = logging.getLogger(__name__)

K1 = 1.5
B = 0.75
POSTINGS = "terms.npz"


@dataclass(frozen=True)
class TermSegment:
    """The postings of one index segment: term frequencies of its passages, by term id.

    A passages × terms matrix kept as its CSC arrays (a term's postings are one column: ``indices``
    holds their rows, ``data`` the counts, uint16); it knows the terms that existed when the segment
    was written, and ``new_terms`` are the ones this segment introduced (the vocabulary is every
    segment's ``new_terms`` in order, so old term ids never change). Scoring reads the arrays;
    scipy is imported only to build, select or merge segments.
    """

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    rows: int
    lengths: np.ndarray
    new_terms: tuple[str, ...]

    @property
    def size(self) -> int:
        """Passages in the segment."""
        return self.rows

    @property
    def columns(self) -> int:
        """Terms the segment knows."""
        return len(self.indptr) - 1

    @property
    def tf(self) -> Any:
        """The postings as a scipy CSC matrix."""
        import scipy.sparse as sp

        return sp.csc_matrix((self.data, self.indices, self.indptr), shape=(self.rows, self.columns))

    @classmethod
    def of(cls, tf: Any, lengths: np.ndarray, new_terms: Sequence[str]) -> TermSegment:
        """A segment from a scipy sparse matrix of term counts."""
        import scipy.sparse as sp

        tf = sp.csc_matrix(tf)
        tf.sort_indices()
        return cls(
            tf.data.astype(np.uint16),
            tf.indices.astype(np.int32),
            tf.indptr.astype(np.int64),
            int(tf.shape[0]),
            np.asarray(lengths, dtype=np.float32),
            tuple(new_terms),
        )

    def save(self, directory: Path) -> None:
        """Write ``terms.npz`` into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        joined = "\n".join(self.new_terms)
        if joined.count("\n") != max(0, len(self.new_terms) - 1):
            raise ValueError("a BM25 term holds a line break")
        np.savez(
            directory / POSTINGS,
            data=self.data.astype(np.uint16),
            indices=self.indices.astype(np.int32),
            indptr=self.indptr.astype(np.int64),
            shape=np.array([self.rows, self.columns], dtype=np.int64),
            lengths=self.lengths.astype(np.int32),
            terms=np.frombuffer(joined.encode("utf-8"), dtype=np.uint8),
            n_terms=np.array([len(self.new_terms)], dtype=np.int64),
        )

    @classmethod
    def load(cls, directory: Path) -> TermSegment:
        """Read a segment written by :meth:`save`; ValueError if it does not hold together."""
        data = map_npz(directory / POSTINGS)
        shape = tuple(int(n) for n in data["shape"])
        indptr, indices, counts = data["indptr"], data["indices"], data["data"]
        lengths = data["lengths"].astype(np.float32)
        joined = data["terms"].tobytes().decode("utf-8")
        n_terms = int(data["n_terms"][0])
        terms = tuple(joined.split("\n")) if n_terms else ()
        rows, columns = shape
        if (
            len(terms) != n_terms
            or len(lengths) != rows
            or len(indptr) != columns + 1
            or indptr[0] != 0
            or indptr[-1] != len(indices)
            or len(counts) != len(indices)
            or np.any(np.diff(indptr) < 0)
            or (len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= rows))
        ):
            raise ValueError("inconsistent BM25 segment")
        return cls(counts, indices, indptr, rows, lengths, terms)

    def deleted_df(self, dead: np.ndarray) -> np.ndarray:
        """For each term this segment knows, in how many of the ``dead`` passages (a row mask) it occurs."""
        hits = np.flatnonzero(dead[self.indices])
        columns = np.searchsorted(self.indptr, hits, side="right") - 1
        return np.bincount(columns, minlength=self.columns)

    def widened(self, width: int) -> TermSegment:
        """The same postings, knowing terms up to ``width`` (later terms have none here)."""
        if width == self.columns:
            return self
        extra = np.full(width - self.columns, self.indptr[-1], dtype=np.int64)
        indptr = np.concatenate([self.indptr, extra])
        return TermSegment(self.data, self.indices, indptr, self.rows, self.lengths, self.new_terms)

    @classmethod
    def concat(cls, segments: Sequence[TermSegment], width: int) -> TermSegment:
        """One segment holding ``segments``' passages in order (their terms must be consecutive in the
        vocabulary, as those of consecutive segments are); no re-tokenizing."""
        import scipy.sparse as sp

        parts = [sp.csr_matrix(s.widened(width).tf) for s in segments]
        stacked = sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, width), dtype=np.uint16)
        lengths = np.concatenate([s.lengths for s in segments]) if segments else np.zeros(0, np.float32)
        return cls.of(stacked, lengths, [t for s in segments for t in s.new_terms])


class LexicalIndex:
    """BM25 over passage texts, in segments; also the document frequencies the answerer weighs terms by.

    Passage ids run through the segments in order (segment 0's passages first). ``dead`` marks each
    segment's tombstoned passages: they keep their ids but never score, and the statistics (number of
    passages, document frequencies, average length) are those of the live passages alone, so scores
    stay exactly those of one bm25s index over the live passages.
    """

    def __init__(self, segments: Sequence[TermSegment], dead: Sequence[np.ndarray | None] | None = None) -> None:
        self.segments = tuple(segments)
        self.dead = tuple(dead) if dead is not None else (None,) * len(self.segments)
        if len(self.dead) != len(self.segments):
            raise ValueError(f"{len(self.dead)} tombstone masks for {len(self.segments)} BM25 segments")
        self.terms: list[str] = [term for segment in self.segments for term in segment.new_terms]
        self._vocab = {term: i for i, term in enumerate(self.terms)}
        self.n_docs = sum(s.size for s in self.segments)
        """Passage rows, tombstoned ones included (ids 0..n_docs-1)."""
        self._df = np.zeros(len(self.terms), dtype=np.int64)
        total = 0.0
        deleted = 0
        for segment, dead_rows in zip(self.segments, self.dead, strict=True):
            columns = segment.columns
            if columns > len(self.terms):
                raise ValueError("a BM25 segment knows more terms than the vocabulary")
            self._df[:columns] += np.diff(segment.indptr)
            total += float(segment.lengths.sum())
            if dead_rows is not None and dead_rows.any():
                self._df[:columns] -= segment.deleted_df(dead_rows)
                total -= float(segment.lengths[dead_rows].sum())
                deleted += int(np.count_nonzero(dead_rows))
        self.n_live = self.n_docs - deleted
        """Passages that score (not tombstoned)."""
        average = total / self.n_live if self.n_live else 1.0
        self.average = average
        """The live passages' average length in tokens (BM25's ``avgdl``)."""
        # The length part of each passage's BM25 denominator, with the current average length.
        self._norms = [K1 * ((1 - B) + B * s.lengths / max(average, 1e-9)) for s in self.segments]
        self._offsets = np.cumsum([0] + [s.size for s in self.segments])
        self.live: np.ndarray | None = None
        """All passages' liveness (None when nothing is tombstoned)."""
        if deleted:
            self.live = ~np.concatenate(
                [
                    d if d is not None else np.zeros(s.size, dtype=bool)
                    for s, d in zip(self.segments, self.dead, strict=True)
                ]
            )

    # -- building --------------------------------------------------------------------------

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        """Index ``texts`` (one per passage, in passage-id order) as one segment."""
        return cls([_segment(texts, {})])

    def new_segment(self, texts: Sequence[str]) -> TermSegment:
        """A segment holding ``texts`` (the next passage ids), its new terms after this vocabulary."""
        return _segment(texts, self._vocab)

    def extend(self, texts: Sequence[str]) -> LexicalIndex:
        """A new index: these segments plus one holding ``texts`` (the next passage ids)."""
        return LexicalIndex([*self.segments, self.new_segment(texts)], [*self.dead, None])

    def select(self, passage_ids: Sequence[int]) -> LexicalIndex:
        """One segment holding the given passages (in that order), with no re-tokenizing."""
        import scipy.sparse as sp

        ids = np.asarray(passage_ids, dtype=np.int64)
        width = len(self.terms)
        whole = TermSegment.concat(self.segments, width)
        tf = sp.csr_matrix(whole.tf)[ids] if len(ids) else sp.csr_matrix((0, width), dtype=np.uint16)
        return LexicalIndex([TermSegment.of(tf, whole.lengths[ids], self.terms)])

    # -- disk ------------------------------------------------------------------------------

    def save_segment(self, number: int, directory: Path) -> None:
        """Write segment ``number`` (by position) into ``directory``."""
        self.segments[number].save(directory)

    @classmethod
    def load(cls, directories: Sequence[Path]) -> LexicalIndex:
        """Read the segments saved in ``directories``, in order."""
        return cls([TermSegment.load(Path(d)) for d in directories])

    # -- scoring ---------------------------------------------------------------------------

    def idf(self, token: str) -> float:
        """Inverse document frequency of a (stemmed) token among live passages; unseen tokens weigh most."""
        index = self._vocab.get(token)
        df = int(self._df[index]) if index is not None else 0
        return math.log(1.0 + (self.n_live - df + 0.5) / (df + 0.5))

    def idfs(self, tokens: Iterable[str]) -> dict[str, float]:
        """``idf`` of each of ``tokens`` (a replica reads them in one query)."""
        return {token: self.idf(token) for token in tokens}

    def ceiling(self, query: str) -> float:
        """The BM25 score a passage approaches by holding every indexed term of ``query`` very often:
        a raw score divided by it is comparable between a corpus of two articles and one of millions."""
        return sum(self.idf(t) for t in tokenize([query])[0] if t in self._vocab)

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every passage for ``query``, 0 for tombstoned ones (None if no query term is indexed)."""
        ids = [self._vocab[t] for t in tokenize([query])[0] if t in self._vocab]
        if not ids or self.n_live == 0:
            return None
        scores = np.zeros(self.n_docs, dtype=np.float32)
        for term in ids:
            df = int(self._df[term])
            weight = math.log(1.0 + (self.n_live - df + 0.5) / (df + 0.5))
            for segment, norms, offset in zip(self.segments, self._norms, self._offsets, strict=False):
                if term >= segment.columns:
                    continue
                start, end = segment.indptr[term], segment.indptr[term + 1]
                if start == end:
                    continue
                rows = segment.indices[start:end]
                tf = segment.data[start:end].astype(np.float32)
                scores[offset + rows] += weight * tf / (tf + norms[rows])
        if self.live is not None:
            scores[~self.live] = 0.0
        return scores

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (passage id, BM25 score) with a positive score, among live passages the mask admits."""
        scores = self.scores(query)
        if scores is None:
            return []
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


def _segment(texts: Sequence[str], vocab: dict[str, int]) -> TermSegment:
    """Tokenize ``texts`` into a segment; terms not in ``vocab`` get the next ids, in first-seen order.
    (The CSC arrays are counted with numpy: adding an article imports no scipy.)"""
    docs = tokenize(texts)
    new: dict[str, int] = {}
    columns: list[int] = []
    for doc in docs:
        for term in doc:
            known = vocab.get(term)
            if known is None:
                known = new.setdefault(term, len(vocab) + len(new))
            columns.append(known)
    rows, width = len(docs), len(vocab) + len(new)
    lengths = np.array([len(doc) for doc in docs], dtype=np.int64)
    keys = np.array(columns, dtype=np.int64) * max(rows, 1) + np.repeat(np.arange(rows, dtype=np.int64), lengths)
    cells, counts = np.unique(keys, return_counts=True)  # sorted by term, then passage: CSC order
    indptr = np.zeros(width + 1, dtype=np.int64)
    np.cumsum(np.bincount(cells // max(rows, 1), minlength=width), out=indptr[1:])
    indices = (cells % max(rows, 1)).astype(np.int32)
    return TermSegment(counts.astype(np.uint16), indices, indptr, rows, lengths.astype(np.float32), tuple(new))
