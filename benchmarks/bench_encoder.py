#!/usr/bin/env python3
"""Benchmark the sentence encoders on real news: plain sentence-transformers fp32, newsdesk's torch
path (bfloat16 where the CPU has it) and the ONNX Runtime int8 path, in one run, interleaved.

Run from the repository root (needs gensim for the Lee news corpus, else ``--corpus squad``)::

    .venv/bin/python benchmarks/bench_encoder.py [--rounds 3] [--sweep] [--json]

See benchmarks/README.md ("Encoder benchmark") for what each number means.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import (  # noqa: E402  (sibling script)
    GENSIM_VERSION,
    cpu_model,
    lee_corpus_path,
    make_questions,
    make_records,
    read_lee,
    write_jsonl,
)

from bot.cli import _offline_environment  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SQUAD = REPO / "benchmarks" / "data" / "squad_v2_dev" / "corpus.jsonl"


def progress_line(message: str) -> None:
    print(f"[bench_encoder] {message}", file=sys.stderr, flush=True)


def corpus_records(which: str) -> tuple[list[dict[str, Any]], str]:
    """Article records and a description of where they came from."""
    if which == "lee":
        path = lee_corpus_path()
        if path is None:
            sys.exit(f"gensim's Lee corpus is missing: run: pip install gensim=={GENSIM_VERSION} (or --corpus squad)")
        articles, repeats = read_lee(path)
        return make_records(
            articles
        ), f"gensim lee_background.cor ({len(articles)} articles, {repeats} repeats dropped)"
    records = [json.loads(line) for line in SQUAD.read_text(encoding="utf-8").splitlines() if line.strip()]
    return records, f"SQuAD 2.0 dev paragraphs ({len(records)})"


def workloads(
    records: list[dict[str, Any]], count_tokens: Callable[[Sequence[str]], list[int]]
) -> dict[str, list[str]]:
    """The texts an index build embeds (title + sentence) and whole passages (title + chunk)."""
    from retrieval.config import ChunkingConfig
    from retrieval.index.chunking import chunk_article
    from retrieval.index.indexer import EMBED_TEMPLATE
    from retrieval.index.store import embed_text
    from retrieval.ingest.files import load_articles

    with tempfile.TemporaryDirectory() as tmp:
        articles = load_articles(write_jsonl(records, Path(tmp) / "corpus.jsonl")).articles
    sentences, chunks = [], []
    seen: set[tuple[str, int, int]] = set()
    for article in articles:
        for chunk in chunk_article(article, ChunkingConfig(), count_tokens):
            chunks.append(embed_text(EMBED_TEMPLATE, article, article.text[chunk.start : chunk.end]))
            for start, end in chunk.sentences:
                if (article.id, start, end) not in seen:
                    seen.add((article.id, start, end))
                    sentences.append(embed_text(EMBED_TEMPLATE, article, article.text[start:end]))
    return {"sentences": sentences, "chunks": chunks}


def cosines(a: Any, b: Any) -> dict[str, float]:
    import numpy as np

    values = np.sum(np.asarray(a, dtype=np.float64) * np.asarray(b, dtype=np.float64), axis=1)
    return {"min": float(values.min()), "p01": float(np.quantile(values, 0.01)), "mean": float(values.mean())}


def run(args: argparse.Namespace) -> dict[str, Any]:
    _offline_environment()  # OMP_WAIT_POLICY=PASSIVE etc., before torch loads
    import numpy as np
    import onnxruntime
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    from retrieval.config import EmbeddingConfig
    from retrieval.embedding.base import resolve_model_path
    from retrieval.embedding.onnx_embedder import OnnxEmbedder, _session
    from retrieval.embedding.sentence_transformer import SentenceTransformerEmbedder

    torch.set_num_threads(args.threads)
    path = resolve_model_path(EmbeddingConfig().model)
    cache = Path(args.onnx_cache) if args.onnx_cache else Path(tempfile.mkdtemp(prefix="bench-onnx-"))

    progress_line("loading encoders (the ONNX export is built on first use)")
    started = time.perf_counter()
    plain = SentenceTransformer(path, device="cpu")  # the baseline: fp32, every default
    plain_s = time.perf_counter() - started
    started = time.perf_counter()
    torch_path = SentenceTransformerEmbedder(EmbeddingConfig(batch_size=args.batch_size))
    torch_s = time.perf_counter() - started
    started = time.perf_counter()
    onnx_path = OnnxEmbedder(
        EmbeddingConfig(
            backend="onnx", quantize="int8", onnx_cache=str(cache), batch_size=args.batch_size, threads=args.threads
        )
    )
    onnx_first_s = time.perf_counter() - started
    started = time.perf_counter()
    OnnxEmbedder(EmbeddingConfig(backend="onnx", quantize="int8", onnx_cache=str(cache), threads=args.threads))
    onnx_cached_s = time.perf_counter() - started

    records, corpus_note = corpus_records(args.corpus)
    texts = workloads(records, torch_path.count_tokens)
    for name in texts:
        texts[name] = texts[name][: args.limit] if args.limit else texts[name]
    questions = [q.text for q in make_questions(records, args.queries)]

    encoders: dict[str, Callable[[Sequence[str]], Any]] = {
        "sentence-transformers fp32": lambda t: plain.encode(list(t), batch_size=32, normalize_embeddings=True),
        f"newsdesk torch {torch_path.dtype}": torch_path.encode,
        "newsdesk onnx int8": onnx_path.encode,
    }
    baseline = next(iter(encoders))
    rates: dict[str, dict[str, list[float]]] = {e: {w: [] for w in texts} for e in encoders}
    vectors: dict[str, dict[str, Any]] = {e: {} for e in encoders}
    for name, encode in encoders.items():  # warm-up, and the vectors compared below
        for workload, data in texts.items():
            vectors[name][workload] = encode(data)
    for round_number in range(args.rounds):
        progress_line(f"throughput round {round_number + 1}/{args.rounds}")
        for workload, data in texts.items():
            for name, encode in encoders.items():  # interleaved: load changes hit all alike
                began = time.perf_counter()
                encode(data)
                rates[name][workload].append(len(data) / (time.perf_counter() - began))

    progress_line(f"single-query latency ({len(questions)} questions each, interleaved)")
    latency: dict[str, list[float]] = {e: [] for e in encoders}
    for question in questions:
        for name, encode in encoders.items():
            began = time.perf_counter()
            encode([question])
            latency[name].append((time.perf_counter() - began) * 1000)

    results: dict[str, Any] = {"encoders": {}}
    for name in encoders:
        entry: dict[str, Any] = {"rate": {}, "ratio": {}, "cosine_to_fp32": {}}
        for workload in texts:
            entry["rate"][workload] = statistics.median(rates[name][workload])
            entry["rate_rounds"] = rates[name]
            entry["cosine_to_fp32"][workload] = cosines(vectors[name][workload], vectors[baseline][workload])
        entry["latency_ms"] = {
            "p50": statistics.median(latency[name]),
            "p95": float(np.quantile(latency[name], 0.95)),
        }
        results["encoders"][name] = entry
    for entry in results["encoders"].values():
        base = results["encoders"][baseline]
        entry["ratio"] = {w: entry["rate"][w] / base["rate"][w] for w in texts}
        entry["latency_speedup"] = base["latency_ms"]["p50"] / entry["latency_ms"]["p50"]

    if args.sweep:
        results["sweep"] = sweep(onnx_path, torch_path, texts["sentences"], questions, args, _session)

    results["setup"] = {
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "load_before": args.load_before,
        "load_after": os.getloadavg()[0],
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "onnxruntime": onnxruntime.__version__,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "corpus": corpus_note,
        "texts": {w: len(d) for w, d in texts.items()},
        "mean_chars": {w: sum(map(len, d)) / max(len(d), 1) for w, d in texts.items()},
        "queries": len(questions),
        "rounds": args.rounds,
        "load_seconds": {
            "sentence-transformers fp32": plain_s,
            "newsdesk torch": torch_s,
            "onnx first use (export+quantize)": onnx_first_s,
            "onnx cached": onnx_cached_s,
        },
        "onnx_export": str(onnx_path.export_path),
    }
    return results


def sweep(
    onnx_path: Any,
    torch_path: Any,
    data: Sequence[str],
    questions: Sequence[str],
    args: argparse.Namespace,
    make_session: Callable[..., Any],
) -> dict[str, Any]:
    """ONNX int8 and torch variants: batch size, length sorting, threads, spinning (each interleaved)."""
    import numpy as np
    import torch

    data = list(data)[: args.sweep_texts]
    out: dict[str, Any] = {}
    model_file = onnx_path.export_path / "model.onnx"
    default_session = onnx_path._session

    def onnx_rate(batch: int, sort: bool) -> float:
        order = np.argsort([-len(t) for t in data], kind="stable") if sort else np.arange(len(data))
        began = time.perf_counter()
        for begin in range(0, len(data), batch):
            onnx_path._run([data[i] for i in order[begin : begin + batch]])
        return len(data) / (time.perf_counter() - began)

    def torch_rate(batch: int) -> float:
        began = time.perf_counter()
        torch_path._model.encode(data, batch_size=batch, show_progress_bar=False)
        return len(data) / (time.perf_counter() - began)

    variants: dict[str, Callable[[], float]] = {}
    for batch in (8, 16, 32, 64, 128):
        variants[f"onnx int8 batch {batch} sorted"] = lambda b=batch: onnx_rate(b, True)
    variants["onnx int8 batch 32 unsorted"] = lambda: onnx_rate(32, False)
    for batch in (16, 32, 64, 128):
        variants[f"torch {torch_path.dtype} batch {batch} sorted"] = lambda b=batch: torch_rate(b)
    sessions = {
        "1 thread": make_session(model_file, 1),
        "2 threads, spinning": make_session(model_file, 2, spinning=True),
    }
    for label, session in sessions.items():

        def rate(s: Any = session) -> float:
            onnx_path._session = s
            try:
                return onnx_rate(32, True)
            finally:
                onnx_path._session = default_session

        variants[f"onnx int8 batch 32 sorted, {label}"] = rate

    def torch_threads(n: int) -> float:
        previous = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            return torch_rate(32)
        finally:
            torch.set_num_threads(previous)

    variants[f"torch {torch_path.dtype} batch 32 sorted, 1 thread"] = lambda: torch_threads(1)

    rates: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(args.rounds):
        progress_line(f"sweep round {round_number + 1}/{args.rounds} ({len(variants)} variants)")
        for name, fn in variants.items():
            rates[name].append(fn())
    out["throughput"] = {name: statistics.median(values) for name, values in rates.items()}

    single: dict[str, list[float]] = {}
    for label, session in {"2 threads (default)": default_session, **sessions}.items():
        onnx_path._session = session
        times = []
        for question in questions:
            began = time.perf_counter()
            onnx_path.encode([question])
            times.append((time.perf_counter() - began) * 1000)
        single[f"onnx int8, {label}"] = times
    onnx_path._session = default_session
    for n in (1, 2):
        previous = torch.get_num_threads()
        torch.set_num_threads(n)
        times = []
        for question in questions:
            began = time.perf_counter()
            torch_path.encode([question])
            times.append((time.perf_counter() - began) * 1000)
        torch.set_num_threads(previous)
        single[f"torch {torch_path.dtype}, {n} thread{'s' if n > 1 else ''}"] = times
    out["latency_p50_ms"] = {name: statistics.median(values) for name, values in single.items()}
    out["texts"] = len(data)
    return out


def render(r: dict[str, Any]) -> str:
    s = r["setup"]
    lines = [
        f"newsdesk encoder benchmark — {s['date']}",
        f"machine: {s['cores']} cores ({s['usable_cores']} usable), {s['cpu']}; "
        f"load average {s['load_before']:.2f} before, {s['load_after']:.2f} after",
        f"runtime: torch {s['torch']} ({s['threads']} threads, OMP_WAIT_POLICY={s['omp_wait_policy']}), "
        f"sentence-transformers {s['sentence_transformers']}, onnxruntime {s['onnxruntime']}; batch {s['batch_size']}",
        f"corpus:  {s['corpus']}: {s['texts']['sentences']} sentence texts (mean {s['mean_chars']['sentences']:.0f} "
        f"chars), {s['texts']['chunks']} chunks (mean {s['mean_chars']['chunks']:.0f} chars); "
        f"{s['queries']} queries; median of {s['rounds']} interleaved rounds",
        "load:    " + ", ".join(f"{k} {v:.1f} s" for k, v in s["load_seconds"].items()),
        "",
        f"{'encoder':<28} {'sentences/s':>12} {'chunks/s':>10} {'× fp32':>14} {'query p50':>10} "
        f"{'× fp32':>7} {'cos min / p01 / mean (chunks)':>30}",
    ]
    for name, e in r["encoders"].items():
        c = e["cosine_to_fp32"]["chunks"]
        lines.append(
            f"{name:<28} {e['rate']['sentences']:>12.1f} {e['rate']['chunks']:>10.1f} "
            f"{e['ratio']['sentences']:>6.2f} / {e['ratio']['chunks']:>5.2f} {e['latency_ms']['p50']:>8.2f}ms "
            f"{e['latency_speedup']:>7.2f} {c['min']:>10.4f} / {c['p01']:.4f} / {c['mean']:.4f}"
        )
    if "sweep" in r:
        sw = r["sweep"]
        lines += ["", f"sweep ({sw['texts']} sentence texts, median of {s['rounds']} rounds)", ""]
        lines += [f"  {name:<48} {rate:>8.1f} texts/s" for name, rate in sw["throughput"].items()]
        lines += [f"  {name:<48} {ms:>8.2f} ms single-query p50" for name, ms in sw["latency_p50_ms"].items()]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=("lee", "squad"), default="lee", help="news corpus (default lee)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved throughput rounds (median; default 3)")
    parser.add_argument("--limit", type=int, default=0, help="at most N texts per workload (default: all)")
    parser.add_argument("--queries", type=int, default=100, help="single-query latency samples (default 100)")
    parser.add_argument("--threads", type=int, default=2, help="torch and ORT intra-op threads (default 2)")
    parser.add_argument("--batch-size", type=int, default=32, help="newsdesk encoders' batch size (default 32)")
    parser.add_argument("--sweep", action="store_true", help="also measure batch sizes, sorting, threads")
    parser.add_argument("--sweep-texts", type=int, default=800, help="texts per sweep variant (default 800)")
    parser.add_argument("--onnx-cache", help="reuse this ONNX export cache (default: a fresh temp dir)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--out", type=Path, help="also write the JSON results to FILE")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_before = os.getloadavg()[0]
    results = run(args)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
