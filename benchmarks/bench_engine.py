#!/usr/bin/env python3
"""Benchmark the newsdesk engine on real news: build rate, updates, query latency, cold start, memory.

The corpus is the 300 ABC news articles gensim ships in ``test/test_data/lee_background.cor``
(one article per line). gensim is a benchmark-only dependency: install it with
``pip install gensim==4.4.0``. Run from the repository root::

    .venv/bin/python benchmarks/bench_engine.py [--articles N] [--queries N] [--scale K] [--json] [--out FILE]
        [--workdir DIR [--reuse-index]]

See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.cli import _offline_environment

GENSIM_VERSION = "4.4.0"
LEE_FILE = Path("test") / "test_data" / "lee_background.cor"
SOURCE = "ABC News (gensim Lee corpus)"
QUERY_SEED = 20240
QUERY_STYLES = ("opening", "keywords", "question")
WH_PREFIXES = ("What happened with", "Why", "Who", "When", "Where", "How many")
_STOPWORD_LIST = """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours out over own said
    same says she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yesterday today year years told new one two three
"""
STOPWORDS = frozenset(_STOPWORD_LIST.split())
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"'”’]?\s+(?=[\"'“‘]?[A-Z0-9])")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|\d[\d,.]*\d|\d")


# -- corpus -----------------------------------------------------------------------------------


def lee_corpus_path() -> Path | None:
    """The Lee background corpus inside the installed gensim package, or None without gensim."""
    spec = importlib.util.find_spec("gensim")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / LEE_FILE
    return path if path.is_file() else None


def read_lee(path: Path) -> tuple[list[tuple[int, str]], int]:
    """(line number, article) for each distinct non-blank line, and how many exact repeats were dropped."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    seen: set[str] = set()
    articles: list[tuple[int, str]] = []
    for number, line in enumerate(lines):
        text = " ".join(line.split())
        if text and text.lower() not in seen:  # the corpus repeats 7 articles; index each once
            seen.add(text.lower())
            articles.append((number, text))
    return articles, sum(1 for line in lines if line.strip()) - len(articles)


def sentences_of(text: str) -> list[str]:
    """A simple, dependency-free sentence split used only to make titles and questions."""
    return [s.strip() for s in _SENTENCE_BREAK.split(text) if s.strip()]


def shorten(text: str, max_chars: int = 90) -> str:
    """``text`` cut on a word boundary to at most ``max_chars`` characters, with an ellipsis if cut."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars].rsplit(" ", 1)[0].rstrip(",;:- ") + "…"


def scaled_text(text: str, copy: int) -> str:
    """Copy 0 is the article itself; copy k>0 rotates its sentences by k so the text differs."""
    if copy == 0:
        return text
    parts = sentences_of(text)
    shift = copy % max(len(parts), 1)
    rotated = parts[shift:] + parts[:shift]
    return " ".join(rotated) + f" (Synthetic copy {copy}.)"


def make_records(articles: Sequence[tuple[int, str]], scale: int = 1) -> list[dict[str, Any]]:
    """JSONL records: id ``lee:<line>`` (``lee:<line>~c<k>`` for scaled copies), title, no date."""
    records = []
    for copy in range(scale):
        for number, text in articles:
            body = scaled_text(text, copy)
            first = sentences_of(body)[0] if body else body
            records.append(
                {
                    "id": f"lee:{number}" if copy == 0 else f"lee:{number}~c{copy}",
                    "title": shorten(first),
                    "date": None,  # the Lee corpus carries no dates; none are invented
                    "url": None,
                    "source": SOURCE,
                    "text": body,
                }
            )
    return records


def write_jsonl(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """Write ``records`` one JSON object a line; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


# -- questions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """A generated query, how it was made, and the article it was made from."""

    text: str
    style: str
    article_id: str


def content_words(sentence: str) -> list[str]:
    """Non-stop-words of a sentence in order of appearance, each once."""
    seen: dict[str, str] = {}
    for word in _WORD.findall(sentence):
        key = word.lower()
        if key not in STOPWORDS and len(word) >= 3 and key not in seen:
            seen[key] = word
    return list(seen.values())


def document_frequency(records: Sequence[dict[str, Any]]) -> Counter[str]:
    """In how many articles each lower-cased word occurs."""
    df: Counter[str] = Counter()
    for record in records:
        df.update({w.lower() for w in _WORD.findall(record["text"])})
    return df


def key_words(sentence: str, df: Counter[str], n: int) -> list[str]:
    """The ``n`` rarest content words of a sentence (corpus document frequency), kept in order."""
    words = content_words(sentence)
    rarest = sorted(range(len(words)), key=lambda i: (df[words[i].lower()], i))[:n]
    return [words[i] for i in sorted(rarest)]


def phrase_question(style: str, sentence: str, df: Counter[str], rng: random.Random) -> str:
    """Turn one corpus sentence into a query of the given style."""
    if style == "opening":
        words = sentence.split()[: rng.randint(8, 12)]
        return " ".join(words).rstrip(".,;:!?\"'”’")
    if style == "keywords":
        return " ".join(key_words(sentence, df, 5))
    return f"{rng.choice(WH_PREFIXES)} {' '.join(key_words(sentence, df, 3))}?"


def make_questions(records: Sequence[dict[str, Any]], n: int, seed: int = QUERY_SEED) -> list[Question]:
    """``n`` deterministic queries, cycling opening / keywords / question styles (see README)."""
    rng = random.Random(seed)
    df = document_frequency(records)
    questions: list[Question] = []
    while len(questions) < n:
        record = rng.choice(records)
        candidates = [s for s in sentences_of(record["text"]) if len(s.split()) >= 8] or [record["text"]]
        sentence = rng.choice(candidates)
        style = QUERY_STYLES[len(questions) % len(QUERY_STYLES)]
        text = phrase_question(style, sentence, df, rng)
        if len(text.split()) >= 2:
            questions.append(Question(text, style, record["id"]))
    return questions


# -- measuring --------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def summarise(values_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95, mean, min and max of a list of milliseconds."""
    import numpy as np

    data = np.asarray(values_ms, dtype=float)
    return {
        "n": int(len(data)),
        "p50_ms": float(np.percentile(data, 50)),
        "p95_ms": float(np.percentile(data, 95)),
        "mean_ms": float(data.mean()),
        "min_ms": float(data.min()),
        "max_ms": float(data.max()),
    }


@dataclass
class StageClock:
    """A build progress callback that records when each stage started and ended."""

    started: float = field(default_factory=time.perf_counter)
    first: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)

    def __call__(self, event: Any) -> None:
        """Record one BuildProgress event."""
        now = time.perf_counter()
        self.first.setdefault(event.stage, now)
        self.last[event.stage] = now
        self.totals[event.stage] = event.total

    def seconds(self, stage: str) -> float:
        """Seconds from a stage's first event to its last."""
        return self.last.get(stage, 0.0) - self.first.get(stage, 0.0)

    def before(self, stage: str) -> float:
        """Seconds from the clock's start to a stage's first event."""
        return self.first.get(stage, self.started) - self.started


def progress_line(message: str) -> None:
    """A progress note on stderr (stdout carries only the results)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the phases -------------------------------------------------------------------------------


def load_engine(index_dir: Path, dtype: str, backend: str) -> tuple[Any, dict[str, float]]:
    """Import the engine, load the embedder the settings would (``backend``), create the engine; timed."""
    started = time.perf_counter()
    from retrieval.config import EmbeddingConfig
    from retrieval.embedding.factory import make_embedder
    from retrieval.engine import Engine
    from retrieval.index.store import IndexStore

    imported = time.perf_counter()
    embedder = make_embedder(EmbeddingConfig(dtype=dtype, backend=backend))
    loaded = time.perf_counter()
    engine = Engine(IndexStore(index_dir), embedder)
    return engine, {
        "import_s": imported - started,
        "model_load_s": loaded - imported,
        "peak_rss_mib": peak_rss_mib(),
    }


def bench_full_build(engine: Any, seeds_dir: Path) -> dict[str, Any]:
    """A full build of ``seeds_dir``: total wall time, time per stage, chunks embedded per second."""
    clock = StageClock()
    summary, ingest = engine.build(seeds_dir, full=True, progress=clock)
    total = time.perf_counter() - clock.started
    embed_s = clock.seconds("embedding")
    return {
        "articles": summary.articles,
        "chunks": summary.passages,
        "embedded": summary.embedded,
        "total_s": total,
        "build_index_s": summary.seconds,
        "ingest_s": clock.before("chunking"),
        "chunking_s": clock.first.get("embedding", 0.0) - clock.first.get("chunking", 0.0),
        "embedding_s": embed_s,
        "writing_s": clock.seconds("writing"),
        "load_s": total - (clock.last.get("writing", clock.started) - clock.started),
        "chunks_per_s": summary.passages / embed_s if embed_s > 0 else 0.0,
        "texts_per_s": summary.embedded / embed_s if embed_s > 0 else 0.0,
        "skipped": len(ingest.skipped),
        "duplicates": ingest.duplicates,
        "peak_rss_mib": peak_rss_mib(),
    }


def live_inodes(index_dir: Path) -> set[int]:
    """The inodes of the live generation's files (a file of the next one with another is new)."""
    return {f.stat().st_ino for f in (index_dir / "current").resolve().rglob("*") if f.is_file()}


def written_since(index_dir: Path, before: set[int]) -> tuple[int, int]:
    """(bytes written, bytes hard-linked) of the live generation against the inodes of an earlier one."""
    files = [f for f in (index_dir / "current").resolve().rglob("*") if f.is_file()]
    new = sum(f.stat().st_size for f in files if f.stat().st_ino not in before)
    return new, sum(f.stat().st_size for f in files) - new


def reuse_index(engine: Any, seeds_dir: Path) -> dict[str, Any]:
    """An index kept from an earlier run (``--reuse-index``): one unmeasured update removes what that
    run added, so the phases below start from the same articles a full build would have indexed."""
    summary, ingest = engine.build(seeds_dir)
    return {
        "reused": True,
        "articles": summary.articles,
        "chunks": summary.passages,
        "embedded": 0,
        "skipped": len(ingest.skipped),
        "duplicates": ingest.duplicates,
        "peak_rss_mib": peak_rss_mib(),
        **dict.fromkeys(
            ("total_s", "build_index_s", "ingest_s", "chunking_s", "embedding_s", "writing_s", "load_s"), 0.0
        ),
        "chunks_per_s": 0.0,
        "texts_per_s": 0.0,
    }


def bench_update(
    engine: Any, seeds_dir: Path, new_records: Sequence[dict[str, Any]], name: str = "added"
) -> dict[str, Any]:
    """An incremental build after writing ``new_records`` (none: a no-op update) into the seeds as
    ``<name>.jsonl`` (a record whose id is already indexed is a changed article)."""
    if new_records:
        write_jsonl(new_records, seeds_dir / f"{name}.jsonl")
    before = live_inodes(engine.store.root)
    clock = StageClock()
    summary, _ = engine.build(seeds_dir, full=False, progress=clock)
    total_s = time.perf_counter() - clock.started
    manifest = engine.store.read_manifest()
    written, linked = written_since(engine.store.root, before)
    return {
        "total_s": total_s,
        "vector_index": manifest.vector_index,
        "vector_appends": manifest.vector_params.get("appends"),
        "vector_parts": len(manifest.vector_parts),
        "segments": len(manifest.segments),
        "tombstones": manifest.deleted_units,
        "bytes_written": written,
        "bytes_linked": linked,
        "manifest_bytes": (engine.store.root / "current" / "manifest.json").stat().st_size,
        "build_index_s": summary.seconds,
        "ingest_s": clock.before("chunking"),
        "embedding_s": clock.seconds("embedding"),
        "writing_s": clock.seconds("writing"),
        "added": summary.added,
        "changed": summary.changed,
        "embedded": summary.embedded,
        "chunks": summary.passages,
    }


def time_call(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Milliseconds ``fn`` took, and what it returned."""
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def base_id(article_id: str) -> str:
    """The corpus article an id stands for: a scaled copy ``lee:7~c2`` counts as ``lee:7``."""
    return article_id.split("~", 1)[0]


def source_found(hits: Sequence[Any], article_id: str) -> bool:
    """True if the article a question was made from (or a scaled copy of it) is among the hits."""
    return any(base_id(hit.article.id) == base_id(article_id) for hit in hits)


def bench_search(engine: Any, questions: Sequence[Question]) -> dict[str, Any]:
    """Warm ``engine.search`` latency over the questions, and how often the source article ranks."""
    latencies, found, asked = [], Counter(), Counter()
    for question in questions:
        ms, hits = time_call(lambda q=question: engine.search(q.text))
        latencies.append(ms)
        asked[question.style] += 1
        found[question.style] += source_found(hits, question.article_id)
    by_style = {style: found[style] / asked[style] for style in asked}
    return {**summarise(latencies), "source_in_top_k": found.total() / len(questions), "by_style": by_style}


def bench_ask(engine: Any, questions: Sequence[Question]) -> dict[str, Any]:
    """Warm ``engine.ask`` latency over the questions, with the medians of its own timings."""
    latencies, parts, abstained = [], {}, 0
    for question in questions:
        ms, answer = time_call(lambda q=question: engine.ask(q.text))
        latencies.append(ms)
        abstained += answer.abstained
        for name, value in answer.timings.items():
            parts.setdefault(name, []).append(value)
    medians = {f"{name}_p50": statistics.median(values) for name, values in parts.items()}
    return {**summarise(latencies), **medians, "abstained": abstained / len(questions)}


def newsdesk_command() -> list[str]:
    """The ``newsdesk`` console script of this interpreter's environment, else ``python -m bot``."""
    script = Path(sys.executable).parent / "newsdesk"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bot"]


def child_environment(dtype: str, backend: str = "auto") -> dict[str, str]:
    """This environment with no NEWSDESK_* setting but the dtype: the child runs as configured here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    return {**env, "NEWSDESK_DTYPE": dtype, "NEWSDESK_EMBED_BACKEND": backend}


# Runs one command and reports its wall time and peak RSS as JSON on stderr's last line. A small
# launcher is needed because a child forked straight from this (large) process inherits its
# high-water mark: ru_maxrss would report the benchmark's memory, not the command's.
_LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - started
sys.stderr.write(json.dumps({"wall_s": wall, "exit_code": os.waitstatus_to_exitcode(status),
                             "peak_rss_mib": usage.ru_maxrss / 1024}) + "\\n")
"""


def run_cold(args: Sequence[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run one fresh process; its wall seconds, exit code, own peak RSS and stdout size."""
    launched = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    *messages, report = launched.stderr.rstrip("\n").rsplit("\n", 1)
    try:
        result = json.loads(report)
    except json.JSONDecodeError:
        result = {"wall_s": 0.0, "exit_code": launched.returncode, "peak_rss_mib": 0.0}
    return {**result, "stdout_bytes": len(launched.stdout), "stderr_tail": "".join(messages)[-300:]}


def bench_cold(
    index_dir: Path, seeds_dir: Path, question: str, runs: int, workdir: Path, dtype: str, backend: str
) -> dict[str, Any]:
    """Cold ``newsdesk ask`` (and ``newsdesk stats``, which loads no model) as whole processes."""
    base = newsdesk_command()
    where = ["--index", str(index_dir), "--seeds", str(seeds_dir)]
    env = child_environment(dtype, backend)
    ask = [run_cold([*base, "ask", question, *where], workdir, env) for _ in range(runs)]
    stats = [run_cold([*base, "stats", *where], workdir, env) for _ in range(runs)]
    for run in ask + stats:
        if run["exit_code"] != 0:
            raise RuntimeError(f"cold run failed ({run['exit_code']}): {run['stderr_tail']}")
    return {
        "command": " ".join([Path(base[0]).name, *base[1:], "ask", "<question>", "--index DIR --seeds DIR"]),
        "runs": runs,
        "ask_wall_s": [r["wall_s"] for r in ask],
        "ask_wall_s_median": statistics.median(r["wall_s"] for r in ask),
        "ask_peak_rss_mib": max(r["peak_rss_mib"] for r in ask),
        "stats_wall_s_median": statistics.median(r["wall_s"] for r in stats),
        "stats_peak_rss_mib": max(r["peak_rss_mib"] for r in stats),
    }


# -- machine and output -----------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git(directory: Path, *args: str) -> str:
    """Output of a git command run in ``directory``, or '' if it fails."""
    try:
        out = subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return out.stdout.strip()


def code_version() -> dict[str, Any]:
    """Which newsdesk code was measured: where ``retrieval`` was imported from, its commit, if dirty."""
    import retrieval

    root = Path(retrieval.__file__).resolve().parent.parent
    return {
        "code_dir": str(root),
        "commit": git(root, "rev-parse", "--short", "HEAD") or "unknown",
        "uncommitted_changes": bool(git(root, "status", "--porcelain", "--", "retrieval", "bot")),
    }


def machine_facts(engine: Any) -> dict[str, Any]:
    """Cores, CPU, memory, thread count, dtype and versions the numbers were measured with."""
    import torch

    from retrieval.embedding.base import cpu_has_native_bf16

    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "date": dt.date.today().isoformat(),
        **code_version(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu_model(),
        "native_bf16": cpu_has_native_bf16(),
        "memory_gib": round(pages / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "model": engine.embedder.name,
        "dtype": json.dumps(getattr(engine.embedder, "info", None) or getattr(engine.embedder, "dtype", "unknown")),
        "embedder": type(engine.embedder).__name__,
        "batch_size": engine.embedder.config.batch_size,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def fmt(value: float, unit: str, digits: int = 1) -> str:
    """A number with its unit."""
    return f"{value:,.{digits}f} {unit}"


def table_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(metric, value, note) rows of the results table."""
    build, update, noop = r["full_build"], r["update_one"], r["update_noop"]
    search, ask, cold = r["search"], r["ask"], r["cold"]
    if build.get("reused"):
        full_rows = [
            ("full build: embedding rate", "-", "not measured: --reuse-index ran on an index kept from a full build"),
            ("full build: total", "-", "not measured (--reuse-index)"),
        ]
    else:
        full_rows = [
            (
                "full build: embedding rate",
                fmt(build["chunks_per_s"], "chunks/s"),
                f"{build['chunks']} chunks in {build['embedding_s']:.1f} s of embedding; "
                f"{build['embedded']} texts embedded ({build['texts_per_s']:.1f}/s)",
            ),
            (
                "full build: total",
                fmt(build["total_s"], "s", 2),
                f"ingest {build['ingest_s']:.1f} + chunk {build['chunking_s']:.1f}"
                f" + embed {build['embedding_s']:.1f} + write {build['writing_s']:.1f}"
                f" + load {build['load_s']:.1f}",
            ),
        ]
    return [
        (
            "model load (in process)",
            fmt(r["load"]["import_s"] + r["load"]["model_load_s"], "s", 2),
            f"imports {r['load']['import_s']:.2f} s + model {r['load']['model_load_s']:.2f} s",
        ),
        *full_rows,
        (
            "update: +1 article",
            fmt(update["total_s"], "s", 2),
            f"texts embedded: {update['embedded']}; ingest {update['ingest_s']:.2f} s, "
            f"write {update['writing_s']:.2f} s; {update.get('vector_index', '?')}"
            + (", vectors appended" if update.get("vector_appends") else "")
            + (
                f"; {update['segments']} segments, {update['vector_parts']} vector parts; "
                f"{update['bytes_written'] / 2**10:,.0f} KiB written "
                f"(manifest {update.get('manifest_bytes', 0) / 2**10:,.0f} KiB), "
                f"{update['bytes_linked'] / 2**20:.0f} MiB linked"
                if "segments" in update
                else ""
            ),
        ),
        *(
            [
                (
                    "update: 1 article changed",
                    fmt(r["update_change"]["total_s"], "s", 2),
                    f"tombstone + add: texts embedded {r['update_change']['embedded']}; "
                    f"{r['update_change']['bytes_written'] / 2**10:,.0f} KiB written; "
                    f"{r['update_change']['tombstones']} tombstoned vectors",
                )
            ]
            if r.get("update_change")
            else []
        ),
        ("update: nothing changed", fmt(noop["total_s"], "s", 2), "fixed cost of an incremental build"),
        *(
            [
                (
                    "update: +1 article, cold",
                    fmt(r["cold_update"]["wall_s"], "s", 2),
                    "`newsdesk index` as a whole process: start, imports, model, seeds, index, adding"
                    + (
                        f"; {r['cold_update']['bytes_written'] / 2**10:,.0f} KiB written, "
                        f"peak RSS {r['cold_update']['peak_rss_mib']:,.0f} MiB"
                        if "bytes_written" in r["cold_update"]
                        else ""
                    ),
                )
            ]
            if r.get("cold_update")
            else []
        ),
        (
            "index on disk",
            fmt(r.get("index_bytes", 0) / 2**20, "MiB", 0),
            "the live generation: vectors, BM25, passages, articles, manifest",
        ),
        ("first search after build", fmt(r["first_query_ms"], "ms"), "engine.search, before any warm-up"),
        (
            "search warm p50 / p95",
            f"{search['p50_ms']:.1f} / {search['p95_ms']:.1f} ms",
            f"n={search['n']}, max {search['max_ms']:.1f} ms, source article in top {r['corpus']['k']}: "
            f"{search['source_in_top_k']:.0%}",
        ),
        (
            "ask warm p50 / p95",
            f"{ask['p50_ms']:.1f} / {ask['p95_ms']:.1f} ms",
            f"p50 embed {ask.get('embed_ms_p50', 0):.1f} + search {ask.get('search_ms_p50', 0):.1f}"
            f" + answer {ask.get('answer_ms_p50', 0):.1f} ms; abstained {ask['abstained']:.0%}",
        ),
        (
            "cold `newsdesk ask`",
            fmt(cold["ask_wall_s_median"], "s", 2),
            f"median of {cold['runs']}: " + ", ".join(f"{s:.2f}" for s in cold["ask_wall_s"]),
        ),
        ("cold `newsdesk stats`", fmt(cold["stats_wall_s_median"], "s", 2), "no model: Python + CLI floor"),
        (
            "peak RSS: benchmark process",
            fmt(r["peak_rss_mib"], "MiB", 0),
            f"after model load {r['load']['peak_rss_mib']:.0f}, after build {build['peak_rss_mib']:.0f}",
        ),
        (
            "peak RSS: cold `newsdesk ask`",
            fmt(cold["ask_peak_rss_mib"], "MiB", 0),
            f"`newsdesk stats`: {cold['stats_peak_rss_mib']:.0f} MiB",
        ),
    ]


def render(r: dict[str, Any]) -> str:
    """The human-readable report: header lines and one aligned table."""
    m, c = r["machine"], r["corpus"]
    rows = table_rows(r)
    widths = [max(len(row[i]) for row in [("metric", "value", "notes"), *rows]) for i in range(2)]
    lines = [
        f"newsdesk engine benchmark — {m['date']}, code {m['code_dir']} at {m['commit']}"
        + (" + uncommitted changes in retrieval/ or bot/" if m["uncommitted_changes"] else ""),
        f"machine: {m['cores']} cores ({m['cores_usable']} usable), {m['cpu']}, {m['memory_gib']} GiB RAM; "
        f"load average {m['load_average_1min_before']} before, {m['load_average_1min']} after",
        f"runtime: python {m['python']}, torch {m['torch']}, {m['torch_threads']} threads, "
        f"embedder {m['embedder']}, dtype {m['dtype']} "
        f"(native bf16: {'yes' if m['native_bf16'] else 'no'}), batch {m['batch_size']}",
        f"corpus:  {c['name']} ({c['file_lines']} lines, {c['repeated_lines_dropped']} repeats dropped): "
        f"{c['articles']} articles, scale {c['scale']}, undated",
        f"         {r['full_build']['articles']} in the full build + 1 in the update = {c['chunks']} chunks"
        " (+ 1 by `newsdesk index`); "
        f"{c['queries']} queries ({', '.join(QUERY_STYLES)}), seed {c['query_seed']}",
        "",
        f"{'metric':<{widths[0]}}  {'value':>{widths[1]}}  notes",
        f"{'-' * widths[0]}  {'-' * widths[1]}  {'-' * 5}",
    ]
    lines += [f"{name:<{widths[0]}}  {value:>{widths[1]}}  {note}" for name, value, note in rows]
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--articles",
        type=int,
        default=0,
        metavar="N",
        help="use only the first N distinct corpus articles (default: all 293)",
    )
    parser.add_argument(
        "--queries",
        type=int,
        default=100,
        metavar="N",
        help="questions for each warm latency measure (default 100)",
    )
    parser.add_argument(
        "--scale",
        type=int,
        default=1,
        metavar="K",
        help="index K copies of the corpus (copies 2..K sentence-rotated, synthetic)",
    )
    parser.add_argument(
        "--cold-runs",
        type=int,
        default=3,
        metavar="N",
        help="cold `newsdesk ask` processes to time (default 3)",
    )
    parser.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16"),
        default="auto",
        help="embedding dtype, in process and in the cold runs (default auto, as newsdesk)",
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "torch", "onnx"),
        default="auto",
        help="embedding backend, in process and in the cold runs (default auto, as newsdesk)",
    )
    parser.add_argument("--seed", type=int, default=QUERY_SEED, help="seed of the question generator")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--out", type=Path, metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument(
        "--reuse-index",
        action="store_true",
        help="with --workdir: measure on the index an earlier run kept there (no full build)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="build in DIR and keep it (default: a temporary directory, removed)",
    )
    args = parser.parse_args(argv)
    if args.articles < 0 or args.articles == 1 or args.queries < 1 or args.scale < 1 or args.cold_runs < 1:
        parser.error("--articles must be 0 (all) or at least 2; --queries, --scale, --cold-runs at least 1")
    return args


def prepare_corpus(args: argparse.Namespace, workdir: Path) -> tuple[Path, list[dict], dict, dict[str, Any]]:
    """Write the seeds (all records but one held out for the update) and describe the corpus."""
    path = lee_corpus_path()
    assert path is not None
    articles, repeats = read_lee(path)
    lines = len(articles) + repeats
    if args.articles:
        articles = articles[: args.articles]
    records = make_records(articles, args.scale)
    held_out = records[-2:]  # one added in process, one by a `newsdesk index` process
    seeds_dir = workdir / "seeds"
    shutil.rmtree(seeds_dir, ignore_errors=True)  # a kept --workdir must not leak an old added.jsonl
    write_jsonl(records[:-2], seeds_dir / "lee_background.jsonl")
    corpus = {
        "name": f"gensim {GENSIM_VERSION} {LEE_FILE.name}",
        "file": str(path),
        "articles": len(records),
        "file_lines": lines,
        "repeated_lines_dropped": repeats,
        "scale": args.scale,
        "held_out": [record["id"] for record in held_out],
        "dates": "none (the corpus is undated)",
    }
    return seeds_dir, records, held_out, corpus


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Every phase in order; returns the results."""
    load_before = round(os.getloadavg()[0], 2)
    seeds_dir, records, held_out, corpus = prepare_corpus(args, workdir)
    index_dir = workdir / "index"
    questions = make_questions(records, args.queries, args.seed)
    progress_line(f"{len(records)} articles, {len(questions)} queries; loading the model")
    engine, load = load_engine(index_dir, args.dtype, args.backend)
    if args.reuse_index and (index_dir / "current" / "manifest.json").is_file():
        progress_line("reusing the index in --workdir: bringing it back to the seeds (not measured)")
        build = reuse_index(engine, seeds_dir)
    else:
        progress_line(f"full build of {len(records) - 2} articles")
        build = bench_full_build(engine, seeds_dir)
    first_ms, _ = time_call(lambda: engine.search(questions[0].text))
    progress_line(f"{build['chunks']} chunks at {build['chunks_per_s']:.1f}/s; incremental updates")
    update = bench_update(engine, seeds_dir, held_out[:1])
    changed = [{**held_out[0], "text": held_out[0]["text"] + " (Corrected.)"}]
    change = bench_update(engine, seeds_dir, changed)  # the same id with another text: a changed article
    noop = bench_update(engine, seeds_dir, [])
    index_bytes = engine.store.size_bytes()
    for question in questions[:3]:
        engine.ask(question.text)  # warm-up, not measured
    progress_line(f"{len(questions)} warm searches, then {len(questions)} warm asks")
    search = bench_search(engine, questions)
    ask = bench_ask(engine, questions)
    progress_line(f"{args.cold_runs} cold `newsdesk ask` processes")
    cold = bench_cold(index_dir, seeds_dir, questions[0].text, args.cold_runs, workdir, args.dtype, args.backend)
    progress_line("+1 article by a cold `newsdesk index` process")
    write_jsonl(held_out[1:], seeds_dir / "added-by-cli.jsonl")
    before = live_inodes(index_dir)
    cold_update = run_cold(
        [*newsdesk_command(), "index", "--index", str(index_dir), "--seeds", str(seeds_dir)],
        workdir,
        child_environment(args.dtype, args.backend),
    )
    if cold_update["exit_code"] != 0:
        raise RuntimeError(f"`newsdesk index` failed ({cold_update['exit_code']}): {cold_update['stderr_tail']}")
    cold_update["bytes_written"], cold_update["bytes_linked"] = written_since(index_dir, before)
    corpus.update(chunks=update["chunks"], queries=len(questions), query_seed=args.seed, k=engine.search_config.k)
    return {
        "machine": {**machine_facts(engine), "load_average_1min_before": load_before},
        "corpus": corpus,
        "load": load,
        "full_build": build,
        "update_one": update,
        "update_change": change,
        "update_noop": noop,
        "cold_update": cold_update,
        "index_bytes": index_bytes,
        "first_query_ms": first_ms,
        "search": search,
        "ask": ask,
        "cold": cold,
        "peak_rss_mib": peak_rss_mib(),
        "sample_questions": [asdict(q) for q in questions[:6]],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table (or JSON)."""
    args = parse_args(argv)
    if lee_corpus_path() is None:
        print(
            f"bench_engine: the corpus comes with gensim; run: pip install gensim=={GENSIM_VERSION}",
            file=sys.stderr,
        )
        return 2
    _offline_environment()  # before torch loads: no hub, passive OpenMP threads
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="newsdesk-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        results = run(args, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
