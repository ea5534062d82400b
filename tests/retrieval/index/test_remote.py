"""The whole index published to Milvus (Milvus Lite, for real): what a replica reads equals the index
directory's, BM25 scores included, and bad states are one-line errors."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from retrieval.config import VectorConfig
from retrieval.engine import Engine
from retrieval.errors import VectorBackendError
from retrieval.index.remote import MilvusCorpus, RemoteIndex, Where
from tests.conftest import make_engine


@pytest.fixture
def built(tmp_path: Path, seeds_dir: Path, embedder, milvus_uri: str) -> Engine:  # noqa: ANN001
    config = VectorConfig(backend="milvus", milvus_uri=milvus_uri, milvus_collection=f"r{uuid.uuid4().hex[:8]}")
    engine = make_engine(tmp_path / "index", embedder, config)
    engine.build(seeds_dir, full=True)
    return engine


def _corpus(engine: Engine) -> MilvusCorpus:
    backend = engine.store.backend
    return MilvusCorpus(lambda: backend.client, backend.config.milvus_collection, backend.uri)  # type: ignore[attr-defined]


def test_published_index_reads_as_the_directory(built: Engine) -> None:
    local = built.index
    corpus = _corpus(built)
    pointer = corpus.publish(local).pointer
    remote = corpus.open()
    assert isinstance(remote, RemoteIndex)
    assert remote.generation == pointer.generation
    assert remote.manifest == local.manifest
    for pid in range(len(local.passages)):
        assert remote.passages[pid] == local.passages[pid]
    for article_id in local.articles:
        assert remote.articles[article_id] == local.articles[article_id]
    for unit in range(len(local.unit_passages)):
        assert remote.unit_passages[unit] == local.unit_passages[unit]
    pids = np.arange(len(local.passages))
    assert remote.passage_days[pids].tolist() == local.passage_days.tolist()
    for question in ("interest rates central bank", "storm flooding coast", "the election results"):
        want = local.lexical.search(question, 10)
        got = remote.lexical.search(question, 10)
        assert [pid for pid, _ in got] == [pid for pid, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], rtol=1e-4)
        assert remote.lexical.ceiling(question) == pytest.approx(local.lexical.ceiling(question))


def test_date_filter_is_an_expression(built: Engine) -> None:
    local = built.index
    corpus = _corpus(built)
    corpus.publish(local)
    remote = corpus.open()
    days = local.passage_days
    dated = days[days > 0]
    middle = int(np.median(dated))
    where = Where(since=middle)
    hits = remote.lexical.search("the", 50, where=where) + remote.lexical.search("said", 50, where=where)
    assert hits
    assert all(local.passage_days[pid] >= middle for pid, _ in hits)
    assert Where(until=middle, undated=True).expression() == f"(day > 0 and day <= {middle}) or day == 0"


def test_nothing_published_is_one_line(built: Engine) -> None:
    corpus = _corpus(built)
    with pytest.raises(VectorBackendError, match="holds no published index"):
        corpus.current()


def test_a_dropped_collection_is_one_line_and_a_new_generation_replaces_the_old(built: Engine) -> None:
    corpus = _corpus(built)
    first = corpus.publish(built.index).pointer
    corpus.client.drop_collection(first.collections["units"])
    with pytest.raises(VectorBackendError, match="is missing"):
        corpus.open()
    second = corpus.publish(built.index).pointer
    assert corpus.generation() == second.generation
    assert corpus.open().generation == second.generation


def test_an_engine_serves_from_milvus_and_picks_up_a_new_generation(
    tmp_path: Path,
    seeds_dir: Path,
    embedder,
    milvus_uri: str,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    import retrieval.engine

    config = VectorConfig(
        backend="milvus", milvus_uri=milvus_uri, milvus_collection=f"e{uuid.uuid4().hex[:8]}", milvus_corpus=True
    )
    builder = make_engine(tmp_path / "index", embedder, config)
    builder.build(seeds_dir, full=True)
    replica = make_engine(tmp_path / "none", embedder, config)  # no index directory at all
    assert replica.has_index()
    question = "What did the central bank decide about interest rates?"
    local = make_engine(
        tmp_path / "index",
        embedder,
        VectorConfig(backend="milvus", milvus_uri=milvus_uri, milvus_collection=config.milvus_collection),
    )
    want = [(h.passage.id, round(h.score, 4)) for h in local.search(question)]
    got = [(h.passage.id, round(h.score, 4)) for h in replica.search(question)]
    assert got == want
    assert not (tmp_path / "none").exists()
    first = replica.index.generation  # type: ignore[attr-defined]
    monkeypatch.setattr(retrieval.engine, "POINTER_CHECK_SECONDS", 0.0)
    builder.build(seeds_dir, full=True)
    replica.search(question)
    assert replica.index.generation != first  # type: ignore[attr-defined]
    assert replica.index.generation == builder.corpus.generation()  # type: ignore[union-attr,attr-defined]


def test_a_failed_publish_leaves_the_previous_generation_and_no_collections(
    built: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = _corpus(built)
    first = corpus.publish(built.index).pointer
    before = set(corpus.client.list_collections())
    real = corpus._passage_rows

    def failing(data, *args):  # noqa: ANN001, ANN002, ANN202
        yield from list(real(data, *args))[:3]
        raise OSError("disk full")

    monkeypatch.setattr(corpus, "_passage_rows", failing)
    with pytest.raises(OSError, match="disk full"):
        corpus.publish(built.index)
    assert corpus.generation() == first.generation
    assert set(corpus.client.list_collections()) == before
    assert corpus.open().generation == first.generation


def test_alerts_and_briefings_on_a_replica_are_one_line_not_silence(
    tmp_path: Path,
    seeds_dir: Path,
    embedder,  # noqa: ANN001
    milvus_uri: str,
) -> None:
    import datetime as dt

    from retrieval.errors import TopicError

    config = VectorConfig(
        backend="milvus", milvus_uri=milvus_uri, milvus_collection=f"a{uuid.uuid4().hex[:8]}", milvus_corpus=True
    )
    make_engine(tmp_path / "index", embedder, config).build(seeds_dir, full=True)
    replica = make_engine(tmp_path / "none", embedder, config)
    with pytest.raises(TopicError, match="run them where the index is built"):
        replica.brief(since=dt.date(2022, 3, 1), until=dt.date(2022, 3, 31))
    with pytest.raises(TopicError, match="topic alerts"):
        replica.topic_matcher()
