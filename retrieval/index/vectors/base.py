"""What every vector backend provides: the ``VectorStore`` and ``VectorBackend`` protocols, what a backend
can do (``Capabilities``), how it grows (``Growth``), parameter checks and date windows.

A store holds one unit vector per sentence ("unit"), ids 0..n-1, each unit's article date as a
proleptic ordinal (0 when undated) and, where the backend keeps tombstones, which units are live, so
a date filter and deletions are applied inside the search, never after it.
A ``VectorBackend`` makes one store per index generation, opens it again, and retires old ones.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from retrieval.errors import SettingError
from retrieval.index.manifest import VectorPart
from retrieval.types import DateRange

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
PARAM_LIMITS: dict[str, tuple[int, int | None]] = {
    "M": (2, 2048),
    "ef_construction": (1, None),
    "ef_search": (1, None),
    "refine": (1, None),
    "exact_below": (0, None),
    "float16_max": (0, None),
    "nlist": (0, None),
    "nprobe": (1, None),
}
"""Each vector index parameter's range (inclusive; None: no upper bound). ``nlist`` 0 is automatic."""


def check_params(params: Mapping[str, Any], known: Iterable[str], index: str) -> dict[str, int]:
    """``params`` as whole numbers if each is a parameter of ``index`` within its range, else a one-line
    SettingError naming the first that is not (so FAISS or Milvus never sees it)."""
    allowed = sorted(known)
    for name, value in params.items():
        if name not in allowed:
            raise SettingError(
                f"'{name}' is not a parameter of the {index} vector index (it takes {', '.join(allowed)})",
                "vector_params",
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise SettingError(
                f"vector index parameter '{name}' must be a whole number, not {value!r}", "vector_params"
            )
        low, high = PARAM_LIMITS[name]
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            raise SettingError(f"vector index parameter '{name}' must be {bounds} (got {value})", "vector_params")
    return {name: int(value) for name, value in params.items()}


def window(dates: DateRange | DayRange | None) -> DayRange | None:
    """A date filter as inclusive ordinals (via ``DateRange.days()``); None when nothing is filtered."""
    if dates is None:
        return None
    if isinstance(dates, DateRange):
        return dates.days() if dates.active else None
    return dates


def day_mask(days: np.ndarray, dates: DateRange | DayRange) -> np.ndarray:
    """Which units fall inside the window (undated ones never do)."""
    since, until = window(dates) or (None, None)
    mask = days > 0
    if since is not None:
        mask &= days >= since
    if until is not None:
        mask &= days <= until
    return mask


@dataclass(frozen=True)
class Capabilities:
    """What a vector backend can do: the indexer asks this instead of testing types or names."""

    delta_parts: bool
    """``extend``: new vectors in a part of their own beside the others (nothing rewritten)."""
    append: bool
    """``append``: vectors added to a trained approximate index without training it again."""
    reopen: bool
    """``load(reuse=...)``: parts already open are shared with the next generation, not read again."""
    tombstones: bool
    """Searches skip deleted units inside the index (``live``), so a removal needs no rebuild."""
    local_files: bool
    """The vectors are files in the generation directory (linked between generations, checksummed)."""


class Growth(enum.Enum):
    """How a backend takes new vectors (``VectorBackend.growth``)."""

    DELTA = "delta"
    """A new part beside the others."""
    APPEND = "append"
    """Into the trained main index, with the delta parts' vectors: one part."""
    REBUILD = "rebuild"
    """A new index over every vector."""


@runtime_checkable
class VectorStore(Protocol):
    """One generation's unit vectors, searchable by inner product (= cosine: they are unit vectors)."""

    kind: str
    """What index this is, recorded in the manifest (``flat-ip``, ``hnsw-sq8-ip``, ``milvus-…``)."""

    @property
    def params(self) -> dict[str, Any]:
        """Its parameters, recorded in the manifest (and enough for the backend to open it again)."""
        ...

    @property
    def size(self) -> int:
        """Number of vectors held."""
        ...

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        ...

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        *,
        days: DayRange | DateRange | None = None,
    ) -> list[tuple[int, float]]:
        """Top ``k`` (unit id, cosine) of live units, best first; ``allowed`` ids or a ``days`` window
        filter inside the search."""
        ...

    def vectors(self, ids: np.ndarray | None = None) -> np.ndarray:
        """The stored vectors (all, or those of ``ids``, in that order) as float32."""
        ...

    def save(self, directory: Path) -> None:
        """Write what the generation directory must hold (nothing for a remote store)."""
        ...

    def part_records(self) -> tuple[VectorPart, ...]:
        """The parts to record in the manifest (none for a remote store)."""
        ...


class VectorBackend(Protocol):
    """Makes, opens and retires the vector stores of an index directory."""

    name: str
    capabilities: Capabilities

    def build(self, vectors: np.ndarray, days: np.ndarray, articles: Sequence[str]) -> VectorStore:
        """A new store holding ``vectors`` in row order, with each unit's article date and id."""
        ...

    def growth(self, previous: VectorStore, added: int, total: int) -> Growth:
        """How ``added`` new vectors (``total`` with them) would join ``previous``."""
        ...

    def extend(
        self, previous: VectorStore, vectors: np.ndarray, days: np.ndarray, articles: Sequence[str] = ()
    ) -> VectorStore:
        """``previous`` as it is plus ``vectors`` as ids n.. in a part of their own (nothing of
        ``previous`` is rewritten), ``days`` for all units, ``articles`` the new units' article ids;
        when ``growth`` says DELTA."""
        ...

    def append(self, previous: VectorStore, vectors: np.ndarray, days: np.ndarray) -> VectorStore:
        """One part: ``previous`` plus ``vectors`` as ids n.., its approximate index not trained again;
        when ``growth`` says APPEND. ``previous`` keeps serving until the swap."""
        ...

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
    ) -> VectorStore:
        """Open the store a generation recorded; ``live`` marks units not tombstoned (None: all),
        ``reuse`` is a store already open whose same-named parts may be shared (``capabilities.reopen``)."""
        ...

    def retire(self, keep: Sequence[dict[str, Any]]) -> None:
        """Drop stored generations other than those whose params are in ``keep``."""
        ...
