"""Fit how the reader's probabilities rank passages, decide answers and abstain — on news_train_2024 only.

    .venv/bin/python scripts/fit_answerer.py --index /tmp/idx-train \
        --corpus ../shared/bench/news_train_2024/corpus.jsonl.gz --write

builds (or reuses) an index of the training corpus, runs the retrieval pipeline with the shipped
reader on every training question as of the day it was asked, and fits on what it saw:

- the passage score ``a·reader + b·sentence + c·fused`` (and the date priors' weights) by grid search
  for the MRR@10 of a gold article;
- the answer confidence, a logistic model of "the answer's first sentence holds the gold answer" over
  ``retrieval.answer.calibration.FEATURES``, fitted on the questions of the weeks the reader was
  not trained on (its probabilities on its own training questions are too sure of themselves);
- the abstention threshold: the highest that refuses at most ``--max-wrong`` of those answerable
  questions; the second sentence's bar: the lowest that keeps the median answer under
  ``--max-words`` words.

It writes ``answerer.json`` beside the reader and prints what it fitted and the date-prior weights it
found (set them as the SearchConfig defaults). Never run it on the dev questions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.answer.calibration import FEATURES, Calibration  # noqa: E402
from retrieval.answer.extractive import Answerer  # noqa: E402
from retrieval.answer.reader import default_model_dir, read_meta  # noqa: E402
from retrieval.config import AnswerConfig, EngineConfig, SearchConfig  # noqa: E402
from retrieval.engine import Engine  # noqa: E402
from retrieval.evaluation import EvalQuestion, holds_gold, load_questions  # noqa: E402
from retrieval.types import Hit  # noqa: E402

log = logging.getLogger("fit_answerer")
POOL = 30
"""Passages per question kept for fitting (the engine re-ranks its first ``rerank_depth``)."""


@dataclass
class Seen:
    """One training question as the pipeline saw it: its pool of read hits and their features."""

    question: EvalQuestion
    hits: list[Hit]
    features: np.ndarray
    """(passages, 4): reader, sentence, fused, prior (the prior at the weights it was collected with)."""
    window: bool
    days: np.ndarray
    """Each hit's article day (proleptic ordinal, 0 undated)."""


def held_out_weeks(reader_dir: Path, questions: list[EvalQuestion], weeks: dict[str, str]) -> set[str]:
    """The weeks the reader did not train on, as its ``reader.json`` records them (or its seed and share)."""
    extra = read_meta(reader_dir).extra or {}
    if extra.get("held_out_weeks"):
        return {str(w) for w in extra["held_out_weeks"]}  # type: ignore[union-attr]
    all_weeks = sorted({weeks[q.id] for q in questions})
    rng = random.Random(int(extra.get("seed", 13)))  # type: ignore[arg-type]
    share = float(extra.get("holdout", 0.15))  # type: ignore[arg-type]
    return set(rng.sample(all_weeks, max(1, round(share * len(all_weeks)))))


def collect(engine: Engine, questions: list[EvalQuestion]) -> list[Seen]:
    """Run retrieval and the reader on every question; keep each one's pool with its features."""
    live = engine._state()  # a fitting script may look inside; the fronts never do
    retriever = live.retriever
    seen: list[Seen] = []
    started = time.perf_counter()
    for number, q in enumerate(questions, start=1):
        query = retriever.query(q.question, as_of=q.as_of)
        fused, lexical = retriever.fused(query, max(retriever.config.candidates, POOL))
        prior = retriever.prior(query, list(fused))
        order = sorted(fused, key=lambda pid: -(fused[pid] + prior.get(pid, 0.0)))[:POOL]
        hits, features = retriever.passage_features(q.question, retriever._hits(query, order, fused, lexical), prior)
        days = np.array([h.article.date.toordinal() if h.article.date else 0 for h in hits], dtype=np.int64)
        seen.append(Seen(q, hits, np.array(features, dtype=np.float64), query.window is not None, days))
        if number % 50 == 0:
            log.info("%d/%d questions read (%.0f s)", number, len(questions), time.perf_counter() - started)
    return seen


def passage_scores(
    s: Seen, weights: tuple[float, float, float], window: float, recency: tuple[float, float]
) -> np.ndarray:
    """The re-ranking score of each pooled hit under candidate weights."""
    reader, sentence, fused = s.features[:, 0], s.features[:, 1], s.features[:, 2]
    score = weights[0] * reader + weights[1] * sentence + weights[2] * fused
    if s.window:
        score = score + window * (s.features[:, 3] > 0)
    elif recency[0] > 0 and s.question.as_of is not None:
        age = np.clip(s.question.as_of.toordinal() - s.days, 0, None)
        score = score + np.where(s.days > 0, recency[0] * np.exp(-age / recency[1]), 0.0)
    return score


def mrr(seen: list[Seen], *args: object) -> float:
    """MRR@10 of a gold article over the answerable questions."""
    total = 0.0
    answerable = [s for s in seen if s.question.answerable]
    for s in answerable:
        order = np.argsort(-passage_scores(s, *args), kind="stable")  # type: ignore[arg-type]
        articles: list[str] = []
        for i in order:
            if s.hits[i].article.id not in articles:
                articles.append(s.hits[i].article.id)
        rank = next((r for r, a in enumerate(articles[:10], 1) if a in s.question.gold_doc_ids), None)
        total += 1.0 / rank if rank else 0.0
    return total / max(1, len(answerable))


def fit_ranking(seen: list[Seen]) -> tuple[tuple[float, float, float], float, tuple[float, float]]:
    """Grid search of the passage weights, then of the window and recency priors."""
    best = (-1.0, (1.0, 0.0, 0.0))
    for b in (0.0, 0.25, 0.5, 1.0, 2.0):
        for c in (0.0, 0.1, 0.25, 0.5, 1.0):
            score = mrr(seen, (1.0, b, c), 0.0, (0.0, 30.0))
            if score > best[0]:
                best = (score, (1.0, b, c))
    weights = best[1]
    log.info("passage weights %s: MRR@10 %.4f", weights, best[0])
    window = max((0.0, 0.02, 0.05, 0.1, 0.2, 0.4), key=lambda w: mrr(seen, weights, w, (0.0, 30.0)))
    log.info("window weight %.2f: MRR@10 %.4f", window, mrr(seen, weights, window, (0.0, 30.0)))
    grid = [(0.0, 30.0)] + [(w, d) for w in (0.02, 0.05, 0.1, 0.2) for d in (7.0, 30.0, 90.0, 365.0)]
    recency = max(grid, key=lambda r: mrr(seen, weights, window, r))
    log.info("recency %s: MRR@10 %.4f", recency, mrr(seen, weights, window, recency))
    return weights, window, recency


def ranked(s: Seen, weights: tuple[float, float, float], window: float, recency: tuple[float, float]) -> list[Hit]:
    """The pool in the fitted order, each hit scored by it (as the engine returns them)."""
    scores = passage_scores(s, weights, window, recency)
    order = np.argsort(-scores, kind="stable")
    return [replace(s.hits[i], score=float(scores[i])) for i in order]


def fit_confidence(answerer: Answerer, seen: list[Seen], *ranking: object) -> tuple[np.ndarray, float, np.ndarray]:
    """Logistic weights and bias of "the first sentence holds the gold answer", and each question's features."""
    from sklearn.linear_model import LogisticRegression

    rows, labels = [], []
    for s in seen:
        hits = ranked(s, *ranking)  # type: ignore[arg-type]
        read = answerer.readings(s.question.question, hits)
        if not read:
            rows.append([0.0] * len(FEATURES))
            labels.append(0)
            continue
        rows.append(answerer.read_features(s.question.question, read, hits))
        labels.append(int(s.question.answerable and holds_gold(read[0].text, s.question.answers)))
    x, y = np.array(rows), np.array(labels)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    return model.coef_[0], float(model.intercept_[0]), x


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="an index of the training corpus (built if missing)")
    parser.add_argument("--corpus", type=Path, help="the training corpus (to build the index)")
    parser.add_argument("--questions", type=Path, default=ROOT.parent / "shared/bench/news_train_2024/questions.jsonl")
    parser.add_argument("--reader", type=Path, default=default_model_dir())
    parser.add_argument("--max-wrong", type=float, default=0.08, help="answerable questions refused at most")
    parser.add_argument("--max-words", type=float, default=36.0, help="median answer length at most")
    parser.add_argument("--write", action="store_true", help="write answerer.json into the reader directory")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    records = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    weeks = {str(r["id"]): str((r.get("meta") or {}).get("week") or str(r["id"]).split("_")[0]) for r in records}
    questions = load_questions(args.questions)
    held = held_out_weeks(args.reader, questions, weeks)
    config = EngineConfig(
        index_dir=args.index,
        search=SearchConfig(time_words="prior", window_weight=0.0, recency_weight=0.0),
        answer=AnswerConfig(reader=str(args.reader)),
    )
    engine = Engine.from_config(config)
    engine._calibration = Calibration()  # read with the defaults: the weights are what is being fitted
    if not engine.has_index():
        if args.corpus is None:
            parser.error(f"no index at {args.index}: give --corpus to build it")
        engine.build(args.corpus, full=True)
    engine.load_model()
    engine._calibration = Calibration()

    seen = collect(engine, questions)
    weights, window, recency = fit_ranking(seen)
    answerer = Answerer(engine.index.lexical, AnswerConfig(max_sentences=2), Calibration())
    calibrate = [s for s in seen if weeks[s.question.id] in held]
    log.info("confidence fitted on %d questions of %d held-out weeks", len(calibrate), len(held))
    coef, bias, x = fit_confidence(answerer, calibrate, weights, window, recency)
    z = bias + x @ coef
    confidence = 1.0 / (1.0 + np.exp(-z))
    answerable = np.array([s.question.answerable for s in calibrate])
    threshold = float(np.quantile(confidence[answerable], args.max_wrong)) if answerable.any() else 0.5
    refused = float(np.mean(confidence[~answerable] < threshold)) if (~answerable).any() else math.nan
    log.info("threshold %.3f: refuses %.3f of unanswerable, %.3f of answerable", threshold, refused, args.max_wrong)

    second = 1.0
    for bar in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        trial = Answerer(
            engine.index.lexical, AnswerConfig(max_sentences=2), replace(Calibration(), second_sentence=bar)
        )
        words = []
        for s in seen:
            read = trial.readings(s.question.question, ranked(s, weights, window, recency))
            if read:
                chosen = [read[0], *(c for c in read[1:2] if c.score >= bar)]
                words.append(sum(len(c.text.split()) for c in chosen))
        if words and float(np.median(words)) <= args.max_words:
            second = bar
            log.info("second-sentence bar %.1f: median answer %.0f words", bar, float(np.median(words)))
            break

    calibration = Calibration(
        passage_weights=weights,
        confidence_weights=tuple(float(c) for c in coef),
        confidence_bias=bias,
        logistic=True,
        min_confidence=threshold,
        second_sentence=second,
        fitted_on={
            "data": "news_train_2024 (RealTime QA), as of each question's meta.asked_on",
            "questions": len(questions),
            "confidence_questions": len(calibrate),
            "held_out_weeks": sorted(held),
            "command": " ".join(sys.argv),
            "date": dt.date.today().isoformat(),
            "train_mrr@10": round(mrr(seen, weights, window, recency), 4),
            "train_refused_unanswerable": round(refused, 4),
        },
    )
    print(json.dumps({"window_weight": window, "recency_weight": recency[0], "recency_days": recency[1]}))
    print(json.dumps(calibration.__dict__, default=str, indent=2))
    if args.write:
        calibration.save(args.reader)
        log.info("wrote %s", args.reader / "answerer.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
