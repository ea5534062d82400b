"""The embedding cache returns the vectors it stored and sends only new texts to the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retrieval.embedding.cache import CachedEmbedder
from tests.conftest import HashEmbedder


def test_known_texts_are_not_embedded_again(tmp_path: Path) -> None:
    inner = HashEmbedder()
    cached = CachedEmbedder(inner, tmp_path / "cache.sqlite3")
    texts = ["The port reopened.", "Wolves returned to the valley.", "Rates were held."]
    first = cached.encode(texts)
    assert inner.encoded == 3
    again = CachedEmbedder(HashEmbedder(), tmp_path / "cache.sqlite3")  # another process, same file
    done: list[int] = []
    second = again.encode([*texts, "A storm closed the airport."], progress=done.append)
    assert again.inner.encoded == 1 and sum(done) == 4  # type: ignore[attr-defined]
    assert np.array_equal(second[:3], first)
    assert np.allclose(second[3], inner.encode(["A storm closed the airport."])[0])


def test_single_texts_bypass_the_cache(tmp_path: Path) -> None:
    inner = HashEmbedder()
    cached = CachedEmbedder(inner, tmp_path / "cache.sqlite3")
    cached.encode(["Why won't Turkey sanction Russia?"])
    assert cached.lookup([b"x" * 16]) == {} and inner.encoded == 1
    cached.encode(["Why won't Turkey sanction Russia?"])
    assert inner.encoded == 2
