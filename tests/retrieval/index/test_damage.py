"""The damage matrix: every kind of damage to an index directory is noticed.

A small real index (deterministic embedder; an HNSW main vector part with its float16 copies, an exact
delta part, two segments, tombstones) is copied and damaged one way at a time: truncations, bit flips,
deleted, garbled or grown files, broken ``current`` links, and "consistent" damage a buggy writer could
leave (checksums updated to match: out-of-range offsets, wrong counts). Three surfaces are tried:

- ``ask`` (as the CLI does it): a one-line error, or — when ``current`` or the manifest is gone — a
  rebuild that says what happened; never a traceback, never an answer from a damaged index;
- ``stats`` (manifest and file sizes only): counted, not required (it reads no file);
- ``stats --check`` (``Engine.check_index``): every damage is reported.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from retrieval.config import VectorConfig
from retrieval.errors import NewsdeskError
from retrieval.index.manifest import Manifest, record_files
from tests.conftest import HashEmbedder, make_engine, write_articles

CONFIG = VectorConfig(exact_max=5, params={"M": 8})
QUESTION = "What did rangers film in the Oder valley?"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The index to damage: two segments, tombstones, an HNSW part with float16 copies and a delta part."""
    from tests.conftest import ARTICLES

    root = tmp_path_factory.mktemp("damage")
    notes = {
        f"note-{n}.txt": f" date 2023-09-0{n + 1} Note {n}: kestrels nested on tower {n}. Owls too." for n in range(8)
    }
    seeds = write_articles(root / "seeds", {**ARTICLES, **notes})
    engine = make_engine(root / "index", HashEmbedder(), CONFIG)
    engine.build(seeds, full=True)
    (seeds / "bakery.txt").write_text(" date 2023-09-09 A new bakery opened on the high street.")
    (seeds / "note-3.txt").unlink()
    engine.build(seeds)
    manifest = engine.store.read_manifest()
    assert len(manifest.segments) == 2 and len(manifest.vector_parts) == 2 and manifest.deleted_units
    return root / "index"


def _files(gen: Path) -> dict[str, Path]:
    """The damageable files by role: ``seg0/tables.npz``, ``vec0.faiss``, ``vec0.f16.npy``..."""
    manifest = Manifest.from_json((gen / "manifest.json").read_text())
    roles = {"manifest.json": gen / "manifest.json"}
    for number, segment in enumerate(manifest.segments):
        for path in (gen / segment.name).iterdir():
            roles[f"seg{number}/{path.name}"] = path
    for number, part in enumerate(manifest.vector_parts):
        for path in gen.glob(f"{part.name}.*"):
            roles[f"vec{number}{path.name[len(part.name) :]}"] = path
    return roles


FILES = [
    "manifest.json",
    "seg0/tables.npz",
    "seg0/texts.bin",
    "seg0/terms.npz",
    "seg0/deleted.npy",
    "seg1/tables.npz",
    "seg1/texts.bin",
    "vec0.faiss",
    "vec0.f16.npy",
    "vec1.faiss",
]


def _flip(at: float) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[min(len(data) - 1, int(len(data) * at))] ^= 0x10
        path.write_bytes(bytes(data))

    return damage


FILE_DAMAGE: dict[str, Callable[[Path], None]] = {
    "emptied": lambda p: p.write_bytes(b""),
    "halved": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "bit-flip-middle": _flip(0.5),
    "bit-flip-start": _flip(0.02),
    "deleted": lambda p: p.unlink(),
    "grown": lambda p: p.write_bytes(p.read_bytes() + b"\x00garbage"),
    "garbled": lambda p: p.write_bytes(bytes((b * 7 + 3) % 256 for b in p.read_bytes())),
}


def _rewrite_consistently(gen: Path, role: str, change: Callable[[dict[str, np.ndarray]], None]) -> None:
    """A writer's bug: change an npz's arrays, then record the new file in a valid manifest."""
    path = _files(gen)[role]
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    change(arrays)
    np.savez(path, **arrays)  # type: ignore[arg-type]
    _rerecord(gen)


def _rerecord(gen: Path, edit: Callable[[Manifest], Manifest] = lambda m: m) -> None:
    manifest = edit(Manifest.from_json((gen / "manifest.json").read_text()))
    paths = [f.path for f in manifest.files if (gen / f.path).exists()]
    (gen / "manifest.json").write_text(replace(manifest, files=record_files(gen, paths, None, None)).to_json())


def _set(name: str, value: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict[str, np.ndarray]], None]:
    def change(arrays: dict[str, np.ndarray]) -> None:
        arrays[name] = value(arrays[name].copy())

    return change


def _bump(at: int, by: int) -> Callable[[np.ndarray], np.ndarray]:
    def value(array: np.ndarray) -> np.ndarray:
        array[at] += by
        return array

    return value


def _segment_count(gen: Path) -> None:
    def edit(m: Manifest) -> Manifest:
        first = replace(m.segments[0], passages=m.segments[0].passages + 1)
        return replace(m, segments=(first, *m.segments[1:]))

    _rerecord(gen, edit)


def _part_size(gen: Path) -> None:
    _rerecord(
        gen,
        lambda m: replace(
            m, vector_parts=(replace(m.vector_parts[0], size=m.vector_parts[0].size - 1), *m.vector_parts[1:])
        ),
    )


def _unlisted_segment_file(gen: Path) -> None:
    _rerecord(gen, lambda m: replace(m, files=tuple(f for f in m.files if not f.path.endswith("terms.npz"))))


def _link(gen: Path, target: str) -> None:
    root = gen.parent
    (root / "current").unlink()
    os.symlink(target, root / "current")


STRUCTURAL: dict[str, Callable[[Path], None]] = {
    "current-missing": lambda gen: (gen.parent / "current").unlink(),
    "current-dangling": lambda gen: _link(gen, "gen-20000101T000000000000"),
    "current-to-a-file": lambda gen: (_link(gen, "stray"), (gen.parent / "stray").write_text("x")),
    "generation-deleted": lambda gen: shutil.rmtree(gen),
    "segment-dir-deleted": lambda gen: shutil.rmtree(_files(gen)["seg1/tables.npz"].parent),
    "manifest-format-3": lambda gen: (gen / "manifest.json").write_text(
        json.dumps({**json.loads((gen / "manifest.json").read_text()), "format_version": 3})
    ),
    "manifest-not-json": lambda gen: (gen / "manifest.json").write_text("{not json"),
    "manifest-count-edited": lambda gen: (gen / "manifest.json").write_text(
        (gen / "manifest.json").read_text().replace('"passages":', '"passages":1', 1)
    ),
    "consistent:segment-count": _segment_count,
    "consistent:vector-part-size": _part_size,
    "consistent:unlisted-file": _unlisted_segment_file,
    "consistent:passage-end-past-article": lambda gen: _rewrite_consistently(
        gen, "seg0/tables.npz", _set("p_end", _bump(0, 10_000))
    ),
    "consistent:passage-start-negative": lambda gen: _rewrite_consistently(
        gen, "seg0/tables.npz", _set("p_start", _bump(0, -10_000))
    ),
    "consistent:sentence-unit-out-of-range": lambda gen: _rewrite_consistently(
        gen, "seg0/tables.npz", _set("s_unit", _bump(0, 10_000))
    ),
    "consistent:unit-of-another-article": lambda gen: _rewrite_consistently(
        gen, "seg0/tables.npz", _set("u_article", lambda a: np.roll(a, 7))
    ),
    "consistent:text-offsets-shifted": lambda gen: _rewrite_consistently(
        gen, "seg0/tables.npz", _set("text_at", _bump(1, 3))
    ),
    "consistent:postings-row-out-of-range": lambda gen: _rewrite_consistently(
        gen, "seg0/terms.npz", _set("indices", _bump(0, 10_000))
    ),
    "consistent:tombstone-out-of-range": lambda gen: (
        np.save(_files(gen)["seg0/deleted.npy"], np.array([10_000])),
        _rerecord(gen),
    ),
}
KINDS = [f"{role}:{how}" for role in FILES for how in FILE_DAMAGE] + list(STRUCTURAL)


def damage(root: Path, kind: str) -> None:
    """Apply one kind of damage to the index at ``root``."""
    gen = (root / "current").resolve()
    if kind in STRUCTURAL:
        STRUCTURAL[kind](gen)
        return
    role, how = kind.rsplit(":", 1)
    FILE_DAMAGE[how](_files(gen)[role])


def ask_outcome(root: Path) -> str:
    """What ``newsdesk ask`` does with the index: ``clean`` (one-line error), ``rebuild-said`` (a rebuild
    that says what happened), ``rebuild-silent``, ``traceback`` or ``silent`` (an answer, damage unseen)."""
    engine = make_engine(root, HashEmbedder(), CONFIG)
    try:
        if not engine.has_index():
            absence = engine.missing_index()
            return "rebuild-said" if absence is not None and absence.damaged else "rebuild-silent"
        engine.ask(QUESTION)
    except NewsdeskError as exc:
        return "clean" if "\n" not in str(exc) else "traceback"
    except Exception:  # noqa: BLE001 - what the matrix counts
        return "traceback"
    return "silent"


def stats_outcome(root: Path) -> str:
    """``newsdesk stats``: ``caught`` or ``fine`` (said nothing), or ``traceback``."""
    engine = make_engine(root, HashEmbedder(), CONFIG)
    try:
        engine.stats()
    except NewsdeskError:
        return "caught"
    except Exception:  # noqa: BLE001
        return "traceback"
    return "fine"


def check_outcome(root: Path) -> str:
    """``newsdesk stats --check``: ``caught`` or ``fine``, or ``traceback``."""
    try:
        report = make_engine(root, HashEmbedder(), CONFIG).check_index()
    except Exception:  # noqa: BLE001
        return "traceback"
    return "fine" if report.ok else "caught"


def _copy(pristine: Path, tmp_path: Path) -> Path:
    root = tmp_path / "index"
    shutil.copytree(pristine, root, symlinks=True)
    return root


def test_the_pristine_index_is_sound(pristine: Path, tmp_path: Path) -> None:
    root = _copy(pristine, tmp_path)
    assert (ask_outcome(root), stats_outcome(root), check_outcome(root)) == ("silent", "fine", "fine")
    assert len(KINDS) >= 50


@pytest.mark.parametrize("kind", KINDS)
def test_damage_is_noticed(pristine: Path, tmp_path: Path, kind: str) -> None:
    root = _copy(pristine, tmp_path)
    damage(root, kind)
    assert check_outcome(root) == "caught", kind
    assert ask_outcome(root) in ("clean", "rebuild-said"), kind


@pytest.mark.parametrize("kind", [k for k in KINDS if not k.startswith("vec")])
def test_damage_to_a_large_index_is_never_a_traceback(
    pristine: Path, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files too large to hash on every load are checked by size and their own CRCs: ask may answer
    (bit flips in article texts it does not read), but never fails with a traceback; --check catches all.
    (Damage inside FAISS files of a large index is left to --check: FAISS reads them as they are.)"""
    import retrieval.index.store

    monkeypatch.setattr(retrieval.index.store, "HASH_ON_LOAD_MAX", 0)
    root = _copy(pristine, tmp_path)
    damage(root, kind)
    assert ask_outcome(root) in ("clean", "rebuild-said", "silent"), kind
    assert check_outcome(root) == "caught", kind


def test_report_the_matrix(
    pristine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Print the counts (``pytest -s -k report_the_matrix``): the numbers docs/index-format.md quotes. ``ask
    (large)`` is ask with no file hashed on load, as for a large index (FAISS files left out, see above)."""
    import retrieval.index.store

    counts: dict[str, Counter[str]] = {
        "ask": Counter(),
        "stats": Counter(),
        "check": Counter(),
        "ask (large)": Counter(),
    }
    for number, kind in enumerate(KINDS):
        root = _copy(pristine, tmp_path / str(number))
        damage(root, kind)
        counts["check"][check_outcome(root)] += 1
        counts["stats"][stats_outcome(root)] += 1
        counts["ask"][ask_outcome(root)] += 1
        if not kind.startswith("vec"):
            with monkeypatch.context() as patch:
                patch.setattr(retrieval.index.store, "HASH_ON_LOAD_MAX", 0)
                counts["ask (large)"][ask_outcome(root)] += 1
    with capsys.disabled():
        print(f"\n{len(KINDS)} kinds of damage: " + "; ".join(f"{k}: {dict(v)}" for k, v in counts.items()))
    assert counts["check"] == Counter({"caught": len(KINDS)})
