"""Topic alerts: fit the matching threshold on news_train_2024, measure precision and recall on news_dev_2023h1.

    python benchmarks/bench_alerts.py slice --out /tmp/nd/alerts/train-slice.jsonl   # a train slice to index
    newsdesk index --seeds /tmp/nd/alerts/train-slice.jsonl --index /tmp/nd/alerts/idx-train
    python benchmarks/bench_alerts.py fit --index /tmp/nd/alerts/idx-train
    python benchmarks/bench_alerts.py measure --index /tmp/nd/idx-dev-base

Fitting: each sliced train question becomes a topic (its content words, as a user would type them);
its gold articles are the positives, every other article of the slice a negative. The weight and
threshold kept are those with the most recall at a precision of at least PRECISION_TARGET.
Measuring: the topics in ``alerts_topics_dev.json`` were written by hand from dev questions (no
article text); for each, every article dated in the question's week (the 7 days up to ``asked_on``)
arrives as new, the gold articles are the positives. Article texts are read from ../shared/bench
and never written into the project.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.alerts.matching import FITTED_DENSE_WEIGHT, MatchConfig, TopicMatcher  # noqa: E402
from retrieval.alerts.stories import lead_vectors  # noqa: E402

BENCH = ROOT.parent.parent / "shared" / "bench"
TRAIN = BENCH / "news_train_2024"
DEV = BENCH / "news_dev_2023h1"
TOPICS = Path(__file__).with_name("alerts_topics_dev.json")
SLICE_QUESTIONS = 120
SLICE_NEGATIVES = 400
PRECISION_TARGET = 0.8
"""The matching threshold kept is the one with the most recall at this precision (on train)."""
STORY_PRECISION_TARGET = 0.95
WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, FITTED_DENSE_WEIGHT)
_STOP_WORDS = """
    a an the of in on at to for from by with and or but is are was were be been being this that these
    those which what who whom whose when where why how many much did does do has have had will would
    could should can may might week recently latest new following following: not except all it its their
    his her they he she there here than then as into about after before over under most more one two
"""
_STOP = frozenset(_STOP_WORDS.split())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def bench_dir(default: Path) -> Path:
    return default if default.is_dir() else Path("../shared/bench") / default.name


def train_questions(rng: random.Random | None = None) -> list[dict[str, Any]]:
    """The train questions of the slice (answerable, with gold articles; a seeded sample)."""
    questions = read_jsonl(bench_dir(TRAIN) / "questions.jsonl")
    answerable = [q for q in questions if q["answerable"] and q["gold_doc_ids"]]
    return (rng or random.Random(0)).sample(answerable, SLICE_QUESTIONS)


def cmd_slice(args: argparse.Namespace) -> None:
    """Write the train slice: the gold articles of SLICE_QUESTIONS questions and SLICE_NEGATIVES others."""
    rng = random.Random(0)
    chosen = train_questions(rng)
    gold = {d for q in chosen for d in q["gold_doc_ids"]}
    articles = read_jsonl(bench_dir(TRAIN) / "corpus.jsonl.gz")
    others = [a for a in articles if a["id"] not in gold]
    keep = gold | {a["id"] for a in rng.sample(others, SLICE_NEGATIVES)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as handle:
        for article in articles:
            if article["id"] in keep:
                handle.write(json.dumps(article) + "\n")
    print(f"wrote {len(keep)} articles ({len(gold)} gold of {len(chosen)} questions) to {args.out}")


def topic_of(question: str, words: int = 6) -> str:
    """A train question as a topic a user would type: its first content words."""
    kept = [w for w in re.findall(r"[\w'’.-]+", question) if w.lower().strip(".") not in _STOP and len(w) > 1]
    return " ".join(w.strip(".") for w in kept[:words])


def engine_for(index: Path) -> Any:
    from bot.settings import Settings
    from retrieval.engine import Engine

    return Engine.from_config(Settings().engine_config(index))


@dataclass(frozen=True)
class Scored:
    topic: str
    weights: dict[float, np.ndarray]
    """Dense weight -> each article's score."""
    positive: np.ndarray


def score_topics(engine: Any, topics: dict[str, str], gold: dict[str, set[str]], ids: Sequence[str]) -> list[Scored]:
    """Every topic scored against every article, under each dense weight (one pass per weight)."""
    out = []
    matcher = TopicMatcher(engine.index, engine.embedder, MatchConfig())
    for key, topic in topics.items():
        found = matcher.score(topic, ids)
        dense = np.array([m.dense for m in found])
        coverage = np.array([m.coverage for m in found])
        scores = {w: w * dense + (1 - w) * coverage for w in WEIGHTS}
        out.append(Scored(topic, scores, np.array([m.article.id in gold[key] for m in found])))
    return out


def precision_recall(scored: Sequence[Scored], weight: float, threshold: float) -> tuple[float, float, int, int, int]:
    tp = fp = positives = 0
    for s in scored:
        chosen = s.weights[weight] >= threshold
        tp += int((chosen & s.positive).sum())
        fp += int((chosen & ~s.positive).sum())
        positives += int(s.positive.sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    return precision, tp / positives if positives else 0.0, tp, fp, positives


def fit_threshold(scored: Sequence[Scored]) -> tuple[float, float, float, float]:
    """The (weight, threshold) with the most recall at PRECISION_TARGET; and that precision and recall."""
    best = (0.0, 0.0, 0.0, 0.0)
    for weight in WEIGHTS:
        for threshold in np.arange(0.30, 0.95, 0.01):
            precision, recall, *_ = precision_recall(scored, weight, float(threshold))
            if precision >= PRECISION_TARGET and recall > best[3]:
                best = (weight, round(float(threshold), 2), precision, recall)
    return best


def fit_story(engine: Any, questions: Sequence[dict[str, Any]]) -> tuple[float, float, float, int, int]:
    """The lead-cosine threshold from which two articles are one story: gold articles of one question are
    pairs of one story, gold articles of questions asked in different weeks are not."""
    vectors = lead_vectors(engine.index, [d for q in questions for d in q["gold_doc_ids"]])
    same, other = [], []
    for q in questions:
        docs = [d for d in q["gold_doc_ids"] if d in vectors]
        same += [float(vectors[a] @ vectors[b]) for a, b in combinations(docs, 2)]
    for q, r in combinations(questions, 2):
        if q["meta"]["week"] != r["meta"]["week"]:
            other += [float(vectors[a] @ vectors[b]) for a in q["gold_doc_ids"][:2] for b in r["gold_doc_ids"][:2]
                      if a in vectors and b in vectors]  # fmt: skip
    same_a, other_a = np.array(same), np.array(other)
    best = (1.0, 1.0, 0.0)
    for threshold in np.arange(0.3, 0.99, 0.01):
        tp, fp = int((same_a >= threshold).sum()), int((other_a >= threshold).sum())
        precision = tp / (tp + fp) if tp + fp else 1.0
        if precision >= STORY_PRECISION_TARGET and tp / len(same_a) > best[2]:
            best = (round(float(threshold), 2), precision, tp / len(same_a))
    return (*best, len(same), len(other))


def cmd_fit(args: argparse.Namespace) -> None:
    """Fit the weight and threshold of matching, and the story threshold, on the train slice."""
    engine = engine_for(args.index)
    questions = train_questions()
    ids = engine.article_ids()
    present = set(ids)
    topics = {q["id"]: topic_of(q["question"]) for q in questions}
    gold = {q["id"]: set(q["gold_doc_ids"]) & present for q in questions}
    scored = score_topics(engine, topics, gold, ids)
    weight, threshold, precision, recall = fit_threshold(scored)
    story = fit_story(engine, questions)
    result = {
        "train_articles": len(ids),
        "topics": len(topics),
        "example_topics": list(topics.values())[:5],
        "dense_weight": weight,
        "threshold": threshold,
        "train_precision": round(precision, 3),
        "train_recall": round(recall, 3),
        "story_similarity": story[0],
        "story_pair_precision": round(story[1], 3),
        "story_pair_recall": round(story[2], 3),
        "story_pairs": {"same": story[3], "different": story[4]},
    }
    print(json.dumps(result, indent=2))


def week_stream(
    engine: Any, written: dict[str, str], questions: dict[str, Any], gold: dict[str, set[str]]
) -> list[Scored]:
    """Each topic against only the articles dated in the 7 days up to its question's ``asked_on``."""
    dates = {a: engine.index.articles[a].date for a in engine.article_ids()}
    out = []
    for key, topic in written.items():
        until = dt.date.fromisoformat(questions[key]["meta"]["asked_on"])
        since = until - dt.timedelta(days=7)
        ids = [a for a, day in dates.items() if day is not None and since <= day <= until]
        out += score_topics(engine, {key: topic}, gold, ids)
    return out


def cmd_measure(args: argparse.Namespace) -> None:
    """Precision and recall of the fitted matching on the dev topics: every dev article arrives as new."""
    engine = engine_for(args.index)
    written = json.loads(TOPICS.read_text(encoding="utf-8"))["topics"]
    questions = {q["id"]: q for q in read_jsonl(bench_dir(DEV) / "questions.jsonl")}
    ids = engine.article_ids()
    gold = {key: set(questions[key]["gold_doc_ids"]) for key in written}
    config = MatchConfig()
    scored = score_topics(engine, written, gold, ids)
    precision, recall, tp, fp, positives = precision_recall(scored, config.dense_weight, config.threshold)
    per_topic = [
        (s.topic, int((s.weights[config.dense_weight] >= config.threshold).sum()), int(s.positive.sum()))
        for s in scored
    ]
    weekly = week_stream(engine, written, questions, gold)
    w_precision, w_recall, w_tp, w_fp, w_positives = precision_recall(weekly, config.dense_weight, config.threshold)
    result = {
        "dev_articles": len(ids),
        "topics": len(written),
        "dense_weight": config.dense_weight,
        "threshold": config.threshold,
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "true_positives": tp,
        "false_positives": fp,
        "gold_articles": positives,
        "topics_with_a_match": sum(1 for _, n, _ in per_topic if n),
        "matches_per_topic_median": float(np.median([n for _, n, _ in per_topic])),
        "week_stream": {
            "precision": round(w_precision, 3),
            "recall": round(w_recall, 3),
            "true_positives": w_tp,
            "false_positives": w_fp,
            "gold_articles_in_their_week": w_positives,
            "articles_per_topic_median": float(np.median([len(s.positive) for s in weekly])),
        },
    }
    print(json.dumps(result, indent=2))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("slice", help="write the train slice to index")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(handler=cmd_slice)
    for name, handler in (("fit", cmd_fit), ("measure", cmd_measure)):
        p = sub.add_parser(name)
        p.add_argument("--index", type=Path, required=True)
        p.set_defaults(handler=handler)
    args = parser.parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
