"""Find the passages that answer a question: dense + BM25, fused by reciprocal rank, de-duplicated."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np

from retrieval.config import SearchConfig
from retrieval.embedding import Embedder
from retrieval.store import IndexData
from retrieval.types import DateRange, Hit, Passage

log = logging.getLogger(__name__)

_WORD = re.compile(r"\w+")
_SHINGLE = 5
MODES = ("hybrid", "dense", "lexical")


@dataclass(frozen=True)
class Query:
    """A question ready to search: its text, its vector (for dense or hybrid) and a date filter."""

    text: str
    vector: np.ndarray | None
    dates: DateRange = DateRange()


def shingles(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    if len(words) < _SHINGLE:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}


def overlap(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    """Share of the smaller passage's word 5-grams found in the other."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


class Retriever:
    """Searches one loaded index with one embedder; cheap to create, safe to share between threads."""

    def __init__(self, index: IndexData, embedder: Embedder, config: SearchConfig) -> None:
        if config.mode not in MODES:
            raise ValueError(f"unknown search mode '{config.mode}' (use {', '.join(MODES)})")
        self.index = index
        self.embedder = embedder
        self.config = config

    def query(self, question: str, dates: DateRange = DateRange()) -> Query:
        """Embed the question once (unless the mode is purely lexical)."""
        vector = None
        if self.config.mode != "lexical":
            vector = self.embedder.encode([question])[0]
        return Query(question, vector, dates)

    def _mask(self, dates: DateRange) -> np.ndarray | None:
        if not dates.active:
            return None
        days = self.index.passage_days
        mask = days > 0
        if dates.since is not None:
            mask &= days >= dates.since.toordinal()
        if dates.until is not None:
            mask &= days <= dates.until.toordinal()
        return mask

    def search(self, query: Query, k: int | None = None) -> list[Hit]:
        """The top ``k`` passages for ``query``, best first, no two near-duplicates."""
        k = k or self.config.k
        config = self.config
        mask = self._mask(query.dates)
        allowed = None if mask is None else np.flatnonzero(mask)
        depth = max(config.candidates, k * 4)

        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        if config.mode != "lexical" and query.vector is not None:
            dense = self.index.vectors.search(query.vector, depth, allowed)
        if config.mode != "dense":
            lexical = self.index.lexical.search(query.text, depth, mask)

        fused: dict[int, float] = {}
        for weight, ranking in ((config.dense_weight, dense), (config.lexical_weight, lexical)):
            for rank, (pid, _score) in enumerate(ranking):
                fused[pid] = fused.get(pid, 0.0) + weight / (config.rrf_k + rank + 1)
        dense_scores = dict(dense)
        lexical_scores = dict(lexical)
        order = sorted(fused, key=lambda pid: -fused[pid])

        hits: list[Hit] = []
        kept: list[set[tuple[str, ...]]] = []
        for pid in order:
            passage: Passage = self.index.passages[pid]
            grams = shingles(passage.text)
            if any(overlap(grams, other) >= config.duplicate_overlap for other in kept):
                continue
            kept.append(grams)
            cosine = dense_scores.get(pid)
            if cosine is None and query.vector is not None:
                cosine = float(self.index.vectors.vectors(np.array([pid]))[0] @ query.vector)
            hits.append(
                Hit(
                    passage=passage,
                    article=self.index.articles[passage.article_id],
                    score=fused[pid],
                    dense_score=cosine,
                    lexical_score=lexical_scores.get(pid),
                    rank=len(hits) + 1,
                )
            )
            if len(hits) >= k:
                break
        return hits
