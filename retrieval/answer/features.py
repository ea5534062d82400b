"""The signals the learned ranker weighs: per passage, per sentence and per question.

One module computes them for serving and for fitting (``scripts/train_ranker.py``), so the two never
drift apart. Every feature is cheap — no model beyond the dense scores the search already has — and
named, so a fitted model refuses features it does not know.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.answer.sentences import Candidate, answer_type, type_match
from retrieval.text import WORD as _WORD
from retrieval.text import names, tokenize
from retrieval.types import DateRange, Hit

PASSAGE_FEATURES = (
    "fused",
    "dense",
    "lexical",
    "sentence",
    "coverage",
    "context",
    "title",
    "type",
    "lead",
    "depth",
    "behind",
    "window",
    "names",
    "names_title",
    "rank",
    "article_hits",
)
"""Per candidate passage: fusion score, best sentence cosine, BM25 (share of the pool's best), best
sentence score, its question-term coverage, coverage over passage and title, title coverage, answer-type
match, first passage of its article, where in the article it starts, log days its article is older
than the newest candidate's (relative to the pool, never to the day asked: asking later changes
nothing), inside the question's time-word window, share of the question's names in it (and in its title),
1/(1+fused rank), log of how many pool passages share its article."""

SENTENCE_FEATURES = (
    "cosine",
    "coverage",
    "type",
    "passage",
    "passage_rank",
    "names",
    "position",
    "length",
    "number",
    "quote",
    "echo",
    "novel_names",
    "novel_numbers",
)
"""Per candidate sentence: cosine to the question, question-term coverage, answer-type match, its
passage's ranker score and rank, share of the question's names in it, log position in its article,
log length in words, holds a digit, holds a quotation, share of its words that the question has, and
how many capitalised words and numbers it holds that the question does not (log) — quiz answers are
names and numbers the question leaves out."""

QUESTION_FEATURES = (
    "passage_top",
    "passage_gap",
    "sentence_top",
    "sentence_gap",
    "cosine_top",
    "lexical_share",
    "names_top",
    "names_any",
    "coverage_top",
    "window_share",
)
"""Per question: the best passage's ranker score and its lead over the next, the same for sentences,
the best cosine, the best raw BM25 score as a share of the question's ceiling (the sum of its terms'
IDF, so a two-article corpus and a large one compare), share of the question's names in the best passage and
in any, the best sentence's coverage, share of the pool inside the question's window."""

_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]*")
_NUMBER = re.compile(r"\b\d[\d,.]*\b")
_QUOTE = re.compile(r"[“”\"]")


@dataclass(frozen=True)
class QuestionContext:
    """What the features of one question need besides its hits."""

    question: str
    as_of_day: int | None
    window: DateRange | None

    @property
    def names(self) -> list[str]:
        """The capitalised names the question holds, lower-cased."""
        return [n.lower() for n in names(self.question)]


def _share(needles: Sequence[str], haystack: str) -> float:
    """Share of ``needles`` found in ``haystack`` (lower-cased); 0 when there are none."""
    if not needles:
        return 0.0
    text = haystack.lower()
    return sum(1 for n in needles if n in text) / len(needles)


def _in_window(day: int, window: DateRange | None) -> float:
    if window is None or day <= 0:
        return 0.0
    since, until = window.days()
    return float((since is None or day >= since) and (until is None or day <= until))


def passage_features(
    context: QuestionContext, hits: Sequence[Hit], scored: Sequence[Sequence[Candidate]]
) -> np.ndarray:
    """One row of ``PASSAGE_FEATURES`` per hit (hits in fused order, ``scored`` their sentences)."""
    top_lexical = max((h.lexical_score or 0.0 for h in hits), default=0.0) or 1.0
    per_article = Counter(h.article.id for h in hits)
    wanted = context.names
    kind = answer_type(context.question)
    terms = set(tokenize([context.question])[0])
    days = [h.article.date.toordinal() if h.article.date else 0 for h in hits]
    newest = max(days, default=0)
    rows = []
    for rank, (hit, sentences, day) in enumerate(zip(hits, scored, days, strict=True)):
        best = max(sentences, key=lambda c: c.score) if sentences else None
        title = set(tokenize([hit.article.title])[0])
        rows.append(
            [
                hit.fused_score or 0.0,
                hit.dense_score or 0.0,
                (hit.lexical_score or 0.0) / top_lexical,
                best.score if best else 0.0,
                best.coverage if best else 0.0,
                best.context if best else 0.0,
                len(terms & title) / len(terms) if terms else 0.0,
                type_match(kind, best.text) if best else 0.0,
                float(hit.passage.start == 0),
                hit.passage.start / max(1, len(hit.article.text)),
                math.log1p(newest - day) if day else 0.0,
                _in_window(day, context.window),
                _share(wanted, hit.passage.text + " " + hit.article.title),
                _share(wanted, hit.article.title),
                1.0 / (1.0 + rank),
                math.log(per_article[hit.article.id]),
            ]
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(hits), len(PASSAGE_FEATURES))


def sentence_features(
    context: QuestionContext,
    candidates: Sequence[Candidate],
    passage_scores: dict[int, float],
    passage_ranks: dict[int, int],
) -> np.ndarray:
    """One row of ``SENTENCE_FEATURES`` per candidate sentence."""
    wanted = context.names
    kind = answer_type(context.question)
    question_words = {w.lower() for w in _WORD.findall(context.question)}
    rows = []
    for candidate in candidates:
        words = [w.lower() for w in _WORD.findall(candidate.text)]
        pid = candidate.hit.passage.id
        rows.append(
            [
                candidate.similarity,
                candidate.coverage,
                type_match(kind, candidate.text),
                passage_scores.get(pid, 0.0),
                1.0 / (1.0 + passage_ranks.get(pid, 0)),
                _share(wanted, candidate.text),
                math.log1p(_sentence_index(candidate)),
                math.log1p(len(words)),
                float(any(ch.isdigit() for ch in candidate.text)),
                float(bool(_QUOTE.search(candidate.text))),
                sum(1 for w in words if w in question_words) / len(words) if words else 0.0,
                math.log1p(sum(1 for n in _CAPITALISED.findall(candidate.text) if n.lower() not in question_words)),
                math.log1p(sum(1 for n in _NUMBER.findall(candidate.text) if n not in question_words)),
            ]
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(candidates), len(SENTENCE_FEATURES))


def _sentence_index(candidate: Candidate) -> int:
    """Roughly how many sentences precede this one in its article (by characters, 120 a sentence)."""
    return candidate.start // 120


def question_features(
    context: QuestionContext,
    hits: Sequence[Hit],
    passage_scores: Sequence[float],
    sentence_scores: Sequence[float],
    best: Candidate | None,
    lexical_ceiling: float,
) -> np.ndarray:
    """The one row of ``QUESTION_FEATURES`` for a question whose pool is ``hits`` (best first)."""
    ordered_p = sorted(passage_scores, reverse=True) + [0.0, 0.0]
    ordered_s = sorted(sentence_scores, reverse=True) + [0.0, 0.0]
    wanted = context.names
    top = hits[0] if hits else None
    days = [h.article.date.toordinal() for h in hits if h.article.date]
    return np.asarray(
        [
            ordered_p[0],
            ordered_p[0] - ordered_p[1],
            ordered_s[0],
            ordered_s[0] - ordered_s[1],
            max((h.dense_score or 0.0 for h in hits), default=0.0),
            max((h.lexical_score or 0.0 for h in hits), default=0.0) / lexical_ceiling if lexical_ceiling else 0.0,
            _share(wanted, top.passage.text + " " + top.article.title) if top else 0.0,
            _share(wanted, " ".join(h.passage.text + " " + h.article.title for h in hits)),
            best.coverage if best else 0.0,
            (sum(_in_window(d, context.window) for d in days) / len(hits)) if hits and context.window else 0.0,
        ],
        dtype=np.float64,
    )
