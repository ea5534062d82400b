"""A replica for the replicas test: an engine with no index directory, answering from Milvus.

Run as ``python -m tests.retrieval.index.replica URI COLLECTION``; for each question read on stdin it
prints one JSON line: the generation it answered from, the passages found, and its resident memory.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from retrieval.config import VectorConfig
from tests.conftest import HashEmbedder, make_engine


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main(uri: str, collection: str) -> None:
    config = VectorConfig(backend="milvus", milvus_uri=uri, milvus_collection=collection, milvus_corpus=True)
    with tempfile.TemporaryDirectory() as empty:
        engine = make_engine(Path(empty) / "no-index", HashEmbedder(), config)
        for line in sys.stdin:
            hits = engine.search(line.strip())
            generation = engine.index.generation  # type: ignore[attr-defined]
            print(
                json.dumps({"generation": generation, "passages": [h.passage.id for h in hits], "rss_kib": _rss_kib()}),
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
