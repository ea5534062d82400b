"""The whole index in Milvus (NEWSDESK_MILVUS_CORPUS): which lexical side matches newsdesk's BM25, the
single-node ceilings of Milvus Lite, and a replica's memory. Not a test: nothing is asserted.

    # Milvus's BM25 function vs newsdesk's own weights as sparse vectors, against newsdesk's BM25
    .venv/bin/python benchmarks/bench_milvus.py lexical --index DIR --questions QUESTIONS.jsonl
    # passages written per second and query p50/p95 at a size (synthetic passages and vectors)
    .venv/bin/python benchmarks/bench_milvus.py ceilings --passages 100000
    # a replica's resident memory against a published corpus (a Milvus Lite server on 127.0.0.1)
    .venv/bin/python benchmarks/bench_milvus.py memory --seeds DIR [--seeds DIR ...]
    # briefings on a replica against the same in process: equal?, and how long (hash embedder)
    .venv/bin/python benchmarks/bench_milvus.py briefs --seeds CORPUS.jsonl --as-of 2023-03-17
    # how far BM25 moves when weighted with an average passage length off by up to the drift tolerance
    .venv/bin/python benchmarks/bench_milvus.py drift --index DIR --questions QUESTIONS.jsonl
    # an incremental build + publish of a few articles on top of a corpus, against a whole publish
    # (the engine as configured: NEWSDESK_VECTOR_BACKEND=milvus NEWSDESK_MILVUS_CORPUS=1 ...)
    .venv/bin/python benchmarks/bench_milvus.py incremental --corpus CORPUS.jsonl.gz --add 5
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _lexical(args: argparse.Namespace) -> dict[str, Any]:
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    from retrieval.index.lexical import LexicalIndex
    from retrieval.index.remote import bm25_weights
    from retrieval.index.store import IndexStore
    from retrieval.text import _stopwords, tokenize

    index = IndexStore(Path(args.index)).load()
    questions = [json.loads(line)["question"] for line in Path(args.questions).read_text().splitlines() if line.strip()]
    questions = questions[: args.questions_max]
    n = min(args.passages or len(index.passages), len(index.passages))
    template = index.manifest.embed_template
    texts = [template.format(title=index.articles[p.article_id].title, text=p.text) for p in index.passages[:n]]
    lexical = LexicalIndex.build(texts)  # newsdesk's BM25 over exactly these passages
    client = MilvusClient(uri=str(Path(tempfile.mkdtemp(dir=args.scratch)) / "lexical.db"))
    variants = {
        "bm25_standard": {"tokenizer": "standard"},
        "bm25_stopwords": {"tokenizer": "standard", "filter": [{"type": "stop", "stop_words": sorted(_stopwords())}]},
        "bm25_pretokenized": {"tokenizer": "standard"},  # fed newsdesk's own tokens (stemmed, no stop words)
    }
    tokens = [" ".join(words) for words in tokenize(texts)]

    def said(name: str, text: str) -> str:
        return " ".join(tokenize([text])[0]) if name == "bm25_pretokenized" else text

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pid", DataType.INT64, is_primary=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    for name, analyzer in variants.items():
        schema.add_field(
            f"t_{name}", DataType.VARCHAR, max_length=65_535, enable_analyzer=True, analyzer_params=analyzer
        )
        schema.add_field(name, DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name=f"f_{name}",
                function_type=FunctionType.BM25,
                input_field_names=[f"t_{name}"],
                output_field_names=[name],
            )
        )
    client.create_collection("lex", schema=schema, consistency_level="Strong")
    started = time.perf_counter()
    rows = []
    for pid, (text, sparse) in enumerate(zip(texts, bm25_weights(lexical), strict=True)):
        fields = {f"t_{name}": tokens[pid] if name == "bm25_pretokenized" else text for name in variants}
        rows.append({"pid": pid, "sparse": sparse, **fields})
        if len(rows) == 2000:
            client.insert("lex", rows)
            rows = []
    if rows:
        client.insert("lex", rows)
    params = client.prepare_index_params()
    params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    for name in variants:
        params.add_index(
            field_name=name,
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
            params={"bm25_k1": 1.5, "bm25_b": 0.75},
        )
    client.create_index("lex", params)
    client.load_collection("lex")
    written = time.perf_counter() - started
    vocab = {t: i for i, t in enumerate(lexical.terms)}
    k = args.k
    overlap: dict[str, list[float]] = {"newsdesk_sparse": [], **{n: [] for n in variants}}
    first: dict[str, list[float]] = {n: [] for n in overlap}
    for question in questions:
        want = [pid for pid, _ in lexical.search(question, k)]
        if not want:
            continue
        weights: dict[int, float] = {}
        for token in tokenize([question])[0]:
            if token in vocab:
                weights[vocab[token]] = weights.get(vocab[token], 0.0) + lexical.idf(token)
        found = {
            "newsdesk_sparse": client.search(
                "lex", data=[weights], anns_field="sparse", limit=k, search_params={"metric_type": "IP"}
            ),
            **{
                n: client.search(
                    "lex", data=[said(n, question)], anns_field=n, limit=k, search_params={"metric_type": "BM25"}
                )
                for n in variants
            },
        }
        for name, result in found.items():
            got = [int(hit["pid"]) for hit in result[0]]
            overlap[name].append(len(set(got) & set(want)) / len(want))
            first[name].append(float(bool(got) and got[0] == want[0]))
    return {
        "passages": n,
        "questions": len(overlap["newsdesk_sparse"]),
        "k": k,
        "write_seconds": round(written, 1),
        "overlap_at_k": {n: round(float(np.mean(v)), 4) for n, v in overlap.items()},
        "same_top1": {n: round(float(np.mean(v)), 4) for n, v in first.items()},
    }


class _Marks(logging.Handler):
    """When the library said it began indexing (to split writing from indexing)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.indexing: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("indexing "):
            self.indexing = time.perf_counter()


def _ceilings(args: argparse.Namespace) -> dict[str, Any]:
    """Milvus Lite (in-process ``.db``) with synthetic passages, through the code a build and a replica
    run: the passages collection as a publish writes it (text, day, newsdesk-style sparse BM25 weights),
    ``--vectors-per-passage`` (4) random sentence vectors per passage through ``MilvusBackend.build``
    (FLAT up to ``exact_max``, else HNSW with the library's parameters), queries through
    ``MilvusVectors.search`` (200 units, as newsdesk asks) and a sparse search for 100 passages as
    ``RemoteLexical`` sends it."""
    import resource

    from pymilvus import DataType

    from retrieval.config import VectorConfig
    from retrieval.index.remote import _create, _schema
    from retrieval.index.vectors.milvus import MilvusBackend

    rng = np.random.default_rng(0)
    n, dim, vocabulary, each = args.passages, 384, 50_000, args.vectors_per_passage
    scratch = Path(tempfile.mkdtemp(dir=args.scratch))
    config = VectorConfig(backend="milvus", milvus_uri=str(scratch / "ceil.db"), milvus_collection="ceil")
    backend = MilvusBackend(config, scratch)
    client = backend.client
    schema = _schema(
        ("pid", DataType.INT64, {}),
        ("text", DataType.VARCHAR, {"max_length": 4096}),
        ("day", DataType.INT64, {}),
        ("sparse", DataType.SPARSE_FLOAT_VECTOR, {}),
    )
    zipf = np.minimum(rng.zipf(1.3, size=(n, 60)), vocabulary - 1)

    def rows() -> Any:
        for pid in range(n):
            terms, counts = np.unique(zipf[pid], return_counts=True)
            sparse = dict(zip(terms.tolist(), (counts / (counts + 1.2)).tolist(), strict=True))
            yield {"pid": pid, "text": "x" * 600, "day": 738000 + pid % 1000, "sparse": sparse}

    started = time.perf_counter()
    _create(client, "ceil_passages", schema, rows(), "sparse", "IP")
    passages_seconds = time.perf_counter() - started
    vectors = rng.standard_normal((n * each, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    days = np.repeat(738000 + np.arange(n) % 1000, each)
    marks = _Marks()
    logging.getLogger("retrieval.index.vectors.milvus").addHandler(marks)
    logging.getLogger("retrieval.index.vectors.milvus").setLevel(logging.INFO)
    started = time.perf_counter()
    store = backend.build(vectors, days, [f"a{i // each}" for i in range(n * each)])
    vectors_seconds = time.perf_counter() - started
    indexing_seconds = time.perf_counter() - (marks.indexing or started)
    del vectors
    timings: dict[str, list[float]] = {"dense": [], "dense_10pct_days": [], "sparse": []}
    for _ in range(args.queries):
        q = rng.standard_normal(dim).astype(np.float32)
        q /= np.linalg.norm(q)
        t = time.perf_counter()
        store.search(q, 200)
        timings["dense"].append(time.perf_counter() - t)
        t = time.perf_counter()
        store.search(q, 200, days=(738000, 738099))
        timings["dense_10pct_days"].append(time.perf_counter() - t)
        terms = {int(x): 1.0 for x in rng.integers(1, 2000, size=5)}
        t = time.perf_counter()
        client.search(
            "ceil_passages",
            data=[terms],
            anns_field="sparse",
            limit=100,
            filter="",
            search_params={"metric_type": "IP"},
            output_fields=["pid"],
        )
        timings["sparse"].append(time.perf_counter() - t)
    ms = lambda xs, q: round(float(np.percentile(xs, q)) * 1000, 1)  # noqa: E731
    return {
        "passages": n,
        "vectors": n * each,
        "vector_index": store.params["index_type"],
        "vector_params": {k: v for k, v in store.params.items() if k != "collection"},
        "passages_written_and_indexed_seconds": round(passages_seconds, 1),
        "vectors_written_seconds": round(vectors_seconds - indexing_seconds, 1),
        "vectors_indexed_and_loaded_seconds": round(indexing_seconds, 1),
        "passages_per_second_overall": round(n / (passages_seconds + vectors_seconds), 1),
        "queries": args.queries,
        **{f"{name}_ms_p50_p95": [ms(xs, 50), ms(xs, 95)] for name, xs in timings.items()},
        "process_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _memory(args: argparse.Namespace) -> dict[str, Any]:
    """Publish each seeds directory in turn (hash embedder); a fresh replica process asks and reports its RSS."""
    from retrieval.config import VectorConfig
    from tests.conftest import HashEmbedder, make_engine

    scratch = Path(tempfile.mkdtemp(dir=args.scratch))
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "milvus_lite",
            "server",
            "--data-dir",
            str(scratch / "lite"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    out = []
    try:
        collection = f"mem{uuid.uuid4().hex[:6]}"
        config = VectorConfig(backend="milvus", milvus_uri=uri, milvus_collection=collection, milvus_corpus=True)
        builder = make_engine(scratch / "index", HashEmbedder(), config)
        questions = (
            "\n".join(["What did the central bank decide?", "Who won the election?", "Where was the storm?"] * 5) + "\n"
        )
        for seeds in args.seeds:
            started = time.perf_counter()
            builder.build(Path(seeds), full=True)
            seconds = time.perf_counter() - started
            replica = subprocess.run(
                [sys.executable, "-m", "tests.retrieval.index.replica", uri, collection],
                input=questions,
                capture_output=True,
                text=True,
                cwd=REPO,
                check=True,
            )
            last = json.loads(replica.stdout.strip().splitlines()[-1])
            manifest = builder.corpus.current().manifest  # type: ignore[union-attr]
            out.append(
                {
                    "seeds": str(seeds),
                    "articles": manifest.n_articles,
                    "passages": manifest.n_passages,
                    "build_and_publish_seconds": round(seconds, 1),
                    "replica_rss_mib": round(last["rss_kib"] / 1024, 1),
                }
            )
    finally:
        server.terminate()
        server.wait(timeout=60)
    return {"sizes": out}


def _briefs(args: argparse.Namespace) -> dict[str, Any]:
    """Publish ``--seeds`` (hash embedder, the tests' small chunks), then brief over 1 and 7 days, with and
    without a topic, on a replica (Milvus alone) and in process (the builder's directory): equal, and the
    time of each (the second of two runs)."""
    import datetime as dt
    from dataclasses import replace

    from retrieval.alerts.briefing import BriefConfig
    from retrieval.alerts.matching import MatchConfig
    from retrieval.config import VectorConfig
    from tests.conftest import HashEmbedder, make_engine

    logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(lambda record: False)
    scratch = Path(tempfile.mkdtemp(dir=args.scratch))
    uri = str(scratch / "milvus.db")
    config = VectorConfig(backend="milvus", milvus_uri=uri, milvus_collection="briefs", milvus_corpus=True)
    builder = make_engine(scratch / "index", HashEmbedder(), config)
    started = time.perf_counter()
    builder.build(Path(args.seeds), full=True)
    built = time.perf_counter() - started
    local = make_engine(scratch / "index", HashEmbedder(), replace(config, milvus_corpus=False))
    replica = make_engine(scratch / "none", HashEmbedder(), config)
    as_of = dt.date.fromisoformat(args.as_of)
    brief = BriefConfig(match=MatchConfig(threshold=0.5))  # the hash embedder's cosines run lower than MiniLM's
    rows = []
    for days in (1, 7):
        for topic in (None, args.topic):
            since = as_of - dt.timedelta(days=days)
            timed = {}
            for name, engine in (("in_process", local), ("replica", replica)):
                for _ in range(2):
                    started = time.perf_counter()
                    briefing = engine.brief(since=since, until=as_of, topic=topic, config=brief)
                    seconds = time.perf_counter() - started
                timed[name] = (briefing, seconds)
            rows.append(
                {
                    "days": days,
                    "topic": topic,
                    "articles": timed["in_process"][0].articles,
                    "stories": len(timed["in_process"][0].stories),
                    "equal": timed["in_process"][0] == timed["replica"][0],
                    "in_process_ms": round(timed["in_process"][1] * 1000),
                    "replica_ms": round(timed["replica"][1] * 1000),
                }
            )
    manifest = builder.corpus.current().manifest  # type: ignore[union-attr]
    return {
        "articles": manifest.n_articles,
        "passages": manifest.n_passages,
        "build_and_publish_seconds": round(built, 1),
        "briefs": rows,
    }


def _drift(args: argparse.Namespace) -> dict[str, Any]:
    """BM25 top k with each passage weighted by the average length times (1 + d), against the exact one."""
    import copy

    from retrieval.index.lexical import K1, B
    from retrieval.index.store import IndexStore

    lexical = IndexStore(Path(args.index)).load().lexical
    questions = [json.loads(line)["question"] for line in Path(args.questions).read_text().splitlines() if line.strip()]
    exact = [lexical.search(q, args.k) for q in questions]
    out: dict[str, Any] = {"passages": lexical.n_docs, "average_length": round(lexical.average, 2)}
    out["questions"] = len(questions)
    for drift in args.drifts:
        moved = copy.copy(lexical)
        average = lexical.average * (1 + drift)
        moved._norms = [K1 * ((1 - B) + B * s.lengths / average) for s in lexical.segments]
        overlap, top1, worst = [], [], 0.0
        for question, want in zip(questions, exact, strict=True):
            got = moved.search(question, args.k)
            if not want:
                continue
            overlap.append(len({p for p, _ in got} & {p for p, _ in want}) / len(want))
            top1.append(got[0][0] == want[0][0])
            scores = moved.scores(question)
            assert scores is not None
            worst = max(worst, max(abs(float(scores[p]) - s) / s for p, s in want))
        out[f"{drift:+.3f}"] = {
            f"overlap@{args.k}": round(float(np.mean(overlap)), 4),
            "same_top1": round(float(np.mean(top1)), 4),
            "worst_relative_score_change": round(worst, 4),
        }
    return out


def _incremental(args: argparse.Namespace) -> dict[str, Any]:
    """Build and publish all but the last ``add`` articles of the corpus, then add them: an incremental
    build + publish (appended), then the same generation published whole, each timed."""
    import gzip

    import retrieval.index.remote as remote
    from bot.settings import Settings
    from retrieval.engine import Engine

    scratch = Path(tempfile.mkdtemp(dir=args.scratch))
    opener = gzip.open if args.corpus.endswith(".gz") else open
    with opener(args.corpus, "rt", encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip()]
    lines = lines[: args.articles] if args.articles else lines
    seeds = scratch / "seeds"
    seeds.mkdir()
    (seeds / "base.jsonl").write_text("".join(lines[: -args.add]), encoding="utf-8")
    engine = Engine.from_config(Settings().engine_config(scratch / "index"))
    if engine.corpus is None:
        raise SystemExit("set NEWSDESK_VECTOR_BACKEND=milvus NEWSDESK_MILVUS_CORPUS=1")
    publishes: list[float] = []
    real = engine.corpus.publish

    def timed(data: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return real(data, **kwargs)
        finally:
            publishes.append(time.perf_counter() - started)

    engine.corpus.publish = timed  # type: ignore[method-assign]
    out: dict[str, Any] = {"drift_tolerance": remote.DRIFT_TOLERANCE}
    for step, full in (("base", True), ("incremental", False)):
        if step == "incremental":
            (seeds / "added.jsonl").write_text("".join(lines[-args.add :]), encoding="utf-8")
        started = time.perf_counter()
        summary, _ = engine.build(seeds, full=full)
        seconds = time.perf_counter() - started
        out[step] = {
            "articles": summary.articles,
            "passages": summary.passages,
            "embedded": summary.embedded,
            "build_and_publish_seconds": round(seconds, 1),
            "publish_seconds": round(publishes[-1], 1),
            "published": summary.published,
        }
    local = engine.store.load()
    pointer = engine.corpus.current()
    out["incremental"]["average_length_drift"] = abs(local.lexical.average - pointer.average) / pointer.average
    started = time.perf_counter()
    whole = real(local, whole=True)
    out["whole_publish_of_the_same_generation"] = {
        "publish_seconds": round(time.perf_counter() - started, 1),
        "published": whole.describe(),
    }
    # what an incremental build did to the vectors before partitions: a new collection of every vector
    started = time.perf_counter()
    vectors = local.vectors.vectors()
    fetched = time.perf_counter() - started
    engine.store.backend.build(vectors, local.unit_days, local.unit_article_ids())
    out["vectors_collection_rewritten"] = {
        "vectors": len(vectors),
        "seconds_to_write_and_index": round(time.perf_counter() - started - fetched, 1),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    lexical = sub.add_parser("lexical")
    lexical.add_argument("--index", required=True)
    lexical.add_argument("--questions", required=True)
    lexical.add_argument("--k", type=int, default=10)
    lexical.add_argument("--passages", type=int, default=0, help="the first N passages only (0: all)")
    lexical.add_argument("--questions-max", type=int, default=10_000)
    ceilings = sub.add_parser("ceilings")
    ceilings.add_argument("--passages", type=int, default=100_000)
    ceilings.add_argument("--queries", type=int, default=100)
    ceilings.add_argument("--vectors-per-passage", type=int, default=4)
    memory = sub.add_parser("memory")
    memory.add_argument("--seeds", action="append", required=True)
    briefs = sub.add_parser("briefs")
    briefs.add_argument("--seeds", required=True, help="a seeds directory or a JSONL file of articles")
    briefs.add_argument("--as-of", required=True, help="the day of the briefings (YYYY-MM-DD)")
    briefs.add_argument("--topic", default="Silicon Valley Bank")
    drift = sub.add_parser("drift")
    drift.add_argument("--index", required=True)
    drift.add_argument("--questions", required=True)
    drift.add_argument("--k", type=int, default=10)
    drift.add_argument("--drifts", type=float, nargs="+", default=[-0.02, -0.01, 0.01, 0.02])
    incremental = sub.add_parser("incremental")
    incremental.add_argument("--corpus", required=True)
    incremental.add_argument("--articles", type=int, default=0, help="the first N articles only (0: all)")
    incremental.add_argument("--add", type=int, default=5, help="the last N of them are added incrementally")
    for command in (lexical, ceilings, memory, briefs, drift, incremental):
        command.add_argument("--scratch", default=tempfile.gettempdir())
    args = parser.parse_args()
    commands = {"lexical": _lexical, "ceilings": _ceilings, "memory": _memory, "briefs": _briefs}
    run = {**commands, "drift": _drift, "incremental": _incremental}[args.command]
    print(json.dumps(run(args), indent=2))


if __name__ == "__main__":
    main()
