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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from retrieval.index.arrays import open_npz

log = logging.getLogger(__name__)

TOKENIZER = "bm25s/en_plus/snowball-english"
"""Recorded in the manifest: an index tokenized otherwise must be rebuilt."""
K1 = 1.5
B = 0.75
POSTINGS = "terms.npz"


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def _bm25s_tokenize(texts: Sequence[str], *, ids: bool):  # type: ignore[no-untyped-def]
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en_plus", stemmer=_stemmer(), return_ids=ids, show_progress=False)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed word tokens, as BM25 and the answerer see them."""
    return [list(tokens) for tokens in _bm25s_tokenize(texts, ids=False)]


@dataclass(frozen=True)
class TermSegment:
    """The postings of one index segment: term frequencies of its passages, by term id.

    ``tf`` is passages × terms (CSC: a term's postings are one column; counts as uint16); it knows the
    terms that existed when the segment was written, and ``new_terms`` are the ones this segment
    introduced (the vocabulary is every segment's ``new_terms`` in order, so old term ids never change).
    """

    tf: sp.csc_matrix
    lengths: np.ndarray
    new_terms: tuple[str, ...]

    @property
    def size(self) -> int:
        """Passages in the segment."""
        return int(self.tf.shape[0])

    def save(self, directory: Path) -> None:
        """Write ``terms.npz`` into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        tf = self.tf
        joined = "\n".join(self.new_terms)
        if joined.count("\n") != max(0, len(self.new_terms) - 1):
            raise ValueError("a BM25 term holds a line break")
        np.savez(
            directory / POSTINGS,
            data=tf.data.astype(np.uint16),
            indices=tf.indices.astype(np.int32),
            indptr=tf.indptr.astype(np.int64),
            shape=np.array(tf.shape, dtype=np.int64),
            lengths=self.lengths.astype(np.int32),
            terms=np.frombuffer(joined.encode("utf-8"), dtype=np.uint8),
            n_terms=np.array([len(self.new_terms)], dtype=np.int64),
        )

    @classmethod
    def load(cls, directory: Path) -> TermSegment:
        """Read a segment written by :meth:`save`; ValueError if it does not hold together."""
        with open_npz(directory / POSTINGS) as data:
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
        tf = sp.csc_matrix((counts, indices, indptr), shape=shape)
        return cls(tf, lengths, terms)

    def deleted_df(self, dead: np.ndarray) -> np.ndarray:
        """For each term this segment knows, in how many of the ``dead`` passages (a row mask) it occurs."""
        hits = np.flatnonzero(dead[self.tf.indices])
        columns = np.searchsorted(self.tf.indptr, hits, side="right") - 1
        return np.bincount(columns, minlength=self.tf.shape[1])

    @classmethod
    def concat(cls, segments: Sequence[TermSegment], width: int) -> TermSegment:
        """One segment holding ``segments``' passages in order (their terms must be consecutive in the
        vocabulary, as those of consecutive segments are); no re-tokenizing."""
        parts = [sp.csr_matrix(_widen(s.tf, width)) for s in segments]
        tf = sp.csc_matrix(sp.vstack(parts, format="csr")) if parts else sp.csc_matrix((0, width), dtype=np.uint16)
        lengths = np.concatenate([s.lengths for s in segments]) if segments else np.zeros(0, np.float32)
        return cls(tf, lengths.astype(np.float32), tuple(t for s in segments for t in s.new_terms))


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
            columns = segment.tf.shape[1]
            if columns > len(self.terms):
                raise ValueError("a BM25 segment knows more terms than the vocabulary")
            self._df[:columns] += np.diff(segment.tf.indptr)
            total += float(segment.lengths.sum())
            if dead_rows is not None and dead_rows.any():
                self._df[:columns] -= segment.deleted_df(dead_rows)
                total -= float(segment.lengths[dead_rows].sum())
                deleted += int(np.count_nonzero(dead_rows))
        self.n_live = self.n_docs - deleted
        """Passages that score (not tombstoned)."""
        average = total / self.n_live if self.n_live else 1.0
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
        ids = np.asarray(passage_ids, dtype=np.int64)
        width = len(self.terms)
        whole = TermSegment.concat(self.segments, width)
        tf = sp.csc_matrix(sp.csr_matrix(whole.tf)[ids]) if len(ids) else sp.csc_matrix((0, width), dtype=np.uint16)
        return LexicalIndex([TermSegment(tf, whole.lengths[ids].astype(np.float32), tuple(self.terms))])

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
                if term >= segment.tf.shape[1]:
                    continue
                start, end = segment.tf.indptr[term], segment.tf.indptr[term + 1]
                if start == end:
                    continue
                rows = segment.tf.indices[start:end]
                tf = segment.tf.data[start:end].astype(np.float32)
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


def _widen(tf: sp.csc_matrix, width: int) -> sp.csc_matrix:
    """``tf`` with columns up to ``width`` (terms added by later segments have no postings here)."""
    if tf.shape[1] == width:
        return tf
    indptr = np.concatenate([tf.indptr, np.full(width - tf.shape[1], tf.indptr[-1], dtype=tf.indptr.dtype)])
    return sp.csc_matrix((tf.data, tf.indices, indptr), shape=(tf.shape[0], width))


def _segment(texts: Sequence[str], vocab: dict[str, int]) -> TermSegment:
    """Tokenize ``texts`` into a segment; terms not in ``vocab`` get the next ids, in first-seen order."""
    tokenized = _bm25s_tokenize(texts, ids=True)
    local_terms = sorted(tokenized.vocab, key=tokenized.vocab.__getitem__)
    new_terms: list[str] = []
    mapping = np.empty(len(local_terms), dtype=np.int64)
    for local, term in enumerate(local_terms):
        known = vocab.get(term)
        if known is None:
            known = len(vocab) + len(new_terms)
            new_terms.append(term)
        mapping[local] = known
    width = len(vocab) + len(new_terms)
    lengths = np.array([len(doc) for doc in tokenized.ids], dtype=np.int64)
    flat = np.fromiter((t for doc in tokenized.ids for t in doc), dtype=np.int64, count=int(lengths.sum()))
    rows = np.repeat(np.arange(len(lengths)), lengths)
    tf = sp.csc_matrix(
        (np.ones(len(flat), dtype=np.float32), (rows, mapping[flat] if len(flat) else flat)),
        shape=(len(lengths), width),
    )
    tf.sum_duplicates()
    tf = sp.csc_matrix((tf.data.astype(np.uint16), tf.indices, tf.indptr), shape=tf.shape)
    return TermSegment(tf, lengths.astype(np.float32), tuple(new_terms))
