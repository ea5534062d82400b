"""An engine over the tiny articles (hash embedder, FAISS) for the alerts tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.alerts.matching import MatchConfig
from retrieval.engine import Engine
from tests.conftest import HashEmbedder, make_engine, write_articles

HASH_MATCH = MatchConfig(threshold=0.5)
"""The fitted threshold is MiniLM's; the hash embedder's cosines of a few words to a sentence run lower."""


@pytest.fixture
def tiny_engine(tmp_path: Path) -> Engine:
    engine = make_engine(tmp_path / "index", HashEmbedder())
    engine.build(write_articles(tmp_path / "seeds"), full=True)
    return engine
