"""The whole index published to Milvus (Milvus Lite, for real): what a replica reads equals the index
directory's, BM25 scores included, and bad states are one-line errors."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from retrieval.alerts.briefing import BriefConfig
from retrieval.alerts.matching import MatchConfig
from retrieval.config import SearchConfig, VectorConfig
from retrieval.engine import Engine
from retrieval.errors import VectorBackendError
from retrieval.index.remote import MilvusCorpus, RemoteIndex, Where
from retrieval.types import Hit
from tests.conftest import HashEmbedder, make_engine, write_articles


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
    assert remote.unit_passages.many([]) == {}  # (an empty id list is no filter to Milvus: every row)
    assert remote.passages_of([]) == remote.articles_of([]) == []
    assert remote.passage_days[np.array([], dtype=np.int64)].tolist() == []
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


def test_a_released_pointer_is_loaded_on_first_sight(built: Engine) -> None:
    """A Milvus Lite file opened by a new process holds every collection released (the pointer too)."""
    corpus = _corpus(built)
    pointer = corpus.publish(built.index).pointer
    corpus.client.release_collection(corpus.pointer_name)
    fresh = _corpus(built)
    assert fresh.generation() == pointer.generation
    assert fresh.current().manifest == built.index.manifest


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


def _replica_and_local(
    tmp_path: Path,
    seeds: Path,
    embedder,  # noqa: ANN001
    milvus_uri: str,
    search: SearchConfig | None = None,
) -> tuple[Engine, Engine]:
    """A replica serving the published index from Milvus alone, and an engine over the builder's index
    directory in process (the same generation)."""
    config = VectorConfig(
        backend="milvus", milvus_uri=milvus_uri, milvus_collection=f"a{uuid.uuid4().hex[:8]}", milvus_corpus=True
    )
    make_engine(tmp_path / "index", embedder, config).build(seeds, full=True)
    local = make_engine(tmp_path / "index", embedder, replace(config, milvus_corpus=False), search)
    replica = make_engine(tmp_path / "none", embedder, config, search)
    assert replica.index.remote and not local.index.remote
    return replica, local


def _copies_and_tiny(directory: Path) -> Path:
    """The tiny articles, and two outlets' copies of one wire story beside an unrelated article."""
    write_articles(directory)
    wire = (
        "Rescuers reached the climbers stranded on the north face at dawn on Sunday, the mountain guides said. "
        "All five were flown to hospital in Visp with frostbite. The weather had closed in on Friday."
    )
    copies = {
        f"{name}.md": f"---\ntitle: Climbers rescued\ndate: 2023-07-0{day}\nsource: {outlet}\n---\n{wire}{extra}\n"
        for name, outlet, day, extra in (
            ("alpine", "Alpine Post", 2, ""),
            ("valais", "Valais Daily", 3, " Our reporter in Brig contributed."),
        )
    }
    copies["pain-à-sion.md"] = (  # (an id Milvus must be sent as it is: no \\u escape)
        "---\ntitle: Bakers strike\ndate: 2023-07-03\nsource: Valais Daily\n---\n"
        "Bakers in Sion went on strike over flour prices. Shops ran out of bread by noon on Monday.\n"
    )
    return write_articles(directory, copies)


def _same_alerts(replica: Engine, local: Engine, since: dt.date, until: dt.date, topics: list[str]) -> None:
    """Briefings and topic scores on the replica equal the in-process ones, stories and order alike."""
    match = MatchConfig(threshold=0.5)
    low, high = since.toordinal(), until.toordinal()
    ids = local.index.articles_between(low, high)
    assert ids and replica.index.articles_between(low, high) == ids
    want = local.index.article_passages(ids)
    assert list(replica.index.article_passages(ids).items()) == list(want.items())
    assert replica.brief(since=since, until=until) == local.brief(since=since, until=until)
    for topic in topics:
        config = BriefConfig(match=match)
        assert replica.brief(since=since, until=until, topic=topic, config=config) == local.brief(
            since=since, until=until, topic=topic, config=config
        )
        got = replica.topic_matcher(match).score(topic, ids)
        expected = local.topic_matcher(match).score(topic, ids)
        assert [(m.article.id, m.quote, round(m.score, 5)) for m in got] == [
            (m.article.id, m.quote, round(m.score, 5)) for m in expected
        ]


@pytest.mark.parametrize("paged", [False, True])
def test_briefings_and_topic_matching_on_a_replica_equal_the_in_process_ones(
    tmp_path: Path,
    embedder,  # noqa: ANN001
    milvus_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    paged: bool,
) -> None:
    import retrieval.index.remote

    replica, local = _replica_and_local(tmp_path, _copies_and_tiny(tmp_path / "seeds"), embedder, milvus_uri)
    if paged:  # results larger than one query's window: read page by page with the query iterator
        monkeypatch.setattr(retrieval.index.remote, "QUERY_WINDOW", 3)
        monkeypatch.setattr(retrieval.index.remote, "BATCH", 2)
        monkeypatch.setattr(retrieval.index.remote, "ARTICLES_PER_QUERY", 2)
    client = replica.index.passages.client  # type: ignore[attr-defined]
    iterators: list[str] = []
    real = client.query_iterator
    monkeypatch.setattr(client, "query_iterator", lambda name, **kw: iterators.append(name) or real(name, **kw))
    _same_alerts(replica, local, dt.date(2023, 5, 1), dt.date(2023, 8, 31), ["bakers strike", "central bank rates"])
    assert bool(iterators) == paged
    briefing = replica.brief(since=dt.date(2023, 7, 2), until=dt.date(2023, 7, 3))
    assert (briefing.articles, briefing.total_stories) == (3, 2)  # the two copies are one story
    assert len(briefing.stories[0].outlets) == 2
    assert replica.index.articles_between(dt.date(2030, 1, 1).toordinal(), dt.date(2030, 1, 2).toordinal()) == []


QUERIES_PER_QUESTION = {"passages": 3, "articles": 2, "terms": 2}
"""The most queries one question costs each corpus collection on a replica, however many passages,
articles and terms it reads (each read many to a query, the cached ones not at all)."""


def _counted_queries(replica: Engine, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Calls of the replica's Milvus client's ``query`` (the real one, called through), per collection kind."""
    index = replica.index
    kinds = {
        index.passages.collection: "passages",  # type: ignore[attr-defined]
        index.articles.collection: "articles",  # type: ignore[attr-defined]
        index.lexical.collection: "terms",  # type: ignore[attr-defined]
    }
    client = index.passages.client  # type: ignore[attr-defined]
    counts: Counter[str] = Counter()
    real = client.query

    def counted(name: str, **kwargs: object) -> object:
        counts[kinds.get(name, "other")] += 1
        return real(name, **kwargs)

    monkeypatch.setattr(client, "query", counted)
    return counts


def _seen(hit: Hit) -> tuple[object, ...]:
    """What a reader sees of a hit (scores to 4 places: Milvus's BM25 sums in float32)."""
    return hit.passage, hit.article, hit.also, hit.sentence_scores, round(hit.score, 4), hit.rank


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_a_question_reads_its_passages_articles_and_terms_a_few_queries_each(
    tmp_path: Path,
    embedder,  # noqa: ANN001
    milvus_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    search = SearchConfig(k=5, mode=mode)
    seeds = _copies_and_tiny(tmp_path / "seeds")
    replica, local = _replica_and_local(tmp_path, seeds, embedder, milvus_uri, search)
    questions = ("Where were the stranded climbers flown?", "Why did the bakers strike?", "Who was elected mayor?")
    also: set[str] = set()
    for question in questions:
        replica = make_engine(tmp_path / "none", embedder, replica.store.backend.config, search)  # type: ignore[attr-defined]
        counts = _counted_queries(replica, monkeypatch)  # a new replica: nothing cached
        got = replica.ask(question, as_of=dt.date(2023, 7, 4))
        want = local.ask(question, as_of=dt.date(2023, 7, 4))
        assert got.hits and (got.text, got.abstained) == (want.text, want.abstained)
        assert [_seen(h) for h in got.hits] == [_seen(h) for h in want.hits]
        assert counts["passages"] > 0 and counts["terms"] > 0
        assert all(counts[kind] <= most for kind, most in QUERIES_PER_QUESTION.items()), counts
        also.update(outlet for hit in got.hits for outlet in hit.also)
    assert also  # the wire story's copy was read and credited (its articles batched too)

    counts.clear()
    replica.ask(questions[-1], as_of=dt.date(2023, 7, 4))  # asked again: only the passages' days are read
    assert (counts["passages"], counts["articles"], counts["terms"]) == (1, 0, 0)


DEV_AS_OF = dt.date(2023, 3, 17)


def test_a_dev_week_briefs_alike_on_a_replica(tmp_path: Path, milvus_uri: str) -> None:
    """Some days of the dev news corpus (read now, never written into the project)."""
    import gzip
    import json

    from tests.retrieval.feeds.newssite import corpus_path

    path = corpus_path()
    if path is None:
        pytest.skip("the dev news corpus is not here")
    low = DEV_AS_OF - dt.timedelta(days=7)
    (tmp_path / "seeds").mkdir()
    with gzip.open(path, "rt", encoding="utf-8") as source, (tmp_path / "seeds" / "slice.jsonl").open("w") as out:
        for line in source:
            record = json.loads(line)
            if record.get("date") and low <= dt.date.fromisoformat(record["date"][:10]) <= DEV_AS_OF:
                out.write(line)
    replica, local = _replica_and_local(tmp_path, tmp_path / "seeds", HashEmbedder(), milvus_uri)
    topics = ["Oscars best picture", "Aaron Rodgers Jets trade", "Silicon Valley Bank"]
    _same_alerts(replica, local, low, DEV_AS_OF, topics)
    config = BriefConfig(match=MatchConfig(threshold=0.5))
    on_topic = [replica.brief(since=low, until=DEV_AS_OF, topic=topic, config=config) for topic in topics]
    assert all(b.stories for b in on_topic)


def test_the_builder_plans_alerts_from_the_published_index_as_in_process(
    tmp_path: Path,
    embedder,  # noqa: ANN001
    milvus_uri: str,
) -> None:
    """The builder (its index directory, serving from Milvus) plans the same cards as in process."""
    from retrieval.alerts.store import TopicStore

    seeds = write_articles(tmp_path / "seeds")
    config = VectorConfig(
        backend="milvus", milvus_uri=milvus_uri, milvus_collection=f"b{uuid.uuid4().hex[:8]}", milvus_corpus=True
    )
    builder = make_engine(tmp_path / "index", embedder, config)
    builder.build(seeds, full=True)
    before = set(builder.article_ids())
    _copies_and_tiny(seeds)
    builder.build(seeds)
    assert builder.index.remote and not builder.replica
    local = make_engine(tmp_path / "index", embedder, replace(config, milvus_corpus=False))
    new = sorted(set(builder.article_ids()) - before)
    assert sorted(set(local.article_ids()) - before) == new and len(new) == 3
    plans = []
    for name, engine in (("builder", builder), ("local", local)):
        store = TopicStore(tmp_path / f"{name}.alerts.sqlite3")
        store.add("climbers rescued on the north face", 1)
        store.add("bakers strike over flour prices", 2)
        found = engine.alerts_for(store, new, per_hour=5, match=MatchConfig(threshold=0.5))
        cards = [[(c.match.article.id, c.match.quote, c.story.articles) for c in a.cards] for a in found]
        plans.append(list(zip([a.follow.topic for a in found], cards, strict=True)))
        store.close()
    assert plans[0] == plans[1]
    assert [len(cards) for _, cards in plans[0]] == [1, 1]  # the two copies of the rescue are one story


# -- incremental builds and publishes: partitions -------------------------------------------------

REEF = (
    "Reef survey\n\nDivers counted coral colonies along the northern reef on Monday and found bleaching "
    "had spread to half of the shallow sites, the marine park authority said in its survey report.\n"
)
"""One passage of about the seeds' average length (22 tokens), so appending it moves the average
passage length by far less than DRIFT_TOLERANCE."""


@pytest.fixture
def builder(tmp_path: Path, seeds_dir: Path, embedder, milvus_uri: str) -> Engine:  # noqa: ANN001
    config = VectorConfig(
        backend="milvus", milvus_uri=milvus_uri, milvus_collection=f"i{uuid.uuid4().hex[:8]}", milvus_corpus=True
    )
    engine = make_engine(tmp_path / "index", embedder, config)
    engine.build(seeds_dir, full=True)
    return engine


def _rows(client, collection: str, partition: str) -> int:  # noqa: ANN001
    return int(client.get_partition_stats(collection, partition)["row_count"])


def _answers(index: RemoteIndex, embedder) -> list:  # noqa: ANN001
    """What a generation answers: lexical and dense hits, passages and articles."""
    out: list = []
    for question in ("interest rates central bank", "storm flooding coast", "coral reef survey bleaching"):
        out.append(index.lexical.search(question, 10))
        out.append(index.vectors.search(embedder.encode([question])[0], 10))
    out.append([index.passages[pid] for pid in range(len(index.passages))])
    out.append(sorted(index.articles))
    return out


def test_an_incremental_build_appends_only_the_new_rows_and_the_old_generation_answers_as_before(
    builder: Engine,
    seeds_dir: Path,
    embedder,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert builder.corpus is not None
    corpus = builder.corpus
    first = corpus.current()
    old = corpus.open(first)
    before = _answers(old, embedder)
    assert old.lexical.search("coral reef bleaching", 10) == []
    (seeds_dir / "zz-reef.txt").write_text(REEF)
    during = []
    real = corpus._unit_rows

    def units_then_ask(data, start):  # noqa: ANN001, ANN202
        # mid-publish: the new vectors, passages and articles are in their partitions, the pointer not moved
        during.append(_answers(old, embedder))
        yield from real(data, start)

    monkeypatch.setattr(corpus, "_unit_rows", units_then_ask)

    summary, _ = builder.build(seeds_dir)
    assert during == [before]

    assert summary.published.startswith("appended 1 passages, 1 article parts")
    second = builder.corpus.current()
    client = builder.corpus.client
    for kind in ("passages", "articles", "units"):  # the same collections, one partition more
        assert second.collections[kind] == first.collections[kind]
        assert second.partitions[kind][:-1] == first.partitions[kind]
    assert second.collections["terms"] != first.collections["terms"]  # every IDF moved: written anew
    new = {kind: second.partitions[kind][-1] for kind in ("passages", "articles", "units")}
    assert _rows(client, second.collections["passages"], new["passages"]) == 1
    assert _rows(client, second.collections["articles"], new["articles"]) == 1
    assert _rows(client, second.collections["units"], new["units"]) == summary.embedded
    assert _rows(client, first.collections["passages"], first.partitions["passages"][0]) == len(old.passages)
    vectors_before, vectors_after = first.manifest.vector_params, second.manifest.vector_params
    assert vectors_after["collection"] == vectors_before["collection"]
    assert vectors_after["partitions"][:-1] == vectors_before["partitions"]
    assert _rows(client, vectors_after["collection"], vectors_after["partitions"][-1]) == summary.embedded

    assert _answers(old, embedder) == before  # the previous generation sees none of the new rows
    with pytest.raises(IndexError):
        old.passages[len(old.passages)]
    assert "zz-reef.txt" not in old.articles
    fresh = builder.corpus.open()
    assert fresh.generation == second.generation
    hits = fresh.lexical.search("coral reef bleaching", 10)
    assert [fresh.passages[pid].article_id for pid, _ in hits] == ["zz-reef.txt"]
    assert fresh.articles["zz-reef.txt"].title == "Reef survey"


def test_after_an_append_bm25_stays_within_the_drift_tolerance(
    builder: Engine,
    seeds_dir: Path,
    embedder,  # noqa: ANN001
) -> None:
    from retrieval.index.remote import DRIFT_TOLERANCE

    (seeds_dir / "zz-reef.txt").write_text(REEF)
    summary, _ = builder.build(seeds_dir)
    assert summary.published.startswith("appended")
    assert builder.corpus is not None
    pointer = builder.corpus.current()
    local = builder.store.load()
    drift = abs(local.lexical.average - pointer.average) / pointer.average
    assert 0 < drift <= DRIFT_TOLERANCE
    remote = builder.corpus.open()
    for question in ("interest rates central bank", "storm flooding coast", "coral reef survey", "the election"):
        want = dict(local.lexical.search(question, 50))
        got = dict(remote.lexical.search(question, 50))
        assert got.keys() == want.keys()
        for pid, score in want.items():  # each weight moves by less than the drift itself
            assert got[pid] == pytest.approx(score, rel=DRIFT_TOLERANCE)


def test_past_the_drift_tolerance_the_publish_is_whole(
    builder: Engine, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import retrieval.index.remote

    assert builder.corpus is not None
    first = builder.corpus.current()
    monkeypatch.setattr(retrieval.index.remote, "DRIFT_TOLERANCE", 0.0)
    (seeds_dir / "zz-reef.txt").write_text(REEF)
    summary, _ = builder.build(seeds_dir)
    assert "average passage length moved" in summary.published
    second = builder.corpus.current()
    assert second.collections["passages"] != first.collections["passages"]
    assert second.collections["vectors"] == first.collections["vectors"]  # the build itself still appended
    local = builder.store.load()
    remote = builder.corpus.open()
    want, got = local.lexical.search("coral reef survey", 10), remote.lexical.search("coral reef survey", 10)
    assert [p for p, _ in got] == [p for p, _ in want]
    assert np.allclose([s for _, s in got], [s for _, s in want], rtol=1e-4)  # re-weighted: exact again


def test_a_failed_append_leaves_the_previous_generation_and_the_next_build_drops_its_leftovers(
    builder: Engine,
    seeds_dir: Path,
    embedder,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    import retrieval.index.remote

    assert builder.corpus is not None
    corpus, client = builder.corpus, builder.corpus.client
    first = corpus.current()
    old = corpus.open(first)
    before = _answers(old, embedder)

    def failing(data, start):  # noqa: ANN001, ANN202
        yield from ()
        raise OSError("disk full")

    # a publish killed midway: the partitions it made stay (its own clean-up never runs)
    monkeypatch.setattr(corpus, "_unit_rows", failing)
    monkeypatch.setattr(retrieval.index.remote, "drop_partition", lambda *args: None)
    (seeds_dir / "zz-reef.txt").write_text(REEF)
    with pytest.raises(OSError, match="disk full"):
        builder.build(seeds_dir)
    assert corpus.generation() == first.generation
    assert _answers(corpus.open(), embedder) == before
    leftovers = set(client.list_partitions(first.collections["passages"])) - {"_default"}
    assert len(leftovers) == 2  # the generation's and the failed publish's
    monkeypatch.undo()

    another = REEF.replace("Reef survey", "Reef survey two").replace("northern", "southern")
    (seeds_dir / "zz-more.txt").write_text(another)
    summary, _ = builder.build(seeds_dir)
    assert summary.published.startswith("appended 2 passages, 2 article parts")
    second = corpus.current()
    for kind in ("passages", "articles", "units"):
        assert set(client.list_partitions(second.collections[kind])) - {"_default"} == set(second.partitions[kind])
    assert _answers(old, embedder) == before
    hits = corpus.open().lexical.search("coral reef bleaching", 10)
    assert {corpus.open().passages[pid].article_id for pid, _ in hits} == {"zz-reef.txt", "zz-more.txt"}


def test_a_failed_build_leaves_a_vectors_partition_that_the_next_build_drops(
    builder: Engine, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrieval.errors import IndexWriteError

    store = builder.store
    collection = store.load().vectors.collection  # type: ignore[attr-defined]
    client = builder.corpus.client  # type: ignore[union-attr]
    named = set(store.read_manifest().vector_params["partitions"])

    def failing(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise IndexWriteError("the disk is full")

    monkeypatch.setattr(store, "write", failing)
    (seeds_dir / "zz-reef.txt").write_text(REEF)
    with pytest.raises(IndexWriteError):
        builder.build(seeds_dir)
    assert len(set(client.list_partitions(collection)) - {"_default"} - named) == 1  # written, named by none
    monkeypatch.undo()
    summary, _ = builder.build(seeds_dir)
    assert summary.published.startswith("appended 1 passages")
    now = set(store.read_manifest().vector_params["partitions"])
    assert set(client.list_partitions(collection)) - {"_default"} == now
    assert len(now - named) == 1


def test_a_removal_writes_fresh_collections_and_the_old_ones_go_two_generations_later(
    builder: Engine, seeds_dir: Path
) -> None:
    assert builder.corpus is not None
    corpus, client = builder.corpus, builder.corpus.client
    first = corpus.current()
    (seeds_dir / "harbour.txt").unlink()
    summary, _ = builder.build(seeds_dir)
    assert "written anew" in summary.published
    second = corpus.current()
    assert not set(first.collections.values()) & set(second.collections.values())
    assert all(client.has_collection(name) for name in first.collections.values() if "pointer" not in name)
    assert "harbour.txt" not in corpus.open().articles
    (seeds_dir / "zz-reef.txt").write_text(REEF)
    builder.build(seeds_dir)  # a third generation: the first's corpus collections are dropped
    for kind in ("passages", "articles", "units", "terms"):
        assert not client.has_collection(first.collections[kind])


BUILD_AND_SAY = """
import sys
from pathlib import Path

from retrieval.config import VectorConfig
from tests.conftest import HashEmbedder, make_engine

config = VectorConfig(backend="milvus", milvus_uri=sys.argv[1], milvus_collection="proc", milvus_corpus=True)
summary, _ = make_engine(Path(sys.argv[2]), HashEmbedder(), config).build(Path(sys.argv[3]))
print(summary.published)
"""


def test_the_next_process_appends_to_what_the_last_one_published(tmp_path: Path, seeds_dir: Path) -> None:
    """A Milvus Lite ``.db`` opened again has its collections released: the pointer is loaded first."""
    import subprocess
    import sys

    from tests.conftest import REPO

    command = [sys.executable, "-c", BUILD_AND_SAY, str(tmp_path / "p.db"), str(tmp_path / "index"), str(seeds_dir)]
    first = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    assert "(nothing published yet)" in first.stdout
    (seeds_dir / "zz-reef.txt").write_text(REEF)
    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    assert second.stdout.startswith("appended 1 passages, 1 article parts"), second.stderr[-500:]
    assert "Traceback" not in first.stderr + second.stderr  # nor Milvus Lite's own noise
