"""The dense side of the index: a FAISS inner-product index over unit vectors, searched in place."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class FaissVectors:
    """Exact inner-product search over L2-normalised vectors whose ids are passage ids 0..n-1."""

    kind = "flat-ip"

    def __init__(self, index: object) -> None:
        self._index = index

    @classmethod
    def build(cls, vectors: np.ndarray, dimension: int) -> FaissVectors:
        """An index holding ``vectors`` in row order."""
        import faiss

        index = faiss.IndexFlatIP(dimension)
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)

    @classmethod
    def load(cls, path: Path) -> FaissVectors:
        """Read an index file this project wrote (never load one from elsewhere: unsafe)."""
        import faiss

        return cls(faiss.read_index(str(path)))

    def save(self, path: Path) -> None:
        """Write the index to ``path``."""
        import faiss

        faiss.write_index(self._index, str(path))

    @property
    def size(self) -> int:
        """Number of vectors held."""
        return int(self._index.ntotal)  # type: ignore[attr-defined]

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        return int(self._index.d)  # type: ignore[attr-defined]

    def vectors(self, ids: np.ndarray | None = None) -> np.ndarray:
        """The stored vectors (all, or those of ``ids``), for reuse in an incremental build."""
        if ids is None:
            return self._index.reconstruct_n(0, self.size)  # type: ignore[attr-defined]
        if len(ids) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._index.reconstruct_batch(np.asarray(ids, dtype=np.int64))  # type: ignore[attr-defined]

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (id, cosine) for one query vector; ``allowed`` restricts ids inside FAISS."""
        import faiss

        if self.size == 0 or k <= 0:
            return []
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed is not None:
            if len(allowed) == 0:
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed.astype(np.int64)))
        scores, ids = self._index.search(query, min(k, self.size), params=params)  # type: ignore[attr-defined]
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
