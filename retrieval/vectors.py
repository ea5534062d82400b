"""The dense side of the index: the ``VectorStore`` protocol, FAISS (embedded, the default) and Milvus.

A store holds one unit vector per sentence ("unit"), ids 0..n-1, and each unit's article date as a
proleptic ordinal (0 when undated), so a date filter runs inside the search, never after it.
A ``VectorBackend`` makes one store per index generation, opens it again, and retires old ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from retrieval.config import VectorConfig

log = logging.getLogger(__name__)

DayRange = tuple[int | None, int | None]
"""Inclusive (since, until) proleptic ordinals; either end open. Undated units never match."""

FLAT = "flat-ip"
FAISS_SUFFIX = ".faiss"
RAW_SUFFIX = ".f16.npy"
"""Beside an approximate index (``<part>.f16.npy``): the vectors themselves (float16), for rescoring and reuse."""

ANN_DEFAULTS: dict[str, dict[str, int]] = {
    # Chosen by benchmarks/bench_vectors.py (see benchmarks/README.md): recall@10 >= 0.95 at 1M vectors.
    "hnsw": {"M": 32, "ef_construction": 64, "ef_search": 64, "refine": 2, "exact_below": 20_000,
             "float16_max": 500_000},
    "ivf": {"nlist": 0, "nprobe": 128, "refine": 2, "exact_below": 20_000, "float16_max": 500_000},
}
"""``float16_max``: an approximate index of up to this many vectors keeps float16 copies beside it to
rescore candidates exactly; a larger one scores with its 8-bit codes alone (cosine error ~0.002),
which keeps a 1M-vector index at the size of its graph and codes (see benchmarks/README.md)."""
SEARCH_PARAMS = frozenset({"ef_search", "nprobe", "refine", "exact_below"})
"""Parameters that a setting may change on an index already built; the others need a rebuild."""
DELTA_MAX_PARTS = 8
"""At most this many delta parts (exact indexes of vectors added since the main index was written)."""
DELTA_MAX_FRACTION = 0.1
DELTA_MIN_VECTORS = 5_000
"""Delta parts hold at most ``max(DELTA_MIN_VECTORS, DELTA_MAX_FRACTION * main part size)`` vectors; the
build that would exceed either limit merges them into the main index (appending or retraining)."""
APPEND_RETRAIN_FRACTION = 0.2
"""An approximate index takes appended vectors (no retraining) until they exceed this share of the
vectors it was trained on; the build after that trains a new one. Its SQ8 ranges and (IVF) centroids
come from the training vectors, so many appended ones drift from them; HNSW's graph stays good.
The manifest's ``vector_params`` record ``trained`` (vectors trained on) and, since then, ``appended``
(vectors) and ``appends`` (builds)."""


def day_mask(days: np.ndarray, window: DayRange) -> np.ndarray:
    """Which units fall inside ``window`` (undated ones never do)."""
    mask = days > 0
    if window[0] is not None:
        mask &= days >= window[0]
    if window[1] is not None:
        mask &= days <= window[1]
    return mask


@runtime_checkable
class VectorStore(Protocol):
    """One generation's unit vectors, searchable by inner product (= cosine: they are unit vectors)."""

    kind: str
    """What index this is, recorded in the manifest (``flat-ip``, ``hnsw-sq8-ip``, ``milvus-…``)."""
    params: dict[str, Any]
    """Its parameters, recorded in the manifest (and enough for the backend to open it again)."""

    @property
    def size(self) -> int:
        """Number of vectors held."""
        ...

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        ...

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None, *, days: DayRange | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` (unit id, cosine), best first; ``allowed`` ids or a ``days`` window filter inside."""
        ...

    def vectors(self, ids: np.ndarray | None = None) -> np.ndarray:
        """The stored vectors (all, or those of ``ids``, in that order) as float32."""
        ...

    def save(self, directory: Path) -> None:
        """Write what the generation directory must hold (nothing for a remote store)."""
        ...


class VectorBackend(Protocol):
    """Makes, opens and retires the vector stores of an index directory."""

    name: str

    def build(self, vectors: np.ndarray, days: np.ndarray, articles: Sequence[str]) -> VectorStore:
        """A new store holding ``vectors`` in row order, with each unit's article date and id."""
        ...

    def load(self, directory: Path, kind: str, params: dict[str, Any], days: np.ndarray) -> VectorStore:
        """Open the store a generation recorded (its directory, manifest kind and params)."""
        ...

    def extend(self, previous: VectorStore, vectors: np.ndarray, days: np.ndarray) -> VectorStore | None:
        """A new store: ``previous`` as it is plus ``vectors`` as ids n.. in a part of their own (nothing
        of ``previous`` is rewritten), ``days`` for all units; None when the backend cannot or its merge
        policy says the parts should be merged now (then :meth:`append`)."""
        ...

    def append(self, previous: VectorStore, vectors: np.ndarray, days: np.ndarray) -> VectorStore | None:
        """A new store in one part: ``previous`` plus ``vectors`` as ids n.., without retraining its
        approximate index; None when it cannot (then build). ``previous`` keeps serving until the swap."""
        ...

    def retire(self, keep: Sequence[dict[str, Any]]) -> None:
        """Drop stored generations other than those whose params are in ``keep``."""
        ...


def make_backend(config: VectorConfig, root: Path) -> VectorBackend:
    """The backend ``config`` names; ``root`` is the index directory (Milvus Lite's default home)."""
    if config.backend == "faiss":
        return FaissBackend(config)
    if config.backend == "milvus":
        return MilvusBackend(config, root)
    raise ValueError(f"unknown vector backend '{config.backend}' (use faiss or milvus)")


# -- FAISS -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _omp_threads(n: int) -> Iterator[None]:
    """Run FAISS with ``n`` OpenMP threads in this thread (the setting is per calling thread)."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(max(1, n))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class FaissVectors:
    """Unit vectors in a FAISS index: exact ``IndexFlatIP``, or HNSW/IVF over 8-bit scalar codes.

    An approximate index keeps the float16 vectors beside it (memory-mapped): they rescore its
    candidates (so scores are cosines, not code approximations), answer ``vectors(ids)`` exactly, and
    serve filtered searches that allow so few units that scanning them beats the graph.
    """

    kind = FLAT

    def __init__(
        self,
        index: Any,
        days: np.ndarray | None = None,
        *,
        kind: str = FLAT,
        params: dict[str, Any] | None = None,
        raw: np.ndarray | None = None,
        threads: int = 1,
    ) -> None:
        self._index = index
        self.kind = kind
        self.params = dict(params or {"type": "flat"})
        self._raw = raw
        self.threads = threads
        self.days = days if days is not None else np.zeros(int(index.ntotal), dtype=np.int64)

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        dimension: int,
        days: np.ndarray | None = None,
        *,
        ann: str | None = None,
        params: dict[str, Any] | None = None,
        threads: int = 1,
    ) -> FaissVectors:
        """An index holding ``vectors`` in row order: exact, or ``ann`` ("hnsw"/"ivf") trained on them."""
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if ann is None:
            index = faiss.IndexFlatIP(dimension)
            if len(vectors):
                index.add(vectors)
            return cls(index, days, threads=threads)
        if ann not in ANN_DEFAULTS:
            raise ValueError(f"unknown approximate index '{ann}' (use hnsw or ivf)")
        chosen = {**ANN_DEFAULTS[ann], **(params or {})}
        with _omp_threads(len(os.sched_getaffinity(0))):
            if ann == "hnsw":
                index = faiss.IndexHNSWSQ(
                    dimension, faiss.ScalarQuantizer.QT_8bit, int(chosen["M"]), faiss.METRIC_INNER_PRODUCT
                )
                index.hnsw.efConstruction = int(chosen["ef_construction"])
                index.train(vectors)
            else:
                nlist = int(chosen["nlist"]) or max(1, min(65_536, int(4 * np.sqrt(len(vectors)))))
                chosen["nlist"] = nlist
                quantizer = faiss.IndexFlatIP(dimension)
                index = faiss.IndexIVFScalarQuantizer(
                    quantizer, dimension, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
                )
                index.cp.max_points_per_centroid = 64  # k-means on a sample: 64 points per list
                index.train(vectors)
            index.add(vectors)
        kind = f"{ann}-sq8-ip"
        keep = len(vectors) <= int(chosen["float16_max"])
        if ann == "ivf" and not keep:
            index.make_direct_map()  # decoding stored vectors by id (no float16 copies to read them from)
        params = {"type": ann, **chosen, "float16": keep, "trained": len(vectors), "appended": 0, "appends": 0}
        return cls(index, days, kind=kind, params=params, raw=vectors.astype(np.float16) if keep else None)

    @classmethod
    def appended(cls, base: FaissVectors, vectors: np.ndarray, days: np.ndarray, *, threads: int = 1) -> FaissVectors:
        """``base`` (an approximate index) plus ``vectors``, no retraining.

        The index is copied whole into memory (``base``, maybe memory-mapped from the live generation,
        is not touched) and the new vectors are added with the SQ8 quantizer it was trained with.
        """
        import faiss

        if base.kind == FLAT or vectors.shape[1:] != (base.dimension,):
            raise ValueError("only an approximate index takes appended vectors")
        # A private, owned copy: adding to a memory-mapped index (or a clone of one) aborts FAISS.
        index = faiss.deserialize_index(faiss.serialize_index(base._index))
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with _omp_threads(len(os.sched_getaffinity(0))):
            if len(vectors):
                index.add(vectors)
        if base._raw is None and hasattr(index, "make_direct_map"):
            index.make_direct_map()
        raw = None if base._raw is None else np.concatenate([base._raw, vectors.astype(np.float16)])
        params = {
            **base.params,
            "trained": int(base.params.get("trained", base.size)),
            "appended": int(base.params.get("appended", 0)) + len(vectors),
            "appends": int(base.params.get("appends", 0)) + 1,
        }
        return cls(index, days, kind=base.kind, params=params, raw=raw, threads=threads)

    @classmethod
    def load(
        cls,
        directory: Path,
        days: np.ndarray | None = None,
        *,
        name: str = "vectors",
        kind: str = FLAT,
        params: dict[str, Any] | None = None,
        mmap: bool = True,
        threads: int = 1,
    ) -> FaissVectors:
        """Read ``<name>.faiss`` as this project wrote it (never one from elsewhere: unsafe), mapped if asked."""
        import faiss

        path = Path(directory) / f"{name}{FAISS_SUFFIX}"
        index = None
        if mmap:
            with contextlib.suppress(RuntimeError):  # index types FAISS cannot map are read whole
                index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        if index is None:
            index = faiss.read_index(str(path))
        raw = None
        if kind != FLAT and (params or {}).get("float16", True):
            raw = np.load(Path(directory) / f"{name}{RAW_SUFFIX}", mmap_mode="r" if mmap else None)
            if raw.shape != (index.ntotal, index.d):
                raise ValueError(f"{name}{RAW_SUFFIX} holds {raw.shape}, the index {index.ntotal} vectors")
        return cls(index, days, kind=kind, params=params, raw=raw, threads=threads)

    def files(self, name: str) -> list[str]:
        """The file names :meth:`save` writes under ``name``."""
        return [f"{name}{FAISS_SUFFIX}"] + ([f"{name}{RAW_SUFFIX}"] if self._raw is not None else [])

    def save(self, directory: Path, name: str = "vectors") -> None:
        """Write the index (and, for an approximate one, the float16 vectors) as ``<name>.*`` in ``directory``."""
        import faiss

        faiss.write_index(self._index, str(Path(directory) / f"{name}{FAISS_SUFFIX}"))
        if self._raw is not None:
            np.save(Path(directory) / f"{name}{RAW_SUFFIX}", self._raw)

    @property
    def size(self) -> int:
        """Number of vectors held."""
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        return int(self._index.d)

    def vectors(self, ids: np.ndarray | None = None) -> np.ndarray:
        """The stored vectors (all, or those of ``ids``), for reuse in an incremental build and rescoring."""
        if ids is not None and len(ids) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._raw is not None:
            rows = self._raw if ids is None else self._raw[np.asarray(ids, dtype=np.int64)]
            return np.asarray(rows, dtype=np.float32)
        if ids is None:
            return self._index.reconstruct_n(0, self.size)
        return self._index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None, *, days: DayRange | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` (id, cosine) for one query vector; ``allowed`` or ``days`` restrict ids inside FAISS."""
        import faiss

        if self.size == 0 or k <= 0:
            return []
        mask = None
        if days is not None:
            mask = day_mask(self.days, days)
        elif allowed is not None:
            mask = np.zeros(self.size, dtype=bool)
            mask[np.asarray(allowed, dtype=np.int64)] = True
        count = self.size if mask is None else int(np.count_nonzero(mask))
        if count == 0:
            return []
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        bits = selector = None
        if mask is not None:
            if self.kind != FLAT and count <= int(self.params["exact_below"]):
                return self._rescore(query[0], np.flatnonzero(mask), k)  # few units: scanning them is faster
            bits = np.packbits(mask, bitorder="little")
            selector = faiss.IDSelectorBitmap(self.size, faiss.swig_ptr(bits))
        if self.kind == FLAT:
            params = faiss.SearchParameters(sel=selector) if selector is not None else None
            with _omp_threads(self.threads):
                scores, ids = self._index.search(query, min(k, self.size), params=params)
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        refine = max(1, int(self.params["refine"])) if self._raw is not None else 1
        fetch = min(self.size, k * refine)
        # A filter that lets few units through needs a proportionally wider search to find k of them.
        boost = min(16.0, self.size / count)
        if self.params["type"] == "hnsw":
            ef = int(max(int(self.params["ef_search"]), fetch) * boost)
            params = faiss.SearchParametersHNSW(efSearch=ef, sel=selector)
        else:
            nprobe = min(int(self._index.nlist), int(int(self.params["nprobe"]) * boost))
            params = faiss.SearchParametersIVF(nprobe=nprobe, sel=selector)
        with _omp_threads(self.threads):
            scores, ids = self._index.search(query, fetch, params=params)
        del bits  # the selector reads it until here
        found = ids[0][ids[0] >= 0]
        if mask is not None and len(found) < min(k, count):
            return self._rescore(query[0], np.flatnonzero(mask), k)  # a filter the graph could not satisfy
        if self._raw is None:  # no float16 copies: the 8-bit codes' scores as they are
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        return self._rescore(query[0], found, k)

    def _rescore(self, query: np.ndarray, ids: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Cosines of ``ids`` from the stored vectors (float16, else decoded codes); the best ``k``."""
        scores = np.empty(len(ids), dtype=np.float32)
        for at in range(0, len(ids), 65_536):
            part = ids[at : at + 65_536]
            scores[at : at + len(part)] = self.vectors(part) @ query
        top = np.argsort(-scores, kind="stable")[:k] if len(ids) > k else np.argsort(-scores, kind="stable")
        return [(int(ids[i]), float(scores[i])) for i in top]


class FaissSegments:
    """The FAISS store of a generation: a main part (exact, or approximate) and small exact delta parts.

    A build that only adds articles puts their vectors in a new delta part and links the other parts'
    files into the new generation unchanged, so adding one article to a large index writes kilobytes,
    not the whole index. Unit ids run through the parts in order; a search asks every part and merges
    their cosines (exact, or rescored from the stored vectors: comparable across parts).
    """

    def __init__(
        self,
        parts: Sequence[FaissVectors],
        names: Sequence[str],
        days: np.ndarray | None = None,
        sources: Sequence[Path | None] | None = None,
    ) -> None:
        self.parts = list(parts)
        self.names = list(names)
        self.sources: list[Path | None] = list(sources) if sources is not None else [None] * len(self.parts)
        self.offsets = np.cumsum([0] + [p.size for p in self.parts])
        total = int(self.offsets[-1])
        self.days = days if days is not None else np.zeros(total, dtype=np.int64)
        if len(self.days) != total:
            raise ValueError(f"{len(self.days)} unit dates for {total} vectors")
        for part, at in zip(self.parts, self.offsets, strict=False):
            part.days = self.days[at : at + part.size]
        self.kind = self.parts[0].kind if self.parts else FLAT

    @property
    def params(self) -> dict[str, Any]:
        """The main part's parameters, plus every part's name, kind, parameters and size."""
        main = dict(self.parts[0].params) if self.parts else {"type": "flat"}
        listed = [
            {"name": n, "kind": p.kind, "params": dict(p.params), "size": p.size}
            for n, p in zip(self.names, self.parts, strict=True)
        ]
        return {**main, "parts": listed}

    @property
    def size(self) -> int:
        """Number of vectors held."""
        return int(self.offsets[-1])

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        return self.parts[0].dimension if self.parts else 0

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None, *, days: DayRange | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` (id, cosine) over all parts; ``allowed`` or ``days`` restrict ids inside each part."""
        if len(self.parts) == 1:
            return self.parts[0].search(query, k, allowed, days=days)
        found: list[tuple[int, float]] = []
        wanted = None if allowed is None else np.asarray(allowed, dtype=np.int64)
        for part, at in zip(self.parts, self.offsets, strict=False):
            local = None
            if wanted is not None:
                local = wanted[(wanted >= at) & (wanted < at + part.size)] - at
                if not len(local):
                    continue
            found.extend((int(i) + int(at), s) for i, s in part.search(query, k, local, days=days))
        found.sort(key=lambda hit: -hit[1])
        return found[:k]

    def vectors(self, ids: np.ndarray | None = None) -> np.ndarray:
        """The stored vectors (all, or those of ``ids``, in that order) as float32."""
        if ids is None:
            return np.vstack([p.vectors() for p in self.parts]) if self.parts else np.zeros((0, 0), np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        if len(self.parts) == 1:
            return self.parts[0].vectors(ids)
        out = np.zeros((len(ids), self.dimension), dtype=np.float32)
        which = np.searchsorted(self.offsets, ids, side="right") - 1
        for number in np.unique(which):
            rows = np.flatnonzero(which == number)
            out[rows] = self.parts[number].vectors(ids[rows] - self.offsets[number])
        return out

    def save(self, directory: Path) -> None:
        """Link the parts already on disk into ``directory`` and write the new ones."""
        for name, part, source in zip(self.names, self.parts, self.sources, strict=True):
            if source is not None and all((source / f).is_file() for f in part.files(name)):
                for file in part.files(name):
                    os.link(source / file, Path(directory) / file)
            else:
                part.save(directory, name)


def _part_name() -> str:
    return f"vectors-{uuid.uuid4().hex[:12]}"


class FaissBackend:
    """FAISS in this process: exact up to ``config.exact_max`` vectors, approximate above, deltas between."""

    name = "faiss"

    def __init__(self, config: VectorConfig) -> None:
        self.config = config

    def _single(self, vectors: np.ndarray, days: np.ndarray) -> FaissVectors:
        dimension = vectors.shape[1]
        if len(vectors) <= self.config.exact_max:
            return FaissVectors.build(vectors, dimension, days, threads=self.config.threads)
        params = {k: v for k, v in self.config.params.items() if k in ANN_DEFAULTS[self.config.ann]}
        log.info("training a %s index on %d vectors", self.config.ann, len(vectors))
        return FaissVectors.build(
            vectors, dimension, days, ann=self.config.ann, params=params, threads=self.config.threads
        )

    def build(self, vectors: np.ndarray, days: np.ndarray, articles: Sequence[str] = ()) -> FaissSegments:
        """One part: exact below the threshold, else the configured approximate index trained on ``vectors``."""
        return FaissSegments([self._single(vectors, days)], [_part_name()], days)

    def _compatible(self, main: FaissVectors, total: int) -> bool:
        """Whether the main part is still the index the configuration asks for at ``total`` vectors."""
        if main.kind == FLAT:
            return total <= self.config.exact_max
        if main.params.get("type") != self.config.ann or self.config.ann not in ANN_DEFAULTS:
            return False
        built = {k: v for k, v in self.config.params.items() if k in ANN_DEFAULTS[self.config.ann]}
        # M, ef_construction, nlist changed: only a new index has them (nlist 0: automatic).
        return not any(k not in SEARCH_PARAMS and v and main.params.get(k) != v for k, v in built.items())

    def extend(self, previous: VectorStore, vectors: np.ndarray, days: np.ndarray) -> FaissSegments | None:
        """``previous`` plus a new exact delta part holding ``vectors``, within the delta limits."""
        if not isinstance(previous, FaissSegments) or not previous.parts or not len(vectors):
            return None
        main, deltas = previous.parts[0], previous.parts[1:]
        in_deltas = sum(p.size for p in deltas) + len(vectors)
        limit = max(DELTA_MIN_VECTORS, DELTA_MAX_FRACTION * main.size)
        if len(deltas) + 1 > DELTA_MAX_PARTS or in_deltas > limit or not self._compatible(main, len(days)):
            log.info("merging %d delta parts (%d vectors) into the main index", len(deltas) + 1, in_deltas)
            return None
        part = FaissVectors.build(vectors, vectors.shape[1], threads=self.config.threads)
        return FaissSegments(
            [*previous.parts, part], [*previous.names, _part_name()], days, [*previous.sources, None]
        )

    def append(self, previous: VectorStore, vectors: np.ndarray, days: np.ndarray) -> FaissSegments | None:
        """One part: the main approximate index with the delta parts' vectors and ``vectors`` added to it.

        None (train a new index) when the main index is exact, the configuration asks for another
        index type or other build parameters, the total fits the exact index, or the vectors appended
        since training would exceed ``APPEND_RETRAIN_FRACTION`` of those it was trained on. An exact
        index is simply rebuilt: copying its vectors costs about what reading its file does.
        """
        if not isinstance(previous, FaissSegments) or not previous.parts:
            return None
        main = previous.parts[0]
        total = len(days)
        if main.kind == FLAT or total <= self.config.exact_max or not self._compatible(main, total):
            return None
        extra = np.vstack([p.vectors() for p in previous.parts[1:]] + [np.asarray(vectors, dtype=np.float32)])
        trained = int(main.params.get("trained", main.size))
        if int(main.params.get("appended", 0)) + len(extra) > APPEND_RETRAIN_FRACTION * trained:
            log.info(
                "retraining the %s index: appended vectors would exceed %.0f%% of the %d trained on",
                self.config.ann,
                100 * APPEND_RETRAIN_FRACTION,
                trained,
            )
            return None
        log.info("appending %d vectors to the %s index (trained on %d)", len(extra), self.config.ann, trained)
        part = FaissVectors.appended(main, extra, days, threads=self.config.threads)
        return FaissSegments([part], [_part_name()], days)

    def load(self, directory: Path, kind: str, params: dict[str, Any], days: np.ndarray) -> FaissSegments:
        """Open a generation's parts; search-time parameters (``ef_search``, ``nprobe``…) may be overridden."""
        listed = params.get("parts")
        if not isinstance(listed, list) or not listed:
            raise ValueError("the manifest lists no vector parts")
        parts, names, at = [], [], 0
        for entry in listed:
            part_kind = str(entry["kind"])
            part_params = dict(entry["params"])
            if part_kind != FLAT:
                part_params.update({k: v for k, v in self.config.params.items() if k in SEARCH_PARAMS})
            part = FaissVectors.load(
                directory,
                days[at : at + int(entry["size"])],
                name=str(entry["name"]),
                kind=part_kind,
                params=part_params,
                mmap=self.config.mmap,
                threads=self.config.threads,
            )
            if part.size != int(entry["size"]):
                raise ValueError(f"vector part {entry['name']} holds {part.size} vectors, not {entry['size']}")
            parts.append(part)
            names.append(str(entry["name"]))
            at += part.size
        return FaissSegments(parts, names, days, [Path(directory)] * len(parts))

    def retire(self, keep: Sequence[dict[str, Any]]) -> None:
        """Nothing: FAISS files live in the generation directories the index store removes."""


# -- Milvus ------------------------------------------------------------------------------------------

_MILVUS_BATCH = 4096


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
    ) -> None:
        self._client = client
        self._days = days
        self.collection = collection
        self._dimension = dimension
        self._size = size
        self.params = params
        self.kind = f"milvus-{str(params.get('index_type', 'FLAT')).lower()}"

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

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None, *, days: DayRange | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` (id, cosine); the date window or id list is a filter expression evaluated by Milvus."""
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
        )
        return [(int(hit["unit"]), float(hit["distance"])) for hit in result[0]]

    def vectors(self, ids: np.ndarray | None = None) -> np.ndarray:
        """The stored vectors of ``ids`` (or all), fetched from Milvus in batches."""
        wanted = np.arange(self._size, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        out = np.zeros((len(wanted), self._dimension), dtype=np.float32)
        unique = np.unique(wanted)
        found: dict[int, list[float]] = {}
        for at in range(0, len(unique), _MILVUS_BATCH):
            part = [int(i) for i in unique[at : at + _MILVUS_BATCH]]
            for row in self._client.query(self.collection, ids=part, output_fields=["vector"]):
                found[int(row["unit"])] = row["vector"]
        missing = [int(i) for i in unique if int(i) not in found]
        if missing:
            raise KeyError(f"Milvus collection {self.collection} lacks units {missing[:5]}")
        for row, unit in enumerate(wanted):
            out[row] = found[int(unit)]
        return out


def _wait_for_index(client: Any, collection: str, timeout: float = 3600.0) -> None:
    """Return once Milvus has indexed every row of ``collection`` (polling, quickly at first)."""
    delay, waited = 0.01, 0.0
    while True:
        info = client.describe_index(collection, "vector")
        if info.get("state", "Finished") == "Finished" or not info.get("pending_index_rows"):
            return
        if waited > timeout:
            raise TimeoutError(f"Milvus has not indexed collection {collection} after {timeout:.0f} s")
        time.sleep(delay)
        waited += delay
        delay = min(delay * 2, 2.0)


class MilvusBackend:
    """Milvus (a cluster, or Milvus Lite in-process from a local ``.db`` path), one collection per generation."""

    name = "milvus"

    def __init__(self, config: VectorConfig, root: Path) -> None:
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
            from pymilvus import MilvusClient

            if "://" not in self.uri:
                Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
            self._client = MilvusClient(uri=self.uri, token=self.config.milvus_token)
        return self._client

    def build(self, vectors: np.ndarray, days: np.ndarray, articles: Sequence[str]) -> MilvusVectors:
        """A new collection holding the units; exact (FLAT) below the size threshold, HNSW above."""
        from pymilvus import DataType, MilvusClient

        client = self.client
        n, dimension = vectors.shape
        name = f"{self.prefix}{uuid.uuid4().hex[:12]}"
        params: dict[str, Any] = {"collection": name, "index_type": "FLAT"}
        if n > self.config.exact_max:
            hnsw = ANN_DEFAULTS["hnsw"]
            chosen = {k: self.config.params.get(k, hnsw[k]) for k in ("M", "ef_construction", "ef_search")}
            params = {**params, "index_type": "HNSW", **chosen}
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("unit", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dimension))
        schema.add_field("day", DataType.INT64)
        schema.add_field("article", DataType.VARCHAR, max_length=65_535)
        client.create_collection(name, schema=schema, consistency_level="Strong")
        log.info("writing %d vectors to Milvus collection %s", n, name)
        for at in range(0, n, _MILVUS_BATCH):
            rows = [
                {"unit": i, "vector": vectors[i].tolist(), "day": int(days[i]), "article": articles[i]}
                for i in range(at, min(n, at + _MILVUS_BATCH))
            ]
            client.insert(name, rows)
        client.flush(name)
        index = client.prepare_index_params()
        build: dict[str, Any] = {}
        if params["index_type"] == "HNSW":
            build = {"M": params["M"], "efConstruction": params["ef_construction"]}
        index.add_index(field_name="vector", index_type=params["index_type"], metric_type="IP", params=build)
        client.create_index(name, index, sync=False)  # pymilvus's own wait polls every 0.5 s
        _wait_for_index(client, name)
        client.load_collection(name)
        return MilvusVectors(client, name, int(dimension), n, params, days)

    def extend(self, previous: VectorStore, vectors: np.ndarray, days: np.ndarray) -> None:
        """None: every Milvus generation is a new collection (inserting into the live one is not done)."""
        return None

    def append(self, previous: VectorStore, vectors: np.ndarray, days: np.ndarray) -> None:
        """None: every Milvus generation is a new collection (inserting into the live one is not done)."""
        return None

    def load(self, directory: Path, kind: str, params: dict[str, Any], days: np.ndarray) -> MilvusVectors:
        """Open the collection a generation recorded; missing or short is damage."""
        name = str(params["collection"])
        client = self.client
        if not client.has_collection(name):
            raise LookupError(f"Milvus collection {name} is missing")
        client.load_collection(name)
        rows = int(client.get_collection_stats(name)["row_count"])
        if rows != len(days):
            raise ValueError(f"Milvus collection {name} holds {rows} vectors, the index {len(days)}")
        dimension = next(
            int(f["params"]["dim"]) for f in client.describe_collection(name)["fields"] if f["name"] == "vector"
        )
        searched = {**params, **{k: v for k, v in self.config.params.items() if k in SEARCH_PARAMS}}
        return MilvusVectors(client, name, dimension, rows, searched, days)

    def retire(self, keep: Sequence[dict[str, Any]]) -> None:
        """Drop this index's collections that no kept generation records (old or from failed builds)."""
        client = self.client
        kept = {str(p.get("collection")) for p in keep}
        for name in client.list_collections():
            if name.startswith(self.prefix) and name not in kept and len(name) == len(self.prefix) + 12:
                log.info("dropping Milvus collection %s", name)
                client.drop_collection(name)
