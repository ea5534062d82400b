"""Fixtures of the answer tests: the tiny articles indexed once, and a scripted language model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HashEmbedder, make_engine, write_articles
from tests.retrieval.answer.fake_llm import FakeServer, fake_llm_server


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny articles indexed once (deterministic embedder)."""
    root = tmp_path_factory.mktemp("answer")
    make_engine(root / "index", HashEmbedder()).build(write_articles(root / "seeds"), full=True)
    return root / "index"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A scripted OpenAI-compatible server on 127.0.0.1."""
    with fake_llm_server() as running:
        yield running
