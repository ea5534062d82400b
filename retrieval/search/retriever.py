"""Find the passages that answer a question: sentence-level dense + BM25, fused, de-duplicated, and
re-ranked by each passage's best sentence as an answer."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace

import numpy as np

from retrieval.answer.features import QuestionContext, passage_features
from retrieval.answer.ranker import Ranker
from retrieval.answer.sentences import SentenceScorer
from retrieval.config import SearchConfig
from retrieval.embedding.base import Embedder
from retrieval.index.remote import Where
from retrieval.index.store import IndexData
from retrieval.search.fusion import fuse
from retrieval.search.timewords import TimeWindow, time_window
from retrieval.text import overlap, shingles
from retrieval.types import Article, DateRange, Hit, Passage, publication_day

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "lexical")
TIME_WORDS = ("prior", "strict", "off")
UNITS_PER_PASSAGE = 4
"""How many sentence vectors to fetch per wanted passage (several sentences share a passage)."""


@dataclass(frozen=True)
class Query:
    """A question ready to search: its text, its vector (dense or hybrid), and the dates it may see.

    ``dates`` is the user's filter (undated articles never pass it); ``as_of`` the day the question
    is asked (articles dated after it do not exist for it; undated ones do); ``window`` the dates its
    own time words point at ("this week"), a filter or a prior as ``SearchConfig.time_words`` says.
    """

    text: str
    vector: np.ndarray | None
    dates: DateRange = DateRange()
    as_of: dt.date | None = None
    window: TimeWindow | None = None

    def context(self) -> QuestionContext:
        """What the answer's features need of this question: its text, the day asked, its window's dates."""
        window = self.window.dates if self.window is not None else None
        return QuestionContext(self.text, self.as_of.toordinal() if self.as_of else None, window)


@dataclass(frozen=True)
class _Scope:
    """Which units and passages a search may return: everything (None) or the ones a mask admits."""

    units: np.ndarray | None
    passages: np.ndarray | None
    where: Where | None = None
    """The same as a date filter Milvus evaluates (for an index published to Milvus)."""

    @property
    def empty(self) -> bool:
        if self.where is not None:
            return self.where.empty
        return self.passages is not None and not self.passages.any()


class Retriever:
    """Searches one loaded index with one embedder; cheap to create, safe to share between threads."""

    def __init__(
        self,
        index: IndexData,
        embedder: Embedder,
        config: SearchConfig,
        *,
        ranker: Ranker | None = None,
    ) -> None:
        if config.mode not in MODES:
            raise ValueError(f"unknown search mode '{config.mode}' (use {', '.join(MODES)})")
        if config.time_words not in TIME_WORDS:
            raise ValueError(f"unknown time-words mode '{config.time_words}' (use {', '.join(TIME_WORDS)})")
        self.index = index
        self.embedder = embedder
        self.config = config
        self.scorer = SentenceScorer(index.lexical)
        self.ranker = ranker

    def query(self, question: str, dates: DateRange = DateRange(), as_of: dt.date | None = None) -> Query:
        """Embed the question once (unless the mode is purely lexical) and read its time words."""
        vector = None
        if self.config.mode != "lexical":
            vector = self.embedder.encode([question])[0]
        window = None
        if as_of is not None and self.config.time_words != "off":
            window = time_window(question, as_of)
        return Query(question, vector, dates, as_of, window)

    def _scope(self, query: Query, *, window: bool) -> _Scope:
        """The units and passages ``query`` may see (its filter, its as-of date, and its window if asked)."""
        index = self.index
        ranges: list[tuple[DateRange, bool]] = []  # (range, undated articles admitted)
        if query.dates.active:
            ranges.append((query.dates, False))
        if query.as_of is not None:
            ranges.append((DateRange(until=query.as_of), True))
        if window and query.window is not None:
            ranges.append((query.window.dates, False))
        if not ranges:
            return _Scope(None, None)
        if index.remote:
            return _Scope(None, None, _where(ranges))
        units = np.ones(len(index.unit_days), dtype=bool)
        passages = np.ones(len(index.passage_days), dtype=bool)
        for dates, undated in ranges:
            units &= _in_range(index.unit_days, dates, undated)
            passages &= _in_range(index.passage_days, dates, undated)
        return _Scope(None if units.all() else units, None if passages.all() else passages)

    def _dense(self, query: Query, depth: int, scope: _Scope) -> dict[int, float]:
        """Passage -> best cosine of any of its sentences, for passages with a top sentence."""
        index = self.index
        allowed = None if scope.units is None else np.flatnonzero(scope.units)
        best: dict[int, float] = {}
        assert query.vector is not None
        if scope.where is not None:
            found = index.vectors.search_where(query.vector, depth * UNITS_PER_PASSAGE, scope.where.expression())  # type: ignore[attr-defined]
        else:
            found = index.vectors.search(query.vector, depth * UNITS_PER_PASSAGE, allowed)
        owners = index.unit_passages.many([u for u, _ in found]) if index.remote else None  # type: ignore[attr-defined]
        for unit, score in found:
            for pid in owners[unit] if owners is not None else index.unit_passages[unit]:
                if score > best.get(pid, -1.0):
                    best[pid] = score
        return best

    def _candidates(self, query: Query, depth: int, scope: _Scope) -> tuple[dict[int, float], dict[int, float]]:
        """Dense and BM25 candidates inside ``scope``: passage -> cosine, passage -> BM25 score."""
        config = self.config
        dense: dict[int, float] = {}
        lexical: dict[int, float] = {}
        if scope.empty:
            return dense, lexical
        if config.mode != "lexical" and query.vector is not None:
            dense = self._dense(query, depth, scope)
        if config.mode != "dense":
            if scope.where is not None:
                lexical = dict(self.index.lexical.search(query.text, depth, where=scope.where))  # type: ignore[call-arg]
            else:
                lexical = dict(self.index.lexical.search(query.text, depth, scope.passages))
        return dense, lexical

    def prior(self, query: Query, pids: list[int]) -> dict[int, float]:
        """What the question's date adds to each passage's score: its time words' window, else recency."""
        config = self.config
        if query.as_of is None or not pids:
            return {}
        days = self.index.passage_days[np.asarray(pids, dtype=np.int64)]
        if query.window is not None:
            if config.time_words != "prior":
                return {}
            since, until = query.window.dates.days()
            inside = (days > 0) & (days >= (since or 0)) & (days <= (until or days.max()))
            return {pid: config.window_weight * float(i) for pid, i in zip(pids, inside, strict=True)}
        if config.recency_weight <= 0:
            return {}
        age = np.clip(query.as_of.toordinal() - days, 0, None).astype(np.float64)
        boost = np.where(days > 0, np.exp(-age / config.recency_days), 0.0)
        return {pid: config.recency_weight * float(b) for pid, b in zip(pids, boost, strict=True)}

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

    def fused(self, query: Query, depth: int) -> tuple[dict[int, float], dict[int, float]]:
        """Dense and BM25 candidates fused: passage -> fused score, and passage -> BM25 score."""
        config = self.config
        strict = config.time_words == "strict"
        dense, lexical = self._candidates(query, depth, self._scope(query, window=strict))
        if query.window is not None and config.time_words == "prior":
            # The window's own best passages join the candidates, however they rank overall.
            inside_dense, inside_lexical = self._candidates(query, depth // 2, self._scope(query, window=True))
            dense = {**inside_dense, **dense}
            lexical = {**inside_lexical, **lexical}
        if config.mode == "hybrid":
            # Passages found by BM25 alone get their dense score too, so fusion compares like with like.
            missing = [pid for pid in lexical if pid not in dense]
            passages = self.index.passages_of(missing)
            for pid, scores in zip(missing, self.sentence_scores(query, passages), strict=True):
                dense[pid] = float(scores.max()) if len(scores) else 0.0
        return fuse(dense, lexical, config), lexical

    def search(self, query: Query, k: int | None = None) -> list[Hit]:
        """The top ``k`` passages for ``query``, best first, no two near-duplicates."""
        k = k or self.config.k
        config = self.config
        fused, lexical, prior, order = self._order(query, max(config.candidates, k * 4, config.rerank_depth))

        # Re-rank the first candidates, then drop near-duplicates (keeping the better-ranked copy);
        # only if too few are left, go further down the fused order.
        pool = order[: max(k, config.rerank_depth)]
        hits = self.rerank(query, self._hits(query, pool, fused, lexical), prior)
        distinct = _Distinct(self.index, config.duplicate_overlap)
        chosen: list[Hit] = []
        for hit in hits:
            if distinct.admit(hit.passage) and len(chosen) < k:
                chosen.append(hit)
        if len(chosen) < k:
            more = self._more(order[len(pool) :], distinct, k - len(chosen))
            chosen += self.rerank(query, self._hits(query, more, fused, lexical), prior)
            chosen.sort(key=lambda hit: -hit.score)
        chosen = distinct.with_copies(chosen)
        return [replace(hit, rank=rank) for rank, hit in enumerate(chosen, start=1)]

    def _more(self, order: list[int], distinct: _Distinct, wanted: int) -> list[int]:
        """The first ``wanted`` of ``order`` that ``distinct`` admits, their passages read ``wanted`` at a time."""
        more: list[int] = []
        for at in range(0, len(order), wanted):
            for passage in self.index.passages_of(order[at : at + wanted]):
                if distinct.admit(passage):
                    more.append(passage.id)
                    if len(more) >= wanted:
                        return more
        return more

    def _order(
        self, query: Query, depth: int
    ) -> tuple[dict[int, float], dict[int, float], dict[int, float], list[int]]:
        """Fused scores, BM25 scores, date priors, and the candidates in fused order (prior included)."""
        fused, lexical = self.fused(query, depth)
        prior = self.prior(query, list(fused))
        return fused, lexical, prior, sorted(fused, key=lambda pid: -(fused[pid] + prior.get(pid, 0.0)))

    def pool(self, query: Query, size: int) -> list[Hit]:
        """The first ``size`` fused candidates as hits, in fused order (what ``rerank`` re-orders)."""
        fused, lexical, _, order = self._order(query, max(self.config.candidates, size))
        return self._hits(query, order[:size], fused, lexical)

    def _hits(self, query: Query, pids: list[int], fused: dict[int, float], lexical: dict[int, float]) -> list[Hit]:
        """Hits for passages ``pids``, scored by the fusion, with each sentence's cosine to the question."""
        passages = self.index.passages_of(pids)
        articles = self.index.articles_of([passage.article_id for passage in passages])
        dense = query.vector is not None
        return [
            Hit(
                passage=passage,
                article=article,
                score=fused[passage.id],
                dense_score=float(scores.max()) if len(scores) and dense else None,
                lexical_score=lexical.get(passage.id),
                fused_score=fused[passage.id],
                sentence_scores=tuple(float(x) for x in scores) if dense else (),
            )
            for passage, article, scores in zip(passages, articles, self.sentence_scores(query, passages), strict=True)
        ]

    def features(self, query: Query, hits: list[Hit]) -> np.ndarray:
        """The learned ranker's features of each hit (``retrieval.answer.features.PASSAGE_FEATURES``)."""
        return passage_features(query.context(), hits, self.scorer.score(query.text, hits))

    def rerank(self, query: Query, hits: list[Hit], prior: dict[int, float] | None = None) -> list[Hit]:
        """The hits ordered by how likely they hold the answer, which becomes their score.

        With the learned ranker: its passage probability (the date signals are among its features), in
        the order ``Ranker.order`` gives (the probability, and a little of the fused order).
        Without: the best sentence's score as an answer (a passage whose single sentence holds the
        question's terms and meaning together beats one that spreads them thinly) plus the date
        prior. With ``rerank_depth`` 0 the hits stay as they are.
        """
        if self.config.rerank_depth <= 0 or not hits:
            return hits
        if self.ranker is not None:
            probabilities, order = self.ranker.order(self.features(query, hits))
            return [replace(hits[i], score=float(probabilities[i])) for i in order]
        prior = prior or {}
        best = [
            max((c.score for c in sentences), default=0.0) + prior.get(hit.passage.id, 0.0)
            for hit, sentences in zip(hits, self.scorer.score(query.text, hits), strict=True)
        ]
        ranked = sorted(range(len(hits)), key=lambda i: -best[i])
        return [replace(hits[i], score=float(best[i])) for i in ranked]


class _Distinct:
    """Admits passages that are not near-duplicates of one admitted before, and notes the outlets of the
    copies it turns away (the same wire story carried by several papers) against the one it kept. A
    copy published earlier, word for word, takes the kept one's place: the first to publish keeps the
    story, and the later outlets are "also reported by"."""

    def __init__(self, index: IndexData, threshold: float) -> None:
        self.index = index
        self.threshold = threshold
        self.kept: list[tuple[int, set[tuple[str, ...]]]] = []
        self.copies: dict[int, list[Passage]] = {}
        """Kept passage -> the copies turned away, in the order met."""

    def admit(self, passage: Passage) -> bool:
        grams = shingles(passage.text)
        for kept, other in self.kept:
            if overlap(grams, other) >= self.threshold:
                self.copies.setdefault(kept, []).append(passage)
                return False
        self.kept.append((passage.id, grams))
        return True

    def with_copies(self, hits: list[Hit]) -> list[Hit]:
        """The hits, each in its earliest word-for-word copy, with the other outlets in ``also``."""
        copied = [h.passage for h in hits if h.passage.id in self.copies]
        ids = list(dict.fromkeys(p.article_id for kept in copied for p in (kept, *self.copies[kept.id])))
        articles = dict(zip(ids, self.index.articles_of(ids), strict=True))
        return [self._credited(h, articles) if h.passage.id in self.copies else h for h in hits]

    def _credited(self, hit: Hit, articles: dict[str, Article]) -> Hit:
        kept, copies = hit.passage, self.copies[hit.passage.id]
        first = min(
            (kept, *(c for c in copies if _same_text(c, kept))),
            key=lambda passage: publication_day(articles[passage.article_id]),
        )
        if first.id != kept.id:
            hit = replace(hit, passage=first, article=articles[first.article_id])
        outlets: list[str] = []
        for passage in (kept, *copies):
            outlet = articles[passage.article_id].source
            if outlet and outlet != hit.article.source and outlet not in outlets:
                outlets.append(outlet)
        return replace(hit, also=tuple(outlets)) if outlets else hit


def _same_text(a: Passage, b: Passage) -> bool:
    """Two passages word for word (a swap keeps the hit's sentence scores aligned)."""
    return a.text == b.text and len(a.sentences) == len(b.sentences)


def _where(ranges: list[tuple[DateRange, bool]]) -> Where:
    """Date ranges (each with whether undated articles pass it) as one filter: their intersection."""
    since: int | None = None
    until: int | None = None
    for dates, _ in ranges:
        low, high = dates.days()
        if low is not None:
            since = low if since is None else max(since, low)
        if high is not None:
            until = high if until is None else min(until, high)
    return Where(since, until, all(undated for _, undated in ranges))


def _in_range(days: np.ndarray, dates: DateRange, undated: bool = False) -> np.ndarray:
    """Which of ``days`` (proleptic ordinals, 0 for undated) fall inside ``dates``."""
    since, until = dates.days()
    mask = days > 0
    if since is not None:
        mask &= days >= since
    if until is not None:
        mask &= days <= until
    return mask | (days == 0) if undated else mask
