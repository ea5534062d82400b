"""Compose a short extractive answer from retrieved passages, every sentence quoted and cited.

No language model: the answer is the handful of passage sentences that best cover the question,
quoted verbatim, each marked with the number of the citation that points at its exact offsets.
When nothing covers the question well enough, the answer abstains and says so.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from retrieval.config import AnswerConfig
from retrieval.lexical import LexicalIndex, tokenize
from retrieval.search import overlap, shingles
from retrieval.types import AnswerSentence, Citation, Hit

log = logging.getLogger(__name__)

# How the sentence score is made (see score_sentence); measured on the dev benchmark.
W_SENTENCE_COVERAGE = 0.4
W_CONTEXT_COVERAGE = 0.15
W_PASSAGE_DENSE = 0.25
W_ANSWER_TYPE = 0.12
W_SENTENCE_DENSE = 0.5
RANK_DECAY = 0.03
KEEP_RATIO = 0.8
"""A further sentence joins the answer only if it scores at least this share of the best one."""
PASSAGES_READ = 5
DUPLICATE_SENTENCE = 0.6
# Logistic combination of the signals in Answerer.features: the best sentence's cosine to the
# question, the top passage's cosine, and the idf (relative to the heaviest question term) of the
# heaviest question term the best sentence lacks. Fitted on the dev benchmark (see README).
CONFIDENCE_WEIGHTS = (1.037, 1.694, -1.155)
CONFIDENCE_BIAS = -0.875

_NUMBER = re.compile(r"\d")
_YEAR_OR_DATE = re.compile(
    r"\b(1\d{3}|20\d{2}|\d{1,2}(st|nd|rd|th)?|"
    r"jan\w*|feb\w*|march|april|may|june|july|aug\w*|sept?\w*|oct\w*|nov\w*|dec\w*|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|century|decade)\b",
    re.IGNORECASE,
)
_CAUSE = re.compile(
    r"\b(because|since|due to|as a result|so that|in order to|to avoid|reason|why|aim|"
    r"want|wants|wanted|eager|seek|seeks|seeking|hope|fear|concern)\b",
    re.IGNORECASE,
)
_PROPER = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+")


def answer_type(question: str) -> str | None:
    """The kind of answer a question expects: who, when, where, number, why (or None)."""
    q = question.lower().strip()
    if re.match(r"(how (many|much|long|old|far|big|large))\b", q) or "what percentage" in q:
        return "number"
    for kind in ("who", "when", "where", "why"):
        if re.search(rf"\b{kind}\b", q):
            return kind
    if re.match(r"what (year|date|day|month|time|century)", q):
        return "when"
    return None


def type_match(kind: str | None, sentence: str) -> float:
    """1.0 where the sentence holds the kind of thing the question asks for."""
    if kind == "number":
        return 1.0 if _NUMBER.search(sentence) else 0.0
    if kind == "when":
        return 1.0 if _YEAR_OR_DATE.search(sentence) else 0.0
    if kind in ("who", "where"):
        return 1.0 if _PROPER.search(sentence) else 0.0
    if kind == "why":
        return 1.0 if _CAUSE.search(sentence) else 0.0
    return 0.0


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, with where it is and how it scored."""

    hit: Hit
    start: int
    end: int
    text: str
    score: float
    coverage: float
    similarity: float
    """Cosine of the question to this sentence."""


@dataclass(frozen=True)
class Composition:
    """The chosen sentences and citations, and whether the answerer abstained."""

    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    abstained: bool
    confidence: float


# Words that shape a question but that no answer sentence needs to contain.
QUESTION_WORDS = "many much kind type sort name named called happen happened often also would could"


@lru_cache(maxsize=1)
def _question_stems() -> frozenset[str]:
    return frozenset(tokenize([QUESTION_WORDS])[0])


def question_terms(question: str) -> list[str]:
    """The stemmed content terms of a question that an answer should cover."""
    return [t for t in tokenize([question])[0] if t not in _question_stems()]


class Answerer:
    """Scores passage sentences against the question and keeps the best few."""

    def __init__(self, lexical: LexicalIndex, config: AnswerConfig) -> None:
        self.lexical = lexical
        self.config = config

    def candidates(self, question: str, hits: Sequence[Hit]) -> list[Candidate]:
        """Every sentence of the top passages, scored."""
        weights = {t: self.lexical.idf(t) for t in question_terms(question)}
        total = sum(weights.values())
        kind = answer_type(question)
        read = list(hits[:PASSAGES_READ])
        contexts = [f"{h.article.title}\n{h.passage.text}" for h in read]
        sentences = [h.article.text[s:e] for h in read for s, e in h.passage.sentences]
        tokens = iter(tokenize(contexts + sentences))  # one tokenizer call for everything

        def coverage() -> float:
            present = set(next(tokens))
            return sum(w for t, w in weights.items() if t in present) / total if total else 0.0

        context_coverage = [coverage() for _ in contexts]
        out: list[Candidate] = []
        for position, hit in enumerate(read):
            article = hit.article
            dense = max(hit.dense_score or 0.0, 0.0)
            similarities = hit.sentence_scores or (0.0,) * len(hit.passage.sentences)
            for (start, end), similarity in zip(hit.passage.sentences, similarities, strict=True):
                text = article.text[start:end]
                sentence_coverage = coverage()
                score = (
                    W_SENTENCE_COVERAGE * sentence_coverage
                    + W_CONTEXT_COVERAGE * context_coverage[position]
                    + W_PASSAGE_DENSE * dense
                    + W_ANSWER_TYPE * type_match(kind, text)
                    + W_SENTENCE_DENSE * similarity
                    - RANK_DECAY * position
                )
                out.append(Candidate(hit, start, end, text, score, sentence_coverage, similarity))
        return out

    def features(self, question: str, best: Candidate, hits: Sequence[Hit]) -> list[float]:
        """The signals the confidence combines (see CONFIDENCE_WEIGHTS)."""
        weights = {t: self.lexical.idf(t) for t in question_terms(question)}
        present = set(tokenize([best.text])[0])
        missing = [w for t, w in weights.items() if t not in present]
        return [
            best.similarity,
            max(hits[0].dense_score or 0.0, 0.0),
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
