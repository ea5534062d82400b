"""Score each sentence of retrieved passages as an answer to a question.

One score serves twice: the retriever re-ranks its candidate passages by their best sentence, and
the answerer quotes the best sentences. It mixes the sentence's cosine to the question, the
idf-weighted share of question terms it holds, the same share over its passage and title, its
passage's cosine, and whether it holds the kind of thing asked for (who/when/where/how many/why).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from retrieval.index.lexical import LexicalIndex
from retrieval.text import tokenize
from retrieval.types import Hit

log = logging.getLogger(__name__)

# The weights of the sentence score; measured on the dev benchmark (README, "Answer quality").
W_SENTENCE_COVERAGE = 0.4
W_CONTEXT_COVERAGE = 0.15
W_PASSAGE_DENSE = 0.25
W_ANSWER_TYPE = 0.12
W_SENTENCE_DENSE = 0.5

# Words that shape a question but that no answer sentence needs to contain ("what did she say?" is
# answered by what she said, whatever the verb: presented, reiterated, warned).
QUESTION_WORDS = (
    "many much kind type sort name named called happen happened often also would could say says said tell told"
)

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
_SPEECH = re.compile(
    r"[“”\"]|\b(said|says|told|tells|stated|added|warned|presented|reiterated|clarified|pointed out|"
    r"according to|announced|declared|insisted|argued|explained|noted|urged|called (on|for)|wrote|described)\b",
    re.IGNORECASE,
)
_ASKS_SPEECH = re.compile(r"\bwhat (did|does|do|has|have|had|is|was|were) .+\b(say|said|tell|told)\b")
_PROPER = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+")


def answer_type(question: str) -> str | None:
    """The kind of answer a question expects: who, when, where, number, why, say (or None)."""
    q = question.lower().strip()
    if _ASKS_SPEECH.search(q):
        return "say"
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
    if kind == "say":
        return 1.0 if _SPEECH.search(sentence) else 0.0
    return 0.0


@lru_cache(maxsize=1)
def _question_stems() -> frozenset[str]:
    return frozenset(tokenize([QUESTION_WORDS])[0])


def question_terms(question: str) -> list[str]:
    """The stemmed content terms of a question that an answer should cover."""
    return [t for t in tokenize([question])[0] if t not in _question_stems()]


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, with where it is and how it scored."""

    hit: Hit
    start: int
    end: int
    text: str
    score: float
    coverage: float
    """Idf-weighted share of the question's terms found in this sentence."""
    similarity: float
    """Cosine of the question to this sentence."""
    context: float = 0.0
    """Idf-weighted share of the question's terms found in the sentence's passage and title."""


class SentenceScorer:
    """Scores the sentences of retrieved passages against a question, using the index's idf."""

    def __init__(self, lexical: LexicalIndex) -> None:
        self.lexical = lexical

    def term_weights(self, question: str) -> dict[str, float]:
        """Each content term of the question with its idf in the index."""
        return self.lexical.idfs(question_terms(question))

    def score(self, question: str, hits: Sequence[Hit]) -> list[list[Candidate]]:
        """Every sentence of each hit, scored (one list per hit, in passage order)."""
        weights = self.term_weights(question)
        total = sum(weights.values())
        kind = answer_type(question)
        sentences = [h.article.text[s:e] for h in hits for s, e in h.passage.sentences]
        # One tokenizer call for everything; a passage's terms are its sentences' terms, plus its title's.
        tokens = tokenize([h.article.title for h in hits] + sentences)
        title_terms = [set(t) for t in tokens[: len(hits)]]
        sentence_terms = iter(set(t) for t in tokens[len(hits) :])
        per_hit = [[next(sentence_terms) for _ in h.passage.sentences] for h in hits]

        def coverage(present: set[str]) -> float:
            return sum(w for t, w in weights.items() if t in present) / total if total else 0.0

        out: list[list[Candidate]] = []
        for hit, title, terms in zip(hits, title_terms, per_hit, strict=True):
            article = hit.article
            around = coverage(title.union(*terms))
            dense = max(hit.dense_score or 0.0, 0.0)
            similarities = hit.sentence_scores or (0.0,) * len(hit.passage.sentences)
            scored: list[Candidate] = []
            for (start, end), present, similarity in zip(hit.passage.sentences, terms, similarities, strict=True):
                text = article.text[start:end]
                sentence_coverage = coverage(present)
                score = (
                    W_SENTENCE_COVERAGE * sentence_coverage
                    + W_CONTEXT_COVERAGE * around
                    + W_PASSAGE_DENSE * dense
                    + W_ANSWER_TYPE * type_match(kind, text)
                    + W_SENTENCE_DENSE * similarity
                )
                scored.append(Candidate(hit, start, end, text, score, sentence_coverage, similarity, around))
            out.append(scored)
        return out
