"""The whole index in Milvus, for replicas that keep no index directory.

A builder (``newsdesk index`` with ``NEWSDESK_MILVUS_CORPUS=1``) builds its index directory as usual
(vectors in Milvus) and then *publishes* the generation: four more collections beside the vectors' —
passages (text, offsets, sentence spans, units, day, newsdesk's BM25 weights as a sparse vector),
article texts (in parts), unit -> passages, and the BM25 vocabulary with each term's IDF — and then
one row of the pointer collection ``<collection>_pointer`` names them and the partitions of each
that the generation reads, with the manifest. Writing that row is the swap: a reader that reads the
pointer finds a complete generation. A generation that only adds to the published one is *appended*:
its new rows go into a new partition of each live collection (the vocabulary into a new collection),
and every read passes the generation's partitions, so a replica still serving the previous one never
sees them. A serving process reads the pointer again every ``POINTER_CHECK_SECONDS``; a new generation
is opened fully before it replaces the one serving. Collections and partitions that none of the newest
``KEEP_GENERATIONS`` names are dropped by the next publish, so a replica that has not looked yet still
reads a whole generation.

The lexical side is newsdesk's own BM25: each passage's sparse vector holds ``tf / (tf + norm)`` per
term (the length part of BM25 with the average length it was published with: appends keep it within
``DRIFT_TOLERANCE`` of the index's), a query's holds each term's IDF, and Milvus's inner product is
then newsdesk's BM25 score (measured against Milvus's BM25 function in benchmarks/README.md).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from retrieval.errors import VectorBackendError
from retrieval.index.cache import BatchCache
from retrieval.index.data import IndexData
from retrieval.index.lexical import K1, B, LexicalIndex
from retrieval.index.manifest import Manifest
from retrieval.index.vectors.milvus import (
    MAX_PARTITIONS,
    MilvusVectors,
    count_rows,
    create_index,
    drop_partition,
    milvus_errors,
    missing_partition,
    retire_partitions,
    wait_for_index,
)
from retrieval.text import tokenize
from retrieval.types import Article, Passage

log = logging.getLogger(__name__)

POINTER_CHECK_SECONDS = 2.0
"""How often a serving process reads the pointer (a new generation is picked up within this)."""
KEEP_GENERATIONS = 2
"""Published generations kept by a publish (the new one and the one replicas may still be serving)."""
DRIFT_TOLERANCE = 0.02
"""An incremental publish weights the new passages' BM25 with the average passage length the live
partitions were weighted with, as long as the index's own average is within this fraction of it;
past it, the publish is whole (every passage re-weighted). See docs/scaling.md for what it moves."""
TEXT_PART = 16_000
"""Characters of article text per row (a Milvus VARCHAR holds at most 65,535 bytes)."""
BATCH = 2000
"""Rows to an insert, and to one page of a query that may return many."""
QUERY_WINDOW = 16_384
"""The most rows one Milvus query returns (Milvus's own ceiling on ``offset + limit``)."""
ARTICLES_PER_QUERY = 256
"""Articles named in one filter expression (``article in [...]``) when their passages or texts are read."""
PASSAGES_CACHED = 4096
"""Passages a replica keeps (an LRU cache); a question reads its candidates' in one query."""
ARTICLES_CACHED = 1024
"""Articles a replica keeps (an LRU cache); a question reads its hits' in one query."""
TERMS_CACHED = 65_536
"""Vocabulary terms (with their IDF) a replica keeps; a question reads its terms in one query."""
_DUMMY = [0.0, 1.0]
"""Milvus wants a vector field in every collection; the lookup tables carry this one."""
KINDS = ("passages", "articles", "units", "terms")
GROWN = ("passages", "articles", "units")
"""The collections an incremental publish appends to (a new partition each); terms are written anew."""
EMPTY_TERM = 4_294_967_294
"""The sparse column of a passage with no indexed term: no term id ever reaches it (Milvus wants a
non-empty sparse vector; a column next to the vocabulary would become a real term once it grows)."""


@dataclass(frozen=True)
class Where:
    """A date filter as Milvus evaluates it: inclusive days (proleptic ordinals), undated admitted or not."""

    since: int | None = None
    until: int | None = None
    undated: bool = False

    def expression(self, field: str = "day") -> str:
        """The filter expression over ``field``."""
        terms = [f"{field} > 0"]
        if self.since is not None:
            terms.append(f"{field} >= {int(self.since)}")
        if self.until is not None:
            terms.append(f"{field} <= {int(self.until)}")
        dated = " and ".join(terms)
        return f"({dated}) or {field} == 0" if self.undated else dated

    @property
    def empty(self) -> bool:
        """True if no day passes (and undated do not either)."""
        return not self.undated and None not in (self.since, self.until) and self.since > self.until  # type: ignore[operator]


@dataclass(frozen=True)
class Pointer:
    """What the pointer row names: a generation, its collections (and their partitions) and its manifest."""

    generation: str
    collections: dict[str, str]
    manifest: Manifest
    published: float
    partitions: dict[str, list[str]] = field(default_factory=dict)
    """Per kind (passages, articles, units), the partitions of its collection this generation names;
    empty for a generation published before partitions (whole collections)."""
    average: float = 0.0
    """The average passage length the passages' BM25 weights were computed with."""

    def names(self) -> dict[str, Any]:
        """The collections and partitions (what a kept generation keeps from being dropped)."""
        return {"collections": self.collections, "partitions": self.partitions}


@dataclass(frozen=True)
class Published:
    """What a publish wrote: rows per collection kind, appended (new partitions) or whole."""

    pointer: Pointer
    rows: dict[str, int]
    appended: bool
    reason: str = ""
    """Why the publish was whole (empty when appended)."""

    def describe(self) -> str:
        """One line for the log and the build's summary."""
        names = {"passages": "passages", "articles": "article parts", "units": "units"}
        counts = ", ".join(f"{self.rows[kind]:,} {name}" for kind, name in names.items())
        terms = f"{self.rows['terms']:,} terms"
        if self.appended:
            return f"appended {counts} to the live collections; wrote the vocabulary anew ({terms})"
        return f"wrote {counts} and {terms} into new collections ({self.reason})"


def _schema(*fields: tuple[str, Any, dict[str, Any]]) -> Any:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    for number, (name, kind, extra) in enumerate(fields):
        schema.add_field(name, kind, is_primary=number == 0, **extra)
    if not any(kind in (DataType.SPARSE_FLOAT_VECTOR, DataType.FLOAT_VECTOR) for _, kind, _ in fields):
        schema.add_field("dummy", DataType.FLOAT_VECTOR, dim=len(_DUMMY))
    return schema


def _fill(client: Any, name: str, rows: Iterator[dict[str, Any]], partition: str | None = None) -> int:
    """Insert ``rows`` into ``name`` (its ``partition``) in batches and flush; the row count."""
    count, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            client.insert(name, batch, partition_name=partition or "")
            count, batch = count + len(batch), []
    if batch:
        client.insert(name, batch, partition_name=partition or "")
        count += len(batch)
    client.flush(name)
    return count


def _create(
    client: Any,
    name: str,
    schema: Any,
    rows: Iterator[dict[str, Any]],
    field: str,
    metric: str,
    partition: str | None = None,
) -> int:
    """Create ``name`` (with ``partition``), insert ``rows``, index ``field`` and load it; the row count."""
    client.create_collection(name, schema=schema, consistency_level="Strong")
    if partition is not None:
        client.create_partition(name, partition)
    count = _fill(client, name, rows, partition)
    index = client.prepare_index_params()
    kind = "SPARSE_INVERTED_INDEX" if metric == "IP" and field == "sparse" else "FLAT"
    index.add_index(field_name=field, index_type=kind, metric_type=metric)
    create_index(client, name, index, sync=False)
    wait_for_index(client, name, field)
    client.load_collection(name)
    return count


def bm25_weights(lexical: LexicalIndex, start: int = 0, average: float | None = None) -> Iterator[dict[int, float]]:
    """Each passage's BM25 document side, ``{term: tf / (tf + norm)}``, in passage-id order from
    ``start``, with the index's average length or ``average`` (the one the live partitions used)."""
    import scipy.sparse as sp

    mean = lexical.average if average is None else average
    empty = {EMPTY_TERM: 1.0}  # a passage with no indexed term: a column no query names
    offset = 0
    for segment in lexical.segments:
        first, offset = max(0, start - offset), offset + segment.size
        if first >= segment.size:
            continue
        norms = K1 * ((1 - B) + B * segment.lengths / max(mean, 1e-9))
        rows = sp.csc_matrix(
            (segment.data, segment.indices, segment.indptr), shape=(segment.size, segment.columns)
        ).tocsr()
        for row in range(first, segment.size):
            begin, end = rows.indptr[row], rows.indptr[row + 1]
            tf = rows.data[begin:end].astype(np.float64)
            weights = tf / (tf + float(norms[row]))
            yield dict(zip(rows.indices[begin:end].tolist(), weights.tolist(), strict=True)) or empty


class MilvusCorpus:
    """Publishes generations into Milvus and opens the current one (``prefix``: the collection prefix)."""

    def __init__(self, connect: Callable[[], Any], prefix: str, uri: str) -> None:
        self._connect = connect
        self._client: Any = None
        self.prefix = prefix
        self.uri = uri
        self.pointer_name = f"{prefix}_pointer"
        self._pointer_loaded = False

    @property
    def client(self) -> Any:
        """The Milvus client, connected on first use."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _read_pointer(self, **kwargs: Any) -> list[dict[str, Any]]:
        """Rows of the pointer collection, loaded first: a Milvus Lite ``.db`` opened again (the next
        ``newsdesk`` command) has its indexed collections released until one loads them."""
        if not self._pointer_loaded:
            self.client.load_collection(self.pointer_name)
            self._pointer_loaded = True
        return list(self.client.query(self.pointer_name, **kwargs))

    # -- publishing ------------------------------------------------------------------------

    def publish(self, data: IndexData, *, whole: bool = False) -> Published:
        """Publish ``data`` as a new generation, then point at it: appended to the live collections
        (a new partition each) when ``data`` only adds to the published generation and the average
        passage length moved less than ``DRIFT_TOLERANCE``; else (or if ``whole``) written whole into
        new collections."""
        if not isinstance(data.vectors, MilvusVectors):
            raise VectorBackendError("publishing the index to Milvus needs NEWSDESK_VECTOR_BACKEND=milvus")
        if not data.passage_live.all():
            raise ValueError("a published index has no tombstones (the Milvus backend compacts)")
        gen = uuid.uuid4().hex[:12]
        with milvus_errors(self.uri):
            previous = self._published()
            reason = "asked for" if whole else self._whole_because(previous, data)
            if reason is None and previous is not None:
                pointer, rows = self._append(previous, data, gen)
            else:
                pointer, rows = self._whole(data, gen)
            self._point(pointer)
            self._retire()
        published = Published(pointer, rows, reason is None, reason or "")
        log.info("published generation %s (%d passages) to Milvus: %s", gen, len(data.passages), published.describe())
        return published

    def _published(self) -> Pointer | None:
        """The current pointer, or None if nothing (readable) was published."""
        try:
            return self.current()
        except VectorBackendError:
            return None

    def _whole_because(self, previous: Pointer | None, data: IndexData) -> str | None:
        """Why ``data`` cannot be appended to ``previous`` (None: it can)."""
        if previous is None:
            return "nothing published yet"
        if not previous.partitions or previous.average <= 0:
            return "the published generation has no partitions"
        vectors = cast(MilvusVectors, data.vectors)
        if previous.collections.get("vectors") != vectors.collection:
            return "the vectors were written anew: a full build, a removal, a change or a compaction"
        before = list(previous.manifest.vector_params.get("partitions") or [])
        if (vectors.partitions or [])[: len(before)] != before:
            return "the vectors' partitions changed"
        old, new = previous.manifest, data.manifest
        if new.n_passages < old.n_passages or new.n_articles < old.n_articles or new.n_vectors < old.n_vectors:
            return "the index shrank"
        if max(len(p) for p in previous.partitions.values()) >= MAX_PARTITIONS:
            return f"the collections hold {MAX_PARTITIONS} partitions"
        drift = abs(data.lexical.average - previous.average) / previous.average
        if drift > DRIFT_TOLERANCE:
            return f"the average passage length moved {drift:.1%}, more than {DRIFT_TOLERANCE:.0%}: BM25 re-weighted"
        for kind in GROWN:
            name = previous.collections[kind]
            if not self.client.has_collection(name) or missing_partition(self.client, name, previous.partitions[kind]):
                return f"the {kind} collection of generation {previous.generation} is damaged"
        return None

    def _whole(self, data: IndexData, gen: str) -> tuple[Pointer, dict[str, int]]:
        """Every passage, article, unit and term into new collections (one partition each)."""
        names = {kind: f"{self.prefix}_{kind[0]}{gen}" for kind in KINDS}
        partition = f"g{gen}"
        try:
            rows = self._write(data, names, partition, data.lexical.average)
        except BaseException:
            for name in names.values():  # a failed publish leaves the previous generation serving
                if self.client.has_collection(name):
                    self.client.drop_collection(name)
            raise
        partitions = {kind: [partition] for kind in GROWN}
        vectors = cast(MilvusVectors, data.vectors).collection
        collections = {**names, "vectors": vectors}
        return Pointer(gen, collections, data.manifest, time.time(), partitions, data.lexical.average), rows

    def _append(self, previous: Pointer, data: IndexData, gen: str) -> tuple[Pointer, dict[str, int]]:
        """The rows past the published generation's into a new partition of each live collection; the
        vocabulary (every IDF moved) into a new collection. A failure drops what it wrote."""
        old, partition = previous.manifest, f"g{gen}"
        terms = f"{self.prefix}_t{gen}"
        sources = {
            "passages": self._passage_rows(data, old.n_passages, previous.average),
            "articles": self._article_rows(data, old.n_articles),
            "units": self._unit_rows(data, old.n_vectors),
        }
        made: list[str] = []
        rows: dict[str, int] = {}
        try:
            for kind, source in sources.items():
                name = previous.collections[kind]
                self.client.create_partition(name, partition)
                made.append(name)
                rows[kind] = _fill(self.client, name, source, partition)
                self.client.load_collection(name)  # a cluster loads a loaded collection's new partition
            rows["terms"] = self._write_terms(data, terms)
        except BaseException:
            for name in made:
                with contextlib.suppress(Exception):
                    drop_partition(self.client, name, partition)
            if self.client.has_collection(terms):
                self.client.drop_collection(terms)
            raise
        partitions = {kind: [*previous.partitions[kind], partition] for kind in GROWN}
        collections = {**previous.collections, "terms": terms, "vectors": cast(MilvusVectors, data.vectors).collection}
        return Pointer(gen, collections, data.manifest, time.time(), partitions, previous.average), rows

    def _write(self, data: IndexData, names: dict[str, str], partition: str, average: float) -> dict[str, int]:
        from pymilvus import DataType

        text = {"max_length": 65_535}
        passages = _schema(
            ("pid", DataType.INT64, {}),
            ("article", DataType.VARCHAR, text),
            ("start", DataType.INT64, {}),
            ("end", DataType.INT64, {}),
            ("text", DataType.VARCHAR, text),
            ("spans", DataType.VARCHAR, text),
            ("day", DataType.INT64, {}),
            ("sparse", DataType.SPARSE_FLOAT_VECTOR, {}),
        )
        rows: dict[str, int] = {}
        source = self._passage_rows(data, 0, average)
        rows["passages"] = _create(self.client, names["passages"], passages, source, "sparse", "IP", partition)
        articles = _schema(
            ("key", DataType.VARCHAR, {"max_length": 1024}),
            ("article", DataType.VARCHAR, {"max_length": 1024}),
            ("part", DataType.INT64, {}),
            ("meta", DataType.VARCHAR, text),
            ("text", DataType.VARCHAR, text),
        )
        source = self._article_rows(data, 0)
        rows["articles"] = _create(self.client, names["articles"], articles, source, "dummy", "L2", partition)
        units = _schema(("unit", DataType.INT64, {}), ("passages", DataType.VARCHAR, text))
        rows["units"] = _create(self.client, names["units"], units, self._unit_rows(data, 0), "dummy", "L2", partition)
        rows["terms"] = self._write_terms(data, names["terms"])
        return rows

    def _write_terms(self, data: IndexData, name: str) -> int:
        """The vocabulary with each term's IDF, into a new collection ``name``."""
        from pymilvus import DataType

        terms = _schema(
            ("term", DataType.VARCHAR, {"max_length": 1024}), ("tid", DataType.INT64, {}), ("idf", DataType.DOUBLE, {})
        )
        lexical = data.lexical
        rows = ({"term": t, "tid": i, "idf": lexical.idf(t), "dummy": _DUMMY} for i, t in enumerate(lexical.terms))
        return _create(self.client, name, terms, rows, "dummy", "L2")

    @staticmethod
    def _passage_rows(data: IndexData, start: int, average: float) -> Iterator[dict[str, Any]]:
        """Passages ``start``.. with their BM25 weights (by the average length ``average``)."""
        days = data.passage_days[start:].tolist()
        weights = bm25_weights(data.lexical, start, average)
        for pid, day, sparse in zip(range(start, len(data.passages)), days, weights, strict=True):
            passage = data.passages[pid]
            spans = {"s": passage.sentences, "u": passage.units}
            yield {
                "pid": passage.id,
                "article": passage.article_id,
                "start": passage.start,
                "end": passage.end,
                "text": passage.text,
                "spans": json.dumps(spans),
                "day": int(day),
                "sparse": sparse,
            }

    @staticmethod
    def _unit_rows(data: IndexData, start: int) -> Iterator[dict[str, Any]]:
        for unit in range(start, len(data.unit_passages)):
            yield {"unit": unit, "passages": json.dumps(data.unit_passages[unit]), "dummy": _DUMMY}

    @staticmethod
    def _article_rows(data: IndexData, start: int) -> Iterator[dict[str, Any]]:
        """Articles from the ``start``-th on (in index order, the order they were added)."""
        for article_id in itertools.islice(data.articles, start, None):
            article = data.articles[article_id]
            meta = {
                "title": article.title,
                "date": article.date.isoformat() if article.date else None,
                "source": article.source,
                "url": article.url,
                "hash": article.content_hash,
            }
            parts = [article.text[at : at + TEXT_PART] for at in range(0, len(article.text), TEXT_PART)] or [""]
            for number, part in enumerate(parts):
                yield {
                    "key": f"{article_id}#{number}",
                    "article": article_id,
                    "part": number,
                    "meta": json.dumps(meta) if number == 0 else "",
                    "text": part,
                    "dummy": _DUMMY,
                }

    def _point(self, pointer: Pointer) -> None:
        from pymilvus import DataType

        if not self.client.has_collection(self.pointer_name):
            schema = _schema(
                ("key", DataType.VARCHAR, {"max_length": 64}),
                ("generation", DataType.VARCHAR, {"max_length": 64}),
                ("record", DataType.VARCHAR, {"max_length": 65_535}),
            )
            _create(self.client, self.pointer_name, schema, iter(()), "dummy", "L2")
        record = {
            **pointer.names(),
            "manifest": pointer.manifest.to_json(),
            "at": pointer.published,
            "average": pointer.average,
        }
        row = {"key": "current", "generation": pointer.generation, "record": json.dumps(record), "dummy": _DUMMY}
        self.client.upsert(self.pointer_name, [row])
        history = {"key": f"gen-{pointer.published:017.6f}", "generation": pointer.generation}
        self.client.upsert(self.pointer_name, [{**history, "record": json.dumps(pointer.names()), "dummy": _DUMMY}])

    def _retire(self) -> None:
        """Drop the history of generations older than the newest ``KEEP_GENERATIONS``, then the corpus
        collections and partitions no kept generation names (old ones, a failed publish's)."""
        fields = ["key", "generation", "record"]
        rows = self._read_pointer(filter='key like "gen-%"', output_fields=fields)
        rows.sort(key=lambda row: row["key"])
        for row in rows[:-KEEP_GENERATIONS]:
            self.client.delete(self.pointer_name, ids=[row["key"]])
        kept: dict[str, set[str] | None] = {}
        for row in rows[-KEEP_GENERATIONS:]:
            record = json.loads(row["record"] or "{}")
            if "collections" not in record:  # published before partitions: whole collections by name
                kept.update({f"{self.prefix}_{kind[0]}{row['generation']}": None for kind in KINDS})
                continue
            for kind, name in record["collections"].items():
                if kind == "vectors":
                    continue  # the index directory's builds retire those
                named = record.get("partitions", {}).get(kind)
                if kind not in GROWN or named is None or (name in kept and kept[name] is None):
                    kept[name] = None
                else:
                    kept[name] = {*(kept.get(name) or set()), *named}
        for name in self.client.list_collections():
            if name.startswith(f"{self.prefix}_") and name != self.pointer_name and name not in kept:
                tail = name[len(self.prefix) + 1 :]
                if len(tail) == 13 and tail[0] in "paut":
                    log.info("dropping Milvus collection %s", name)
                    self.client.drop_collection(name)
        retire_partitions(self.client, kept)

    # -- reading ---------------------------------------------------------------------------

    def _has_pointer(self) -> bool:
        """True if the pointer collection exists (``_read_pointer`` loads it before reading)."""
        return bool(self.client.has_collection(self.pointer_name))

    def current(self) -> Pointer:
        """The pointer's generation (VectorBackendError if nothing was published)."""
        with milvus_errors(self.uri):
            rows = []
            if self._has_pointer():
                rows = self._read_pointer(ids=["current"], output_fields=["generation", "record"])
        if not rows:
            raise VectorBackendError(
                f"Milvus at {self.uri} holds no published index ({self.pointer_name} is missing or empty): "
                "run `newsdesk index` with NEWSDESK_MILVUS_CORPUS=1"
            )
        record = json.loads(rows[0]["record"])
        manifest = Manifest.from_json(record["manifest"])
        partitions = {kind: list(names) for kind, names in record.get("partitions", {}).items()}
        average = float(record.get("average", 0.0))
        return Pointer(rows[0]["generation"], record["collections"], manifest, float(record["at"]), partitions, average)

    def generation(self) -> str | None:
        """Just the current generation's name (a cheap read, for the per-interval check)."""
        with milvus_errors(self.uri):
            if not self._has_pointer():
                return None
            rows = self._read_pointer(ids=["current"], output_fields=["generation"])
        return str(rows[0]["generation"]) if rows else None

    def open(self, pointer: Pointer | None = None) -> RemoteIndex:
        """The generation ``pointer`` names (the current one by default), every collection and partition checked."""
        pointer = pointer or self.current()
        vector_partitions = pointer.manifest.vector_params.get("partitions")
        with milvus_errors(self.uri):
            for kind, name in pointer.collections.items():
                if not self.client.has_collection(name):
                    raise VectorBackendError(
                        f"Milvus at {self.uri}: collection {name} of generation {pointer.generation} is missing"
                    )
                named = vector_partitions if kind == "vectors" else pointer.partitions.get(kind)
                lost = missing_partition(self.client, name, named)
                if lost is not None:
                    raise VectorBackendError(
                        f"Milvus at {self.uri}: partition {lost} of collection {name} "
                        f"(generation {pointer.generation}) is missing"
                    )
                self.client.load_collection(name)
            rows = count_rows(self.client, pointer.collections["vectors"], vector_partitions)
            vectors = MilvusVectors(
                self.client,
                pointer.collections["vectors"],
                pointer.manifest.dimension,
                rows,
                pointer.manifest.vector_params,
                None,
                self.uri,
            )
        return RemoteIndex(self.client, self.uri, pointer, vectors)


class RemoteIndex:
    """One published generation, read from Milvus as questions need it: what ``IndexData`` offers
    search and answering, with nothing corpus-sized in memory (small LRU caches of passages, articles and
    terms, each filled many keys to a query)."""

    remote = True

    def __init__(self, client: Any, uri: str, pointer: Pointer, vectors: MilvusVectors) -> None:
        names = pointer.collections
        self.generation = pointer.generation
        self.manifest = pointer.manifest
        self.path = Path(f"milvus:{pointer.generation}")
        self.vectors = vectors
        parts = {kind: pointer.partitions.get(kind) or None for kind in GROWN}
        self.lexical = RemoteLexical(
            client, uri, names["passages"], names["terms"], self.manifest.live_passages, parts["passages"]
        )
        self.passages = RemotePassages(client, uri, names["passages"], self.manifest.n_passages, parts["passages"])
        self.articles = RemoteArticles(client, uri, names["articles"], self.manifest.n_articles, parts["articles"])
        self.unit_passages = RemoteUnits(client, uri, names["units"], self.manifest.n_vectors, parts["units"])
        self.passage_days = RemoteDays(client, uri, names["passages"], parts["passages"])
        self.segments: tuple[()] = ()

    @property
    def n_live_passages(self) -> int:
        """Passages (a published generation has no tombstones)."""
        return self.manifest.live_passages

    def passage_text(self, passage: Passage) -> str:
        """The passage as it stands in its article."""
        return passage.text

    def articles_between(self, low: int, high: int) -> list[str]:
        """The articles dated from day ``low`` to day ``high`` (both included), newest first, then by id
        (as ``IndexData.articles_between``; a filter expression on the passages' ``day``)."""
        return self.passages.articles_between(low, high)

    def article_passages(self, article_ids: Iterable[str]) -> dict[str, list[Passage]]:
        """The passages of each of ``article_ids`` that is in the index, as ``IndexData.article_passages``."""
        return self.passages.of_articles(article_ids)

    def passages_of(self, pids: Iterable[int]) -> list[Passage]:
        """The passages ``pids``, in order (the ones not cached read in one query)."""
        return self.passages.many(pids)

    def articles_of(self, article_ids: Iterable[str]) -> list[Article]:
        """The articles ``article_ids``, in order (the ones not cached read in one query)."""
        return self.articles.many(article_ids)


class _Lookup:
    """Reads of one collection, limited to the partitions the serving generation names (rows a newer
    generation appended are in partitions it does not name). Every corpus query goes through ``_query``."""

    def __init__(self, client: Any, uri: str, collection: str, partitions: Sequence[str] | None = None) -> None:
        self.client, self.uri, self.collection = client, uri, collection
        self.partitions: list[str] | None = list(partitions) if partitions else None
        """The generation's partitions of the collection (None: all of it)."""

    def _query(self, **kwargs: Any) -> list[dict[str, Any]]:
        with milvus_errors(self.uri):
            return list(self.client.query(self.collection, partition_names=self.partitions, **kwargs))

    def _iterate(self, expression: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every row ``expression`` admits: one query when they fit ``QUERY_WINDOW``, else paged ``BATCH``
        at a time with a query iterator (which costs a few more queries: a small result does not pay them)."""
        rows = self._query(filter=expression, output_fields=fields, limit=QUERY_WINDOW)
        if len(rows) < QUERY_WINDOW:
            yield from rows
            return
        with milvus_errors(self.uri):
            iterator = self.client.query_iterator(
                self.collection,
                batch_size=BATCH,
                filter=expression,
                output_fields=fields,
                partition_names=self.partitions,
            )
        try:
            while True:
                with milvus_errors(self.uri):
                    rows = iterator.next()
                if not rows:
                    return
                yield from rows
        finally:
            iterator.close()


class RemotePassages(_Lookup, Sequence[Passage]):
    """Passages by id, fetched from Milvus many to a query (and kept in a small LRU cache)."""

    def __init__(
        self, client: Any, uri: str, collection: str, size: int, partitions: Sequence[str] | None = None
    ) -> None:
        super().__init__(client, uri, collection, partitions)
        self._size = size
        self._cache: BatchCache[int, Passage] = BatchCache(self._fetch, PASSAGES_CACHED)

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, pid: Any) -> Any:
        if isinstance(pid, slice):
            return self.many(range(*pid.indices(len(self))))
        return self.many([pid])[0]

    def many(self, pids: Iterable[int]) -> list[Passage]:
        """The passages ``pids``, in order: the cached ones, and the rest read in one query."""
        wanted = [int(pid) for pid in pids]
        found = self._cache.many(wanted)
        lost = next((pid for pid in wanted if pid not in found), None)
        if lost is not None:
            raise IndexError(f"passage {lost} is not in the index")
        return [found[pid] for pid in wanted]

    def _fetch(self, pids: list[int]) -> dict[int, Passage]:
        rows: list[dict[str, Any]] = []
        for at in range(0, len(pids), BATCH):
            rows.extend(self._query(ids=pids[at : at + BATCH], output_fields=list(_PASSAGE_FIELDS)))
        return {int(row["pid"]): _passage_of(row) for row in rows}

    def articles_between(self, low: int, high: int) -> list[str]:
        """The articles with a passage dated from day ``low`` to ``high``, newest first, then by id."""
        if low > high or high <= 0:
            return []
        days: dict[str, int] = {}
        for row in self._iterate(f"day >= {max(1, int(low))} and day <= {int(high)}", ["article", "day"]):
            days[row["article"]] = int(row["day"])
        return sorted(days, key=lambda article_id: (-days[article_id], article_id))

    def of_articles(self, article_ids: Iterable[str]) -> dict[str, list[Passage]]:
        """The passages of each of ``article_ids``, in id order (the articles in the order of their first
        passage, as in the index directory), ``ARTICLES_PER_QUERY`` articles to a filter expression."""
        wanted = list(dict.fromkeys(article_ids))
        found: list[Passage] = []
        for at in range(0, len(wanted), ARTICLES_PER_QUERY):
            names = ", ".join(_literal(a) for a in wanted[at : at + ARTICLES_PER_QUERY])
            found.extend(_passage_of(row) for row in self._iterate(f"article in [{names}]", list(_PASSAGE_FIELDS)))
        out: dict[str, list[Passage]] = {}
        for passage in sorted(found, key=lambda p: p.id):
            out.setdefault(passage.article_id, []).append(passage)
        return out


_PASSAGE_FIELDS = ("pid", "article", "start", "end", "text", "spans")


def _literal(text: str) -> str:
    """``text`` as a string in a Milvus filter expression: quotes and backslashes escaped, other characters
    as they are (Milvus reads no ``\\u`` escape, so an id like "café.md" must not become "caf\\u00e9.md")."""
    return json.dumps(text, ensure_ascii=False)


def _passage_of(row: dict[str, Any]) -> Passage:
    """A passage from its row of the passages collection."""
    spans = json.loads(row["spans"])
    sentences = tuple((int(a), int(b)) for a, b in spans["s"])
    return Passage(
        int(row["pid"]), row["article"], int(row["start"]), int(row["end"]), row["text"], sentences, tuple(spans["u"])
    )


class RemoteArticles(_Lookup, Mapping[str, Article]):
    """Articles by id, their text reassembled from its parts, read many to a query (and kept in a small
    LRU cache)."""

    def __init__(
        self, client: Any, uri: str, collection: str, size: int, partitions: Sequence[str] | None = None
    ) -> None:
        super().__init__(client, uri, collection, partitions)
        self._size = size
        self._cache: BatchCache[str, Article] = BatchCache(self._fetch, ARTICLES_CACHED)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[str]:
        return (row["article"] for row in self._iterate("part == 0", ["article"]))

    def __getitem__(self, article_id: str) -> Article:
        return self.many([article_id])[0]

    def __contains__(self, article_id: object) -> bool:
        return isinstance(article_id, str) and bool(self._query(ids=[f"{article_id}#0"], output_fields=["part"]))

    def many(self, article_ids: Iterable[str]) -> list[Article]:
        """The articles ``article_ids``, in order: the cached ones, and the rest read in one query."""
        wanted = list(article_ids)
        found = self._cache.many(wanted)
        lost = next((article_id for article_id in wanted if article_id not in found), None)
        if lost is not None:
            raise KeyError(lost)
        return [found[article_id] for article_id in wanted]

    def _fetch(self, article_ids: list[str]) -> dict[str, Article]:
        """The articles of ``article_ids`` that are in the index, ``ARTICLES_PER_QUERY`` to a filter expression."""
        parts: dict[str, list[dict[str, Any]]] = {}
        for at in range(0, len(article_ids), ARTICLES_PER_QUERY):
            names = ", ".join(_literal(a) for a in article_ids[at : at + ARTICLES_PER_QUERY])
            for row in self._iterate(f"article in [{names}]", ["article", "part", "meta", "text"]):
                parts.setdefault(row["article"], []).append(row)
        return {article_id: _article_of(article_id, rows) for article_id, rows in parts.items()}


def _article_of(article_id: str, rows: list[dict[str, Any]]) -> Article:
    """An article from its rows of the articles collection (its parts, in any order)."""
    import datetime as dt

    rows = sorted(rows, key=lambda r: int(r["part"]))
    meta = json.loads(rows[0]["meta"])
    date = dt.date.fromisoformat(meta["date"]) if meta["date"] else None
    text = "".join(r["text"] for r in rows)
    return Article(article_id, meta["title"], date, meta["source"], text, meta["url"], meta["hash"])


class RemoteUnits(_Lookup, Sequence[tuple[int, ...]]):
    """For each unit (a sentence vector), the ids of the passages that hold it."""

    def __init__(
        self, client: Any, uri: str, collection: str, size: int, partitions: Sequence[str] | None = None
    ) -> None:
        super().__init__(client, uri, collection, partitions)
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, unit: Any) -> Any:
        if isinstance(unit, slice):
            return [self[i] for i in range(*unit.indices(len(self)))]
        return self.many([int(unit)])[int(unit)]

    def many(self, units: Sequence[int]) -> dict[int, tuple[int, ...]]:
        """Unit -> passages for many units in one request (none asked: no request; Milvus would read
        every row for an empty id list)."""
        if not units:
            return {}
        rows = self._query(ids=[int(u) for u in units], output_fields=["passages"])
        found = {int(r["unit"]): tuple(json.loads(r["passages"])) for r in rows}
        missing = [u for u in units if int(u) not in found]
        if missing:
            raise IndexError(f"unit {missing[0]} is not in the index")
        return found


class RemoteDays(_Lookup):
    """Passage days looked up by id (``index.passage_days[pids]`` without the column in memory)."""

    def __getitem__(self, pids: Any) -> np.ndarray:
        wanted = [int(p) for p in np.atleast_1d(np.asarray(pids))]
        rows = self._query(ids=wanted, output_fields=["day"]) if wanted else []
        days = {int(r["pid"]): int(r["day"]) for r in rows}
        return np.array([days[p] for p in wanted], dtype=np.int64)


class RemoteLexical(_Lookup):
    """newsdesk's BM25 over the published passages' sparse vectors; IDFs from the vocabulary collection."""

    def __init__(
        self, client: Any, uri: str, passages: str, terms: str, n_live: int, partitions: Sequence[str] | None = None
    ) -> None:
        super().__init__(client, uri, terms)
        self.passages = passages
        self.passage_partitions: list[str] | None = list(partitions) if partitions else None
        """The generation's partitions of the passages collection (None: all of it)."""
        self.n_live = n_live
        self._cache: BatchCache[str, tuple[int, float] | None] = BatchCache(self._fetch, TERMS_CACHED)

    def _terms(self, tokens: Iterable[str]) -> dict[str, tuple[int, float] | None]:
        """Each of ``tokens`` -> (term id, IDF), or None when the vocabulary lacks it."""
        return self._cache.many(tokens)

    def _fetch(self, tokens: list[str]) -> dict[str, tuple[int, float] | None]:
        """The tokens' rows of the vocabulary (None for a token it lacks: that is cached too)."""
        found: dict[str, tuple[int, float] | None] = dict.fromkeys(tokens)
        for at in range(0, len(tokens), BATCH):
            for row in self._query(ids=tokens[at : at + BATCH], output_fields=["term", "tid", "idf"]):
                found[row["term"]] = (int(row["tid"]), float(row["idf"]))
        return found

    def idf(self, token: str) -> float:
        """Inverse document frequency of a (stemmed) token; unseen tokens weigh most."""
        return self.idfs([token])[token]

    def idfs(self, tokens: Iterable[str]) -> dict[str, float]:
        """``idf`` of each of ``tokens``, read in one query."""
        unseen = float(np.log(1.0 + (self.n_live + 0.5) / 0.5))
        return {token: found[1] if found else unseen for token, found in self._terms(tokens).items()}

    def ceiling(self, query: str) -> float:
        """The sum of the indexed query terms' IDFs (see ``LexicalIndex.ceiling``)."""
        tokens = tokenize([query])[0]
        found = self._terms(tokens)
        return sum(hit[1] for t in tokens if (hit := found[t]))

    def search(
        self, query: str, k: int, mask: np.ndarray | None = None, where: Where | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` (passage id, BM25 score) with a positive score, inside ``where``."""
        if mask is not None:
            raise ValueError("a published index filters by date expressions, not masks")
        weights: dict[int, float] = {}
        tokens = tokenize([query])[0]
        terms = self._terms(tokens)
        for token in tokens:
            found = terms[token]
            if found:
                weights[found[0]] = weights.get(found[0], 0.0) + found[1]
        if not weights or k <= 0:
            return []
        with milvus_errors(self.uri):
            result = self.client.search(
                self.passages,
                data=[weights],
                anns_field="sparse",
                limit=min(k, 16_384),
                filter=where.expression() if where is not None else "",
                search_params={"metric_type": "IP"},
                output_fields=["pid"],
                partition_names=self.passage_partitions,
            )
        return [(int(hit["pid"]), float(hit["distance"])) for hit in result[0] if hit["distance"] > 0]
