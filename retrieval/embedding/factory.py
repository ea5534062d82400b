"""Make the embedder a configuration names (``auto``, ``torch`` or ``onnx``)."""

from __future__ import annotations

import logging
from pathlib import Path

from retrieval.config import EmbeddingConfig
from retrieval.embedding.auto import AutoEmbedder
from retrieval.embedding.base import Embedder, resolve_model_path
from retrieval.embedding.cache import CachedEmbedder
from retrieval.embedding.onnx_embedder import OnnxEmbedder
from retrieval.embedding.sentence_transformer import SentenceTransformerEmbedder
from retrieval.errors import ModelLoadError

log = logging.getLogger(__name__)


def make_embedder(config: EmbeddingConfig) -> Embedder:
    """The embedder ``config.backend`` names, behind the embedding cache if ``config.cache`` is set."""
    embedder = _backend(config)
    if config.cache:
        return CachedEmbedder(embedder, Path(config.cache))
    return embedder


def _backend(config: EmbeddingConfig) -> Embedder:
    """``auto``, ``torch`` (sentence-transformers) or ``onnx``."""
    if config.backend == "onnx":
        return OnnxEmbedder(config)
    if config.backend == "auto":
        if (Path(resolve_model_path(config.model)) / "tokenizer.json").is_file():
            try:
                return AutoEmbedder(config)
            except ModelLoadError as exc:
                log.warning("%s; using PyTorch only", exc)
        return SentenceTransformerEmbedder(config)  # a hub name, or ONNX failed: PyTorch alone
    if config.backend != "torch":
        raise ModelLoadError(f"unknown embedding backend '{config.backend}' (use auto, torch or onnx)")
    return SentenceTransformerEmbedder(config)
