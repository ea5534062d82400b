"""Compose a short extractive answer from retrieved passages, every sentence quoted and cited.

No language model: the answer is the handful of passage sentences that best cover the question,
quoted verbatim, each marked with the number of the citation that points at its exact offsets.
When nothing covers the question well enough, the answer abstains and says so.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from retrieval.answer.abstention import Abstention
from retrieval.answer.definition import as_choice, introduce
from retrieval.answer.features import QuestionContext, question_features, sentence_features
from retrieval.answer.ranker import CONFIDENCE_Z_LIMIT, Ranker
from retrieval.answer.reader import Choice, Reader, Reading, by_support
from retrieval.answer.sentences import Candidate, SentenceScorer, answer_type, type_match
from retrieval.config import AnswerConfig
from retrieval.index.lexical import LexicalIndex
from retrieval.text import overlap, shingles, tokenize
from retrieval.types import AnswerSentence, Article, Citation, Hit, Quote, ShortAnswer

log = logging.getLogger(__name__)

RANK_DECAY = 0.03
"""Subtracted from a sentence's score per place its passage stands below the first."""
KEEP_RATIO = 0.8
LEAD_KINDS = ("why", "say")
"""Question kinds the ranker's training questions hold almost none of (5 why, of 545): their answers
lead with a sentence of the kind asked for (``lead_with_kind``)."""
LEAD_MARGIN = 0.5
"""A further sentence joins the answer only if it scores at least this share of the best one."""
PASSAGES_READ = 5
DUPLICATE_SENTENCE = 0.6
RUNNER_UP_WORDS = 40
"""A one-sentence answer takes the runner-up's sentence (``with_runner_up``) only if the two together have at
most this many words (the answer-length target: a median of 40 words)."""
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
    short_answer: ShortAnswer | None = None


class Answerer:
    """Scores passage sentences against the question and keeps the best few.

    With the learned ranker (``retrieval.answer.ranker``) sentences are ordered by its sentence
    probability and the confidence is its question model's; without, by the hand-weighted sentence
    score and its logistic confidence. ``abstention`` decides when to refuse; with a ``reader`` (and the
    ranker) the answer opens with the short answer and the sentence that states it leads.
    """

    def __init__(
        self,
        lexical: LexicalIndex,
        config: AnswerConfig,
        ranker: Ranker | None = None,
        reader: Reader | None = None,
    ) -> None:
        self.scorer = SentenceScorer(lexical)
        self.config = config
        self.ranker = ranker
        self.reader = reader
        self.abstention = Abstention.of(config, ranker)

    def candidates(self, question: str, hits: Sequence[Hit]) -> list[Candidate]:
        """Every sentence of the top passages, scored, a little less the lower its passage ranks."""
        scored = self.scorer.score(question, hits[:PASSAGES_READ])
        return [
            replace(candidate, score=candidate.score - RANK_DECAY * position)
            for position, sentences in enumerate(scored)
            for candidate in sentences
        ]

    def features(self, question: str, best: Candidate, hits: Sequence[Hit]) -> list[float]:
        """The signals the heuristic confidence combines (see CONFIDENCE_WEIGHTS)."""
        weights = self.scorer.term_weights(question)
        present = set(tokenize([best.text])[0])
        missing = [w for t, w in weights.items() if t not in present]
        return [
            best.similarity,
            max((h.dense_score or 0.0 for h in hits[:PASSAGES_READ]), default=0.0),
            (max(missing) / max(weights.values())) if missing else 0.0,
        ]

    def confidence(self, question: str, best: Candidate, hits: Sequence[Hit]) -> float:
        """Probability-like confidence that the best sentence answers the question (no reader)."""
        z = CONFIDENCE_BIAS + sum(
            w * f for w, f in zip(CONFIDENCE_WEIGHTS, self.features(question, best, hits), strict=True)
        )
        return 1.0 / (1.0 + math.exp(-z))

    def compose(self, question: str, hits: Sequence[Hit], context: QuestionContext | None = None) -> Composition:
        """Pick up to ``max_sentences`` sentences, cite each, or abstain below the threshold.

        ``context`` (the question's as-of day and window) feeds the learned ranker's features.
        """
        if self.ranker is not None:
            return self._compose_ranked(hits, context or QuestionContext(question, None, None), self.ranker)
        candidates = sorted(self.candidates(question, hits), key=lambda c: -c.score)
        if not candidates:
            return Composition((), (), True, 0.0)
        best = candidates[0]
        confidence = self.confidence(question, best, hits)
        if self.abstention.refuses(confidence):
            return Composition((), (), True, confidence)
        kept = [c for c in candidates if c.score >= KEEP_RATIO * best.score]
        return self._compose(kept, confidence)

    def rank_sentences(
        self, hits: Sequence[Hit], context: QuestionContext, ranker: Ranker
    ) -> tuple[list[Candidate], np.ndarray]:
        """The sentences of the top passages with their hand-weighted scores, and the ranker's sentence
        probability of each (in the same order)."""
        top = list(hits[:PASSAGES_READ])
        candidates = [c for sentences in self.scorer.score(context.question, top) for c in sentences]
        scores = {h.passage.id: h.score for h in top}
        ranks = {h.passage.id: i for i, h in enumerate(top)}
        return candidates, ranker.sentences.probabilities(sentence_features(context, candidates, scores, ranks))

    def question_row(self, hits: Sequence[Hit], ranked: Sequence[Candidate], context: QuestionContext) -> np.ndarray:
        """The confidence model's features of a question whose top passages are ``hits``."""
        top = list(hits[:PASSAGES_READ])
        ceiling = self.scorer.lexical.ceiling(context.question)
        return question_features(
            context, top, [h.score for h in top], [c.score for c in ranked], ranked[0] if ranked else None, ceiling
        )

    def _compose_ranked(self, hits: Sequence[Hit], context: QuestionContext, ranker: Ranker) -> Composition:
        candidates, probabilities = self.rank_sentences(hits, context, ranker)
        if not candidates:
            return Composition((), (), True, 0.0)
        ranked = scored_by(candidates, probabilities)
        row = self.question_row(hits, ranked, context)[None, :]
        confidence = float(ranker.confidence.probabilities(row, CONFIDENCE_Z_LIMIT)[0])
        blended = lead_with_kind(context.question, blend(candidates, probabilities))
        introduced = introduce(context.question, blended, self.reader.tagger if self.reader else None)
        if introduced is not None:  # "who is X?" with X named in a sentence read: supported by the name
            return self._compose(introduced.sentences, confidence, as_choice(introduced, confidence))
        if self.abstention.refuses(confidence):
            return Composition((), (), True, confidence)
        probability = {_key(c): float(p) for c, p in zip(candidates, probabilities, strict=True)}
        reading = self.read(context.question, blended, probability, hits)
        model = self.reader.model if self.reader is not None else None
        weight, bar = (model.sentence_weight, model.second_sentence) if model else (0.0, ranker.second_sentence)
        lead, ordered = read_order(blended, reading, weight)
        kept = led_by(lead, ordered, probability, bar)
        kept = with_runner_up(kept, blended, reading.support)
        return self._compose(kept, confidence, reading.choice)

    def read(
        self,
        question: str,
        blended: Sequence[Candidate],
        probability: dict[tuple[int, int], float],
        hits: Sequence[Hit],
    ) -> Reading:
        """The reader's short answer among the ``blended`` sentences (best first), or None, and each
        sentence's support (its best span's probability)."""
        if self.reader is None:
            return Reading(None, {})
        ranks = {h.passage.id: i for i, h in enumerate(hits[:PASSAGES_READ])}
        return self.reader.read(question, blended, [probability[_key(c)] for c in blended], ranks)

    def _compose(self, ranked: Sequence[Candidate], confidence: float, choice: Choice | None = None) -> Composition:
        """The first ``max_sentences`` of ``ranked`` that repeat no sentence chosen before, cited."""
        chosen: list[Candidate] = []
        seen: list[set[tuple[str, ...]]] = []
        for candidate in ranked:
            if len(chosen) >= self.config.max_sentences:
                break
            grams = shingles(candidate.text)
            if any(overlap(grams, other) >= DUPLICATE_SENTENCE for other in seen):
                continue
            seen.append(grams)
            chosen.append(candidate)
        citations = cite(chosen)
        number = {c.article_id: c.number for c in citations}
        sentences = [AnswerSentence(c.text, number[c.hit.article.id], passage_id=c.hit.passage.id) for c in chosen]
        short = None
        if choice is not None:
            span = choice.span
            short = ShortAnswer(
                span.text,
                number[span.sentence.hit.article.id],
                span.start,
                span.end,
                span.sentence.hit.passage.id,
                choice.probability,
            )
        return Composition(tuple(sentences), tuple(citations), False, confidence, short)


def read_order(blended: Sequence[Candidate], reading: Reading, weight: float) -> tuple[Candidate, list[Candidate]]:
    """The lead sentence and the order the others follow it in: the sentence of the short answer leads,
    else the first by blended score plus ``weight`` × the reader's support (``by_support``); the best by
    blended score stays first of the rest (``led_by`` keeps it), the others follow in the reader's order."""
    ordered = by_support(blended, reading.support, weight)
    lead = reading.choice.span.sentence if reading.choice is not None else ordered[0]
    return lead, [blended[0], *(c for c in ordered if _key(c) != _key(blended[0]))]


def led_by(
    lead: Candidate, blended: Sequence[Candidate], probability: dict[tuple[int, int], float], bar: float
) -> list[Candidate]:
    """The answer's sentences in order: ``lead`` (the one stating the short answer, or the best), then —
    when ``lead`` is not the best of ``blended`` — the best, then the others whose probability reaches
    ``bar``. A wrong short answer so costs the lead, never the best sentence."""
    rest = [c for c in blended if _key(c) != _key(lead)]
    if blended and _key(lead) != _key(blended[0]):
        return [lead, blended[0], *(c for c in rest[1:] if probability[_key(c)] >= bar)]
    return [lead, *(c for c in rest if probability[_key(c)] >= bar)]


def with_runner_up(
    kept: list[Candidate], blended: Sequence[Candidate], support: dict[tuple[int, int], float]
) -> list[Candidate]:
    """``kept`` with a second sentence when it holds one only: the sentence of the reader's runner-up — the
    read sentence, other than the lead, whose best span is the most probable (``support``) — when the two
    together stay within ``RUNNER_UP_WORDS``. A one-sentence answer leads with the blended best, so a wrong
    lead has nothing behind it; the runner-up holds another candidate answer (benchmarks/README.md)."""
    if len(kept) != 1 or not support:
        return kept
    lead = kept[0]
    rest = [c for c in blended if _key(c) != _key(lead) and _key(c) in support]
    if not rest:
        return kept
    runner_up = max(rest, key=lambda c: support[_key(c)])
    if len(lead.text.split()) + len(runner_up.text.split()) > RUNNER_UP_WORDS:
        return kept
    return [lead, runner_up]


def scored_by(candidates: Sequence[Candidate], scores: Iterable[float]) -> list[Candidate]:
    """``candidates`` with ``scores`` as their scores, best first."""
    return sorted((replace(c, score=float(x)) for c, x in zip(candidates, scores, strict=True)), key=lambda c: -c.score)


def blend(candidates: Sequence[Candidate], probabilities: Iterable[float]) -> list[Candidate]:
    """The ranker's sentence probabilities averaged with the hand-weighted scores of ``candidates`` (each
    divided by the best), best first. The ranker alone leads with the wrong sentence off its training
    distribution (on SQuAD), the hand weights alone more often on the news (benchmarks/README.md)."""
    best = max((c.score for c in candidates), default=0.0) or 1.0
    mixed = [0.5 * p + 0.5 * c.score / best for c, p in zip(candidates, probabilities, strict=True)]
    return scored_by(candidates, mixed)


def lead_with_kind(question: str, ranked: list[Candidate]) -> list[Candidate]:
    """For a question whose kind the training questions barely hold (``LEAD_KINDS``: why, what did X
    say), put first the best sentence of that kind — a reason, reported speech — if it scores at least
    ``LEAD_MARGIN`` of the best; otherwise ``ranked`` as it is."""
    kind = answer_type(question)
    if kind not in LEAD_KINDS or not ranked:
        return ranked
    typed = next((c for c in ranked if type_match(kind, c.text)), None)
    if typed is None or typed is ranked[0] or typed.score < LEAD_MARGIN * ranked[0].score:
        return ranked
    return [typed, *(c for c in ranked if c is not typed)]


def _key(candidate: Candidate) -> tuple[int, int]:
    return candidate.hit.passage.id, candidate.start


def cite(chosen: Sequence[Candidate]) -> tuple[Citation, ...]:
    """One numbered citation per article, in the order the answer first quotes it, with its quotes."""
    quotes: dict[str, list[Quote]] = {}
    articles: dict[str, Article] = {}
    also: dict[str, list[str]] = {}
    for candidate in chosen:
        article = candidate.hit.article
        articles.setdefault(article.id, article)
        outlets = also.setdefault(article.id, [])
        outlets.extend(o for o in candidate.hit.also if o not in outlets)
        quote = Quote(candidate.text, candidate.start, candidate.end, candidate.hit.passage.id)
        quotes.setdefault(article.id, []).append(quote)
    return tuple(
        Citation(
            number=number,
            article_id=article.id,
            title=article.title,
            date=article.date,
            source=article.source,
            url=article.url,
            quotes=tuple(quotes[article.id]),
            also=tuple(also[article.id]),
        )
        for number, article in enumerate(articles.values(), start=1)
    )
