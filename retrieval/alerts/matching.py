"""Does a new article belong to a followed topic? The engine's own signals, scored per article.

An article's score for a topic mixes the best cosine of the topic to any of its sentences (the index's
own sentence vectors, the engine's embedder for the topic) with the idf-weighted share of the topic's
terms the article holds (the index's BM25 vocabulary). The sentence shown on an alert card is the one
that scores best on the same mix. The weight and the threshold were fitted for precision on
news_train_2024 (``benchmarks/bench_alerts.py fit``); see benchmarks/README.md.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.embedding.base import Embedder
from retrieval.index.data import IndexData
from retrieval.text import tokenize
from retrieval.types import Article, Passage, Quote

FITTED_DENSE_WEIGHT = 0.7
"""How much the best sentence's cosine counts against the topic terms' coverage (fitted on news_train_2024)."""
FITTED_THRESHOLD = 0.73
"""The score from which an article matches a topic (fitted for precision on news_train_2024)."""
MIN_QUOTE_WORDS = 8
"""A shorter sentence (a dateline, a caption, a stray quote mark) is quoted only if the article has no other."""
FEATURE_CACHE = 2048
"""Articles whose sentences a matcher keeps between topics."""


@dataclass(frozen=True)
class MatchConfig:
    """How articles are matched to topics."""

    threshold: float = FITTED_THRESHOLD
    dense_weight: float = FITTED_DENSE_WEIGHT


@dataclass(frozen=True)
class TopicMatch:
    """An article scored against a topic, with the sentence that matched best."""

    topic: str
    article: Article
    score: float
    quote: Quote
    dense: float = 0.0
    """The best cosine of the topic to one of the article's sentences."""
    coverage: float = 0.0
    """The idf-weighted share of the topic's terms the article holds (title and text)."""


@dataclass(frozen=True)
class _Features:
    """What scoring needs of one article, read once: its sentences, their vectors and their terms."""

    article: Article
    spans: tuple[tuple[int, int], ...]
    """Each sentence once (overlapping passages share sentences), as article offsets, in text order."""
    passages: tuple[int, ...]
    vectors: np.ndarray
    terms: tuple[frozenset[str], ...]
    """Each sentence's terms (BM25's tokens)."""
    all_terms: frozenset[str]
    """The terms of the title and the whole text."""
    whole: np.ndarray
    """Which sentences are long enough to quote (MIN_QUOTE_WORDS)."""


def _features(index: IndexData, article_id: str, passages: Sequence[Passage]) -> _Features:
    article = index.articles[article_id]
    seen: dict[int, tuple[tuple[int, int], int]] = {}
    for passage in passages:
        for span, unit in zip(passage.sentences, passage.units, strict=True):
            seen.setdefault(unit, (span, passage.id))
    units = sorted(seen, key=lambda unit: seen[unit][0])
    spans = tuple(seen[u][0] for u in units)
    vectors = index.vectors.vectors(np.asarray(units, dtype=np.int64)) if units else np.zeros((0, 0), np.float32)
    terms = tuple(frozenset(t) for t in tokenize([article.text[a:b] for a, b in spans])) if spans else ()
    held = frozenset(tokenize([f"{article.title}\n{article.text}"])[0])
    whole = np.array([len(article.text[a:b].split()) >= MIN_QUOTE_WORDS for a, b in spans], dtype=bool)
    return _Features(article, spans, tuple(seen[u][1] for u in units), vectors, terms, held, whole)


class TopicMatcher:
    """Scores articles of one loaded index against topics; cheap to create, safe to share between threads."""

    def __init__(self, index: IndexData, embedder: Embedder, config: MatchConfig | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.config = config or MatchConfig()
        self._cache: dict[str, _Features] = {}
        self._lock = threading.Lock()

    def _weights(self, text: str) -> dict[str, float]:
        """Each distinct term of ``text`` the index knows, weighted by its idf."""
        return {t: self.index.lexical.idf(t) for t in dict.fromkeys(tokenize([text])[0])}

    def _features(self, article_ids: Sequence[str]) -> list[_Features]:
        """The features of each of ``article_ids`` in the index (kept for the next topic)."""
        wanted = list(dict.fromkeys(article_ids))
        with self._lock:
            cache = dict(self._cache)
        missing = [a for a in wanted if a not in cache]
        for article_id, passages in self.index.article_passages(missing).items():
            cache[article_id] = _features(self.index, article_id, passages)
        with self._lock:
            self._cache.update({a: cache[a] for a in missing if a in cache})
            while len(self._cache) > FEATURE_CACHE:
                self._cache.pop(next(iter(self._cache)))
        return [cache[a] for a in wanted if a in cache]

    def score(self, topic: str, article_ids: Sequence[str]) -> list[TopicMatch]:
        """Every one of ``article_ids`` in the index scored against ``topic`` (best first)."""
        vector = self.embedder.encode([topic])[0]
        terms = {t: w for t, w in self._weights(topic).items() if w > 0}
        total = sum(terms.values()) or 1.0
        alpha = self.config.dense_weight
        out = []
        for f in self._features(article_ids):
            if not f.spans:
                continue
            cosines = f.vectors @ vector
            coverage = sum(w for t, w in terms.items() if t in f.all_terms) / total
            held = [sum(w for t, w in terms.items() if t in words) / total for words in f.terms]
            mixed = alpha * cosines + (1 - alpha) * np.asarray(held)
            best = int(np.argmax(np.where(f.whole, mixed, -np.inf) if f.whole.any() else mixed))
            start, end = f.spans[best]
            quote = Quote(f.article.text[start:end], start, end, f.passages[best])
            dense = float(np.max(cosines))
            out.append(TopicMatch(topic, f.article, alpha * dense + (1 - alpha) * coverage, quote, dense, coverage))
        out.sort(key=lambda m: -m.score)
        return out

    def match(self, topic: str, article_ids: Sequence[str]) -> list[TopicMatch]:
        """The articles among ``article_ids`` that match ``topic`` (score at or above the threshold), best first."""
        return [m for m in self.score(topic, article_ids) if m.score >= self.config.threshold]
