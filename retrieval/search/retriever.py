"""Find the passages that answer a question: sentence-level dense + BM25, fused, de-duplicated, and
re-ranked by each passage's best sentence as an answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from retrieval.answer.sentences import SentenceScorer
from retrieval.config import SearchConfig
from retrieval.embedding.base import Embedder
from retrieval.index.store import IndexData
from retrieval.search.fusion import fuse
from retrieval.text import overlap, shingles
from retrieval.types import DateRange, Hit, Passage

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "lexical")
UNITS_PER_PASSAGE = 4
"""How many sentence vectors to fetch per wanted passage (several sentences share a passage)."""


@dataclass(frozen=True)
class Query:
    """A question ready to search: its text, its vector (for dense or hybrid) and a date filter."""

    text: str
    vector: np.ndarray | None
    dates: DateRange = DateRange()


class Retriever:
    """Searches one loaded index with one embedder; cheap to create, safe to share between threads."""

    def __init__(self, index: IndexData, embedder: Embedder, config: SearchConfig) -> None:
        if config.mode not in MODES:
            raise ValueError(f"unknown search mode '{config.mode}' (use {', '.join(MODES)})")
        self.index = index
        self.embedder = embedder
        self.config = config
        self.scorer = SentenceScorer(index.lexical)

    def query(self, question: str, dates: DateRange = DateRange()) -> Query:
        """Embed the question once (unless the mode is purely lexical)."""
        vector = None
        if self.config.mode != "lexical":
            vector = self.embedder.encode([question])[0]
        return Query(question, vector, dates)

    def _dense(self, query: Query, depth: int, dates: DateRange) -> dict[int, float]:
        """Passage -> best cosine of any of its sentences, for passages with a top sentence."""
        index = self.index
        window = None
        if dates.active:
            since, until = dates.since, dates.until
            window = (since.toordinal() if since else None, until.toordinal() if until else None)
        best: dict[int, float] = {}
        assert query.vector is not None
        for unit, score in index.vectors.search(query.vector, depth * UNITS_PER_PASSAGE, days=window):
            for pid in index.unit_passages[unit]:
                if score > best.get(pid, -1.0):
                    best[pid] = score
        return best

    def sentence_scores(self, query: Query, passages: list[Passage]) -> list[np.ndarray]:
        """Cosine of the question to every sentence of each passage."""
        units = [u for p in passages for u in p.units]
        if query.vector is None or not units:
            return [np.zeros(len(p.units), dtype=np.float32) for p in passages]
        scores = self.index.vectors.vectors(np.array(units, dtype=np.int64)) @ query.vector
        out, at = [], 0
        for passage in passages:
            out.append(scores[at : at + len(passage.units)])
            at += len(passage.units)
        return out

    def search(self, query: Query, k: int | None = None) -> list[Hit]:
        """The top ``k`` passages for ``query``, best first, no two near-duplicates."""
        k = k or self.config.k
        config = self.config
        depth = max(config.candidates, k * 4, config.rerank_depth)
        dense: dict[int, float] = {}
        lexical: dict[int, float] = {}
        if config.mode != "lexical" and query.vector is not None:
            dense = self._dense(query, depth, query.dates)
        if config.mode != "dense":
            mask = _in_range(self.index.passage_days, query.dates) if query.dates.active else None
            lexical = dict(self.index.lexical.search(query.text, depth, mask))
        if config.mode == "hybrid":
            # Passages found by BM25 alone get their dense score too, so fusion compares like with like.
            missing = [pid for pid in lexical if pid not in dense]
            passages = [self.index.passages[pid] for pid in missing]
            for pid, scores in zip(missing, self.sentence_scores(query, passages), strict=True):
                dense[pid] = float(scores.max()) if len(scores) else 0.0
        fused = fuse(dense, lexical, config)
        order = sorted(fused, key=lambda pid: -fused[pid])

        # Re-rank the first candidates, then drop near-duplicates (keeping the better-ranked copy);
        # only if too few are left, go further down the fused order.
        pool = order[: max(k, config.rerank_depth)]
        hits = self.rerank(query.text, self._hits(query, pool, fused, lexical))
        distinct = _Distinct(self.index.passages, config.duplicate_overlap)
        chosen: list[Hit] = []
        for hit in hits:
            if len(chosen) >= k:
                break
            if distinct.admit(hit.passage.id):
                chosen.append(hit)
        if len(chosen) < k:
            more: list[int] = []
            for pid in order[len(pool) :]:
                if distinct.admit(pid):
                    more.append(pid)
                    if len(chosen) + len(more) >= k:
                        break
            chosen += self.rerank(query.text, self._hits(query, more, fused, lexical))
            chosen.sort(key=lambda hit: -hit.score)
        return [replace(hit, rank=rank) for rank, hit in enumerate(chosen, start=1)]

    def _hits(self, query: Query, pids: list[int], fused: dict[int, float], lexical: dict[int, float]) -> list[Hit]:
        """Hits for passages ``pids``, scored by the fusion, with each sentence's cosine to the question."""
        passages = [self.index.passages[pid] for pid in pids]
        dense = query.vector is not None
        return [
            Hit(
                passage=passage,
                article=self.index.articles[passage.article_id],
                score=fused[passage.id],
                dense_score=float(scores.max()) if len(scores) and dense else None,
                lexical_score=lexical.get(passage.id),
                fused_score=fused[passage.id],
                sentence_scores=tuple(float(x) for x in scores) if dense else (),
            )
            for passage, scores in zip(passages, self.sentence_scores(query, passages), strict=True)
        ]

    def rerank(self, question: str, hits: list[Hit]) -> list[Hit]:
        """The hits ordered by their best sentence's score as an answer, which becomes their score.

        The fused score ranks whole passages; a passage whose single sentence holds the question's
        terms and meaning together is the likelier source of the answer (ties keep the fused order).
        With ``rerank_depth`` 0 the hits stay as they are.
        """
        if self.config.rerank_depth <= 0 or not hits:
            return hits
        best = [max((c.score for c in sentences), default=0.0) for sentences in self.scorer.score(question, hits)]
        order = sorted(range(len(hits)), key=lambda i: -best[i])
        return [replace(hits[i], score=best[i]) for i in order]


class _Distinct:
    """Admits passages that are not near-duplicates of one admitted before."""

    def __init__(self, passages: list[Passage], threshold: float) -> None:
        self.passages = passages
        self.threshold = threshold
        self.kept: list[set[tuple[str, ...]]] = []

    def admit(self, pid: int) -> bool:
        grams = shingles(self.passages[pid].text)
        if any(overlap(grams, other) >= self.threshold for other in self.kept):
            return False
        self.kept.append(grams)
        return True


def _in_range(days: np.ndarray, dates: DateRange) -> np.ndarray:
    mask = days > 0
    if dates.since is not None:
        mask &= days >= dates.since.toordinal()
    if dates.until is not None:
        mask &= days <= dates.until.toordinal()
    return mask
