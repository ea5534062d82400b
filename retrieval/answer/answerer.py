"""Compose a short extractive answer from retrieved passages, every sentence quoted and cited.

No language model: the answer is the handful of passage sentences that best cover the question,
quoted verbatim, each marked with the number of the citation that points at its exact offsets.
When nothing covers the question well enough, the answer abstains and says so.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from retrieval.config import AnswerConfig
from retrieval.lexical import LexicalIndex, tokenize
from retrieval.search import overlap, shingles
from retrieval.sentences import Candidate, SentenceScorer
from retrieval.types import AnswerSentence, Citation, Hit

log = logging.getLogger(__name__)

RANK_DECAY = 0.03
"""Subtracted from a sentence's score per place its passage stands below the first."""
KEEP_RATIO = 0.8
"""A further sentence joins the answer only if it scores at least this share of the best one."""
PASSAGES_READ = 5
DUPLICATE_SENTENCE = 0.6
# Logistic combination of the signals in Answerer.features: the best sentence's cosine to the
# question, the best cosine of the passages read, and the idf (relative to the heaviest question
# term) of the heaviest question term the best sentence lacks. Fitted on the dev benchmark (README).
CONFIDENCE_WEIGHTS = (1.037, 1.694, -1.155)
CONFIDENCE_BIAS = -0.875


@dataclass(frozen=True)
class Composition:
    """The chosen sentences and citations, and whether the answerer abstained."""

    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    abstained: bool
    confidence: float


class Answerer:
    """Scores passage sentences against the question and keeps the best few."""

    def __init__(self, lexical: LexicalIndex, config: AnswerConfig) -> None:
        self.scorer = SentenceScorer(lexical)
        self.config = config

    def candidates(self, question: str, hits: Sequence[Hit]) -> list[Candidate]:
        """Every sentence of the top passages, scored, a little less the lower its passage ranks."""
        scored = self.scorer.score(question, hits[:PASSAGES_READ])
        return [
            replace(candidate, score=candidate.score - RANK_DECAY * position)
            for position, sentences in enumerate(scored)
            for candidate in sentences
        ]

    def features(self, question: str, best: Candidate, hits: Sequence[Hit]) -> list[float]:
        """The signals the confidence combines (see CONFIDENCE_WEIGHTS)."""
        weights = self.scorer.term_weights(question)
        present = set(tokenize([best.text])[0])
        missing = [w for t, w in weights.items() if t not in present]
        return [
            best.similarity,
            max((h.dense_score or 0.0 for h in hits[:PASSAGES_READ]), default=0.0),
            (max(missing) / max(weights.values())) if missing else 0.0,
        ]

    def confidence(self, question: str, best: Candidate, hits: Sequence[Hit]) -> float:
        """Probability-like confidence that the best sentence answers the question."""
        z = CONFIDENCE_BIAS + sum(
            w * f for w, f in zip(CONFIDENCE_WEIGHTS, self.features(question, best, hits), strict=True)
        )
        return 1.0 / (1.0 + math.exp(-z))

    def compose(self, question: str, hits: Sequence[Hit]) -> Composition:
        """Pick up to ``max_sentences`` sentences, cite each, or abstain below the threshold."""
        candidates = sorted(self.candidates(question, hits), key=lambda c: -c.score)
        if not candidates:
            return Composition((), (), True, 0.0)
        best = candidates[0]
        confidence = self.confidence(question, best, hits)
        if confidence < self.config.min_confidence:
            return Composition((), (), True, confidence)
        chosen: list[Candidate] = []
        seen: list[set[tuple[str, ...]]] = []
        for candidate in candidates:
            if len(chosen) >= self.config.max_sentences:
                break
            if chosen and candidate.score < KEEP_RATIO * best.score:
                break
            grams = shingles(candidate.text)
            if any(overlap(grams, other) >= DUPLICATE_SENTENCE for other in seen):
                continue
            seen.append(grams)
            chosen.append(candidate)
        sentences: list[AnswerSentence] = []
        citations: list[Citation] = []
        for number, candidate in enumerate(chosen, start=1):
            article = candidate.hit.article
            citations.append(
                Citation(
                    number=number,
                    article_id=article.id,
                    title=article.title,
                    date=article.date,
                    source=article.source,
                    url=article.url,
                    quote=candidate.text,
                    start=candidate.start,
                    end=candidate.end,
                    passage_id=candidate.hit.passage.id,
                )
            )
            sentences.append(AnswerSentence(candidate.text, number))
        return Composition(tuple(sentences), tuple(citations), False, confidence)
