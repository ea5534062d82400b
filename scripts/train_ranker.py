"""Fit newsdesk's learned ranker on news_train_2024 (and only there): passages, sentences, confidence.

    .venv/bin/python scripts/train_ranker.py --corpus ../shared/bench/news_train_2024/corpus.jsonl.gz \\
        --articles 3000 --index /tmp/newsdesk-train-index --depth 20 --max-wrong 0.15 --max-words 36 \\
        --out models/newsdesk-ranker

(``--articles 3000``: every article a training question cites as gold plus a seeded random sample of
the others, 40 minutes to two hours to index on 2 cores; without it, the whole corpus.)

builds (or reuses) an index of the training corpus with the shipped embedder (or the one
``NEWSDESK_MODEL`` names: a ranker for another embedder), runs the search on every
training question as of the day it was asked (``meta.asked_on``), and fits three logistic models on
what the engine saw, each on the features ``retrieval/answer/features.py`` computes at serving time:

1. passages — "this candidate passage holds a gold answer" over the first ``rerank_depth`` fused
   candidates of each answerable question;
2. sentences — "this sentence holds a gold answer" over the sentences of the top five passages once
   re-ranked by (1);
3. confidence — "the articles answer this question" over every question, answerable or not.

The regularisation of each is chosen by cross-validation over whole weeks of questions (a week's
news never on both sides; the confidence's by its pooled out-of-fold AUROC, fitted on its standardised
features held within ±``CONFIDENCE_Z_LIMIT`` as they are when serving), and so are the thresholds:
``min_confidence`` refuses at most ``--max-wrong`` of the answerable questions' out-of-fold
confidences, ``second_sentence`` keeps the median answer under ``--max-words``. Deterministic
(``--seed`` orders the folds); a few minutes once the index exists. Writes ``ranker.json`` and prints
the cross-validated metrics for the model card. Never point it at the dev questions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.answer.extractive import PASSAGES_READ, scored_by  # noqa: E402
from retrieval.answer.features import PASSAGE_FEATURES, QUESTION_FEATURES, SENTENCE_FEATURES, QuestionContext  # noqa: E402
from retrieval.answer.ranker import (  # noqa: E402
    CONFIDENCE_Z_LIMIT,
    LinearModel,
    Ranker,
    default_ranker_dir,
    search_order,
)
from retrieval.config import AnswerConfig, EmbeddingConfig, EngineConfig, SearchConfig  # noqa: E402
from retrieval.engine import Engine  # noqa: E402
from retrieval.evaluation import EvalQuestion, auroc, holds_gold, load_questions, slice_questions  # noqa: E402
from retrieval.types import Hit  # noqa: E402

log = logging.getLogger("train_ranker")
GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
"""Inverse regularisation strengths tried for each model."""
FOLDS = 5
RANK_WEIGHTS = tuple(round(0.05 * i, 2) for i in range(7))
"""How much of the fused order the search keeps (``Ranker.rank_weight``) tried: 0 to 0.3."""
BARS = tuple(round(0.1 + 0.025 * i, 3) for i in range(33))
"""Second-sentence bars tried, lowest first: the lowest that keeps the median answer short enough."""


@dataclass
class Question:
    """A training question and what the engine saw for it."""

    item: EvalQuestion
    week: str
    context: QuestionContext
    pool: list[Hit]
    passage_x: np.ndarray
    passage_y: np.ndarray


def fit_linear(
    x: np.ndarray, y: np.ndarray, features: Sequence[str], c: float, seed: int, limit: float | None = None
) -> LinearModel:
    """A standardised logistic regression as a ``LinearModel``; ``limit``: the standardised features are
    held within this many standard deviations while fitting, as ``LinearModel.logits(rows, limit)``
    holds them when serving."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    if limit is not None:
        z = np.clip(z, -limit, limit)
    model = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(z, y)
    return LinearModel(
        features=tuple(features),
        weights=tuple(float(w) for w in model.coef_[0]),
        bias=float(model.intercept_[0]),
        mean=tuple(float(m) for m in mean),
        scale=tuple(float(s) for s in scale),
    )


def folds_of(questions: Sequence[Question], seed: int) -> list[int]:
    """Each question's fold: whole weeks per fold, shuffled by ``seed``."""
    weeks = sorted({q.week for q in questions})
    random.Random(seed).shuffle(weeks)
    fold_of_week = {week: i % FOLDS for i, week in enumerate(weeks)}
    return [fold_of_week[q.week] for q in questions]


def choose_c(
    questions: Sequence[Question],
    folds: Sequence[int],
    fit: Callable[[list[Question], float], LinearModel],
    score: Callable[[list[Question], LinearModel], float],
) -> tuple[float, float]:
    """The C of ``GRID`` with the best mean out-of-fold ``score``, and that score."""
    results = []
    for c in GRID:
        values = []
        for fold in range(FOLDS):
            train = [q for q, f in zip(questions, folds, strict=True) if f != fold]
            held = [q for q, f in zip(questions, folds, strict=True) if f == fold]
            if held:
                values.append(score(held, fit(train, c)))
        results.append((float(np.mean(values)), c))
        log.info("  C=%g: %.4f", c, results[-1][0])
    best_score, best_c = max(results)
    return best_c, best_score


# -- 1. passages -------------------------------------------------------------------------------


def collect(engine: Engine, items: Sequence[EvalQuestion], weeks: dict[str, str]) -> list[Question]:
    """The engine's candidate pool for every question, with the passage features and labels."""
    retriever = engine._state().retriever  # a training script may look inside; the fronts never do
    depth = retriever.config.rerank_depth
    out: list[Question] = []
    started = time.perf_counter()
    for number, item in enumerate(items, start=1):
        query = retriever.query(item.question, as_of=item.as_of)
        pool = retriever.pool(query, depth)
        x = retriever.features(query, pool)
        y = np.array([item.answerable and holds_gold(h.passage.text, item.answers) for h in pool], dtype=int)
        out.append(Question(item, weeks[item.id], query.context(), pool, x, y))
        if number % 100 == 0:
            log.info("%d/%d questions searched (%.0f s)", number, len(items), time.perf_counter() - started)
    return out


def passage_mrr(questions: Sequence[Question], model: LinearModel, rank_weight: float = 0.0) -> float:
    """MRR@10 of the first pooled passage holding a gold answer, in the search's order under ``model`` and
    ``rank_weight`` (answerable only)."""
    total, n = 0.0, 0
    for q in questions:
        if not q.item.answerable or not len(q.pool):
            continue
        n += 1
        order = search_order(model.probabilities(q.passage_x), q.passage_x, rank_weight)
        rank = next((r for r, i in enumerate(order[:10], 1) if q.passage_y[i]), None)
        total += 1.0 / rank if rank else 0.0
    return total / max(1, n)


def article_hits(questions: Sequence[Question], model: LinearModel, rank_weight: float = 0.0) -> dict[str, float]:
    """Hits@1 and Hits@5 of a gold article among the distinct articles of the pool in the search's order
    under ``model`` and ``rank_weight``."""
    found = {1: 0, 5: 0}
    answerable = [q for q in questions if q.item.answerable and len(q.pool)]
    for q in answerable:
        articles: list[str] = []
        for i in search_order(model.probabilities(q.passage_x), q.passage_x, rank_weight):
            if q.pool[i].article.id not in articles:
                articles.append(q.pool[i].article.id)
        for k in found:
            found[k] += any(a in q.item.gold_doc_ids for a in articles[:k])
    return {f"hits@{k}": round(v / max(1, len(answerable)), 4) for k, v in found.items()}


def one_feature(name: str) -> LinearModel:
    """A passage model that orders by the passage feature ``name`` alone (unstandardised, weight 1)."""
    return LinearModel(
        PASSAGE_FEATURES,
        tuple(float(f == name) for f in PASSAGE_FEATURES),
        0.0,
        (0.0,) * len(PASSAGE_FEATURES),
        (1.0,) * len(PASSAGE_FEATURES),
    )


def fit_passages(questions: list[Question], c: float, seed: int) -> LinearModel:
    """The passage model on the answerable questions' pools."""
    rows = [q for q in questions if q.item.answerable and len(q.pool)]
    return fit_linear(
        np.vstack([q.passage_x for q in rows]), np.concatenate([q.passage_y for q in rows]), PASSAGE_FEATURES, c, seed
    )


def choose_rank_weight(
    questions: Sequence[Question], folds: Sequence[int], models: Sequence[LinearModel]
) -> tuple[float, dict[str, float]]:
    """The weight of ``RANK_WEIGHTS`` whose search order gives the best mean of out-of-fold article Hits@1
    and passage MRR@10 (``models[fold]``: the passage model fitted without ``fold``), and its metrics."""
    results = []
    for weight in RANK_WEIGHTS:
        held = [[q for q, f in zip(questions, folds, strict=True) if f == fold] for fold in range(FOLDS)]
        hits = [article_hits(held[fold], models[fold], weight) for fold in range(FOLDS)]
        metrics = {k: round(float(np.mean([h[k] for h in hits])), 4) for k in hits[0]}
        metrics["mrr@10"] = round(float(np.mean([passage_mrr(held[f], models[f], weight) for f in range(FOLDS)])), 4)
        log.info("  rank weight %.2f: %s", weight, metrics)
        results.append(((metrics["hits@1"] + metrics["mrr@10"]) / 2, -weight, metrics))
    _, minus_weight, best = max(results, key=lambda r: r[:2])
    return -minus_weight, best


# -- 2. sentences and 3. confidence ---------------------------------------------------------------


@dataclass
class Read:
    """A question's top passages (re-ranked, scored) and their sentences with features."""

    question: Question
    hits: list[Hit]
    candidates: list[object]
    sentence_x: np.ndarray
    sentence_y: np.ndarray


def reranked(q: Question, passages: LinearModel, rank_weight: float) -> list[Hit]:
    """The question's pool in the search's order under ``passages`` and ``rank_weight``, each hit scored by
    its passage probability."""
    probabilities = passages.probabilities(q.passage_x)
    order = search_order(probabilities, q.passage_x, rank_weight)
    return [replace(q.pool[i], score=float(probabilities[i])) for i in order]


def read_all(engine: Engine, questions: Sequence[Question], passages: LinearModel, rank_weight: float) -> list[Read]:
    """Each question's top passages under ``passages`` and their sentences' features and labels."""
    from retrieval.answer.features import sentence_features

    answerer = engine._state().answerer
    out = []
    for q in questions:
        hits = reranked(q, passages, rank_weight)[:PASSAGES_READ]
        candidates = [c for s in answerer.scorer.score(q.item.question, hits) for c in s]
        scores = {h.passage.id: h.score for h in hits}
        ranks = {h.passage.id: i for i, h in enumerate(hits)}
        x = sentence_features(q.context, candidates, scores, ranks)
        y = np.array([q.item.answerable and holds_gold(c.text, q.item.answers) for c in candidates], dtype=int)
        out.append(Read(q, hits, candidates, x, y))
    return out


def sentence_p1(reads: Sequence[Read], model: LinearModel) -> float:
    """Share of answerable questions whose best sentence under ``model`` holds a gold answer."""
    answerable = [r for r in reads if r.question.item.answerable and len(r.candidates)]
    hits = sum(int(r.sentence_y[int(np.argmax(model.logits(r.sentence_x)))]) for r in answerable)
    return hits / max(1, len(answerable))


def fit_sentences(reads: list[Read], c: float, seed: int) -> LinearModel:
    """The sentence model on the answerable questions' top-passage sentences."""
    rows = [r for r in reads if r.question.item.answerable and len(r.candidates)]
    x = np.vstack([r.sentence_x for r in rows])
    return fit_linear(x, np.concatenate([r.sentence_y for r in rows]), SENTENCE_FEATURES, c, seed)


def question_rows(engine: Engine, reads: Sequence[Read], sentences: LinearModel) -> np.ndarray:
    """The confidence features of every question, its sentences ranked by ``sentences``."""
    answerer = engine._state().answerer
    rows = []
    for r in reads:
        probabilities = sentences.probabilities(r.sentence_x) if len(r.candidates) else np.zeros(0)
        ranked = scored_by(r.candidates, probabilities)
        rows.append(answerer.question_row(r.hits, ranked, r.question.context))
    return np.vstack(rows)


def confidence_oof(
    rows: dict[int, np.ndarray], answerable: np.ndarray, folds: Sequence[int], c: float, seed: int
) -> np.ndarray:
    """Each question's out-of-fold confidence; ``rows[fold]``: every question's features with the sentence
    model fitted without ``fold``. Fitted and applied with the features held as when serving."""
    oof = np.zeros(len(answerable))
    fold_of = np.asarray(folds)
    for fold in range(FOLDS):
        train, held = fold_of != fold, fold_of == fold
        y = answerable[train].astype(int)
        model = fit_linear(rows[fold][train], y, QUESTION_FEATURES, c, seed, CONFIDENCE_Z_LIMIT)
        oof[held] = model.probabilities(rows[fold][held], CONFIDENCE_Z_LIMIT)
    return oof


def subset(corpus: Path, items: Sequence[EvalQuestion], articles: int, index: Path) -> Path:
    """Write the gold articles and a random sample of the rest (``random.Random(0)``) beside the index."""
    with gzip.open(corpus, "rt", encoding="utf-8") if corpus.suffix == ".gz" else corpus.open(encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    gold = {doc for item in items for doc in item.gold_doc_ids}
    ids = [str(json.loads(line)["id"]) for line in lines]
    others = [i for i in ids if i not in gold]
    chosen = gold | set(random.Random(0).sample(others, max(0, articles - len(gold))))
    out = index.with_name(index.name + "-corpus.jsonl")
    out.write_text("".join(line for line, i in zip(lines, ids, strict=True) if i in chosen), encoding="utf-8")
    log.info("training corpus: %d of %d articles (%d gold) in %s", len(chosen), len(ids), len(gold), out)
    return out


def embedding_from_env() -> EmbeddingConfig:
    """The embedder to fit for: the shipped one, or the one ``NEWSDESK_MODEL`` names (a ranker and reader for
    another model), with ``NEWSDESK_EMBED_CACHE`` if set."""
    return EmbeddingConfig(
        model=os.environ.get("NEWSDESK_MODEL") or EmbeddingConfig().model,
        cache=os.environ.get("NEWSDESK_EMBED_CACHE") or None,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="an index of the training corpus (built if missing)")
    parser.add_argument("--corpus", type=Path, help="the training corpus, to build the index")
    parser.add_argument("--articles", type=int, help="index the gold articles and a random sample, this many in all")
    parser.add_argument("--slice", type=int, help="fit on a seeded slice of this many questions (a smoke test)")
    parser.add_argument("--questions", type=Path, default=ROOT.parent / "shared/bench/news_train_2024/questions.jsonl")
    parser.add_argument("--out", type=Path, default=default_ranker_dir())
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--depth", type=int, default=SearchConfig().rerank_depth, help="candidates re-ranked (NEWSDESK_RERANK_DEPTH)"
    )
    parser.add_argument("--max-wrong", type=float, default=0.15, help="answerable questions refused at most (CV)")
    parser.add_argument("--max-words", type=float, default=36.0, help="median answer length at most (train)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if "dev" in args.questions.parent.name:
        parser.error("the ranker is fitted on the training questions only")
    started = time.perf_counter()
    records = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    weeks = {str(r["id"]): str((r.get("meta") or {}).get("week") or str(r["id"]).split("_")[0]) for r in records}
    items = load_questions(args.questions)
    if args.slice:
        items = slice_questions(items, args.slice, args.seed)
    search = SearchConfig(rerank_depth=args.depth, candidates=max(SearchConfig().candidates, args.depth))
    embedding = embedding_from_env()
    engine = Engine.from_config(
        EngineConfig(index_dir=args.index, embedding=embedding, search=search, answer=AnswerConfig(ranker=None))
    )
    if not engine.has_index():
        if args.corpus is None:
            parser.error(f"no index at {args.index}: give --corpus to build it")
        corpus = args.corpus if args.articles is None else subset(args.corpus, items, args.articles, args.index)
        engine.build(corpus, full=True)

    questions = collect(engine, items, weeks)
    folds = folds_of(questions, args.seed)
    answerable_pools = [q for q in questions if q.item.answerable]
    recall = np.mean([any(h.article.id in q.item.gold_doc_ids for h in q.pool) for q in answerable_pools])
    log.info(
        "passages: %d pooled candidates; a gold article in the pool: %.4f", sum(len(q.pool) for q in questions), recall
    )
    c_p, mrr = choose_c(questions, folds, lambda qs, c: fit_passages(qs, c, args.seed), passage_mrr)
    passages = fit_passages(questions, c_p, args.seed)
    fused_only = one_feature("rank")
    log.info("passage MRR@10 (CV) %.4f; the fused order alone %.4f", mrr, passage_mrr(questions, fused_only))
    fold_models = [
        fit_passages([q for q, f in zip(questions, folds, strict=True) if f != fold], c_p, args.seed)
        for fold in range(FOLDS)
    ]
    rank_weight, cv_hits = choose_rank_weight(questions, folds, fold_models)
    log.info(
        "articles (CV) at rank weight %.2f %s; the fused order alone %s",
        rank_weight,
        cv_hits,
        article_hits(questions, fused_only),
    )

    # The sentence and confidence models see the passages in the search's order under the fitted passage
    # model; out of fold, so a question's own labels never shaped the ranking its features come from.
    reads: list[Read] = [None] * len(questions)  # type: ignore[list-item]
    for fold in range(FOLDS):
        for i, (q, f) in enumerate(zip(questions, folds, strict=True)):
            if f == fold:
                reads[i] = read_all(engine, [q], fold_models[fold], rank_weight)[0]
    c_s, p1 = choose_c(reads, folds, lambda rs, c: fit_sentences(rs, c, args.seed), sentence_p1)  # type: ignore[arg-type]
    sentences = fit_sentences(reads, c_s, args.seed)
    log.info("sentence P@1 (CV) %.4f", p1)

    answerable = np.array([r.question.item.answerable for r in reads])
    rows = {}
    for fold in range(FOLDS):
        s_model = fit_sentences([r for r, f in zip(reads, folds, strict=True) if f != fold], c_s, args.seed)
        rows[fold] = question_rows(engine, reads, s_model)
    tried = []
    for c in GRID:
        oof = confidence_oof(rows, answerable, folds, c, args.seed)
        tried.append((auroc(list(oof[answerable]), list(oof[~answerable])), -c, oof))
        log.info("  C=%g: confidence AUROC %.4f", c, tried[-1][0])
    area, minus_c, oof = max(tried, key=lambda t: t[:2])
    c_q = -minus_c
    x_all = question_rows(engine, reads, sentences)
    confidence = fit_linear(x_all, answerable.astype(int), QUESTION_FEATURES, c_q, args.seed, CONFIDENCE_Z_LIMIT)
    threshold = float(np.quantile(oof[answerable], args.max_wrong))
    refused = float(np.mean(oof[~answerable] < threshold))
    log.info("confidence AUROC (CV) %.4f at C=%g; at %.3f refuses %.3f of unanswerable", area, c_q, threshold, refused)

    second = 1.0
    for bar in BARS:
        words = []
        for r in reads:
            if len(r.candidates):
                p = sentences.probabilities(r.sentence_x)
                order = np.argsort(-p)
                chosen = [order[0], *(i for i in order[1:2] if p[i] >= bar)]
                words.append(sum(len(r.candidates[i].text.split()) for i in chosen))  # type: ignore[attr-defined]
        if float(np.median(words)) <= args.max_words:
            second = bar
            log.info("second-sentence bar %.3f: median answer %.0f words (train)", bar, float(np.median(words)))
            break

    ranker = Ranker(
        passages=passages,
        sentences=sentences,
        confidence=confidence,
        min_confidence=threshold,
        second_sentence=second,
        rank_weight=rank_weight,
        fitted_on={
            "data": "news_train_2024 (RealTime QA news quiz questions over the articles stored for them)",
            "questions": len(items),
            "answerable": int(answerable.sum()),
            "command": " ".join(["scripts/train_ranker.py", *sys.argv[1:]]),
            "seed": args.seed,
            "rerank_depth": args.depth,
            "date": dt.date.today().isoformat(),
            "cv_folds": f"{FOLDS} folds of whole weeks",
            "regularisation_C": {"passages": c_p, "sentences": c_s, "confidence": c_q},
            "confidence_z_limit": CONFIDENCE_Z_LIMIT,
            "cv_passage_mrr@10": round(mrr, 4),
            "cv_rank_weight": {"tried": list(RANK_WEIGHTS), "chosen": rank_weight, "by": "mean of Hits@1 and MRR@10"},
            "cv_articles": cv_hits,
            "cv_sentence_p@1": round(p1, 4),
            "cv_confidence_auroc": round(area, 4),
            "cv_refused_unanswerable_at_threshold": round(refused, 4),
            "seconds": round(time.perf_counter() - started, 1),
        },
    )
    ranker.save(args.out)
    log.info("wrote %s", args.out / "ranker.json")
    print(json.dumps(ranker.fitted_on, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
