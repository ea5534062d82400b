"""The FAISS vector backend (the default): exact or approximate indexes in this process, one file per part."""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.config import VectorConfig
from retrieval.errors import SettingError
from retrieval.index.arrays import load_npy
from retrieval.index.manifest import VectorPart
from retrieval.index.vectors.base import (
    ANN_DEFAULTS,
    FLAT,
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

FAISS_SUFFIX = ".faiss"
RAW_SUFFIX = ".f16.npy"
"""Beside an approximate index (``<part>.f16.npy``): the vectors themselves (float16), for rescoring and reuse."""

DELTA_MAX_PARTS = 8
"""At most this many delta parts (exact indexes of vectors added since the main index was written)."""
DELTA_MAX_FRACTION = 0.1
DELTA_MIN_VECTORS = 5_000
"""Delta parts hold at most ``max(DELTA_MIN_VECTORS, DELTA_MAX_FRACTION * main part size)`` vectors; the
build that would exceed either limit merges them into the main index (appending or retraining)."""
IVF_MIN_POINTS = 39
"""FAISS's k-means wants at least this many training vectors per IVF list (it warns below it): a
configured ``nlist`` larger than the vectors allow is lowered to fit, with a warning."""
APPEND_RETRAIN_FRACTION = 0.2
"""An approximate index takes appended vectors (no retraining) until they exceed this share of the
vectors it was trained on; the build after that trains a new one. Its SQ8 ranges and (IVF) centroids
come from the training vectors, so many appended ones drift from them; HNSW's graph stays good.
The manifest's ``vector_params`` record ``trained`` (vectors trained on) and, since then, ``appended``
(vectors) and ``appends`` (builds)."""


def _faiss() -> Any:
    """The faiss module, untyped: its bundled stubs lack most index classes and search parameters."""
    import faiss

    return faiss


@contextlib.contextmanager
def _omp_threads(n: int) -> Iterator[None]:
    """Run FAISS with ``n`` OpenMP threads in this thread (the setting is per calling thread)."""
    faiss = _faiss()
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
        live: np.ndarray | None = None,
    ) -> None:
        self._index = index
        self.kind = kind
        self.params = dict(params or {"type": "flat"})
        self._raw = raw
        self.threads = threads
        self.days = days if days is not None else np.zeros(int(index.ntotal), dtype=np.int64)
        self.live = live if live is not None and not live.all() else None
        """Which units are not tombstoned (None: all are)."""

    def view(self, days: np.ndarray, live: np.ndarray | None = None) -> FaissVectors:
        """The same index (shared, not copied) with these unit dates and tombstones."""
        return FaissVectors(
            self._index, days, kind=self.kind, params=self.params, raw=self._raw, threads=self.threads, live=live
        )

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
        faiss = _faiss()

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
                nlist = _fit_nlist(int(chosen["nlist"]), len(vectors))
                chosen["nlist"] = nlist
                quantizer = faiss.IndexFlatIP(dimension)
                index = faiss.IndexIVFScalarQuantizer(
                    quantizer, dimension, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
                )
                index.cp.max_points_per_centroid = 64  # k-means on a sample: 64 points per list
                # (nlist fits the vectors; below 39 of them FAISS would still print a warning for its one list)
                index.cp.min_points_per_centroid = min(IVF_MIN_POINTS, max(1, len(vectors) // nlist))
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
        faiss = _faiss()

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
        faiss = _faiss()

        path = Path(directory) / f"{name}{FAISS_SUFFIX}"
        index = None
        if mmap:
            with contextlib.suppress(RuntimeError):  # index types FAISS cannot map are read whole
                index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        if index is None:
            index = faiss.read_index(str(path))
        raw = None
        if kind != FLAT and (params or {}).get("float16", True):
            raw = load_npy(Path(directory) / f"{name}{RAW_SUFFIX}", mmap=mmap)
            if raw.shape != (index.ntotal, index.d):
                raise ValueError(f"{name}{RAW_SUFFIX} holds {raw.shape}, the index {index.ntotal} vectors")
        return cls(index, days, kind=kind, params=params, raw=raw, threads=threads)

    def files(self, name: str) -> list[str]:
        """The file names :meth:`save` writes under ``name``."""
        return [f"{name}{FAISS_SUFFIX}"] + ([f"{name}{RAW_SUFFIX}"] if self._raw is not None else [])

    def save(self, directory: Path, name: str = "vectors") -> None:
        """Write the index (and, for an approximate one, the float16 vectors) as ``<name>.*`` in ``directory``."""
        faiss = _faiss()

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
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        *,
        days: DayRange | DateRange | None = None,
    ) -> list[tuple[int, float]]:
        """Top ``k`` (id, cosine) of live units for one query; ``allowed`` or ``days`` restrict ids inside
        FAISS (an ID selector), as the tombstones do."""
        faiss = _faiss()

        if self.size == 0 or k <= 0:
            return []
        mask = None
        days = window(days)
        if days is not None:
            mask = day_mask(self.days, days)
        elif allowed is not None:
            mask = np.zeros(self.size, dtype=bool)
            mask[np.asarray(allowed, dtype=np.int64)] = True
        if self.live is not None:
            mask = self.live if mask is None else mask & self.live
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
        live: np.ndarray | None = None,
    ) -> None:
        self.names = list(names)
        self.sources: list[Path | None] = list(sources) if sources is not None else [None] * len(parts)
        self.offsets = np.cumsum([0] + [p.size for p in parts])
        total = int(self.offsets[-1])
        self.days = days if days is not None else np.zeros(total, dtype=np.int64)
        if len(self.days) != total or (live is not None and len(live) != total):
            raise ValueError(f"{len(self.days)} unit dates for {total} vectors")
        self.live = live
        self.parts = [
            part.view(self.days[at : at + part.size], None if live is None else live[at : at + part.size])
            for part, at in zip(parts, self.offsets, strict=False)
        ]
        self.kind = self.parts[0].kind if self.parts else FLAT

    @property
    def params(self) -> dict[str, Any]:
        """The main part's parameters."""
        return dict(self.parts[0].params) if self.parts else {"type": "flat"}

    def part_records(self) -> tuple[VectorPart, ...]:
        """Every part's name, kind, size and parameters, for the manifest."""
        return tuple(VectorPart(n, p.kind, p.size, dict(p.params)) for n, p in zip(self.names, self.parts, strict=True))

    @property
    def size(self) -> int:
        """Number of vectors held."""
        return int(self.offsets[-1])

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        return self.parts[0].dimension if self.parts else 0

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        *,
        days: DayRange | DateRange | None = None,
    ) -> list[tuple[int, float]]:
        """Top ``k`` (id, cosine) of live units over all parts; ``allowed`` or ``days`` restrict ids inside each."""
        days = window(days)
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


def _fit_nlist(nlist: int, n: int) -> int:
    """IVF lists for ``n`` training vectors: ``nlist`` (0: 4·√n), at most what FAISS can train well."""
    fit = max(1, n // IVF_MIN_POINTS)
    if nlist == 0:
        return max(1, min(65_536, int(4 * np.sqrt(n)), fit))
    if nlist > fit:
        log.warning(
            "vector index parameter nlist %d is more than %d vectors can train (%d per list): using %d",
            nlist,
            n,
            IVF_MIN_POINTS,
            fit,
        )
        return fit
    return nlist


class FaissBackend:
    """FAISS in this process: exact up to ``config.exact_max`` vectors, approximate above, deltas between."""

    name = "faiss"
    capabilities = Capabilities(delta_parts=True, append=True, reopen=True, tombstones=True, local_files=True)

    def __init__(self, config: VectorConfig) -> None:
        if config.ann not in ANN_DEFAULTS:
            raise SettingError(f"unknown approximate vector index '{config.ann}' (use hnsw or ivf)", "vector_ann")
        if config.exact_max < 0:
            raise SettingError(
                f"the exact search limit must be at least 0 (got {config.exact_max})", "vector_exact_max"
            )
        if config.threads < 1:
            raise SettingError(f"vector search threads must be at least 1 (got {config.threads})", "vector_threads")
        self.params = check_params(config.params, ANN_DEFAULTS[config.ann], config.ann)
        self.config = config

    def _single(self, vectors: np.ndarray, days: np.ndarray) -> FaissVectors:
        dimension = vectors.shape[1]
        if len(vectors) <= self.config.exact_max:
            return FaissVectors.build(vectors, dimension, days, threads=self.config.threads)
        log.info("training a %s index on %d vectors", self.config.ann, len(vectors))
        return FaissVectors.build(
            vectors, dimension, days, ann=self.config.ann, params=self.params, threads=self.config.threads
        )

    def build(self, vectors: np.ndarray, days: np.ndarray, articles: Sequence[str] = ()) -> FaissSegments:
        """One part: exact below the threshold, else the configured approximate index trained on ``vectors``."""
        return FaissSegments([self._single(vectors, days)], [_part_name()], days)

    def _compatible(self, main: FaissVectors, total: int) -> bool:
        """Whether the main part is still the index the configuration asks for at ``total`` vectors."""
        if main.kind == FLAT:
            return total <= self.config.exact_max
        if main.params.get("type") != self.config.ann:
            return False
        # M, ef_construction, nlist changed: only a new index has them (nlist 0: automatic).
        return not any(k not in SEARCH_PARAMS and v and main.params.get(k) != v for k, v in self.params.items())

    def growth(self, previous: VectorStore, added: int, total: int) -> Growth:
        """A delta part within the limits; else the main approximate index takes them all (appended)
        until appends pass ``APPEND_RETRAIN_FRACTION`` of what it was trained on; else a new index.

        An exact main index is simply rebuilt: copying its vectors costs about what reading its file does.
        """
        if not isinstance(previous, FaissSegments) or not previous.parts or not added:
            return Growth.REBUILD
        main, deltas = previous.parts[0], previous.parts[1:]
        in_deltas = sum(p.size for p in deltas) + added
        limit = max(DELTA_MIN_VECTORS, DELTA_MAX_FRACTION * main.size)
        if len(deltas) + 1 <= DELTA_MAX_PARTS and in_deltas <= limit and self._compatible(main, total):
            return Growth.DELTA
        log.info("merging %d delta parts (%d vectors) into the main index", len(deltas) + 1, in_deltas)
        if main.kind == FLAT or total <= self.config.exact_max or not self._compatible(main, total):
            return Growth.REBUILD
        trained = int(main.params.get("trained", main.size))
        if int(main.params.get("appended", 0)) + in_deltas > APPEND_RETRAIN_FRACTION * trained:
            log.info(
                "retraining the %s index: appended vectors would exceed %.0f%% of the %d trained on",
                self.config.ann,
                100 * APPEND_RETRAIN_FRACTION,
                trained,
            )
            return Growth.REBUILD
        return Growth.APPEND

    def extend(
        self, previous: VectorStore, vectors: np.ndarray, days: np.ndarray, articles: Sequence[str] = ()
    ) -> FaissSegments:
        """``previous`` plus a new exact delta part holding ``vectors``."""
        if not isinstance(previous, FaissSegments):
            raise TypeError("FAISS extends only a FAISS store")
        part = FaissVectors.build(vectors, vectors.shape[1], threads=self.config.threads)
        return FaissSegments([*previous.parts, part], [*previous.names, _part_name()], days, [*previous.sources, None])

    def append(self, previous: VectorStore, vectors: np.ndarray, days: np.ndarray) -> FaissSegments:
        """One part: the main approximate index with the delta parts' vectors and ``vectors`` added to it."""
        if not isinstance(previous, FaissSegments) or not previous.parts:
            raise TypeError("FAISS appends only to a FAISS store")
        main = previous.parts[0]
        extra = np.vstack([p.vectors() for p in previous.parts[1:]] + [np.asarray(vectors, dtype=np.float32)])
        trained = int(main.params.get("trained", main.size))
        log.info("appending %d vectors to the %s index (trained on %d)", len(extra), self.config.ann, trained)
        part = FaissVectors.appended(main, extra, days, threads=self.config.threads)
        return FaissSegments([part], [_part_name()], days)

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
    ) -> FaissSegments:
        """Open a generation's parts (those of ``reuse`` with the same name are shared, not read again);
        search-time parameters (``ef_search``, ``nprobe``…) may be overridden."""
        if not parts:
            raise ValueError("the manifest lists no vector parts")
        opened: dict[str, FaissVectors] = {}
        if isinstance(reuse, FaissSegments):
            opened = dict(zip(reuse.names, reuse.parts, strict=True))
        loaded, at = [], 0
        for entry in parts:
            part_params = dict(entry.params)
            if entry.kind != FLAT:
                part_params.update({k: v for k, v in self.params.items() if k in SEARCH_PARAMS})
            part = opened.get(entry.name)
            if part is None or part.size != entry.size or part.kind != entry.kind:
                part = FaissVectors.load(
                    directory,
                    name=entry.name,
                    kind=entry.kind,
                    params=part_params,
                    mmap=self.config.mmap,
                    threads=self.config.threads,
                )
            if part.size != entry.size:
                raise ValueError(f"vector part {entry.name} holds {part.size} vectors, not {entry.size}")
            loaded.append(part)
            at += part.size
        if at != len(days):
            raise ValueError(f"the vector parts hold {at} vectors, the index {len(days)}")
        names = [entry.name for entry in parts]
        return FaissSegments(loaded, names, days, [Path(directory)] * len(loaded), live)

    def retire(self, keep: Sequence[dict[str, Any]]) -> None:
        """Nothing: FAISS files live in the generation directories the index store removes."""
