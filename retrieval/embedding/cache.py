"""An embedding cache: sentences this model already embedded are read back instead of embedded again.

Rebuilding an index from the same articles (``index --full``, a new index format, other search
settings) re-embeds every sentence, which is most of a build's time. With a cache the vectors of
texts seen before come from a SQLite file keyed by the model and a hash of the text; only new
texts reach the model. Single texts (questions) bypass it.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from retrieval.embedding.base import Embedder, ProgressFn, embedding_info

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS vectors (model TEXT, key BLOB, vector BLOB, PRIMARY KEY (model, key))"
_BATCH = 500


def text_key(text: str) -> bytes:
    """The cache key of a text: 16 bytes of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]


class CachedEmbedder:
    """Wraps an embedder with an on-disk cache of the vectors it computed (bulk calls only)."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.max_tokens = inner.max_tokens
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    @property
    def info(self) -> dict[str, str]:
        """The wrapped embedder's backend and precision."""
        return embedding_info(self.inner)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors of ``keys`` (those it has)."""
        found: dict[bytes, np.ndarray] = {}
        with self._connect() as conn:
            for at in range(0, len(keys), _BATCH):
                chunk = list(keys[at : at + _BATCH])
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT key, vector FROM vectors WHERE model = ? AND key IN ({marks})", [self.name, *chunk]
                )
                for key, blob in rows:
                    found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
        return found

    def store(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Remember ``vectors`` under ``keys``."""
        rows = [
            (self.name, key, np.asarray(v, dtype=np.float32).tobytes()) for key, v in zip(keys, vectors, strict=True)
        ]
        with self._lock, self._connect() as conn:
            conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)

    def encode(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        """Cached vectors where known, the model's for the rest (which are then cached)."""
        if len(texts) < 2:
            return self.inner.encode(texts, progress)
        keys = [text_key(t) for t in texts]
        known = self.lookup(keys)
        missing = [i for i, key in enumerate(keys) if key not in known]
        if progress is not None and len(texts) > len(missing):
            progress(len(texts) - len(missing))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if missing:
            fresh = self.inner.encode([texts[i] for i in missing], progress)
            self.store([keys[i] for i in missing], fresh)
            out[missing] = fresh
        for i, key in enumerate(keys):
            if key in known:
                out[i] = known[key]
        log.info("embedding cache: %d of %d texts known", len(texts) - len(missing), len(texts))
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """The wrapped embedder's token counts."""
        return self.inner.count_tokens(texts)
