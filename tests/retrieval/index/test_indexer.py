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
from retrieval.index.store import IndexData, IndexStore
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


def _same_index(a: IndexData, b: IndexData) -> None:
    """Two loaded indexes hold the same articles, passages, units, dates, vectors and BM25 scores."""
    assert dict(a.articles) == dict(b.articles)
    assert [(p.id, p.article_id, p.start, p.end, p.units, p.text) for p in a.passages] == [
        (p.id, p.article_id, p.start, p.end, p.units, p.text) for p in b.passages
    ]
    assert list(a.unit_passages) == list(b.unit_passages)
    assert np.array_equal(a.unit_days, b.unit_days) and np.array_equal(a.passage_days, b.passage_days)
    assert np.array_equal(a.passage_live, b.passage_live) and np.array_equal(a.unit_live, b.unit_live)
    assert np.allclose(a.vectors.vectors(), b.vectors.vectors(), atol=1e-2)
    for query in ("bakery high street", "wolves valley", "kestrels note"):
        left, right = a.lexical.scores(query), b.lexical.scores(query)
        assert (left is None and right is None) or np.allclose(left, right)


def test_added_articles_go_to_a_new_segment_and_the_rest_is_linked(
    tmp_path: Path, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = VectorConfig(exact_max=5, params={"M": 8, "ef_search": 16})
    engine = make_engine(tmp_path / "index", HashEmbedder(), config)
    engine.build(seeds_dir, full=True)
    engine.load()  # serving, as the bot does before a /reindex
    first = engine.store.read_manifest()
    assert first.vector_index == "hnsw-sq8-ip" and len(first.segments) == 1 and first.format_version == 4
    trained = first.n_vectors
    assert (first.vector_params["trained"], first.vector_params["appended"]) == (trained, 0)

    # While the new generation is written, the previous one is untouched and still loads and answers.
    old_gen = engine.store.current.resolve()
    before = _file_digests(old_gen)
    inodes = {f.relative_to(old_gen): f.stat().st_ino for f in old_gen.rglob("*") if f.is_file()}
    checked = []
    real_write = IndexStore.write

    def write(self: IndexStore, manifest, *args, **kwargs):  # noqa: ANN001, ANN202
        assert _file_digests(old_gen) == before
        old = IndexStore(self.root, config).load()
        assert old.path == old_gen and old.vectors.size == trained
        assert old.vectors.search(engine.embedder.encode(["wolves valley"])[0], 3)
        checked.append(manifest)
        return real_write(self, manifest, *args, **kwargs)

    monkeypatch.setattr(IndexStore, "write", write)
    (seeds_dir / "bakery.txt").write_text(" date 2023-09-09 A new bakery opened on the high street.")
    held = engine.index
    summary, _ = engine.build(seeds_dir)
    monkeypatch.undo()
    assert len(checked) == 1 and summary.added == 1 and summary.embedded == 1
    assert summary.index is not None and engine.index is summary.index  # opened sharing what it holds:
    assert engine.index.segments[0].tables is held.segments[0].tables  # the old segment is not read again
    assert engine.index.vectors.parts[0]._index is held.vectors.parts[0]._index  # nor the trained index
    second = engine.store.read_manifest()
    assert [s.name for s in second.segments[:1]] == [first.segments[0].name] and len(second.segments) == 2
    parts = second.vector_parts
    assert [p.kind for p in parts] == ["hnsw-sq8-ip", "flat-ip"] and [p.size for p in parts] == [trained, 1]
    assert second.vector_params["trained"] == trained  # the trained index is reused as it is
    new_gen = engine.store.current.resolve()
    # The untouched segment and vector part are the previous generation's files, linked, not rewritten;
    # the previous generation stays for readers that may still be opening it (the grace period).
    assert old_gen.exists()
    for name, inode in inodes.items():
        assert name.name == "manifest.json" or (new_gen / name).stat().st_ino == inode
    assert second.n_vectors == trained + 1 == engine.index.vectors.size
    assert engine.search("bakery high street")[0].article.id == "bakery.txt"
    assert engine.search("wolves valley")[0].article.id == "wildlife.html"
    reloaded = IndexStore(engine.store.root, config).load()
    _same_index(engine.index, reloaded)
    bakery = [p for p in reloaded.live_passages() if p.article_id == "bakery.txt"]
    assert [u for p in bakery for u in p.units] == [trained]
    assert reloaded.vectors.vectors(np.array([trained])).shape == (1, engine.embedder.dimension)
    # The same question gets the same answer from the composed index and from one read back.
    fresh = make_engine(engine.store.root, HashEmbedder(), config)
    ids = [h.passage.id for h in engine.search("bakery wolves")]
    assert [h.passage.id for h in fresh.search("bakery wolves")] == ids

    # The next addition, from the index composed in memory, links everything written so far.
    inodes = {f.relative_to(new_gen): f.stat().st_ino for f in new_gen.rglob("*") if f.is_file()}
    (seeds_dir / "kiosk.txt").write_text(" date 2023-09-10 A kiosk selling maps opened by the harbour.")
    engine.build(seeds_dir)
    newest = engine.store.current.resolve()
    assert len(engine.store.read_manifest().vector_parts) == 3
    for name, inode in inodes.items():
        assert name.name == "manifest.json" or (newest / name).stat().st_ino == inode, name
    assert engine.search("kiosk maps")[0].article.id == "kiosk.txt"
    (seeds_dir / "kiosk.txt").unlink()

    # A changed article and a removed one are tombstoned (the changed one added anew): no segment is
    # rewritten, the trained index is kept, and searches never return the old rows.
    (seeds_dir / "bakery.txt").write_text(" date 2023-09-09 The bakery closed after a week.")
    inodes = {f.relative_to(newest): f.stat().st_ino for f in newest.rglob("*") if f.is_file()}
    summary, _ = engine.build(seeds_dir)
    assert (summary.changed, summary.removed, summary.compacted) == (1, 1, False)
    assert summary.index is not None and engine.index is summary.index
    third = engine.store.read_manifest()
    assert (third.vector_params["trained"], third.vector_params["appended"]) == (trained, 0)
    assert [s.deleted_articles for s in third.segments] == [0, 1, 1, 0] and len(third.vector_parts) == 4
    latest = engine.store.current.resolve()
    for name, inode in inodes.items():
        assert name.name == "manifest.json" or (latest / name).stat().st_ino == inode, name
    assert engine.search("bakery closed week")[0].article.id == "bakery.txt"
    assert all("high street" not in h.passage.text for h in engine.search("bakery high street", k=10))
    assert all(h.article.id != "kiosk.txt" for h in engine.search("kiosk maps harbour", k=10))
    _same_index(engine.index, IndexStore(engine.store.root, config).load())
    (seeds_dir / "bakery.txt").unlink()
    (seeds_dir / "zoo.txt").write_text(" date 2023-10-10 The zoo welcomed a baby giraffe on Monday.")
    engine.build(seeds_dir)
    fourth = engine.store.read_manifest()
    assert fourth.vector_params["trained"] == trained
    assert engine.search("baby giraffe zoo")[0].article.id == "zoo.txt"
    _same_index(engine.index, IndexStore(engine.store.root, config).load())


def test_a_new_process_updates_without_reading_article_texts(
    tmp_path: Path, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import retrieval.index.indexer
    from retrieval.index.segment import Segment

    config = VectorConfig(exact_max=5, params={"M": 8})
    make_engine(tmp_path / "index", HashEmbedder(), config).build(seeds_dir, full=True)
    (seeds_dir / "bakery.txt").write_text(" date 2023-09-09 A new bakery opened on the high street.")
    cold = make_engine(tmp_path / "index", HashEmbedder(), config)  # like `newsdesk index`: nothing loaded

    def no_text(self: Segment, row: int) -> str:
        raise AssertionError("an update read an indexed article's text")

    monkeypatch.setattr(Segment, "_decode", no_text)
    monkeypatch.setattr(retrieval.index.indexer, "COMPACT_DELETED_FRACTION", 0.5)  # a tiny index: few tombstones
    summary, _ = cold.build(seeds_dir)
    assert (summary.added, summary.embedded, summary.index) == (1, 1, None)
    summary, _ = cold.build(seeds_dir)  # nothing changed: the tables alone say so
    assert summary.added == summary.embedded == 0
    (seeds_dir / "bakery.txt").write_text(" date 2023-09-09 The bakery closed after a week.")
    (seeds_dir / "wire.jsonl").unlink()
    summary, _ = make_engine(tmp_path / "index", HashEmbedder(), config).build(seeds_dir)  # a change, a removal
    assert (summary.changed, summary.removed, summary.compacted) == (1, 2, False)
    monkeypatch.undo()
    manifest = cold.store.read_manifest()
    assert len(manifest.segments) == 3 and len(manifest.vector_parts) == 3
    assert [s.deleted_articles for s in manifest.segments] == [2, 1, 0]
    again = make_engine(tmp_path / "index", HashEmbedder(), config)
    assert again.search("bakery closed week")[0].article.id == "bakery.txt"
    assert {h.article.id for h in again.search("central bank storm airport", k=10)}.isdisjoint({"wire-1", "wire-2"})


def test_delta_parts_merge_into_the_trained_index_then_retrain(
    tmp_path: Path, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import retrieval.index.indexer
    import retrieval.index.vectors.faiss
    from retrieval.index.vectors.faiss import APPEND_RETRAIN_FRACTION

    monkeypatch.setattr(retrieval.index.vectors.faiss, "DELTA_MAX_PARTS", 2)
    monkeypatch.setattr(retrieval.index.vectors.faiss, "DELTA_MIN_VECTORS", 2)
    monkeypatch.setattr(retrieval.index.indexer, "MAX_SEGMENTS", 3)
    config = VectorConfig(exact_max=5, params={"M": 8})
    engine = make_engine(tmp_path / "index", HashEmbedder(), config)
    engine.build(seeds_dir, full=True)
    trained = engine.store.read_manifest().n_vectors
    assert int(APPEND_RETRAIN_FRACTION * trained) >= 3
    seen = []
    for n in range(4):
        (seeds_dir / f"note-{n}.txt").write_text(f" date 2023-09-0{n % 9 + 1} Note number {n} about kestrels {n}.")
        engine.build(seeds_dir)
        manifest = engine.store.read_manifest()
        params = manifest.vector_params
        seen.append((len(manifest.vector_parts), params["trained"], params["appended"], len(manifest.segments)))
        assert engine.search(f"note number {n} kestrels")[0].article.id == f"note-{n}.txt"
    # Two delta parts at most; the third added article merges them into the HNSW index (appended, no
    # retraining); past three data segments, the later ones merge into one (the first stays as it is).
    assert seen == [(2, trained, 0, 2), (3, trained, 0, 3), (1, trained, 3, 2), (2, trained, 3, 3)]
    _same_index(engine.index, IndexStore(engine.store.root, config).load())
    (seeds_dir / "one-too-many.txt").write_text(" date 2023-09-09 One more note about owls.")
    for n in range(4, 7):  # whichever build merges past a fifth of the trained size retrains
        (seeds_dir / f"note-{n}.txt").write_text(f" date 2023-09-09 Note {n} about owls and kestrels.")
        engine.build(seeds_dir)
    manifest = engine.store.read_manifest()
    assert manifest.vector_params["trained"] > trained
    assert engine.search("one more note owls")[0].article.id == "one-too-many.txt"
    _same_index(engine.index, IndexStore(engine.store.root, config).load())


def test_an_exact_index_or_milvus_is_rebuilt_not_appended(tmp_path: Path) -> None:
    from retrieval.index.vectors.base import Growth
    from retrieval.index.vectors.faiss import FaissBackend, FaissSegments, FaissVectors
    from retrieval.index.vectors.milvus import MilvusBackend

    vectors = np.eye(4, dtype=np.float32)
    days = np.zeros(4, dtype=np.int64)
    flat = FaissSegments([FaissVectors.build(vectors, 4)], ["vectors-a"], days)
    assert FaissBackend(VectorConfig(exact_max=2)).growth(flat, 1, 5) is Growth.REBUILD  # now past exact_max
    assert FaissBackend(VectorConfig(exact_max=10)).growth(flat, 1, 5) is Growth.DELTA
    assert len(FaissBackend(VectorConfig(exact_max=10)).extend(flat, vectors[:1], np.zeros(5, np.int64)).parts) == 2
    hnsw = FaissSegments([FaissVectors.build(vectors, 4, ann="hnsw", params={"M": 8})], ["vectors-b"], days)
    assert FaissBackend(VectorConfig(exact_max=10)).growth(hnsw, 1, 5) is Growth.DELTA
    assert FaissBackend(VectorConfig(exact_max=2, ann="ivf")).growth(hnsw, 1, 5) is Growth.REBUILD
    assert FaissBackend(VectorConfig(exact_max=2, params={"M": 16})).growth(hnsw, 1, 5) is Growth.REBUILD
    milvus = MilvusBackend(VectorConfig(backend="milvus"), tmp_path)
    assert milvus.growth(hnsw, 1, 5) is Growth.REBUILD
    assert not milvus.capabilities.tombstones and FaissBackend(VectorConfig()).capabilities.tombstones


def test_tombstones_past_the_threshold_compact_the_index(
    tmp_path: Path, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import retrieval.index.indexer
    from retrieval.index.indexer import COMPACT_DELETED_FRACTION

    assert 0 < COMPACT_DELETED_FRACTION < 1
    monkeypatch.setattr(retrieval.index.indexer, "COMPACT_DELETED_FRACTION", 0.3)
    config = VectorConfig(exact_max=5, params={"M": 8})
    engine = make_engine(tmp_path / "index", HashEmbedder(), config)
    engine.build(seeds_dir, full=True)
    engine.load()
    trained = engine.store.read_manifest().vector_params["trained"]
    (seeds_dir / "harbour.txt").unlink()  # a few vectors: tombstoned
    summary, _ = engine.build(seeds_dir)
    manifest = engine.store.read_manifest()
    assert not summary.compacted and manifest.deleted_units and manifest.vector_params["trained"] == trained
    (seeds_dir / "wire.jsonl").unlink()  # now past the threshold: one segment of the live rows, vectors anew
    (seeds_dir / "zoo.txt").write_text(" date 2023-10-10 The zoo welcomed a baby giraffe on Monday.")
    summary, _ = engine.build(seeds_dir)
    manifest = engine.store.read_manifest()
    assert summary.compacted and summary.embedded == 1  # kept sentences are not embedded again
    assert len(manifest.segments) == 1 and manifest.deleted_units == 0
    assert manifest.vector_params["trained"] == manifest.n_vectors == engine.index.vectors.size
    assert set(engine.index.articles) == {"election.md", "wildlife.html", "zoo.txt"}
    assert len(engine.index.passages) == engine.index.n_live_passages == manifest.n_passages
    assert engine.search("baby giraffe zoo")[0].article.id == "zoo.txt"
    assert engine.search("wolves valley")[0].article.id == "wildlife.html"
    _same_index(engine.index, IndexStore(engine.store.root, config).load())


def test_adding_an_article_in_a_new_process_imports_no_scipy(tmp_path: Path, seeds_dir: Path) -> None:
    """scipy (~0.1 s of CPU to import) is for merging and compacting segments, not for adding one."""
    make_engine(tmp_path / "index", HashEmbedder()).build(seeds_dir)
    (seeds_dir / "bakery.txt").write_text(" date 2023-09-09 A new bakery opened on the high street.")
    script = (
        "import sys; from pathlib import Path; sys.path[:0] = [sys.argv[3]]\n"
        "from tests.conftest import HashEmbedder, make_engine\n"
        "summary, _ = make_engine(Path(sys.argv[1]), HashEmbedder()).build(Path(sys.argv[2]))\n"
        "print(summary.added, 'scipy' in sys.modules)"
    )
    args = [sys.executable, "-c", script, str(tmp_path / "index"), str(seeds_dir), str(REPO)]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["1", "False"], done.stdout + done.stderr
