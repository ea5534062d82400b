"""What every vector backend provides: the ``VectorStore`` and ``VectorBackend`` protocols, date windows.

A store holds one unit vector per sentence ("unit"), ids 0..n-1, and each unit's article date as a
proleptic ordinal (0 when undated), so a date filter runs inside the search, never after it.
A ``VectorBackend`` makes one store per index generation, opens it again, and retires old ones.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

log = logging.getLogger(__name__)

DayRange = tuple[int | None, int | None]
"""Inclusive (since, until) proleptic ordinals; either end open. Undated units never match."""

FLAT = "flat-ip"
ANN_DEFAULTS: dict[str, dict[str, int]] = {
    # Chosen by benchmarks/bench_vectors.py (see benchmarks/README.md): recall@10 >= 0.95 at 1M vectors.
    "hnsw": {
        "M": 32,
        "ef_construction": 64,
        "ef_search": 64,
        "refine": 2,
        "exact_below": 20_000,
        "float16_max": 500_000,
    },
    "ivf": {"nlist": 0, "nprobe": 128, "refine": 2, "exact_below": 20_000, "float16_max": 500_000},
}
"""``float16_max``: an approximate index of up to this many vectors keeps float16 copies beside it to
rescore candidates exactly; a larger one scores with its 8-bit codes alone (cosine error ~0.002),
which keeps a 1M-vector index at the size of its graph and codes (see benchmarks/README.md)."""
SEARCH_PARAMS = frozenset({"ef_search", "nprobe", "refine", "exact_below"})
"""Parameters that a setting may change on an index already built; the others need a rebuild."""


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
