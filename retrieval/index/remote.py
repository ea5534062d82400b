"""The whole index in Milvus, for replicas that keep no index directory.

A builder (``newsdesk index`` with ``NEWSDESK_MILVUS_CORPUS=1``) builds its index directory as usual
(vectors in Milvus) and then *publishes* the generation: four more collections beside the vectors' —
passages (text, offsets, sentence spans, units, day, newsdesk's BM25 weights as a sparse vector),
article texts (in parts), unit -> passages, and the BM25 vocabulary with each term's IDF — and then
one row of the pointer collection ``<collection>_pointer`` names them, with the manifest. Writing
that row is the swap: a reader that reads the pointer finds a complete generation. A serving process
reads the pointer again every ``POINTER_CHECK_SECONDS``; a new generation is opened fully before it
replaces the one serving. Published generations other than the newest ``KEEP_GENERATIONS`` are dropped
by the next publish, so a replica that has not looked yet still reads whole collections.

The lexical side is newsdesk's own BM25: each passage's sparse vector holds ``tf / (tf + norm)`` per
term (the length part of BM25 with the generation's average length), a query's holds each term's IDF,
and Milvus's inner product is then exactly newsdesk's BM25 score (measured against Milvus's BM25
function in benchmarks/README.md).
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import VectorBackendError
from retrieval.index.data import IndexData
from retrieval.index.lexical import LexicalIndex
from retrieval.index.manifest import Manifest
from retrieval.index.vectors.milvus import MilvusVectors, create_index, milvus_errors
from retrieval.text import tokenize
from retrieval.types import Article, Passage

log = logging.getLogger(__name__)

POINTER_CHECK_SECONDS = 2.0
"""How often a serving process reads the pointer (a new generation is picked up within this)."""
KEEP_GENERATIONS = 2
"""Published generations kept by a publish (the new one and the one replicas may still be serving)."""
TEXT_PART = 16_000
"""Characters of article text per row (a Milvus VARCHAR holds at most 65,535 bytes)."""
BATCH = 2000
"""Rows to an insert, and to one page of a query that may return many."""
QUERY_WINDOW = 16_384
"""The most rows one Milvus query returns (Milvus's own ceiling on ``offset + limit``)."""
ARTICLES_PER_QUERY = 256
"""Articles named in one filter expression (``article in [...]``) when their passages are read."""
_DUMMY = [0.0, 1.0]
"""Milvus wants a vector field in every collection; the lookup tables carry this one."""
KINDS = ("passages", "articles", "units", "terms")


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
    """What the pointer row names: a generation, its collections and its manifest."""

    generation: str
    collections: dict[str, str]
    manifest: Manifest
    published: float


def _schema(*fields: tuple[str, Any, dict[str, Any]]) -> Any:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    for number, (name, kind, extra) in enumerate(fields):
        schema.add_field(name, kind, is_primary=number == 0, **extra)
    if not any(kind in (DataType.SPARSE_FLOAT_VECTOR, DataType.FLOAT_VECTOR) for _, kind, _ in fields):
        schema.add_field("dummy", DataType.FLOAT_VECTOR, dim=len(_DUMMY))
    return schema


def _create(client: Any, name: str, schema: Any, rows: Iterator[dict[str, Any]], field: str, metric: str) -> int:
    """Create ``name``, insert ``rows`` in batches, index ``field`` and load it; the row count."""
    client.create_collection(name, schema=schema, consistency_level="Strong")
    count, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            client.insert(name, batch)
            count, batch = count + len(batch), []
    if batch:
        client.insert(name, batch)
        count += len(batch)
    client.flush(name)
    index = client.prepare_index_params()
    kind = "SPARSE_INVERTED_INDEX" if metric == "IP" and field == "sparse" else "FLAT"
    index.add_index(field_name=field, index_type=kind, metric_type=metric)
    create_index(client, name, index)
    client.load_collection(name)
    return count


def bm25_weights(lexical: LexicalIndex) -> Iterator[dict[int, float]]:
    """Each passage's BM25 document side, ``{term: tf / (tf + norm)}``, in passage-id order."""
    import scipy.sparse as sp

    empty = {len(lexical.terms): 1.0}  # a passage with no indexed term: a column no query names
    for segment, norms in zip(lexical.segments, lexical._norms, strict=True):
        rows = sp.csc_matrix(
            (segment.data, segment.indices, segment.indptr), shape=(segment.size, segment.columns)
        ).tocsr()
        for row in range(segment.size):
            start, end = rows.indptr[row], rows.indptr[row + 1]
            tf = rows.data[start:end].astype(np.float64)
            weights = tf / (tf + float(norms[row]))
            yield dict(zip(rows.indices[start:end].tolist(), weights.tolist(), strict=True)) or empty


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

    # -- publishing ------------------------------------------------------------------------

    def publish(self, data: IndexData) -> Pointer:
        """Write ``data``'s passages, articles, units and vocabulary as a new generation, then point at it."""
        if not isinstance(data.vectors, MilvusVectors):
            raise VectorBackendError("publishing the index to Milvus needs NEWSDESK_VECTOR_BACKEND=milvus")
        if not data.passage_live.all():
            raise ValueError("a published index has no tombstones (the Milvus backend compacts)")
        gen = uuid.uuid4().hex[:12]
        names = {kind: f"{self.prefix}_{kind[0]}{gen}" for kind in KINDS}
        with milvus_errors(self.uri):
            try:
                self._write(data, names)
            except BaseException:
                for name in names.values():  # a failed publish leaves the previous generation serving
                    if self.client.has_collection(name):
                        self.client.drop_collection(name)
                raise
            pointer = Pointer(gen, {**names, "vectors": data.vectors.collection}, data.manifest, time.time())
            self._point(pointer)
            self._retire()
        log.info("published generation %s (%d passages) to Milvus", gen, len(data.passages))
        return pointer

    def _write(self, data: IndexData, names: dict[str, str]) -> None:
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
        _create(self.client, names["passages"], passages, self._passage_rows(data), "sparse", "IP")
        articles = _schema(
            ("key", DataType.VARCHAR, {"max_length": 1024}),
            ("article", DataType.VARCHAR, {"max_length": 1024}),
            ("part", DataType.INT64, {}),
            ("meta", DataType.VARCHAR, text),
            ("text", DataType.VARCHAR, text),
        )
        _create(self.client, names["articles"], articles, self._article_rows(data), "dummy", "L2")
        units = _schema(("unit", DataType.INT64, {}), ("passages", DataType.VARCHAR, text))
        rows = ({"unit": u, "passages": json.dumps(p), "dummy": _DUMMY} for u, p in enumerate(data.unit_passages))
        _create(self.client, names["units"], units, rows, "dummy", "L2")
        terms = _schema(
            ("term", DataType.VARCHAR, {"max_length": 1024}), ("tid", DataType.INT64, {}), ("idf", DataType.DOUBLE, {})
        )
        lexical = data.lexical
        rows = ({"term": t, "tid": i, "idf": lexical.idf(t), "dummy": _DUMMY} for i, t in enumerate(lexical.terms))
        _create(self.client, names["terms"], terms, rows, "dummy", "L2")

    @staticmethod
    def _passage_rows(data: IndexData) -> Iterator[dict[str, Any]]:
        for passage, day, sparse in zip(
            data.passages, data.passage_days.tolist(), bm25_weights(data.lexical), strict=True
        ):
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
    def _article_rows(data: IndexData) -> Iterator[dict[str, Any]]:
        for article_id in data.articles:
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
        record = {"collections": pointer.collections, "manifest": pointer.manifest.to_json(), "at": pointer.published}
        row = {"key": "current", "generation": pointer.generation, "record": json.dumps(record), "dummy": _DUMMY}
        self.client.upsert(self.pointer_name, [row])
        history = {"key": f"gen-{pointer.published:017.6f}", "generation": pointer.generation, "record": "{}"}
        self.client.upsert(self.pointer_name, [{**history, "dummy": _DUMMY}])

    def _retire(self) -> None:
        """Drop corpus collections of generations older than the newest ``KEEP_GENERATIONS``."""
        rows = self.client.query(self.pointer_name, filter='key like "gen-%"', output_fields=["key", "generation"])
        rows.sort(key=lambda row: row["key"])
        keep = {row["generation"] for row in rows[-KEEP_GENERATIONS:]}
        for row in rows[:-KEEP_GENERATIONS]:
            self.client.delete(self.pointer_name, ids=[row["key"]])
        for name in self.client.list_collections():
            if name.startswith(f"{self.prefix}_") and name != self.pointer_name:
                tail = name[len(self.prefix) + 1 :]
                if len(tail) == 13 and tail[0] in "paut" and tail[1:] not in keep:
                    log.info("dropping Milvus collection %s", name)
                    self.client.drop_collection(name)

    # -- reading ---------------------------------------------------------------------------

    def _has_pointer(self) -> bool:
        """True if the pointer collection exists; loaded for queries on first sight (a Milvus Lite file
        opened by a new process holds every collection released)."""
        if not self.client.has_collection(self.pointer_name):
            return False
        if not self._pointer_loaded:
            self.client.load_collection(self.pointer_name)
            self._pointer_loaded = True
        return True

    def current(self) -> Pointer:
        """The pointer's generation (VectorBackendError if nothing was published)."""
        with milvus_errors(self.uri):
            rows = []
            if self._has_pointer():
                rows = self.client.query(self.pointer_name, ids=["current"], output_fields=["generation", "record"])
        if not rows:
            raise VectorBackendError(
                f"Milvus at {self.uri} holds no published index ({self.pointer_name} is missing or empty): "
                "run `newsdesk index` with NEWSDESK_MILVUS_CORPUS=1"
            )
        record = json.loads(rows[0]["record"])
        manifest = Manifest.from_json(record["manifest"])
        return Pointer(rows[0]["generation"], record["collections"], manifest, float(record["at"]))

    def generation(self) -> str | None:
        """Just the current generation's name (a cheap read, for the per-interval check)."""
        with milvus_errors(self.uri):
            if not self._has_pointer():
                return None
            rows = self.client.query(self.pointer_name, ids=["current"], output_fields=["generation"])
        return str(rows[0]["generation"]) if rows else None

    def open(self, pointer: Pointer | None = None) -> RemoteIndex:
        """The generation ``pointer`` names (the current one by default), every collection checked."""
        pointer = pointer or self.current()
        with milvus_errors(self.uri):
            for name in pointer.collections.values():
                if not self.client.has_collection(name):
                    raise VectorBackendError(
                        f"Milvus at {self.uri}: collection {name} of generation {pointer.generation} is missing"
                    )
                self.client.load_collection(name)
            rows = int(self.client.get_collection_stats(pointer.collections["vectors"])["row_count"])
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
    search and answering, with nothing corpus-sized in memory (small LRU caches of passages and articles)."""

    remote = True

    def __init__(self, client: Any, uri: str, pointer: Pointer, vectors: MilvusVectors) -> None:
        names = pointer.collections
        self.generation = pointer.generation
        self.manifest = pointer.manifest
        self.path = Path(f"milvus:{pointer.generation}")
        self.vectors = vectors
        self.lexical = RemoteLexical(client, uri, names["passages"], names["terms"], self.manifest.live_passages)
        self.passages = RemotePassages(client, uri, names["passages"], self.manifest.n_passages)
        self.articles = RemoteArticles(client, uri, names["articles"], self.manifest.n_articles)
        self.unit_passages = RemoteUnits(client, uri, names["units"], self.manifest.n_vectors)
        self.passage_days = RemoteDays(client, uri, names["passages"])
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


class _Lookup:
    def __init__(self, client: Any, uri: str, collection: str) -> None:
        self.client, self.uri, self.collection = client, uri, collection

    def _query(self, **kwargs: Any) -> list[dict[str, Any]]:
        with milvus_errors(self.uri):
            return list(self.client.query(self.collection, **kwargs))

    def _iterate(self, expression: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every row ``expression`` admits: one query when they fit ``QUERY_WINDOW``, else paged ``BATCH``
        at a time with a query iterator (which costs a few more queries: a small result does not pay them)."""
        rows = self._query(filter=expression, output_fields=fields, limit=QUERY_WINDOW)
        if len(rows) < QUERY_WINDOW:
            yield from rows
            return
        with milvus_errors(self.uri):
            iterator = self.client.query_iterator(
                self.collection, batch_size=BATCH, filter=expression, output_fields=fields
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
    """Passages by id, fetched from Milvus (and kept in a small LRU cache)."""

    def __init__(self, client: Any, uri: str, collection: str, size: int) -> None:
        super().__init__(client, uri, collection)
        self._size = size
        self._make = functools.lru_cache(maxsize=4096)(self._passage)

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, pid: Any) -> Any:
        if isinstance(pid, slice):
            return [self[i] for i in range(*pid.indices(len(self)))]
        return self._make(int(pid))

    def _passage(self, pid: int) -> Passage:
        rows = self._query(ids=[pid], output_fields=list(_PASSAGE_FIELDS))
        if not rows:
            raise IndexError(f"passage {pid} is not in the index")
        return _passage_of(rows[0])

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
    """Articles by id, their text reassembled from its parts (kept in a small LRU cache)."""

    def __init__(self, client: Any, uri: str, collection: str, size: int) -> None:
        super().__init__(client, uri, collection)
        self._size = size
        self._make = functools.lru_cache(maxsize=1024)(self._article)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[str]:
        return (row["article"] for row in self._iterate("part == 0", ["article"]))

    def __getitem__(self, article_id: str) -> Article:
        return self._make(article_id)

    def __contains__(self, article_id: object) -> bool:
        return isinstance(article_id, str) and bool(self._query(ids=[f"{article_id}#0"], output_fields=["part"]))

    def _article(self, article_id: str) -> Article:
        import datetime as dt

        rows = self._query(filter=f"article == {_literal(article_id)}", output_fields=["part", "meta", "text"])
        if not rows:
            raise KeyError(article_id)
        rows.sort(key=lambda r: int(r["part"]))
        meta = json.loads(rows[0]["meta"])
        date = dt.date.fromisoformat(meta["date"]) if meta["date"] else None
        text = "".join(r["text"] for r in rows)
        return Article(article_id, meta["title"], date, meta["source"], text, meta["url"], meta["hash"])


class RemoteUnits(_Lookup, Sequence[tuple[int, ...]]):
    """For each unit (a sentence vector), the ids of the passages that hold it."""

    def __init__(self, client: Any, uri: str, collection: str, size: int) -> None:
        super().__init__(client, uri, collection)
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, unit: Any) -> Any:
        if isinstance(unit, slice):
            return [self[i] for i in range(*unit.indices(len(self)))]
        return self.many([int(unit)])[int(unit)]

    def many(self, units: Sequence[int]) -> dict[int, tuple[int, ...]]:
        """Unit -> passages for many units in one request."""
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
        rows = self._query(ids=wanted, output_fields=["day"])
        days = {int(r["pid"]): int(r["day"]) for r in rows}
        return np.array([days[p] for p in wanted], dtype=np.int64)


class RemoteLexical(_Lookup):
    """newsdesk's BM25 over the published passages' sparse vectors; IDFs from the vocabulary collection."""

    def __init__(self, client: Any, uri: str, passages: str, terms: str, n_live: int) -> None:
        super().__init__(client, uri, terms)
        self.passages = passages
        self.n_live = n_live
        self._terms = functools.lru_cache(maxsize=65_536)(self._term)

    def _term(self, token: str) -> tuple[int, float] | None:
        rows = self._query(ids=[token], output_fields=["tid", "idf"])
        return (int(rows[0]["tid"]), float(rows[0]["idf"])) if rows else None

    def idf(self, token: str) -> float:
        """Inverse document frequency of a (stemmed) token; unseen tokens weigh most."""
        found = self._terms(token)
        return found[1] if found else float(np.log(1.0 + (self.n_live + 0.5) / 0.5))

    def ceiling(self, query: str) -> float:
        """The sum of the indexed query terms' IDFs (see ``LexicalIndex.ceiling``)."""
        return sum(found[1] for t in tokenize([query])[0] if (found := self._terms(t)))

    def search(
        self, query: str, k: int, mask: np.ndarray | None = None, where: Where | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` (passage id, BM25 score) with a positive score, inside ``where``."""
        if mask is not None:
            raise ValueError("a published index filters by date expressions, not masks")
        weights: dict[int, float] = {}
        for token in tokenize([query])[0]:
            found = self._terms(token)
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
            )
        return [(int(hit["pid"]), float(hit["distance"])) for hit in result[0] if hit["distance"] > 0]
