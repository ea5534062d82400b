"""The index directory: round trip, the typed manifest, damage and mismatch detection, the build lock,
readers during swaps, leftovers, a full disk, odd directories."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from retrieval.config import VectorConfig
from retrieval.engine import Engine
from retrieval.errors import (
    IndexBusyError,
    IndexCorruptError,
    IndexLocationError,
    IndexMismatchError,
    IndexMissingError,
    IndexWriteError,
    Remedy,
)
from retrieval.index.manifest import FORMAT_VERSION, Manifest, SegmentRecord, VectorPart
from retrieval.index.store import IndexStore
from tests.conftest import REPO, HashEmbedder, make_engine, write_articles


def test_round_trip_keeps_articles_passages_and_vectors(engine: Engine, vector_config: VectorConfig) -> None:
    loaded = IndexStore(engine.store.root, vector_config).load()
    assert set(loaded.articles) == set(engine.index.articles)
    assert [p.text for p in loaded.passages] == [p.text for p in engine.index.passages]
    for passage in loaded.passages:
        assert loaded.articles[passage.article_id].text[passage.start : passage.end] == passage.text
    assert loaded.vectors.size == loaded.manifest.n_vectors == len({u for p in loaded.passages for u in p.units})
    for passage in loaded.passages:
        assert len(passage.units) == len(passage.sentences)
        assert all(passage.id in loaded.unit_passages[u] for u in passage.units)
    manifest = loaded.manifest
    assert manifest.model == "test/hash-embedder" and manifest.dimension == 256
    assert manifest.chunking["max_tokens"] == 40 and manifest.format_version == FORMAT_VERSION == 4
    assert manifest.n_articles == len(loaded.articles) == 5
    assert manifest.date_range == ("2023-05-02", "2023-08-01")
    assert all(isinstance(s, SegmentRecord) for s in manifest.segments)
    assert all(isinstance(p, VectorPart) for p in manifest.vector_parts)
    # every file is listed with its size and checksum
    files = {str(p.relative_to(loaded.path)) for p in loaded.path.rglob("*") if p.is_file()} - {"manifest.json"}
    assert {f.path for f in manifest.files} == files


def test_the_manifest_is_typed_and_checksummed(engine: Engine) -> None:
    text = (engine.store.current / "manifest.json").read_text()
    manifest = Manifest.from_json(text)
    assert Manifest.from_json(manifest.to_json()) == manifest
    data = json.loads(text)
    data["segments"][0]["passages"] += 1  # valid JSON, plausible, wrong
    with pytest.raises(ValueError, match="checksum"):
        Manifest.from_json(json.dumps(data))
    data = json.loads(text)
    data["segments"][0]["passages"] = "many"  # a schema error behind a matching checksum: a writer's bug
    data.pop("checksum")
    body = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    data["checksum"] = hashlib.sha256(body.encode()).hexdigest()
    with pytest.raises(ValueError, match=r"segments\[0\]\.passages"):
        Manifest.from_json(json.dumps(data))


def test_the_manifest_does_not_list_every_article(tmp_path: Path) -> None:
    """Article ids and hashes live in each segment's tables, written once: the manifest stays small."""
    many = {
        f"wire-{n}.jsonl": json.dumps({"id": f"a{n}", "title": f"T{n}", "text": f"Story {n} about ferries."})
        for n in range(300)
    }
    engine = make_engine(tmp_path / "index", HashEmbedder())
    engine.build(write_articles(tmp_path / "seeds", many))
    size = (engine.store.current / "manifest.json").stat().st_size
    # the id as a JSON string: a bare "a299" also turns up inside a file's sha256 now and then
    assert size < 8_000 and '"a299"' not in (engine.store.current / "manifest.json").read_text()


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="no index at") as info:
        IndexStore(tmp_path / "none").load()
    assert info.value.remedy is Remedy.BUILD


@pytest.mark.parametrize(
    "victim", ["manifest.json", "*.faiss", "seg-*/tables.npz", "seg-*/texts.bin", "seg-*/terms.npz"]
)
def test_damaged_file_is_a_clear_error(engine: Engine, victim: str, vector_config: VectorConfig) -> None:
    store = IndexStore(engine.store.root, vector_config)
    if victim == "*.faiss" and vector_config.backend == "milvus":  # the vectors are a collection: lose it
        store.backend.client.drop_collection(store.read_manifest().vector_params["collection"])
    else:
        files = list(engine.store.current.glob(victim))
        assert len(files) == 1
        files[0].write_bytes(b"\x00garbage" * 3)
    with pytest.raises(IndexCorruptError) as info:
        store.load()
    assert info.value.remedy is Remedy.REBUILD and "\n" not in str(info.value)


def test_index_from_another_model_is_refused(engine: Engine, vector_config: VectorConfig) -> None:
    other = make_engine(engine.store.root, HashEmbedder(name="other/model"), vector_config)
    with pytest.raises(IndexMismatchError, match=r"built with model 'test/hash-embedder'") as info:
        other.load()
    assert info.value.remedy is Remedy.REBUILD


def test_index_of_another_chunking_is_refused_naming_what_differs(engine: Engine) -> None:
    manifest = engine.index.manifest
    other = {**manifest.chunking, "max_tokens": 120, "language": "de"}
    with pytest.raises(IndexMismatchError, match=r"other chunking settings \(language, max_tokens\)") as info:
        engine.store.check(manifest, engine.embedder.name, other)
    assert info.value.remedy is Remedy.REBUILD and "\n" not in str(info.value)
    engine.store.check(manifest, engine.embedder.name, dict(manifest.chunking))  # its own settings pass


def test_index_of_another_format_is_refused(engine: Engine) -> None:
    manifest = engine.store.current / "manifest.json"
    data = json.loads(manifest.read_text())
    data["format_version"] = 3  # an index written by the previous newsdesk
    manifest.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match="has format 3, this newsdesk reads format 4") as info:
        make_engine(engine.store.root, HashEmbedder()).load()
    assert info.value.remedy is Remedy.REBUILD and "\n" not in str(info.value)


def test_second_build_at_once_is_refused_before_any_work(
    engine: Engine, seeds_dir: Path, files_read: list[str]
) -> None:
    from retrieval.config import EmbeddingConfig

    other = Engine(IndexStore(engine.store.root), embedding=EmbeddingConfig(model="no-such/model"))
    files_read.clear()
    with engine.store.lock(), pytest.raises(IndexBusyError, match="another build") as info:
        other.build(seeds_dir)  # refused before loading a model (this one cannot load) or reading a seed
    assert info.value.remedy is Remedy.WAIT and files_read == []
    engine.build(seeds_dir)  # and the lock is free again afterwards


# -- readers while builds swap generations ---------------------------------------------------------


@pytest.mark.parametrize("grace", [0.0, 60.0])
def test_readers_never_see_a_false_damage_while_builds_swap(
    tmp_path: Path, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch, grace: float
) -> None:
    import retrieval.index.store

    monkeypatch.setattr(retrieval.index.store, "GENERATION_GRACE_SECONDS", grace)
    engine = make_engine(tmp_path / "index", HashEmbedder())
    engine.build(seeds_dir, full=True)
    errors: list[BaseException] = []
    loads = 0
    stop = threading.Event()

    def keep_loading() -> None:
        nonlocal loads
        while not stop.is_set():
            try:
                index = IndexStore(tmp_path / "index").load()
                assert index.passages[len(index.passages) - 1].text
                loads += 1
            except BaseException as exc:  # noqa: BLE001 - any failure is the test failing
                errors.append(exc)

    readers = [threading.Thread(target=keep_loading) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for n in range(25):
            (seeds_dir / f"note-{n}.txt").write_text(f" date 2023-09-09 Note {n} about kestrels and owls.")
            engine.build(seeds_dir, full=n % 5 == 0)
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=60)
    assert not errors, errors[:3]
    assert loads > 25
    gens = list((tmp_path / "index").glob("gen-*"))
    assert len(gens) == 1 if grace == 0 else len(gens) > 1  # replaced generations outlive the grace period only


# -- leftovers -------------------------------------------------------------------------------------


KILLED_WRITE = """
import os, sys
sys.path[:0] = [{repo!r}]
from pathlib import Path
import retrieval.index.store as store
from tests.conftest import HashEmbedder, make_engine

def die(*args, **kwargs):
    (Path({index!r}) / ".seed-cache.pickle.999999.tmp").write_bytes(b"half a pickle")  # as if saving it
    os._exit(9)
if {where!r} == "record":  # killed while writing: a tmp-* directory is left
    store.record_files = die
else:  # killed after renaming it, before the swap: a gen-* that never went live
    store.IndexStore._point_current = die
make_engine(Path({index!r}), HashEmbedder()).build(Path({seeds!r}), full=True)
"""


def test_every_build_clears_what_killed_builds_left(tmp_path: Path, seeds_dir: Path) -> None:
    root = tmp_path / "index"
    engine = make_engine(root, HashEmbedder())
    engine.build(seeds_dir)
    live = engine.store.live_generation()
    assert live is not None
    for where, leftover in (("record", "tmp-*"), ("swap", "gen-*")):
        script = KILLED_WRITE.format(repo=str(REPO), index=str(root), seeds=str(seeds_dir), where=where)
        assert subprocess.run([sys.executable, "-c", script], timeout=120, check=False).returncode == 9
        assert [p for p in root.glob(leftover) if p != live] and list(root.glob(".seed-cache.pickle.*.tmp"))
        assert engine.store.live_generation() == live
        summary, _ = make_engine(root, HashEmbedder()).build(seeds_dir)  # nothing changed: it still cleans
        assert summary.embedded == 0
        assert not list(root.glob("tmp-*")) and not list(root.glob(".seed-cache.pickle.*.tmp"))
        assert [g.name for g in root.glob("gen-*")] == [live.name]
    assert make_engine(root, HashEmbedder()).search("central bank rates")[0].article.id == "wire-1"


def test_the_live_generation_is_never_removed(tmp_path: Path, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Also with a relative index directory and a never-live generation just after the live one."""
    import retrieval.index.store

    monkeypatch.setattr(retrieval.index.store, "GENERATION_GRACE_SECONDS", 0.0)
    monkeypatch.chdir(tmp_path)
    engine = make_engine(Path("index"), HashEmbedder())
    engine.build(seeds_dir)
    live = engine.store.live_generation()
    assert live is not None
    stamp = int(live.name.removeprefix("gen-")[-6:]) + 1  # a few microseconds later, never swapped in
    (Path("index") / f"{live.name[:-6]}{stamp:06d}").mkdir()
    summary, _ = make_engine(Path("index"), HashEmbedder()).build(seeds_dir)
    assert summary.embedded == 0 and [g.name for g in Path("index").glob("gen-*")] == [live.name]
    assert make_engine(Path("index"), HashEmbedder()).search("wolves valley")[0].article.id == "wildlife.html"
    engine.load()  # serving from the relative directory: an update shares what it holds
    (seeds_dir / "new.txt").write_text(" date 2023-09-09 A new bakery opened on the high street.")
    held = engine.index
    summary, _ = engine.build(seeds_dir)
    assert summary.index is engine.index and engine.index.segments[0].tables is held.segments[0].tables


def test_ctrl_c_after_the_swap_says_the_new_index_is_live(
    engine: Engine, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch, vector_config: VectorConfig
) -> None:
    from retrieval.errors import BuildInterrupted
    from retrieval.ingest.cache import IngestCache

    def interrupted(self: IngestCache, path: Path, seeds: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(IngestCache, "save", interrupted)
    monkeypatch.setattr(IngestCache, "worth_saving", property(lambda self: True))
    before = engine.store.live_generation()
    (seeds_dir / "new.txt").write_text(" date 2023-09-09 A new bakery opened on the high street.")
    with pytest.raises(BuildInterrupted) as info:
        engine.build(seeds_dir)
    assert info.value.live and engine.store.live_generation() != before

    class Stop(HashEmbedder):
        def encode(self, texts, progress=None):  # noqa: ANN001, ANN201
            raise KeyboardInterrupt

    (seeds_dir / "other.txt").write_text(" date 2023-09-10 A kiosk opened.")
    live = engine.store.live_generation()
    with pytest.raises(BuildInterrupted) as info:
        make_engine(engine.store.root, Stop(), vector_config).build(seeds_dir)
    assert not info.value.live and engine.store.live_generation() == live


# -- odd directories, full and read-only disks ----------------------------------------------------


def test_an_index_directory_that_is_a_file_or_under_one(tmp_path: Path, seeds_dir: Path) -> None:
    (tmp_path / "afile").write_text("x")
    for where, words in ((tmp_path / "afile", "is a file"), (tmp_path / "afile" / "index", "lies under a file")):
        with pytest.raises(IndexLocationError, match=words) as info:
            make_engine(where, HashEmbedder()).build(seeds_dir)
        assert "\n" not in str(info.value)


def test_current_as_a_directory_is_adopted(tmp_path: Path, seeds_dir: Path) -> None:
    """A backup restored with ``cp -rL`` has ``current`` as a real directory."""
    make_engine(tmp_path / "index", HashEmbedder()).build(seeds_dir)
    restored = tmp_path / "restored"
    subprocess.run(["cp", "-rL", str(tmp_path / "index"), str(restored)], check=True)
    assert (restored / "current").is_dir() and not (restored / "current").is_symlink()
    assert make_engine(restored, HashEmbedder()).search("wolves valley")[0].article.id == "wildlife.html"
    (seeds_dir / "new.txt").write_text(" date 2023-09-09 A new bakery opened on the high street.")
    summary, _ = make_engine(restored, HashEmbedder()).build(seeds_dir)
    assert summary.added == 1 and (restored / "current").is_symlink()
    make_engine(restored, HashEmbedder()).build(seeds_dir, full=True)
    again = make_engine(restored, HashEmbedder())
    assert again.search("bakery high street")[0].article.id == "new.txt"


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")


@pytest.fixture
def small_disk(tmp_path: Path):  # noqa: ANN201
    """A 2 MiB tmpfs (root only; skipped elsewhere), unmounted afterwards."""
    where = tmp_path / "disk"
    _mount_tmpfs(where, "2m")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_is_one_line_and_the_old_index_serves(small_disk: Path, seeds_dir: Path) -> None:
    engine = make_engine(small_disk / "index", HashEmbedder())
    engine.build(seeds_dir, full=True)
    live = engine.store.live_generation()
    with (small_disk / "filler").open("wb") as handle:  # leave a few KiB free
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        handle.write(b"\0" * max(0, free - 16_384))
    with pytest.raises(IndexWriteError, match="no space left on the device while writing the index") as info:
        make_engine(small_disk / "index", HashEmbedder()).build(seeds_dir, full=True)
    assert "the previous index is still serving" in str(info.value) and "\n" not in str(info.value)
    assert engine.store.live_generation() == live and not list((small_disk / "index").glob("tmp-*"))
    assert make_engine(small_disk / "index", HashEmbedder()).search("wolves valley")[0].article.id == "wildlife.html"


def test_a_read_only_index_serves_and_refuses_builds_in_one_line(small_disk: Path, seeds_dir: Path) -> None:
    make_engine(small_disk / "index", HashEmbedder()).build(seeds_dir, full=True)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    reader = make_engine(small_disk / "index", HashEmbedder())
    assert reader.search("wolves valley")[0].article.id == "wildlife.html"  # readers write nothing
    with pytest.raises(IndexLocationError, match="cannot write to the index directory .*read-only") as info:
        reader.build(seeds_dir)
    assert "\n" not in str(info.value)


def test_tombstoned_rows_keep_their_ids_until_compaction(engine: Engine, seeds_dir: Path) -> None:
    before = engine.index
    (seeds_dir / "wildlife.html").unlink()
    engine.build(seeds_dir)
    after = engine.index
    if not engine.store.backend.capabilities.tombstones:
        pytest.skip("this backend compacts instead")
    assert len(after.passages) == len(before.passages) and after.n_live_passages < before.n_live_passages
    assert "wildlife.html" not in after.articles
    dead = np.flatnonzero(~after.passage_live)
    assert all(after.passages[int(p)].article_id == "wildlife.html" for p in dead)


def test_answering_reads_no_more_than_it_needs(engine: Engine) -> None:
    """A fresh process answering from an index imports neither scipy nor bm25s (~0.1 s of CPU each)."""
    if engine.store.backend.name != "faiss":
        pytest.skip("about the default backend")
    script = (
        "import sys; from pathlib import Path; sys.path[:0] = [sys.argv[2]]\n"
        "from tests.conftest import HashEmbedder, make_engine\n"
        "answer = make_engine(Path(sys.argv[1]), HashEmbedder()).ask('How many flights were cancelled?')\n"
        "print(int(answer.abstained), *sorted(m for m in ('scipy', 'bm25s') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(engine.store.root), str(REPO)], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["0"], done.stdout + done.stderr
