#!/usr/bin/env python3
"""Compare the trained reader with the hand-weighted sentence score on the engine's own candidates.

For each benchmark question the engine searches (k = 10) and every sentence of those passages is a
candidate, built as the runtime will build it (title, date, the sentence before it in its article).
Both scorers rank the same candidates: ``retrieval.answer.sentences.SentenceScorer`` (the current
heuristic) and the reader (``retrieval.answer.reader.OnnxReader``), plus their reciprocal-rank
fusion (k = 60, nothing fitted). Reported per scorer: P@1 (share of answerable questions whose
top candidate contains a gold answer, SQuAD-normalised as in ``retrieval.evaluation``), MRR of the
first gold-holding candidate, and the AUROC of the top score between answerable and unanswerable
questions; then the reader's latency for scoring 16, 24 and 32 candidates in one call. Run from the
repository root::

    nice -n 10 .venv/bin/python benchmarks/bench_reader.py --index /tmp/nd/idx-dev-base \\
        --questions ../shared/bench/news_dev_2023h1/questions.jsonl [--out FILE]
    nice -n 10 .venv/bin/python benchmarks/bench_reader.py --index /tmp/reader/idx-squad \\
        --corpus benchmarks/data/squad_v2_dev/corpus.jsonl --questions benchmarks/data/squad_v2_dev/questions.jsonl

``--corpus`` builds the index first when ``--index`` holds none; an existing index is only read.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.answer.reader import OnnxReader, ReaderInput, default_model_dir  # noqa: E402
from retrieval.answer.sentences import SentenceScorer  # noqa: E402
from retrieval.config import EmbeddingConfig  # noqa: E402
from retrieval.embedding.factory import make_embedder  # noqa: E402
from retrieval.engine import Engine  # noqa: E402
from retrieval.evaluation import EvalQuestion, auroc, load_questions, normalize_answer  # noqa: E402
from retrieval.index.store import IndexData, IndexStore  # noqa: E402
from retrieval.types import Hit  # noqa: E402

K = 10
SIZES = (16, 24, 32)
RRF_K = 60


@dataclass(frozen=True)
class Candidates:
    """One question's candidate sentences (engine order, de-duplicated) and both scorers' scores."""

    question: EvalQuestion
    inputs: tuple[ReaderInput, ...]
    gold: np.ndarray
    heuristic: np.ndarray


def previous_sentences(index: IndexData) -> dict[tuple[str, int], str]:
    """(article id, sentence start) -> the sentence before it in its article ('' for the first)."""
    spans: dict[str, set[tuple[int, int]]] = {}
    for passage in index.passages:
        spans.setdefault(passage.article_id, set()).update(passage.sentences)
    out: dict[tuple[str, int], str] = {}
    for article_id, found in spans.items():
        text = index.articles[article_id].text
        before = ""
        for start, end in sorted(found):
            out[(article_id, start)] = before
            before = text[start:end]
    return out


def holds_gold(answers: Sequence[str], text: str) -> bool:
    """The evaluation's rule: a normalised gold answer is a substring of the normalised text."""
    normalized = normalize_answer(text)
    return any(a and a in normalized for a in (normalize_answer(x) for x in answers))


def candidates(
    question: EvalQuestion, hits: Sequence[Hit], scorer: SentenceScorer, before: dict[tuple[str, int], str]
) -> Candidates:
    """Every sentence of the hits once (first, i.e. best-ranked, occurrence), with its heuristic score."""
    seen: set[tuple[str, int, int]] = set()
    inputs, gold, heuristic = [], [], []
    for hit, scored in zip(hits, scorer.score(question.question, hits), strict=True):
        article = hit.article
        for candidate in scored:
            key = (article.id, candidate.start, candidate.end)
            if key in seen:
                continue
            seen.add(key)
            inputs.append(
                ReaderInput(
                    sentence=candidate.text,
                    title=article.title,
                    date=article.date,
                    before=before.get((article.id, candidate.start), ""),
                )
            )
            gold.append(question.answerable and holds_gold(question.answers, candidate.text))
            heuristic.append(candidate.score)
    return Candidates(question, tuple(inputs), np.array(gold, dtype=bool), np.array(heuristic, dtype=np.float64))


def rrf(*scores: np.ndarray) -> np.ndarray:
    """Reciprocal-rank fusion of several score arrays over the same items."""
    fused = np.zeros(len(scores[0]))
    for s in scores:
        ranks = np.empty(len(s))
        ranks[np.argsort(-s, kind="stable")] = np.arange(len(s))
        fused += 1.0 / (RRF_K + ranks + 1)
    return fused


def metrics(items: Sequence[Candidates], scores: Sequence[np.ndarray]) -> dict[str, float]:
    """P@1, MRR of the first gold candidate (answerable questions), AUROC of the top score."""
    p1: list[float] = []
    rr: list[float] = []
    top_pos: list[float] = []
    top_neg: list[float] = []
    for item, score in zip(items, scores, strict=True):
        top = float(score.max()) if len(score) else 0.0
        if not item.question.answerable:
            top_neg.append(top)
            continue
        top_pos.append(top)
        order = np.argsort(-score, kind="stable")
        hits = np.flatnonzero(item.gold[order])
        p1.append(float(len(hits) > 0 and hits[0] == 0))
        rr.append(1.0 / (hits[0] + 1) if len(hits) else 0.0)
    return {
        "p_at_1": round(float(np.mean(p1)), 4),
        "mrr": round(float(np.mean(rr)), 4),
        "auroc_top": round(auroc(top_pos, top_neg), 4),
    }


def latency(model: Path, items: Sequence[Candidates], threads: int, rounds: int) -> dict[str, dict[str, float]]:
    """p50/p95 wall and CPU milliseconds of one ``score`` call on n real candidates, for each n in SIZES."""
    reader = OnnxReader(model, threads=threads)
    pool = [c for c in items if len(c.inputs) >= max(SIZES)] or list(items)
    out = {}
    for n in SIZES:
        for c in pool[:3]:  # warm up
            reader.score(c.question.question, c.inputs[:n])
        times, cpu = [], []
        for i in range(rounds):
            c = pool[i % len(pool)]
            started, started_cpu = time.perf_counter(), time.process_time()
            reader.score(c.question.question, c.inputs[:n])
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        out[str(n)] = {
            "p50_ms": round(float(np.percentile(times, 50)), 1),
            "p95_ms": round(float(np.percentile(times, 95)), 1),
            # CPU time of the call (all threads): on a shared machine, what one idle core would take.
            "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 1),
            "cpu_p95_ms": round(float(np.percentile(cpu, 95)), 1),
        }
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Search every question, score the candidates both ways, aggregate, time the reader."""
    engine = Engine(IndexStore(args.index), make_embedder(EmbeddingConfig()))
    if not engine.has_index():
        if args.corpus is None:
            raise SystemExit(f"no index at {args.index} (give --corpus to build one)")
        engine.build(args.corpus, full=True)
    index = engine.index
    scorer = SentenceScorer(index.lexical)
    before = previous_sentences(index)
    questions = load_questions(args.questions)
    if args.limit:
        questions = questions[: args.limit]
    reader = OnnxReader(args.model, threads=args.threads)
    items: list[Candidates] = []
    reader_scores: list[np.ndarray] = []
    started = time.perf_counter()
    for q in questions:
        item = candidates(q, engine.search(q.question, k=K), scorer, before)
        items.append(item)
        reader_scores.append(reader.score(q.question, item.inputs).astype(np.float64))
    scoring_s = time.perf_counter() - started
    answerable = [c for c in items if c.question.answerable]
    n_candidates = [len(c.inputs) for c in items]
    result: dict[str, Any] = {
        "index": str(args.index),
        "questions": len(items),
        "answerable": len(answerable),
        "unanswerable": len(items) - len(answerable),
        "candidates_per_question": {"mean": round(statistics.mean(n_candidates), 1), "max": max(n_candidates)},
        "oracle": round(sum(bool(c.gold.any()) for c in answerable) / max(1, len(answerable)), 4),
        "model": str(args.model),
        "heuristic": metrics(items, [c.heuristic for c in items]),
        "reader": metrics(items, reader_scores),
        "rrf": metrics(items, [rrf(c.heuristic, r) for c, r in zip(items, reader_scores, strict=True)]),
        "search_and_score_seconds": round(scoring_s, 1),
    }
    for top in (16, 24, 32):  # the reader seeing only the first n candidates (engine order), as at runtime
        cut = [Candidates(c.question, c.inputs[:top], c.gold[:top], c.heuristic[:top]) for c in items]
        result[f"heuristic_first{top}"] = metrics(cut, [c.heuristic for c in cut])
        result[f"reader_first{top}"] = metrics(cut, [r[:top] for r in reader_scores])
    if args.latency:
        result["latency"] = {f"threads_{t}": latency(args.model, items, t, args.rounds) for t in (1, 2)}
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description="reader vs heuristic sentence scores on the engine's candidates")
    p.add_argument("--index", type=Path, required=True, help="an index of the benchmark corpus (only read)")
    p.add_argument("--questions", type=Path, required=True)
    p.add_argument("--corpus", type=Path, help="build the index from this corpus if --index holds none")
    p.add_argument("--model", type=Path, default=default_model_dir())
    p.add_argument("--threads", type=int, default=1, help="reader threads while scoring the benchmark")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--no-latency", dest="latency", action="store_false")
    p.add_argument("--rounds", type=int, default=60, help="timed calls per latency cell")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run and print the JSON report."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = parse_args(argv)
    text = json.dumps(run(args), indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
