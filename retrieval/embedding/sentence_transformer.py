"""The sentence-transformers (PyTorch) embedder."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from retrieval.config import EmbeddingConfig
from retrieval.embedding.base import ProgressFn, batches_by_length, cpu_has_native_bf16, resolve_model_path
from retrieval.errors import ModelLoadError

log = logging.getLogger(__name__)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded once, from a local directory or the offline cache."""

    def __init__(self, config: EmbeddingConfig) -> None:
        self.config = config
        self.name = config.model
        try:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
            dtype = config.dtype
            if dtype == "auto":
                dtype = "bfloat16" if config.device == "cpu" and cpu_has_native_bf16() else "float32"
            if dtype not in ("float32", "bfloat16", "float16"):
                raise ModelLoadError(f"unknown dtype '{config.dtype}' (use auto, float32 or bfloat16)")
            self.dtype = dtype
            location = resolve_model_path(config.model)
            self._model = SentenceTransformer(
                location,
                device=config.device,
                local_files_only=config.offline,
                model_kwargs={"dtype": getattr(torch, dtype)},
            )
        except ModelLoadError:
            raise
        except Exception as exc:  # the loaders raise OSError, ValueError, HF errors...
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"cannot load embedding model '{config.model}': {reason}") from exc
        dimension = self._model.get_embedding_dimension()
        if not dimension:
            raise ModelLoadError(f"model '{config.model}' does not report an embedding dimension")
        self.dimension = int(dimension)
        self.max_tokens = int(self._model.max_seq_length or 512)
        self._tokenizer = self._model.tokenizer
        self.info = {"backend": "torch", "precision": dtype}
        log.info("loaded model %s (%s, dim %d, %s)", config.model, location, self.dimension, dtype)

    def encode(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        """Embed in batches sorted by token count, one model call per batch so its order holds."""
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for ids in batches_by_length(self.count_tokens(texts), self.config.batch_size):
            vectors = self._model.encode(
                [texts[i] for i in ids],
                batch_size=len(ids),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            vectors = np.asarray(vectors, dtype=np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            out[ids] = vectors / np.maximum(norms, 1e-12)  # renormalise in fp32 (bf16 rounds)
            if progress is not None:
                progress(len(ids))
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts from the model's own tokenizer."""
        if not texts:
            return []
        encoded = self._tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]
