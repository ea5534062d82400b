"""Vector stores: the approximate FAISS indexes against exact search, filters inside them, the manifest."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from retrieval.config import VectorConfig
from retrieval.index.store import IndexStore
from retrieval.index.vectors.base import FLAT, VectorStore, day_mask
from retrieval.index.vectors.faiss import FaissSegments, FaissVectors
from retrieval.types import DateRange
from tests.conftest import HashEmbedder, make_engine


def unit_vectors(n: int, d: int = 64, seed: int = 0) -> np.ndarray:
    """Random unit vectors around 40 random topics, as sentence embeddings cluster by topic."""
    rng = np.random.default_rng(seed)
    topics = np.random.default_rng(99).standard_normal((40, d)).astype(np.float32)
    x = topics[rng.integers(0, len(topics), n)] + rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int, mask: np.ndarray | None = None) -> set[int]:
    scores = vectors @ query
    if mask is not None:
        scores[~mask] = -np.inf
    return {int(i) for i in np.argsort(-scores)[:k] if np.isfinite(scores[i])}


def recall(store: VectorStore, vectors: np.ndarray, queries: np.ndarray, **filters: object) -> float:
    mask = day_mask(store.days, filters["days"]) if "days" in filters else None  # type: ignore[attr-defined]
    found = 0
    for query in queries:
        truth = exact_top(vectors, query, 10, mask)
        hits = store.search(query, 10, **filters)  # type: ignore[arg-type]
        assert len(hits) == len(truth)
        assert all(a[1] >= b[1] for a, b in zip(hits, hits[1:], strict=False))  # best first
        found += len(truth & {unit for unit, _ in hits})
    return found / (10 * len(queries))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vectors = unit_vectors(3000)
    queries = unit_vectors(50, seed=1)
    days = np.random.default_rng(2).integers(738_000, 738_100, len(vectors))
    days[::50] = 0  # some undated
    return vectors, queries, days


@pytest.fixture(scope="module", params=["hnsw", "ivf"])
def ann_store(request: pytest.FixtureRequest, data) -> FaissVectors:  # noqa: ANN001
    """Each approximate index, built once for the module on ``data``."""
    vectors, _, days = data
    return FaissVectors.build(vectors, 64, days, ann=request.param)


def test_approximate_index_recall_against_exact(data, ann_store: FaissVectors) -> None:  # noqa: ANN001
    vectors, queries, _ = data
    assert ann_store.kind == f"{ann_store.params['type']}-sq8-ip" and ann_store.size == len(vectors)
    assert recall(ann_store, vectors, queries) >= 0.95
    # scores are exact cosines (rescored from the stored vectors), not 8-bit approximations
    unit, score = ann_store.search(queries[0], 1)[0]
    assert score == pytest.approx(float(vectors[unit] @ queries[0]), abs=2e-3)


@pytest.mark.parametrize("exact_below", [0, 20_000])
def test_date_filter_runs_inside_the_approximate_search(data, ann_store: FaissVectors, exact_below: int) -> None:  # noqa: ANN001
    vectors, queries, days = data
    params = {**ann_store.params, "exact_below": exact_below}  # 0: always through the index's selector
    store = FaissVectors(ann_store._index, days, kind=ann_store.kind, params=params, raw=ann_store._raw)
    for window in [(738_010, 738_060), (738_050, 738_052), (None, 738_003)]:
        allowed = day_mask(days, window)
        for unit, _ in store.search(queries[0], 10, days=window):
            assert allowed[unit]
        assert recall(store, vectors, queries[:20], days=window) >= 0.9
    assert store.search(queries[0], 10, days=(800_000, None)) == []


def test_size_threshold_picks_the_index_and_the_manifest_records_it(tmp_path: Path, seeds_dir: Path) -> None:
    config = VectorConfig(exact_max=5, params={"M": 8, "ef_search": 16})
    engine = make_engine(tmp_path / "index", HashEmbedder(), config)
    engine.build(seeds_dir)
    manifest = json.loads((engine.store.current / "manifest.json").read_text())
    assert manifest["vector_index"] == "hnsw-sq8-ip"
    assert manifest["vector_params"]["type"] == "hnsw"
    assert (manifest["vector_params"]["M"], manifest["vector_params"]["ef_search"]) == (8, 16)
    assert engine.search("wolves valley")[0].article.id == "wildlife.html"
    window = DateRange(dt.date(2023, 7, 1), dt.date(2023, 12, 31))
    assert {h.article.id for h in engine.search("storm rates", dates=window)} == {"wire-1", "wire-2"}
    # search-time parameters are overridable on an index already built; build-time ones are not
    later = IndexStore(engine.store.root, VectorConfig(params={"ef_search": 99, "M": 64})).load()
    assert later.vectors.params["ef_search"] == 99 and later.vectors.params["M"] == 8
    # below the threshold: exact
    small = make_engine(tmp_path / "small", HashEmbedder())
    small.build(seeds_dir)
    assert small.index.manifest.vector_index == FLAT == small.index.vectors.kind


def test_saved_index_is_read_memory_mapped(tmp_path: Path, data, ann_store: FaissVectors) -> None:  # noqa: ANN001
    _, queries, days = data
    flat = FaissVectors.build(data[0], 64, days)
    for built in (flat, ann_store):
        built.save(tmp_path, "part")
        loaded = FaissVectors.load(tmp_path, days, name="part", kind=built.kind, params=built.params)
        assert (built.kind == FLAT) != isinstance(loaded._raw, np.memmap)
        for query in queries[:5]:
            assert loaded.search(query, 10) == built.search(query, 10)
            window = (738_020, 738_040)
            assert loaded.search(query, 10, days=window) == built.search(query, 10, days=window)


def test_reused_vectors_do_not_degrade_across_builds(data, ann_store: FaissVectors) -> None:  # noqa: ANN001
    vectors, _, days = data
    assert np.abs(ann_store.vectors(np.arange(100)) - vectors[:100]).max() < 1e-3  # float16
    again = FaissVectors.build(ann_store.vectors(), 64, days, ann="ivf", params={"nlist": 16})
    assert np.array_equal(again.vectors(), ann_store.vectors())  # a round trip is exact from then on


def test_single_query_thread_count_is_restored(data) -> None:  # noqa: ANN001
    import faiss

    vectors, queries, days = data
    before = faiss.omp_get_max_threads()
    store = FaissVectors.build(vectors, 64, days, threads=1)
    store.search(queries[0], 5)
    assert faiss.omp_get_max_threads() == before


@pytest.mark.parametrize("ann", ["hnsw", "ivf"])
def test_a_large_approximate_index_keeps_no_float16_copies(tmp_path: Path, data, ann: str) -> None:  # noqa: ANN001
    vectors, queries, days = data
    store = FaissVectors.build(vectors, 64, days, ann=ann, params={"float16_max": len(vectors) - 1})
    assert store.params["float16"] is False and store._raw is None
    assert recall(store, vectors, queries) >= 0.9
    unit, score = store.search(queries[0], 1)[0]
    assert score == pytest.approx(float(vectors[unit] @ queries[0]), abs=2e-2)  # the 8-bit codes' score
    assert np.allclose(store.vectors(np.array([3, 7])), vectors[[3, 7]], atol=2e-2)  # decoded codes
    for window in [(738_010, 738_060), (738_050, 738_052)]:  # a wide filter in the index, a narrow one scanned
        allowed = day_mask(days, window)
        hits = store.search(queries[0], 10, days=window)
        assert hits and all(allowed[unit] for unit, _ in hits)
    store.save(tmp_path, "big")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.faiss"]
    loaded = FaissVectors.load(tmp_path, days, name="big", kind=store.kind, params=store.params)
    assert loaded.search(queries[1], 10) == store.search(queries[1], 10)
    grown = FaissVectors.appended(loaded, vectors[:5], np.concatenate([days, days[:5]]))
    assert grown.size == len(vectors) + 5 and grown._raw is None
    assert grown.search(vectors[2], 1)[0][1] == pytest.approx(1.0, abs=2e-2)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_tombstoned_units_are_skipped_inside_the_search(data, kind: str) -> None:  # noqa: ANN001
    """k results come back from the live units, not what survived of k; with a date filter too."""
    vectors, queries, days = data
    built = FaissVectors.build(vectors, 64, days, ann=None if kind == "flat" else kind)
    store = FaissSegments([built], ["vectors-x"], days)
    live = np.ones(len(vectors), dtype=bool)
    for query in queries[:5]:  # tombstone every query's ten best units
        live[[unit for unit, _ in store.search(query, 10)]] = False
    dead = FaissSegments([built], ["vectors-x"], days, live=live)
    for query in queries[:10]:
        hits = dead.search(query, 10)
        assert len(hits) == 10 and all(live[unit] for unit, _ in hits)
        truth = exact_top(vectors, query, 10, live)
        assert len(truth & {u for u, _ in hits}) >= 8
        window = (738_010, 738_060)
        hits = dead.search(query, 10, days=window)
        assert len(hits) == 10 and all(live[u] and window[0] <= days[u] <= window[1] for u, _ in hits)
        assert (
            dead.search(query, 10, days=DateRange(dt.date.fromordinal(738_010), dt.date.fromordinal(738_060))) == hits
        )


def test_vector_parameters_are_checked_before_faiss_sees_them(caplog: pytest.LogCaptureFixture) -> None:
    from retrieval.errors import SettingError
    from retrieval.index.vectors.faiss import FaissBackend
    from retrieval.index.vectors.milvus import MilvusBackend

    for params in ({"M": 0}, {"M": 1}, {"ef_search": -5}, {"ef_construction": 0}, {"refine": 0}, {"bogus": 3}):
        with pytest.raises(SettingError) as info:
            FaissBackend(VectorConfig(exact_max=0, params=params))
        assert info.value.setting == "vector_params" and "\n" not in str(info.value)
    for params in ({"nprobe": 0}, {"nlist": -1}, {"M": 16}):
        with pytest.raises(SettingError):
            FaissBackend(VectorConfig(exact_max=0, ann="ivf", params=params))
    with pytest.raises(SettingError, match="unknown approximate vector index 'annoy'"):
        FaissBackend(VectorConfig(ann="annoy"))
    with pytest.raises(SettingError, match="'refine' is not a parameter of the Milvus"):
        MilvusBackend(VectorConfig(backend="milvus", params={"refine": 2}), Path("/nonexistent"))
    # nlist larger than the vectors can train is lowered, with a warning, not a FAISS traceback
    vectors = unit_vectors(400)
    backend = FaissBackend(VectorConfig(exact_max=0, ann="ivf", params={"nlist": 100_000}))
    with caplog.at_level("WARNING"):
        store = backend.build(vectors, np.zeros(len(vectors), dtype=np.int64))
    assert store.params["nlist"] == 400 // 39 and "nlist 100000" in caplog.text
    assert store.search(vectors[3], 1)[0][0] == 3


def test_a_retried_create_index_that_went_through_is_taken_as_built(milvus_uri: str) -> None:
    import uuid

    from pymilvus import DataType, MilvusClient
    from pymilvus.exceptions import MilvusException

    from retrieval.index.vectors.milvus import connect, create_index

    client, name = connect(milvus_uri), f"retry{uuid.uuid4().hex[:8]}"
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    client.create_collection(name, schema=schema)
    client.insert(name, [{"id": i, "vector": [1.0, float(i), 0.0, 0.0]} for i in range(10)])
    hnsw = client.prepare_index_params()
    hnsw.add_index(field_name="vector", index_type="HNSW", metric_type="IP", params={"M": 8})
    create_index(client, name, hnsw)
    create_index(client, name, hnsw)  # what a retry after a dropped connection sends: the index is there
    assert client.describe_index(name, "vector")["index_type"] == "HNSW"
    flat = client.prepare_index_params()
    flat.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    with pytest.raises(MilvusException, match="already exists"):  # a different index is not success
        create_index(client, name, flat)
    client.drop_collection(name)


def test_the_milvus_backend_builds_an_hnsw_collection(tmp_path: Path, milvus_uri: str, data) -> None:  # noqa: ANN001
    from retrieval.index.vectors.milvus import MilvusBackend

    vectors, days = data[0][:300], np.full(300, 738000)
    config = VectorConfig(backend="milvus", milvus_uri=milvus_uri, milvus_collection="hnswbuild", exact_max=0)
    store = MilvusBackend(config, tmp_path).build(vectors, days, ["a"] * 300)
    assert store.params["index_type"] == "HNSW"
    assert [unit for unit, _ in store.search(vectors[7], 1)] == [7]


def test_milvus_grows_by_partitions_of_an_hnsw_collection_until_the_cap(
    tmp_path: Path,
    milvus_uri: str,
    data,  # noqa: ANN001
) -> None:
    from retrieval.index.vectors.base import Growth
    from retrieval.index.vectors.milvus import MAX_PARTITIONS, MilvusBackend, MilvusVectors

    vectors, days = data[0][:300], np.full(300, 738000)
    config = VectorConfig(backend="milvus", milvus_uri=milvus_uri, milvus_collection="grow", exact_max=0)
    backend = MilvusBackend(config, tmp_path)
    first = backend.build(vectors[:200], days[:200], ["a"] * 200)
    assert backend.growth(first, 100, 300) is Growth.DELTA
    grown = backend.extend(first, vectors[200:], days, ["b"] * 100)
    assert grown.collection == first.collection and grown.size == 300
    assert grown.partitions is not None and grown.partitions[:-1] == first.partitions
    assert [unit for unit, _ in grown.search(vectors[250], 1)] == [250]  # the HNSW index covers the new rows
    assert 250 not in [unit for unit, _ in first.search(vectors[250], 300)]  # the old generation: its partition
    assert first.size == 200
    capped = MilvusVectors(None, "c", 8, 10, {**grown.params, "partitions": ["p"] * MAX_PARTITIONS})
    assert backend.growth(capped, 1, 11) is Growth.REBUILD
    legacy = MilvusVectors(None, "c", 8, 10, {"collection": "c", "index_type": "HNSW"})  # before partitions
    assert backend.growth(legacy, 1, 11) is Growth.REBUILD
    flat = MilvusBackend(VectorConfig(backend="milvus", milvus_uri=milvus_uri, exact_max=250), tmp_path)
    small = MilvusVectors(None, "c", 8, 200, {"collection": "c", "index_type": "FLAT", "partitions": ["p"]})
    assert flat.growth(small, 10, 210) is Growth.DELTA
    assert flat.growth(small, 100, 300) is Growth.REBUILD  # past the threshold: HNSW, a new collection
    backend.retire([grown.params])
    backend.retire([first.params])  # the appended partition is named by no kept generation: dropped
    assert set(backend.client.list_partitions(first.collection)) - {"_default"} == set(first.partitions)
