"""Two replica processes and a builder against one Milvus Lite server on 127.0.0.1: after the builder
publishes a new generation (appended to the live collections), both replicas answer from it, without a restart."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from retrieval.config import VectorConfig
from retrieval.index.remote import POINTER_CHECK_SECONDS
from tests.conftest import REPO, HashEmbedder, make_engine

QUESTION = "What did the central bank decide about interest rates?"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def milvus_server(tmp_path: Path):  # noqa: ANN201
    """``milvus-lite server`` on a loopback port, in a process of its own."""
    pytest.importorskip("milvus_lite")
    port = _free_port()
    command = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(tmp_path / "lite")]
    server = subprocess.Popen([*command, "--host", "127.0.0.1", "--port", str(port)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("the Milvus Lite server did not start")
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=30)


class Replica:
    def __init__(self, uri: str, collection: str) -> None:
        command = [sys.executable, "-m", "tests.retrieval.index.replica", uri, collection]
        self.process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, question: str) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(question + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def test_two_replicas_serve_the_new_generation_without_restart(
    tmp_path: Path, seeds_dir: Path, milvus_server: str
) -> None:
    collection = f"rep{uuid.uuid4().hex[:8]}"
    config = VectorConfig(backend="milvus", milvus_uri=milvus_server, milvus_collection=collection, milvus_corpus=True)
    builder = make_engine(tmp_path / "index", HashEmbedder(), config)
    builder.build(seeds_dir, full=True)
    first = builder.corpus.generation()  # type: ignore[union-attr]
    replicas = [Replica(milvus_server, collection) for _ in range(2)]
    try:
        before = [r.ask(QUESTION) for r in replicas]
        assert [b["generation"] for b in before] == [first, first]
        assert before[0]["passages"] and before[0]["passages"] == before[1]["passages"]

        # The builder adds an article and publishes a new generation: appended to the live collections
        # (a new partition each), the article about as long as the others (the BM25 weights stay).
        (seeds_dir / "zz-new.txt").write_text(
            "Rates held\n\nThe central bank held interest rates at five percent on Tuesday; its governor said "
            "services inflation remained too high for a cut before the summer, and markets barely moved.\n"
        )
        summary, _ = builder.build(seeds_dir)
        assert summary.published.startswith("appended 1 passages, 1 article parts")
        second = builder.corpus.generation()  # type: ignore[union-attr]
        assert second != first
        time.sleep(POINTER_CHECK_SECONDS + 0.5)
        after = [r.ask(QUESTION) for r in replicas]
        assert [a["generation"] for a in after] == [second, second]
        want = [h.passage.id for h in builder.search(QUESTION)]
        assert after[0]["passages"] == after[1]["passages"] == want
    finally:
        for replica in replicas:
            replica.close()
