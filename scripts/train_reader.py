"""Fit newsdesk's reader (the short answer's span model) on news_train_2024, and only there.

    .venv/bin/python scripts/train_reader.py --index /tmp/newsdesk-train-index --ranker models/newsdesk-ranker \\
        --out models/newsdesk-reader

``--index``: the training index ``scripts/train_ranker.py`` builds (``--articles 3000``); ``--ranker``:
the ranker fitted on it. Every answerable training question is asked as of the day it was asked, as
the engine would (search, the ranker's sentence order); the reader's candidate spans are taken from
its best sentences (``retrieval/answer/reader.py``) and labelled "holds a gold answer". A logistic model
over ``SPAN_FEATURES`` is fitted, its regularisation chosen by cross-validation over whole weeks (as the
ranker's), and ``min_probability`` is the lowest bar at which the out-of-fold short answers hold the gold
answer at least ``--min-precision`` of the time. ``sentence_weight`` (how much a sentence's best span probability
adds to its score when the answer's sentences are ordered) is the one of ``WEIGHTS`` whose out-of-fold lead
sentence holds the gold answer most often. Deterministic (``--seed`` orders the folds). Writes
``reader.json`` and prints the cross-validated metrics for the model card. Never point it at dev questions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from train_ranker import BARS, FOLDS, GRID, embedding_from_env, fit_linear, folds_of  # noqa: E402

from retrieval.answer.extractive import (  # noqa: E402
    PASSAGES_READ,
    blend,
    lead_with_kind,
    led_by,
    read_order,
    with_runner_up,
)
from retrieval.answer.ranker import LinearModel, default_ranker_dir  # noqa: E402
from retrieval.answer.reader import (  # noqa: E402
    SPAN_FEATURES,
    Choice,
    Reader,
    ReaderModel,
    Reading,
    SpacyTagger,
    Span,
    default_reader_dir,
    support_of,
)
from retrieval.answer.sentences import Candidate  # noqa: E402
from retrieval.config import AnswerConfig, EngineConfig, SearchConfig  # noqa: E402
from retrieval.engine import Engine  # noqa: E402
from retrieval.evaluation import EvalQuestion, holds_gold, load_questions  # noqa: E402

log = logging.getLogger("train_reader")
WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0)
"""Sentence weights tried (``ReaderModel.sentence_weight``); the smallest of the best wins."""


@dataclass
class Read:
    """One answerable question's candidate spans, their features and labels."""

    item: EvalQuestion
    week: str
    sentences: list[Candidate]
    probability: dict[tuple[int, int], float]
    spans: list[Span]
    x: np.ndarray
    y: np.ndarray


def read_all(engine: Engine, reader: Reader, items: list[EvalQuestion], weeks: dict[str, str]) -> list[Read]:
    """Ask every question as the engine would and list the reader's candidate spans."""
    live = engine._state()  # a training script may look inside; the fronts never do
    ranker = engine.ranker
    assert ranker is not None
    out = []
    started = time.perf_counter()
    for number, item in enumerate(items, start=1):
        query = live.retriever.query(item.question, as_of=item.as_of)
        hits = live.retriever.search(query, 10)
        candidates, probabilities = live.answerer.rank_sentences(hits, query.context(), ranker)
        blended = lead_with_kind(item.question, blend(candidates, probabilities))
        probability = {(c.hit.passage.id, c.start): float(p) for c, p in zip(candidates, probabilities, strict=True)}
        ranks = {h.passage.id: i for i, h in enumerate(hits[:PASSAGES_READ])}
        spans, x = reader.spans(
            item.question, blended, [probability[(c.hit.passage.id, c.start)] for c in blended], ranks
        )
        y = np.array([holds_gold(s.text, item.answers) for s in spans], dtype=int)
        out.append(Read(item, weeks[item.id], blended, probability, spans, x, y))
        if number % 100 == 0:
            log.info("%d/%d questions read (%.0f s)", number, len(items), time.perf_counter() - started)
    return out


def fit(reads: list[Read], c: float, seed: int) -> LinearModel:
    rows = [r for r in reads if len(r.spans)]
    return fit_linear(np.vstack([r.x for r in rows]), np.concatenate([r.y for r in rows]), SPAN_FEATURES, c, seed)


def best_of(reads: list[Read], model: LinearModel) -> list[tuple[float, bool]]:
    """Each question's best span probability and whether that span holds gold (questions with spans)."""
    out = []
    for r in reads:
        if len(r.spans):
            p = model.probabilities(r.x)
            i = int(np.argmax(p))
            out.append((float(p[i]), bool(r.y[i])))
    return out


def ordered(r: Read, scores: np.ndarray | None, bar: float, weight: float) -> tuple[Candidate, list[Candidate]]:
    """The answer's lead sentence and the sentences in the reader's order, as the engine composes them: the
    shown span's sentence (probability at least ``bar``) leads, else the first by blended score plus
    ``weight`` × support."""
    if scores is None or not len(r.spans):
        return r.sentences[0], r.sentences
    best = int(np.argmax(scores))
    choice = Choice(r.spans[best], float(scores[best])) if scores[best] >= bar else None
    return read_order(r.sentences, Reading(choice, support_of(r.spans, scores)), weight)


def lead_holds_gold(reads: list[Read], scores: dict[str, np.ndarray], bar: float, weight: float) -> float:
    """Share of ``reads`` whose answer's lead sentence holds gold when their spans score ``scores`` (by
    question id)."""
    held = sum(
        holds_gold(ordered(r, scores.get(r.item.id), bar, weight)[0].text, r.item.answers) for r in reads if r.sentences
    )
    return held / max(1, len(reads))


def answers(
    reads: list[Read], scores: dict[str, np.ndarray], bar: float, weight: float, second: float
) -> list[list[Candidate]]:
    """Each question's answer sentences (at most two) with ``second`` as the further sentences' bar, and the
    runner-up's sentence behind a lone lead (``with_runner_up``), as the engine composes them."""
    out = []
    for r in reads:
        if r.sentences:
            lead, order = ordered(r, scores.get(r.item.id), bar, weight)
            found = scores.get(r.item.id)
            support = support_of(r.spans, found) if found is not None and len(r.spans) else {}
            out.append(with_runner_up(led_by(lead, order, r.probability, second), r.sentences, support)[:2])
    return out


def composed_metrics(
    reads: list[Read], scores: dict[str, np.ndarray], bar: float, weight: float, second: float
) -> tuple[float, float]:
    """The median answer length in words and the share of answers holding gold (out of fold)."""
    held, words = [], []
    for r, sentences in zip(
        [r for r in reads if r.sentences], answers(reads, scores, bar, weight, second), strict=True
    ):
        text = " ".join(c.text for c in sentences)
        words.append(len(text.split()))
        held.append(holds_gold(text, r.item.answers))
    return float(np.median(words)), sum(held) / max(1, len(reads))


def p_at_1(reads: list[Read], model: LinearModel) -> float:
    """Share of questions (with spans) whose best span holds gold."""
    best = best_of(reads, model)
    return sum(hit for _, hit in best) / max(1, len(best))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="the training index (scripts/train_ranker.py)")
    parser.add_argument("--ranker", type=Path, default=default_ranker_dir())
    parser.add_argument("--questions", type=Path, default=ROOT.parent / "shared/bench/news_train_2024/questions.jsonl")
    parser.add_argument("--out", type=Path, default=default_reader_dir())
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--depth", type=int, default=SearchConfig().rerank_depth)
    parser.add_argument("--max-words", type=float, default=38.0, help="median answer length at most (CV)")
    parser.add_argument("--min-precision", type=float, default=0.5, help="short answers holding gold at least (CV)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if "dev" in args.questions.parent.name:
        parser.error("the reader is fitted on the training questions only")
    started = time.perf_counter()
    records = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    weeks = {str(r["id"]): str((r.get("meta") or {}).get("week") or str(r["id"]).split("_")[0]) for r in records}
    items = [q for q in load_questions(args.questions) if q.answerable]
    search = SearchConfig(rerank_depth=args.depth, candidates=max(SearchConfig().candidates, args.depth))
    embedding = embedding_from_env()
    answer = AnswerConfig(ranker=str(args.ranker), reader=None)
    engine = Engine.from_config(EngineConfig(index_dir=args.index, embedding=embedding, search=search, answer=answer))
    if not engine.has_index():
        parser.error(f"no index at {args.index}: build it with scripts/train_ranker.py")
    reads = read_all(engine, Reader(SpacyTagger(), None, engine.embedder), items, weeks)
    with_spans = [r for r in reads if len(r.spans)]
    reachable = float(np.mean([r.y.any() for r in with_spans])) if with_spans else 0.0
    log.info("%d of %d questions have spans; a gold span among them: %.4f", len(with_spans), len(reads), reachable)

    folds = folds_of(reads, args.seed)  # type: ignore[arg-type]
    results = []
    for c in GRID:
        values = []
        for fold in range(FOLDS):
            train = [r for r, f in zip(reads, folds, strict=True) if f != fold]
            held = [r for r, f in zip(reads, folds, strict=True) if f == fold]
            values.append(p_at_1(held, fit(train, c, args.seed)))
        results.append((float(np.mean(values)), c))
        log.info("  C=%g: P@1 %.4f", c, results[-1][0])
    p1, c_best = max(results)
    oof: list[tuple[float, bool]] = []
    oof_scores: dict[str, np.ndarray] = {}
    for fold in range(FOLDS):
        train = [r for r, f in zip(reads, folds, strict=True) if f != fold]
        held = [r for r, f in zip(reads, folds, strict=True) if f == fold]
        model_f = fit(train, c_best, args.seed)
        oof.extend(best_of(held, model_f))
        oof_scores.update({r.item.id: model_f.probabilities(r.x) for r in held if len(r.spans)})
    for bar in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6):
        kept = [hit for p, hit in oof if p >= bar]
        log.info("  at %.1f: given %.3f, holds gold %.3f", bar, len(kept) / len(reads), sum(kept) / max(1, len(kept)))
    threshold, given, precision = 1.0, 0.0, 0.0
    for bar in sorted({round(p, 3) for p, _ in oof}):
        kept = [hit for p, hit in oof if p >= bar]
        if kept and sum(kept) / len(kept) >= args.min_precision:
            threshold, given, precision = bar, len(kept) / len(reads), sum(kept) / len(kept)
            break
    log.info(
        "span P@1 (CV) %.4f at C=%g; at %.3f: given %.4f, holds gold %.4f", p1, c_best, threshold, given, precision
    )
    leads = [(lead_holds_gold(reads, oof_scores, threshold, w), -w) for w in WEIGHTS]
    for value, w in leads:
        log.info("  sentence weight %g: lead sentence holds gold %.4f (CV)", -w, value)
    lead_best, weight = max(leads)[0], -max(leads)[1]
    for bar in (*BARS, 1.0):  # 1.0: no sentence beyond the lead and the best
        second, median, contains = bar, *composed_metrics(reads, oof_scores, threshold, weight, bar)
        if median <= args.max_words:
            break
    log.info("second-sentence bar %.3f: median answer %.0f words, holds gold %.4f (CV)", second, median, contains)
    model = ReaderModel(
        spans=fit(reads, c_best, args.seed),
        min_probability=threshold,
        sentence_weight=weight,
        second_sentence=second,
        fitted_on={
            "data": "news_train_2024 (RealTime QA news quiz questions over the articles stored for them)",
            "questions": len(reads),
            "with_spans": len(with_spans),
            "command": " ".join(["scripts/train_reader.py", *sys.argv[1:]]),
            "seed": args.seed,
            "date": dt.date.today().isoformat(),
            "cv_folds": f"{FOLDS} folds of whole weeks",
            "regularisation_C": c_best,
            "gold_span_reachable": round(reachable, 4),
            "cv_span_p@1": round(p1, 4),
            "cv_given_at_threshold": round(given, 4),
            "cv_holds_gold_where_given": round(precision, 4),
            "cv_lead_holds_gold": round(lead_best, 4),
            "cv_lead_holds_gold_weight_0": round(leads[0][0], 4),
            "cv_answer_holds_gold": round(contains, 4),
            "cv_answer_words_median": median,
            "seconds": round(time.perf_counter() - started, 1),
        },
    )
    model.save(args.out)
    log.info("wrote %s", args.out / "reader.json")
    print(json.dumps(model.fitted_on, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
