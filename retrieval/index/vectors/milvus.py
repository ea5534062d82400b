"""The Milvus vector backend: a Milvus cluster, or Milvus Lite in-process.

A generation's vectors are a collection and the partitions of it that its manifest names
(``params["collection"]``, ``params["partitions"]``). A full build, a compaction or a removal writes
a new collection; an incremental build that only adds articles inserts the new vectors into a new
partition of the live collection, which the previous generation does not name, so a process still
serving it never sees them. Partitions no kept generation names (a failed build's) and collections no
kept generation names are dropped by ``retire``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from retrieval.config import VectorConfig
from retrieval.errors import VectorBackendError
from retrieval.index.manifest import VectorPart
from retrieval.index.vectors.base import (
    ANN_DEFAULTS,
    SEARCH_PARAMS,
    Capabilities,
    DayRange,
    Growth,
    VectorStore,
    check_params,
    day_mask,
    window,
)
from retrieval.types import DateRange

log = logging.getLogger(__name__)

_MILVUS_BATCH = 4096
MAX_PARTITIONS = 64
"""Partitions a vectors collection takes before the next build writes a new collection (a Milvus
cluster allows 1,024 per collection, and each adds per-search work; appended rows cannot move
between partitions, since a primary key may be in one place only)."""
MILVUS_PARAMS = ("M", "ef_construction", "ef_search")
"""The vector index parameters Milvus takes (its HNSW's)."""
_T = TypeVar("_T")


@contextlib.contextmanager
def milvus_errors(uri: str) -> Iterator[None]:
    """Turn pymilvus's errors (a server down, a bad token, a refused request) into one line."""
    from pymilvus.exceptions import MilvusException

    try:
        yield
    except MilvusException as exc:
        reason = " ".join(str(getattr(exc, "message", "") or exc).split())
        raise VectorBackendError(f"Milvus at {uri} failed: {reason}") from exc


def _reported(method: Callable[..., _T]) -> Callable[..., _T]:
    """A backend or store method whose Milvus errors become a VectorBackendError."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> _T:
        with milvus_errors(self.uri):
            return method(self, *args, **kwargs)

    return wrapper


class MilvusVectors:
    """One generation's vectors in a Milvus collection: unit id, vector, article day and article id."""

    def __init__(
        self,
        client: Any,
        collection: str,
        dimension: int,
        size: int,
        params: dict[str, Any],
        days: np.ndarray | None = None,
        uri: str = "",
    ) -> None:
        self._client = client
        self._days = days
        self.uri = uri
        self.collection = collection
        self._dimension = dimension
        self._size = size
        self.params = params
        self.kind = f"milvus-{str(params.get('index_type', 'FLAT')).lower()}"
        self.partitions: list[str] | None = list(params["partitions"]) if params.get("partitions") else None
        """The partitions this generation names (None: the whole collection, as before partitions)."""

    @property
    def size(self) -> int:
        """Number of vectors held."""
        return self._size

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        return self._dimension

    def save(self, directory: Path) -> None:
        """Nothing to write: the vectors live in Milvus; the manifest records the collection."""

    def part_records(self) -> tuple[VectorPart, ...]:
        """None: the collection is the store (named in the manifest's parameters)."""
        return ()

    @_reported
    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        *,
        days: DayRange | DateRange | None = None,
    ) -> list[tuple[int, float]]:
        """Top ``k`` (id, cosine); the date window or id list is a filter expression evaluated by Milvus."""
        days = window(days)
        if self._size == 0 or k <= 0 or (allowed is not None and len(allowed) == 0):
            return []
        terms = []
        if days is not None:
            terms.append("day > 0")
            if days[0] is not None:
                terms.append(f"day >= {int(days[0])}")
            if days[1] is not None:
                terms.append(f"day <= {int(days[1])}")
        if allowed is not None:
            terms.append(f"unit in [{', '.join(str(int(i)) for i in allowed)}]")
        search_params: dict[str, Any] = {"metric_type": "IP"}
        if self.params.get("index_type") == "HNSW":
            boost = 1.0
            if days is not None and self._days is not None:  # a narrow filter needs a wider graph search
                boost = min(16.0, self._size / max(1, int(np.count_nonzero(day_mask(self._days, days)))))
            ef = int(max(int(self.params.get("ef_search", 64)), k) * boost)
            search_params["params"] = {"ef": min(32_768, ef)}
        result = self._client.search(
            self.collection,
            data=[np.asarray(query, dtype=np.float32).tolist()],
            limit=min(k, self._size),
            filter=" and ".join(terms),
            search_params=search_params,
            output_fields=["unit"],
            partition_names=self.partitions,
        )
        return [(int(hit["unit"]), float(hit["distance"])) for hit in result[0]]

    @_reported
    def search_where(self, query: np.ndarray, k: int, expression: str) -> list[tuple[int, float]]:
        """Top ``k`` (id, cosine) among the units a Milvus filter ``expression`` (over ``day``) admits."""
        if self._size == 0 or k <= 0:
            return []
        search_params: dict[str, Any] = {"metric_type": "IP"}
        if self.params.get("index_type") == "HNSW":
            search_params["params"] = {"ef": min(32_768, max(int(self.params.get("ef_search", 64)), k))}
        result = self._client.search(
            self.collection,
            data=[np.asarray(query, dtype=np.float32).tolist()],
            limit=min(k, self._size),
            filter=expression,
            search_params=search_params,
            output_fields=["unit"],
            partition_names=self.partitions,
        )
        return [(int(hit["unit"]), float(hit["distance"])) for hit in result[0]]

    @_reported
    def vectors(self, ids: np.ndarray | None = None) -> np.ndarray:
        """The stored vectors of ``ids`` (or all), fetched from Milvus in batches."""
        wanted = np.arange(self._size, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        out = np.zeros((len(wanted), self._dimension), dtype=np.float32)
        unique = np.unique(wanted)
        found: dict[int, list[float]] = {}
        for at in range(0, len(unique), _MILVUS_BATCH):
            part = [int(i) for i in unique[at : at + _MILVUS_BATCH]]
            for row in self._client.query(
                self.collection, ids=part, output_fields=["vector"], partition_names=self.partitions
            ):
                found[int(row["unit"])] = row["vector"]
        missing = [int(i) for i in unique if int(i) not in found]
        if missing:
            raise KeyError(f"Milvus collection {self.collection} lacks units {missing[:5]}")
        for row, unit in enumerate(wanted):
            out[row] = found[int(unit)]
        return out


KEEPALIVE_MS = 360_000
"""How often the client pings an idle connection. pymilvus pings every 10 s, and a gRPC server that
does not allow pings that often (Milvus Lite's: gRPC's default, one per 5 minutes) counts each as a
strike and drops the connection ("too_many_pings") in the middle of a long call — building an HNSW
index, which Milvus Lite does inside the ``create_index`` or ``load_collection`` call itself."""


def connect(uri: str, token: str = "") -> Any:
    """A Milvus client on a connection of its own (pymilvus shares one per server unless asked, and a
    shared one keeps the options of whoever opened it first), pinging no more often than servers allow."""
    from pymilvus import MilvusClient

    options = {"grpc.keepalive_time_ms": KEEPALIVE_MS, "grpc.keepalive_permit_without_calls": False}
    return MilvusClient(uri=uri, token=token, dedicated=True, grpc_options=options)


def create_index(client: Any, collection: str, index: Any, **kwargs: Any) -> None:
    """``client.create_index``, where "index already exists" with the same type is success: pymilvus
    retries a call whose connection dropped, and the first attempt may have gone through."""
    from pymilvus.exceptions import MilvusException

    try:
        client.create_index(collection, index, **kwargs)
    except MilvusException as exc:
        if "already exists" not in str(exc):
            raise
        for wanted in index:
            info = client.describe_index(collection, wanted.field_name) or {}
            if str(info.get("index_type", "")).upper() != str(wanted.index_type).upper():
                raise
        log.info("the index of %s already exists (a retried call): taken as built", collection)


def new_partition(client: Any, collection: str) -> str:
    """A new partition of ``collection``, named by a fresh generation id."""
    name = f"g{uuid.uuid4().hex[:12]}"
    client.create_partition(collection, name)
    return name


def drop_partition(client: Any, collection: str, partition: str) -> None:
    """Drop ``partition`` (a cluster drops only a released one; Milvus Lite releases no partition alone
    and says so with a gRPC error, not a Milvus one)."""
    with contextlib.suppress(Exception):
        client.release_partitions(collection, [partition])
    log.info("dropping partition %s of Milvus collection %s", partition, collection)
    client.drop_partition(collection, partition)


def count_rows(client: Any, collection: str, partitions: Sequence[str] | None) -> int:
    """Rows of ``collection`` in ``partitions`` (all of them for None)."""
    if not partitions:
        return int(client.get_collection_stats(collection)["row_count"])
    return sum(int(client.get_partition_stats(collection, p)["row_count"]) for p in partitions)


def missing_partition(client: Any, collection: str, partitions: Sequence[str] | None) -> str | None:
    """The first of ``partitions`` that ``collection`` lacks, else None."""
    if not partitions:
        return None
    present = set(client.list_partitions(collection))
    return next((p for p in partitions if p not in present), None)


def retire_partitions(client: Any, kept: dict[str, set[str] | None]) -> None:
    """In each kept collection, drop the partitions no kept generation names (None: keep all)."""
    for collection, partitions in kept.items():
        if partitions is None or not client.has_collection(collection):
            continue
        for partition in client.list_partitions(collection):
            if partition != "_default" and partition not in partitions:
                drop_partition(client, collection, partition)


def wait_for_index(client: Any, collection: str, field: str = "vector", timeout: float = 3600.0) -> None:
    """Return once Milvus has indexed every row of ``collection``'s ``field`` (polling, quickly at first).
    pymilvus's own wait (``sync=True``) asks the server for a timestamp, which Milvus Lite does not
    implement: its gRPC server logs an error with a traceback for each."""
    delay, waited = 0.01, 0.0
    while True:
        info = client.describe_index(collection, field)
        if info.get("state", "Finished") == "Finished" or not info.get("pending_index_rows"):
            return
        if waited > timeout:
            raise TimeoutError(f"Milvus has not indexed collection {collection} after {timeout:.0f} s")
        time.sleep(delay)
        waited += delay
        delay = min(delay * 2, 2.0)


class MilvusBackend:
    """Milvus (a cluster, or Milvus Lite in-process from a local ``.db`` path): a generation is a
    collection and the partitions of it its manifest names; new articles go to a new partition."""

    name = "milvus"
    capabilities = Capabilities(delta_parts=True, append=False, reopen=False, tombstones=False, local_files=False)

    def __init__(self, config: VectorConfig, root: Path) -> None:
        self.params = check_params(config.params, MILVUS_PARAMS, "Milvus")
        self.config = config
        self.uri = config.milvus_uri or str(Path(root) / "milvus.db")
        self._client: Any = None
        # Collections are <collection>_<index dir tag>_<generation>: index directories sharing one
        # Milvus (the main index and `newsdesk eval`'s, say) never retire each other's collections.
        tag = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:8]
        self.prefix = f"{config.milvus_collection}_{tag}_"

    @property
    def client(self) -> Any:
        """The Milvus client, connected on first use (Milvus Lite starts here for a local path)."""
        if self._client is None:
            if "://" not in self.uri:
                Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
            with milvus_errors(self.uri):
                self._client = connect(self.uri, self.config.milvus_token)
        return self._client

    @_reported
    def build(self, vectors: np.ndarray, days: np.ndarray, articles: Sequence[str]) -> MilvusVectors:
        """A new collection holding the units in one partition; exact (FLAT) below the size threshold, HNSW above."""
        from pymilvus import DataType, MilvusClient

        client = self.client
        n, dimension = vectors.shape
        name = f"{self.prefix}{uuid.uuid4().hex[:12]}"
        params: dict[str, Any] = {"collection": name, "index_type": "FLAT"}
        if n > self.config.exact_max:
            hnsw = ANN_DEFAULTS["hnsw"]
            chosen = {k: self.params.get(k, hnsw[k]) for k in MILVUS_PARAMS}
            params = {**params, "index_type": "HNSW", **chosen}
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("unit", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dimension))
        schema.add_field("day", DataType.INT64)
        schema.add_field("article", DataType.VARCHAR, max_length=65_535)
        client.create_collection(name, schema=schema, consistency_level="Strong")
        partition = new_partition(client, name)
        params["partitions"] = [partition]
        log.info("writing %d vectors to a new Milvus collection %s", n, name)
        _insert_units(client, name, partition, 0, vectors, days, articles)
        log.info("indexing %d vectors in Milvus collection %s (%s)", n, name, params["index_type"])
        index = client.prepare_index_params()
        build: dict[str, Any] = {}
        if params["index_type"] == "HNSW":
            build = {"M": params["M"], "efConstruction": params["ef_construction"]}
        index.add_index(field_name="vector", index_type=params["index_type"], metric_type="IP", params=build)
        create_index(client, name, index, sync=False)  # pymilvus's own wait polls every 0.5 s
        wait_for_index(client, name)  # a cluster builds in the background; Milvus Lite has built already
        client.load_collection(name)
        return MilvusVectors(client, name, int(dimension), n, params, days, self.uri)

    def growth(self, previous: VectorStore, added: int, total: int) -> Growth:
        """A new partition of the live collection (DELTA), unless the collection is of the time before
        partitions, is exact (FLAT) and would pass the size threshold, or holds ``MAX_PARTITIONS``:
        then a new collection (REBUILD)."""
        if not isinstance(previous, MilvusVectors) or previous.partitions is None:
            return Growth.REBUILD
        if previous.params.get("index_type") == "FLAT" and total > self.config.exact_max:
            return Growth.REBUILD
        if len(previous.partitions) >= MAX_PARTITIONS:
            return Growth.REBUILD
        return Growth.DELTA

    @_reported
    def extend(
        self, previous: VectorStore, vectors: np.ndarray, days: np.ndarray, articles: Sequence[str] = ()
    ) -> MilvusVectors:
        """``previous`` plus ``vectors`` (ids n..) in a new partition of its collection, which
        ``previous`` does not name: it keeps serving exactly as it did. A failure drops the partition."""
        if not isinstance(previous, MilvusVectors) or previous.partitions is None:
            raise TypeError("Milvus extends only a partitioned Milvus collection")
        client, name, start = self.client, previous.collection, previous.size
        partition = new_partition(client, name)
        try:
            log.info("appending %d vectors to Milvus collection %s (partition %s)", len(vectors), name, partition)
            _insert_units(client, name, partition, start, vectors, days[start:], articles)
            wait_for_index(client, name)
            client.load_collection(name)  # a cluster loads a loaded collection's new partition
        except BaseException:
            with contextlib.suppress(Exception):
                drop_partition(client, name, partition)
            raise
        params = {**previous.params, "partitions": [*previous.partitions, partition]}
        return MilvusVectors(client, name, previous.dimension, start + len(vectors), params, days, self.uri)

    def append(self, previous: VectorStore, vectors: np.ndarray, days: np.ndarray) -> VectorStore:
        """Not done: Milvus grows by partitions (``extend``)."""
        raise NotImplementedError("Milvus grows by partitions")

    @_reported
    def load(
        self,
        directory: Path,
        kind: str,
        params: dict[str, Any],
        parts: Sequence[VectorPart],
        days: np.ndarray,
        *,
        live: np.ndarray | None = None,
        reuse: VectorStore | None = None,
    ) -> MilvusVectors:
        """Open the collection (and partitions) a generation recorded; missing or short is damage. A
        Milvus index keeps no tombstones (the indexer compacts instead), so ``live`` must be all units."""
        if live is not None and not live.all():
            raise ValueError("a Milvus index has no tombstones")
        name = str(params["collection"])
        partitions = params.get("partitions")
        client = self.client
        if not client.has_collection(name):
            raise LookupError(f"Milvus collection {name} is missing")
        lost = missing_partition(client, name, partitions)
        if lost is not None:
            raise LookupError(f"partition {lost} of Milvus collection {name} is missing")
        client.load_collection(name)
        rows = count_rows(client, name, partitions)
        if rows != len(days):
            raise ValueError(f"Milvus collection {name} holds {rows} vectors, the index {len(days)}")
        dimension = next(
            int(f["params"]["dim"]) for f in client.describe_collection(name)["fields"] if f["name"] == "vector"
        )
        searched = {**params, **{k: v for k, v in self.params.items() if k in SEARCH_PARAMS}}
        return MilvusVectors(client, name, dimension, rows, searched, days, self.uri)

    @_reported
    def retire(self, keep: Sequence[dict[str, Any]]) -> None:
        """Drop this index's collections no kept generation records (old or from failed builds), and
        the partitions of kept ones that no kept generation names (a failed incremental build's)."""
        client = self.client
        kept: dict[str, set[str] | None] = {}
        for params in keep:
            name = str(params.get("collection"))
            named = params.get("partitions")
            if named is None or kept.get(name, set()) is None:
                kept[name] = None
            else:
                kept[name] = {*(kept.get(name) or set()), *named}
        for name in client.list_collections():
            if name.startswith(self.prefix) and name not in kept and len(name) == len(self.prefix) + 12:
                log.info("dropping Milvus collection %s", name)
                client.drop_collection(name)
        retire_partitions(client, {k: v for k, v in kept.items() if k.startswith(self.prefix)})


def _insert_units(
    client: Any,
    name: str,
    partition: str,
    start: int,
    vectors: np.ndarray,
    days: np.ndarray,
    articles: Sequence[str],
) -> None:
    """Insert ``vectors`` as units ``start``.. into ``partition`` (``days``, ``articles``: theirs), then flush."""
    n = len(vectors)
    for at in range(0, n, _MILVUS_BATCH):
        rows = [
            {
                "unit": start + i,
                "vector": vectors[i].tolist(),
                "day": int(days[i]),
                "article": articles[i] if i < len(articles) else "",
            }
            for i in range(at, min(n, at + _MILVUS_BATCH))
        ]
        client.insert(name, rows, partition_name=partition)
    client.flush(name)
