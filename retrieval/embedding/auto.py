"""``auto``: the ONNX embedder for questions and small updates, PyTorch bf16 for bulk where it is faster."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import numpy as np

from retrieval.config import EmbeddingConfig
from retrieval.embedding.base import ProgressFn, cpu_has_native_bf16
from retrieval.embedding.onnx_embedder import OnnxEmbedder
from retrieval.embedding.sentence_transformer import SentenceTransformerEmbedder

log = logging.getLogger(__name__)

BULK_TEXTS = 4096
"""``auto``: encode calls of at least this many texts go to PyTorch bf16 where the CPU has it.

Measured on 2 AMX cores: 280 sentences/s in bf16 against 214/s for ONNX int8, so PyTorch's ~4 s
import and load pays off from about 4,000 sentences (benchmarks/README.md, "Encoder benchmark")."""


class AutoEmbedder:
    """``NEWSDESK_EMBED_BACKEND=auto``: ONNX int8 for questions and small updates (fast start, fast
    single queries), and sentence-transformers in bfloat16 for bulk encoding on CPUs with native
    bf16 (AMX/AVX-512 BF16), loaded only when a large build needs it. Both are the same model;
    their vectors agree to a cosine of ~0.99 and share one index."""

    def __init__(self, config: EmbeddingConfig, onnx: OnnxEmbedder | None = None) -> None:
        self.config = config
        self.onnx = onnx or OnnxEmbedder(config)
        self.name = self.onnx.name
        self.dimension = self.onnx.dimension
        self.max_tokens = self.onnx.max_tokens
        self.use_bulk = config.device != "cpu" or (config.dtype != "float32" and cpu_has_native_bf16())
        self._bulk: object | None = None
        self._last = self.onnx.info
        self._lock = threading.Lock()

    @property
    def info(self) -> dict[str, str]:
        """The backend and precision of the last multi-text encode (a build's), for the manifest."""
        return self._last

    def bulk(self) -> object:
        """The sentence-transformers embedder, loaded on first use."""
        with self._lock:
            if self._bulk is None:
                log.info("loading the PyTorch model for bulk encoding")
                self._bulk = SentenceTransformerEmbedder(self.config)
            return self._bulk

    def encode(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        """Bulk on PyTorch (bf16) where it is faster, everything else on ONNX."""
        embedder = self.bulk() if self.use_bulk and len(texts) >= BULK_TEXTS else self.onnx
        if len(texts) > 1:
            self._last = embedder.info  # type: ignore[attr-defined]
        return embedder.encode(texts, progress)  # type: ignore[attr-defined]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts from the model's fast tokenizer (the same as sentence-transformers')."""
        return self.onnx.count_tokens(texts)
