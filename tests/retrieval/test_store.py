"""The index directory: round trip, damage and mismatch detection, the build lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.config import VectorConfig
from retrieval.engine import Engine
from retrieval.errors import IndexBusyError, IndexCorruptError, IndexMismatchError, IndexMissingError
from retrieval.index.store import IndexStore
from tests.conftest import HashEmbedder, make_engine


def test_round_trip_keeps_articles_passages_and_vectors(engine: Engine, vector_config: VectorConfig) -> None:
    loaded = IndexStore(engine.store.root, vector_config).load()
    assert set(loaded.articles) == set(engine.index.articles)
    assert [p.text for p in loaded.passages] == [p.text for p in engine.index.passages]
    for passage in loaded.passages:
        assert loaded.articles[passage.article_id].text[passage.start : passage.end] == passage.text
    assert loaded.vectors.size == manifest_vectors(loaded) == len({u for p in loaded.passages for u in p.units})
    for passage in loaded.passages:
        assert len(passage.units) == len(passage.sentences)
        assert all(passage.id in loaded.unit_passages[u] for u in passage.units)
    manifest = loaded.manifest
    assert manifest.model == "test/hash-embedder" and manifest.dimension == 256
    assert manifest.chunking["max_tokens"] == 40 and manifest.format_version == 3
    assert set(manifest.articles) == set(loaded.articles)
    assert manifest.date_range == ("2023-05-02", "2023-08-01")


def manifest_vectors(loaded) -> int:  # noqa: ANN001
    return loaded.manifest.n_vectors


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="newsdesk index"):
        IndexStore(tmp_path / "none").load()


@pytest.mark.parametrize(
    "victim", ["manifest.json", "*.faiss", "seg-*/passages.jsonl", "seg-*/articles.jsonl", "seg-*/terms.npz"]
)
def test_damaged_file_is_a_clear_error(engine: Engine, victim: str, vector_config: VectorConfig) -> None:
    store = IndexStore(engine.store.root, vector_config)
    if victim == "*.faiss" and vector_config.backend == "milvus":  # the vectors are a collection: lose it
        store.backend.client.drop_collection(store.read_manifest().vector_params["collection"])
    else:
        files = list(engine.store.current.glob(victim))
        assert len(files) == 1
        files[0].write_bytes(b"\x00garbage" * 3)
    with pytest.raises(IndexCorruptError, match=r"newsdesk index --full"):
        store.load()


def test_index_from_another_model_is_refused(engine: Engine, vector_config: VectorConfig) -> None:
    other = make_engine(engine.store.root, HashEmbedder(name="other/model"), vector_config)
    with pytest.raises(IndexMismatchError, match=r"built with model 'test/hash-embedder'.*--full"):
        other.load()


def test_index_of_another_format_is_refused(engine: Engine, vector_config: VectorConfig) -> None:
    manifest = engine.store.current / "manifest.json"
    data = json.loads(manifest.read_text())
    data["format_version"] = 99
    manifest.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match="format 99"):
        make_engine(engine.store.root, HashEmbedder(), vector_config).load()


def test_second_build_at_once_is_refused(engine: Engine, seeds_dir: Path) -> None:
    with engine.store.lock(), pytest.raises(IndexBusyError, match="another build"):
        engine.build(seeds_dir)
    engine.build(seeds_dir)  # and the lock is free again afterwards
