"""Measure answer quality: retrieval hits, answer correctness, abstention and citation fidelity."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import re
import string
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval.engine import Engine
from retrieval.errors import NewsdeskError
from retrieval.search.timewords import time_window
from retrieval.types import Answer

log = logging.getLogger(__name__)

RETRIEVAL_K = 10
_TIME_WORDS = re.compile(
    r"\b(recent|recently|latest|current|currently|now|still|ago|this (week|weekend|month|year)|last (week|weekend|"
    r"month|year|night)|past (week|month|year)|yesterday|today|tonight|tomorrow|upcoming|next|earlier|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)


def has_time_word(question: str) -> bool:
    """True if the question says when it is about ("this week", "yesterday", "on Tuesday", "recently" …):
    asked much later, such a question is about another time and may rightly be refused."""
    return bool(_TIME_WORDS.search(question)) or time_window(question, dt.date(2000, 1, 1)) is not None


@dataclass(frozen=True)
class EvalQuestion:
    """One benchmark question with its gold articles and answer strings."""

    id: str
    question: str
    gold_doc_ids: tuple[str, ...]
    answers: tuple[str, ...]
    answerable: bool
    as_of: dt.date | None = None
    """The day the question was asked (``meta.asked_on``): the engine answers as of that day."""


@dataclass(frozen=True)
class QuestionResult:
    """How one question went."""

    question: EvalQuestion
    answer: Answer
    gold_rank: int | None
    contains_gold: bool
    f1: float
    citations_verbatim: int
    citations_total: int
    unsupported: int
    first_sentence_contains_gold: bool = False
    """The answer's first sentence alone holds a gold answer (does it lead with the answer?)."""
    gold_in_top5: bool = False
    """A gold answer string occurs in one of the top five passages retrieved."""
    words: int = 0
    """The answer's length in words (0 when it abstained)."""
    short_contains_gold: bool = False
    """The short answer alone holds a gold answer."""


@dataclass
class EvalReport:
    """The benchmark's numbers; ``as_dict`` is the machine-readable form."""

    n_questions: int
    n_answerable: int
    n_unanswerable: int
    hits_at: dict[int, float]
    mrr_at_10: float
    contains_gold: float
    first_sentence_contains_gold: float
    gold_in_top5: float
    words_median: float
    words_p90: float
    f1: float
    abstained_unanswerable: float
    abstained_answerable: float
    auroc: float
    citations_verbatim: float
    unsupported_answers: int
    max_sentences: int
    latency_p50_ms: float
    latency_p95_ms: float
    build_seconds: float
    short_given: float = float("nan")
    """Share of answerable questions answered with a short answer."""
    short_contains_gold: float = float("nan")
    """Share of those short answers that hold a gold answer."""
    asked_later_days: int = 0
    """Every question was asked this many days after its date (``--asked-later``)."""
    refused_no_time_word: float = float("nan")
    """Share of answerable questions with no time word in them that were refused."""
    results: list[QuestionResult] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, object]:
        """Plain data (no per-question results)."""
        return {
            "questions": self.n_questions,
            "answerable": self.n_answerable,
            "unanswerable": self.n_unanswerable,
            **{f"hits@{k}": round(v, 4) for k, v in self.hits_at.items()},
            "mrr@10": round(self.mrr_at_10, 4),
            "answer_contains_gold": round(self.contains_gold, 4),
            "first_sentence_contains_gold": round(self.first_sentence_contains_gold, 4),
            "gold_in_top5_passages": round(self.gold_in_top5, 4),
            "answer_words_median": round(self.words_median, 1),
            "answer_words_p90": round(self.words_p90, 1),
            "answer_f1": round(self.f1, 4),
            "short_answer_given": _rounded(self.short_given),
            "short_answer_contains_gold": _rounded(self.short_contains_gold),
            "abstained_on_unanswerable": round(self.abstained_unanswerable, 4),
            "abstained_on_answerable": round(self.abstained_answerable, 4),
            "confidence_auroc": round(self.auroc, 4),
            "asked_later_days": self.asked_later_days,
            "refused_answerable_no_time_word": _rounded(self.refused_no_time_word),
            "citations_verbatim": round(self.citations_verbatim, 4),
            "unsupported_answers": self.unsupported_answers,
            "max_answer_sentences": self.max_sentences,
            "latency_p50_ms": round(self.latency_p50_ms, 2),
            "latency_p95_ms": round(self.latency_p95_ms, 2),
            "build_seconds": round(self.build_seconds, 2),
        }


def _rounded(value: float) -> float | None:
    """``value`` to 4 places, or None when there was nothing to measure (NaN is not JSON)."""
    return None if value != value else round(value, 4)


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read a questions file: one JSON object a line (id, question, gold_doc_ids, answers, answerable)."""
    questions = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise NewsdeskError(f"cannot read questions file {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            questions.append(
                EvalQuestion(
                    id=str(record["id"]),
                    question=str(record["question"]),
                    gold_doc_ids=tuple(str(d) for d in record.get("gold_doc_ids") or ()),
                    answers=tuple(str(a) for a in record.get("answers") or ()),
                    answerable=bool(record.get("answerable", bool(record.get("answers")))),
                    as_of=_asked_on(record),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise NewsdeskError(f"{path}:{number}: not a question record ({exc})") from exc
    if not questions:
        raise NewsdeskError(f"no questions in {path}")
    return questions


def _asked_on(record: dict[str, object]) -> dt.date | None:
    """``meta.asked_on`` (or ``as_of``) as a date, if the record has one."""
    meta = record.get("meta")
    value = record.get("as_of") or (meta.get("asked_on") if isinstance(meta, dict) else None)
    return dt.date.fromisoformat(str(value)[:10]) if value else None


def slice_questions(questions: Sequence[EvalQuestion], n: int, seed: int = 0) -> list[EvalQuestion]:
    """A seeded random ``n`` of the questions, answerable and unanswerable in their proportions."""
    rng = random.Random(seed)
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    n = min(n, len(questions))
    n_unanswerable = min(len(unanswerable), round(n * len(unanswerable) / max(1, len(questions))))
    picked = rng.sample(answerable, min(len(answerable), n - n_unanswerable)) + rng.sample(unanswerable, n_unanswerable)
    order = {q.id: i for i, q in enumerate(questions)}
    return sorted(picked, key=lambda q: order[q.id])


def select_questions(questions: Sequence[EvalQuestion], limit: int | None) -> list[EvalQuestion]:
    """The first ``limit`` answerable questions and the first ``limit // 3`` unanswerable ones."""
    if not limit:
        return list(questions)
    answerable = [q for q in questions if q.answerable][:limit]
    unanswerable = [q for q in questions if not q.answerable][: max(1, limit // 3)]
    return answerable + unanswerable


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation) | {"“", "”", "‘", "’"})
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 between two strings."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if not pred_tokens or not gold_tokens or same == 0:
        return float(pred_tokens == gold_tokens)
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def auroc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    if not positive or not negative:
        return float("nan")
    pos = np.asarray(positive, dtype=np.float64)
    neg = np.asarray(negative, dtype=np.float64)
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def holds_gold(text: str, answers: Sequence[str]) -> bool:
    """True if ``text`` contains one of the gold answers (SQuAD-normalised, as a substring)."""
    normalized = normalize_answer(text)
    return any(gold and gold in normalized for gold in (normalize_answer(a) for a in answers))


def _answer_body(answer: Answer) -> str:
    return " ".join(s.text for s in answer.sentences)


def score_question(engine: Engine, question: EvalQuestion, answer: Answer) -> QuestionResult:
    """Grade one answer against its gold data."""
    gold_rank = None
    seen: list[str] = []
    for hit in answer.hits:
        if hit.article.id not in seen:
            seen.append(hit.article.id)
    for rank, article_id in enumerate(seen, start=1):
        if article_id in question.gold_doc_ids:
            gold_rank = rank
            break
    body = _answer_body(answer)
    contains = not answer.abstained and holds_gold(body, question.answers)
    first = not answer.abstained and bool(answer.sentences) and holds_gold(answer.sentences[0].text, question.answers)
    top5 = any(holds_gold(hit.passage.text, question.answers) for hit in answer.hits[:5])
    f1 = max((token_f1(body, g) for g in question.answers), default=0.0) if not answer.abstained else 0.0
    index = engine.index
    verbatim = unsupported = 0
    quotes = [(citation, quote) for citation in answer.citations for quote in citation.quotes]
    for citation, quote in quotes:
        article = index.articles.get(citation.article_id)
        if article is not None and article.text[quote.start : quote.end] == quote.text:
            verbatim += 1
        passage = index.passages[quote.passage_id] if quote.passage_id < len(index.passages) else None
        if passage is None or quote.text not in passage.text:
            unsupported += 1
    words = 0 if answer.abstained else len(body.split())
    short = answer.short_answer is not None and holds_gold(answer.short_answer.text, question.answers)
    return QuestionResult(
        question, answer, gold_rank, contains, f1, verbatim, len(quotes), unsupported, first, top5, words, short
    )


def evaluate(
    engine: Engine,
    questions: Sequence[EvalQuestion],
    *,
    build_seconds: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    asked_later: int = 0,
) -> EvalReport:
    """Ask every question (warm), grade the answers, and aggregate.

    ``asked_later``: ask each question this many days after its own date (with no date, after today).
    """
    results: list[QuestionResult] = []
    latencies: list[float] = []
    later = dt.timedelta(days=asked_later)
    for number, question in enumerate(questions, start=1):
        as_of = question.as_of
        if asked_later:
            as_of = (as_of or dt.date.today()) + later
        started = time.perf_counter()
        answer = engine.ask(question.question, k=RETRIEVAL_K, as_of=as_of)
        latencies.append((time.perf_counter() - started) * 1000)
        results.append(score_question(engine, question, answer))
        if progress is not None:
            progress(number, len(questions))
    report = aggregate(results, latencies, build_seconds)
    report.asked_later_days = asked_later
    return report


def aggregate(results: Sequence[QuestionResult], latencies: Sequence[float], build_seconds: float) -> EvalReport:
    """Turn graded questions into the report's shares and rates."""
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]

    def share(items: Sequence[QuestionResult], test: Callable[[QuestionResult], bool]) -> float:
        return sum(1 for r in items if test(r)) / len(items) if items else float("nan")

    def within(k: int) -> Callable[[QuestionResult], bool]:
        return lambda r: r.gold_rank is not None and r.gold_rank <= k

    hits_at = {k: share(answerable, within(k)) for k in (1, 5, 10)}
    mrr = (
        sum(1.0 / r.gold_rank for r in answerable if r.gold_rank is not None and r.gold_rank <= 10) / len(answerable)
        if answerable
        else float("nan")
    )
    total_citations = sum(r.citations_total for r in results)
    lengths = [r.words for r in results if not r.answer.abstained]
    given = [r for r in answerable if r.answer.short_answer is not None and not r.answer.abstained]
    timeless = [r for r in answerable if not has_time_word(r.question.question)]
    return EvalReport(
        n_questions=len(results),
        n_answerable=len(answerable),
        n_unanswerable=len(unanswerable),
        hits_at=hits_at,
        mrr_at_10=mrr,
        contains_gold=share(answerable, lambda r: r.contains_gold),
        first_sentence_contains_gold=share(answerable, lambda r: r.first_sentence_contains_gold),
        gold_in_top5=share(answerable, lambda r: r.gold_in_top5),
        words_median=float(np.median(lengths)) if lengths else 0.0,
        words_p90=float(np.percentile(lengths, 90)) if lengths else 0.0,
        f1=sum(r.f1 for r in answerable) / len(answerable) if answerable else float("nan"),
        abstained_unanswerable=share(unanswerable, lambda r: r.answer.abstained),
        abstained_answerable=share(answerable, lambda r: r.answer.abstained),
        auroc=auroc([r.answer.confidence for r in answerable], [r.answer.confidence for r in unanswerable]),
        citations_verbatim=(sum(r.citations_verbatim for r in results) / total_citations) if total_citations else 1.0,
        unsupported_answers=sum(1 for r in results if r.unsupported),
        max_sentences=max((len(r.answer.sentences) for r in results), default=0),
        latency_p50_ms=float(np.percentile(latencies, 50)) if latencies else 0.0,
        latency_p95_ms=float(np.percentile(latencies, 95)) if latencies else 0.0,
        build_seconds=build_seconds,
        short_given=len(given) / len(answerable) if answerable else float("nan"),
        short_contains_gold=share(given, lambda r: r.short_contains_gold),
        refused_no_time_word=share(timeless, lambda r: r.answer.abstained),
        results=list(results),
    )
