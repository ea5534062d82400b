"""Builds: incremental by default, --full on demand, and a failed or killed build loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
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


def _file_digests(gen: Path) -> dict[str, str]:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in gen.iterdir() if p.is_file()}


def test_added_articles_are_appended_to_the_approximate_index(
    tmp_path: Path, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = VectorConfig(exact_max=5, params={"M": 8, "ef_search": 16})
    engine = make_engine(tmp_path / "index", HashEmbedder(), config)
    engine.build(seeds_dir, full=True)
    first = engine.store.read_manifest()
    assert first.vector_index == "hnsw-sq8-ip"
    trained = first.n_vectors
    assert (first.vector_params["trained"], first.vector_params["appended"], first.vector_params["appends"]) == (
        trained,
        0,
        0,
    )

    # While the new generation is written, the previous one is untouched and still loads and answers.
    old_gen = engine.store.current.resolve()
    before = _file_digests(old_gen)
    checked = []
    real_write = IndexStore.write

    def write(self: IndexStore, manifest, *args):  # noqa: ANN001, ANN202
        assert _file_digests(old_gen) == before
        old = IndexStore(self.root, config).load()
        assert old.path == old_gen and old.vectors.size == trained
        assert old.vectors.search(engine.embedder.encode(["wolves valley"])[0], 3)
        checked.append(manifest)
        return real_write(self, manifest, *args)

    monkeypatch.setattr(IndexStore, "write", write)
    (seeds_dir / "bakery.txt").write_text(" date 2023-09-09 A new bakery opened on the high street.")
    summary, _ = engine.build(seeds_dir)
    monkeypatch.undo()
    assert len(checked) == 1 and summary.added == 1 and summary.embedded == 1
    second = engine.store.read_manifest()
    assert second.vector_params["trained"] == trained  # appended, not retrained
    assert (second.vector_params["appended"], second.vector_params["appends"]) == (1, 1)
    assert second.n_vectors == trained + 1 == engine.index.vectors.size
    assert engine.search("bakery high street")[0].article.id == "bakery.txt"
    assert engine.search("wolves valley")[0].article.id == "wildlife.html"
    reloaded = IndexStore(engine.store.root, config).load()
    bakery = [p for p in reloaded.passages if p.article_id == "bakery.txt"]
    assert [u for p in bakery for u in p.units] == [trained]
    assert reloaded.vectors.vectors(np.array([trained])).shape == (1, engine.embedder.dimension)

    # A changed article (or a removed one) drops units: the vector index is trained anew.
    (seeds_dir / "bakery.txt").write_text(" date 2023-09-09 The bakery closed after a week.")
    engine.build(seeds_dir)
    third = engine.store.read_manifest()
    assert (third.vector_params["trained"], third.vector_params["appended"]) == (third.n_vectors, 0)
    (seeds_dir / "bakery.txt").unlink()
    (seeds_dir / "zoo.txt").write_text(" date 2023-10-10 The zoo welcomed a baby giraffe on Monday.")
    engine.build(seeds_dir)
    fourth = engine.store.read_manifest()
    assert (fourth.vector_params["trained"], fourth.vector_params["appended"]) == (fourth.n_vectors, 0)
    assert engine.search("baby giraffe zoo")[0].article.id == "zoo.txt"


def test_appends_beyond_a_fifth_of_the_trained_size_retrain(tmp_path: Path, seeds_dir: Path) -> None:
    from retrieval.vectors import APPEND_RETRAIN_FRACTION

    config = VectorConfig(exact_max=5, params={"M": 8})
    engine = make_engine(tmp_path / "index", HashEmbedder(), config)
    engine.build(seeds_dir, full=True)
    trained = engine.store.read_manifest().n_vectors
    allowed = int(APPEND_RETRAIN_FRACTION * trained)
    assert allowed >= 2
    for n in range(allowed):
        (seeds_dir / f"note-{n}.txt").write_text(f" date 2023-09-0{n % 9 + 1} Note number {n} about kestrels {n}.")
        engine.build(seeds_dir)
        params = engine.store.read_manifest().vector_params
        assert (params["trained"], params["appended"], params["appends"]) == (trained, n + 1, n + 1)
    (seeds_dir / "one-too-many.txt").write_text(" date 2023-09-09 One more note about owls.")
    engine.build(seeds_dir)
    manifest = engine.store.read_manifest()
    assert (manifest.vector_params["trained"], manifest.vector_params["appended"]) == (manifest.n_vectors, 0)
    assert engine.search("owls note")[0].article.id == "one-too-many.txt"


def test_an_exact_index_or_milvus_is_rebuilt_not_appended(tmp_path: Path) -> None:
    from retrieval.vectors import FLAT, FaissBackend, MilvusBackend

    vectors = np.eye(4, dtype=np.float32)
    days = np.zeros(5, dtype=np.int64)
    assert FaissBackend(VectorConfig(exact_max=2)).append(tmp_path, FLAT, {"type": "flat"}, vectors[:1], days) is None
    hnsw = {"type": "hnsw", "M": 8, "trained": 4, "appended": 0, "appends": 0}
    assert FaissBackend(VectorConfig(exact_max=10)).append(tmp_path, "hnsw-sq8-ip", hnsw, vectors[:1], days) is None
    assert (
        FaissBackend(VectorConfig(exact_max=2, ann="ivf")).append(tmp_path, "hnsw-sq8-ip", hnsw, vectors[:1], days)
        is None
    )
    assert (
        FaissBackend(VectorConfig(exact_max=2, params={"M": 16})).append(
            tmp_path, "hnsw-sq8-ip", hnsw, vectors[:1], days
        )
        is None
    )
    assert (
        MilvusBackend(VectorConfig(backend="milvus"), tmp_path).append(tmp_path, "milvus-hnsw", {}, vectors[:1], days)
        is None
    )
