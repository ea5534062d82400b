"""Vector store benchmark: FAISS exact vs the approximate indexes, and Milvus Lite.

For each size it makes synthetic 384-d unit vectors shaped like sentence embeddings (see
``synthetic``), computes the exact top 10 of each query, then for each index builds it through
``retrieval.vectors`` (the code newsdesk runs), saves it, and — in a fresh process, so the memory is
the index's own — loads it the way newsdesk does (memory-mapped) and times single queries with 1 and
2 threads. Prints one table; ``--json`` for the numbers. Not a test: nothing is asserted.

    .venv/bin/python benchmarks/bench_vectors.py --sizes 100000 1000000 --milvus 100000 --real
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DIM = 384


def synthetic(n: int, seed: int, dim: int = DIM) -> np.ndarray:
    """Unit vectors like MiniLM's: 5,000 topics in a 96-d subspace, noise, a shared offset.

    Calibrated on real MiniLM sentence vectors (benchmarks/data/squad_v2_dev): a random pair has
    cosine ~0.04, and a query's nearest neighbours are well apart from the bulk but close to each
    other (top-1 0.62, top-10 0.57 at 1M), which is harder for an approximate index than real data.
    """
    latent, spread, noise = 96, 1.0, 0.3
    basis = np.linalg.qr(np.random.default_rng(1).standard_normal((dim, latent)))[0].T.astype(np.float32)
    topics = np.random.default_rng(2).standard_normal((5000, latent)).astype(np.float32)
    offset = np.random.default_rng(3).standard_normal(dim).astype(np.float32)
    offset *= 0.2 / np.linalg.norm(offset)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    scale = np.sqrt(1 + spread**2)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        z = topics[rng.integers(0, len(topics), m)] + spread * rng.standard_normal((m, latent)).astype(np.float32)
        x = z @ basis / np.sqrt(latent)
        x += noise * scale / np.sqrt(dim) * rng.standard_normal((m, dim)).astype(np.float32)
        x += offset * scale
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def real_minilm(cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """MiniLM vectors of the SQuAD dev sentences (title-prefixed, as newsdesk embeds them) and questions."""
    if (cache / "minilm_corpus.npy").exists():
        return np.load(cache / "minilm_corpus.npy"), np.load(cache / "minilm_questions.npy")
    from bot.cli import _offline_environment

    _offline_environment()
    from sentencex import segment

    from retrieval.config import EmbeddingConfig
    from retrieval.embedding.sentence_transformer import SentenceTransformerEmbedder

    data = REPO / "benchmarks" / "data" / "squad_v2_dev"
    texts = []
    for line in (data / "corpus.jsonl").open(encoding="utf-8"):
        article = json.loads(line)
        texts += [f"{article['title']}\n{s.strip()}" for s in segment("en", article["text"]) if len(s.strip()) > 20]
    questions = [json.loads(line)["question"] for line in (data / "questions.jsonl").open(encoding="utf-8")]
    embedder = SentenceTransformerEmbedder(EmbeddingConfig())
    corpus, asked = embedder.encode(texts), embedder.encode(questions)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(cache / "minilm_corpus.npy", corpus)
    np.save(cache / "minilm_questions.npy", asked)
    return corpus, asked


def filtered_window(days: np.ndarray) -> tuple[int, int]:
    """A date window holding about 10% of the units."""
    return int(np.percentile(days, 45)), int(np.percentile(days, 55))


def exact_top10(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Ground truth: the exact top 10 of each query (batched flat search)."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index.search(queries, 10)[1]


def rss_mib() -> dict[str, float]:
    """This process's resident memory now (anonymous and file-backed) and its peak, in MiB."""
    status = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("Rss")
    )
    now = {k: int(v.split()[0]) / 1024 for k, v in status.items()}
    return {
        "rss": now.get("RssAnon", 0) + now.get("RssFile", 0) + now.get("RssShmem", 0),
        "rss_anon": now.get("RssAnon", 0),
        "rss_file": now.get("RssFile", 0),
        "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# -- the child processes --------------------------------------------------------------------------


def child_build(args: argparse.Namespace) -> dict[str, object]:
    """Build one index from the saved vectors and write it to ``args.dir``."""
    from retrieval.config import VectorConfig
    from retrieval.index.vectors.factory import make_backend

    vectors = np.load(args.vectors)
    days = np.load(args.days)
    params = json.loads(args.params)
    ann = None if args.kind == "flat" else args.kind
    config = VectorConfig(
        backend="milvus" if args.kind == "milvus" else "faiss",
        exact_max=len(vectors) if ann is None else 0,
        ann=ann if ann in ("hnsw", "ivf") else "hnsw",
        params=params,
        milvus_uri=str(Path(args.dir) / "milvus.db"),
    )
    backend = make_backend(config, Path(args.dir))
    started = time.perf_counter()
    store = backend.build(vectors, days, [f"a{i % 1000}" for i in range(len(vectors))])
    built = time.perf_counter() - started
    store.save(Path(args.dir))
    files = sum(p.stat().st_size for p in Path(args.dir).rglob("*") if p.is_file())
    parts = [dataclasses.asdict(part) for part in store.part_records()]
    return {"build_s": built, "kind": store.kind, "params": store.params, "parts": parts, "bytes": files, **rss_mib()}


def child_search(args: argparse.Namespace) -> dict[str, object]:
    """Load the index like newsdesk (memory-mapped) and time single queries."""
    from retrieval.config import VectorConfig
    from retrieval.index.manifest import VectorPart
    from retrieval.index.vectors.factory import make_backend

    queries = np.load(args.qfile)
    truth = np.load(args.truth)
    days = np.load(args.days)
    build = json.loads(args.params)
    result: dict[str, object] = {}
    before = rss_mib()["rss"]
    for threads in (1, 2):
        config = VectorConfig(
            backend="milvus" if args.kind == "milvus" else "faiss",
            threads=threads,
            milvus_uri=str(Path(args.dir) / "milvus.db"),
        )
        backend = make_backend(config, Path(args.dir))
        started = time.perf_counter()
        parts = [VectorPart(**part) for part in build.get("parts", [])]
        store = backend.load(Path(args.dir), build["kind"], build["params"], parts, days)
        result.setdefault("load_s", time.perf_counter() - started)
        for query in queries[:10]:  # warm up
            store.search(query, 10)
        times, found = [], 0
        for query, gold in zip(queries, truth, strict=True):
            started = time.perf_counter()
            hits = store.search(query, 10)
            times.append(time.perf_counter() - started)
            found += len({u for u, _ in hits} & set(gold.tolist()))
        result[f"p50_ms_{threads}t"] = float(np.percentile(times, 50) * 1000)
        result[f"p95_ms_{threads}t"] = float(np.percentile(times, 95) * 1000)
        result["recall@10"] = found / (10 * len(queries))
        if threads == 1:
            # newsdesk asks for 200 units (50 passages x 4 sentences) per question
            times = []
            for query in queries[:100]:
                started = time.perf_counter()
                store.search(query, 200)
                times.append(time.perf_counter() - started)
            result["p50_ms_k200"] = float(np.percentile(times, 50) * 1000)
            result.update({f"{k}_after_search": v for k, v in rss_mib().items()})
            result["rss_before_load"] = before
            # a date filter allowing 10% of the units, inside the search
            window, gold_filtered = filtered_window(days), np.load(args.truth.replace(".npy", "-filtered.npy"))
            times, found = [], 0
            for query, gold in zip(queries, gold_filtered, strict=False):
                started = time.perf_counter()
                hits = store.search(query, 10, days=window)
                times.append(time.perf_counter() - started)
                found += len({u for u, _ in hits} & set(gold.tolist()))
            result["filtered_p50_ms"] = float(np.percentile(times, 50) * 1000)
            result["filtered_recall@10"] = found / (10 * len(gold_filtered))
    return result


def run_child(mode: str, **kw: object) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", mode] + [x for k, v in kw.items() for x in (f"--{k}", str(v))]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the parent ---------------------------------------------------------------------------------


def bench_size(
    name: str, vectors: np.ndarray, queries: np.ndarray, kinds: list[str], params: dict, work: Path
) -> list[dict]:
    """Every index kind on one data set; one row each."""
    print(f"[{name}] exact ground truth for {len(queries)} queries over {len(vectors):,} vectors", file=sys.stderr)
    truth = exact_top10(vectors, queries)
    days = np.random.default_rng(5).integers(738_000, 739_000, len(vectors)).astype(np.int64)
    files = {"vectors": work / "vectors.npy", "queries": work / "queries.npy", "truth": work / "truth.npy"}
    np.save(files["vectors"], vectors)
    np.save(files["queries"], queries)
    np.save(files["truth"], truth)
    window = filtered_window(days)
    allowed = np.flatnonzero((days >= window[0]) & (days <= window[1]))
    np.save(work / "truth-filtered.npy", allowed[exact_top10(vectors[allowed], queries[:100])])
    np.save(work / "days.npy", days)
    rows = []
    for kind in kinds:
        target = work / kind
        target.mkdir()
        print(f"[{name}] {kind}: building", file=sys.stderr)
        built = run_child(
            "build",
            kind=kind,
            dir=target,
            vectors=files["vectors"],
            days=work / "days.npy",
            params=json.dumps(params.get(kind, {})),
        )
        print(f"[{name}] {kind}: built in {built['build_s']:.1f} s; searching", file=sys.stderr)
        searched = run_child(
            "search",
            kind=kind,
            dir=target,
            vectors=files["vectors"],
            days=work / "days.npy",
            qfile=files["queries"],
            truth=files["truth"],
            params=json.dumps({"kind": built["kind"], "params": built["params"], "parts": built.get("parts", [])}),
        )
        rows.append({"data": name, "n": len(vectors), "index": kind, **built, **searched})
        for leftover in target.rglob("*"):
            if leftover.is_file():
                leftover.unlink()
    return rows


def print_table(rows: list[dict]) -> None:
    head = (
        f"{'data':<14} {'n':>9} {'index':<18} {'build s':>8} {'p50/p95 1t ms':>14} {'p50/p95 2t ms':>14} "
        f"{'recall@10':>9} {'k200 p50':>8} {'filt p50':>8} {'filt rec':>8} "
        f"{'RSS MiB':>8} {'anon':>6} {'file':>6} {'disk MiB':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['data']:<14} {r['n']:>9,} {r['kind']:<18} {r['build_s']:>8.1f} "
            f"{r['p50_ms_1t']:>6.2f}/{r['p95_ms_1t']:<7.2f} {r['p50_ms_2t']:>6.2f}/{r['p95_ms_2t']:<7.2f} "
            f"{r['recall@10']:>9.3f} {r['p50_ms_k200']:>8.2f} "
            f"{r['filtered_p50_ms']:>8.2f} {r['filtered_recall@10']:>8.3f} "
            f"{r['rss_after_search'] - r['rss_before_load']:>8.0f} "
            f"{r['rss_anon_after_search']:>6.0f} {r['rss_file_after_search']:>6.0f} {r['bytes'] / 2**20:>8.0f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000], help="synthetic sizes (default 100000)")
    parser.add_argument("--kinds", nargs="*", default=["flat", "hnsw", "ivf"], help="FAISS indexes to compare")
    parser.add_argument("--milvus", type=int, nargs="*", default=[], help="sizes to run Milvus Lite at")
    parser.add_argument("--real", action="store_true", help="also real MiniLM vectors (SQuAD dev sentences)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--params", default="{}", help='JSON per index, e.g. {"hnsw": {"ef_search": 96}}')
    parser.add_argument("--cache", type=Path, default=REPO / "benchmarks" / "out")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    for hidden in ("kind", "dir", "vectors", "days", "qfile", "truth"):
        parser.add_argument(f"--{hidden}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child_build(args) if args.child == "build" else child_search(args)
        print(json.dumps(result, default=float))
        return 0

    params = json.loads(args.params)
    rows: list[dict] = []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-vectors-") as tmp:
        for n in sorted(set(args.sizes) | set(args.milvus)):
            vectors = synthetic(n, seed=10)
            queries = synthetic(args.queries, seed=11)
            kinds = (args.kinds if n in args.sizes else []) + (["milvus"] if n in args.milvus else [])
            work = Path(tmp) / f"synthetic-{n}"
            work.mkdir()
            rows += bench_size("synthetic", vectors, queries, kinds, params, work)
            del vectors
        if args.real:
            corpus, questions = real_minilm(args.cache)
            work = Path(tmp) / "minilm"
            work.mkdir()
            rows += bench_size("minilm-squad", corpus, questions[: args.queries], args.kinds, params, work)
    import faiss

    header = {
        "date": time.strftime("%Y-%m-%d"),
        "cores": os.cpu_count(),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "?",
        ),
        "faiss": faiss.__version__,
        "load_before": os.getloadavg()[0],
        "minutes": (time.time() - started) / 60,
    }
    if args.out:
        args.out.write_text(json.dumps({"machine": header, "rows": rows}, indent=2, default=float))
    if args.json:
        print(json.dumps({"machine": header, "rows": rows}, indent=2, default=float))
    else:
        print(
            f"vector benchmark — {header['date']}, {header['cores']} cores, {header['cpu']}, faiss {header['faiss']}, "
            f"{args.queries} queries, k=10; load average {header['load_before']:.2f}; {header['minutes']:.0f} min"
        )
        print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
