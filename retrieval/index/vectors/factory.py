"""Pick the vector backend a configuration names."""

from __future__ import annotations

from pathlib import Path

from retrieval.config import VectorConfig
from retrieval.errors import SettingError
from retrieval.index.vectors.base import VectorBackend
from retrieval.index.vectors.faiss import FaissBackend
from retrieval.index.vectors.milvus import MilvusBackend


def make_backend(config: VectorConfig, root: Path) -> VectorBackend:
    """The backend ``config`` names, its parameters checked (SettingError); ``root`` is the index
    directory (Milvus Lite's default home)."""
    if config.backend == "faiss":
        return FaissBackend(config)
    if config.backend == "milvus":
        return MilvusBackend(config, root)
    raise SettingError(f"unknown vector backend '{config.backend}' (use faiss or milvus)", "vector_backend")
