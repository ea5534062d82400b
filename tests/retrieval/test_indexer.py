"""Builds: incremental by default, --full on demand, and a failed or killed build loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval.config import VectorConfig
from retrieval.engine import Engine
from retrieval.store import IndexStore
from tests.conftest import REPO, HashEmbedder, make_engine


def test_incremental_embeds_only_new_and_changed(engine: Engine, seeds_dir: Path) -> None:
    embedder = engine.embedder
    assert isinstance(embedder, HashEmbedder)
    before = {p.article_id for p in engine.index.passages}
    (seeds_dir / "new.txt").write_text(" date 2023-09-09 A new bakery opened on the high street.")
    (seeds_dir / "harbour.txt").write_text(" date 2023-05-02 Ferry title\n\nThe terminal was renamed today.")
    (seeds_dir / "wildlife.html").unlink()
    embedder.encoded = 0
    summary, _ = engine.build(seeds_dir)
    assert (summary.added, summary.changed, summary.removed, summary.unchanged) == (1, 1, 1, 3)
    assert embedder.encoded == summary.embedded == 2
    ids = {p.article_id for p in engine.index.passages}
    assert ids == (before - {"wildlife.html"}) | {"new.txt"}
    assert engine.search("terminal renamed")[0].article.id == "harbour.txt"
    assert not summary.full


def test_unchanged_rebuild_embeds_nothing(engine: Engine, seeds_dir: Path) -> None:
    engine.embedder.encoded = 0
    summary, _ = engine.build(seeds_dir)
    assert summary.embedded == 0 and summary.unchanged == 5
    assert engine.search("wolves valley")[0].article.id == "wildlife.html"


def test_full_rebuild_embeds_everything(engine: Engine, seeds_dir: Path) -> None:
    summary, _ = engine.build(seeds_dir, full=True)
    sentences = {(p.article_id, s) for p in engine.index.passages for s in p.sentences}
    assert summary.full and summary.embedded == len(sentences) == engine.index.vectors.size


class ExplodingEmbedder(HashEmbedder):
    def encode(self, texts, progress=None):  # noqa: ANN001, ANN201
        raise RuntimeError("out of memory")


def test_failed_build_leaves_previous_index_serving(
    engine: Engine, seeds_dir: Path, vector_config: VectorConfig
) -> None:
    live = engine.store.current.resolve()
    (seeds_dir / "new.txt").write_text("Something new happened.")
    broken = make_engine(engine.store.root, ExplodingEmbedder(), vector_config)
    with pytest.raises(RuntimeError):
        broken.build(seeds_dir)
    assert engine.store.current.resolve() == live
    assert not list(engine.store.root.glob("tmp-*"))
    fresh = make_engine(engine.store.root, HashEmbedder(), vector_config)
    assert fresh.search("ferry terminal")[0].article.id == "harbour.txt"


KILLED_BUILD = """
import sys, time
sys.path[:0] = [{repo!r}]
from pathlib import Path
from tests.conftest import HashEmbedder, make_engine

class Slow(HashEmbedder):
    def encode(self, texts, progress=None):
        print("embedding", flush=True)
        time.sleep(60)

make_engine(Path({index!r}), Slow()).build(Path({seeds!r}), full=True)
"""


def test_build_killed_midway_leaves_old_index_answering(
    engine: Engine, seeds_dir: Path, vector_config: VectorConfig
) -> None:
    live = engine.store.current.resolve()
    script = KILLED_BUILD.format(repo=str(REPO), index=str(engine.store.root), seeds=str(seeds_dir))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "embedding"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert engine.store.current.resolve() == live
    survivor = make_engine(engine.store.root, HashEmbedder(), vector_config)
    assert survivor.search("central bank rates")[0].article.id == "wire-1"
    # the next build clears what the killed one left behind
    time.sleep(0.05)
    survivor.build(seeds_dir)
    assert not list(IndexStore(engine.store.root).root.glob("tmp-*"))
