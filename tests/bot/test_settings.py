"""Settings → the engine's search and vector store configs (the engine itself reads no environment)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.settings import Settings
from retrieval.config import SearchConfig, VectorConfig


def test_vector_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSDESK_VECTOR_BACKEND", "milvus")
    monkeypatch.setenv("NEWSDESK_MILVUS_URI", "http://milvus.internal:19530")
    monkeypatch.setenv("NEWSDESK_MILVUS_TOKEN", "root:Milvus")
    monkeypatch.setenv("NEWSDESK_MILVUS_COLLECTION", "news")
    monkeypatch.setenv("NEWSDESK_VECTOR_PARAMS", '{"ef_search": 128, "refine": 3}')
    settings = Settings(_env_file=None)
    assert "root:Milvus" not in repr(settings)
    config = settings.vectors()
    assert (config.backend, config.milvus_uri, config.milvus_collection) == (
        "milvus",
        "http://milvus.internal:19530",
        "news",
    )
    assert config.milvus_token == "root:Milvus" and "root:Milvus" not in repr(config)
    assert config.params == {"ef_search": 128, "refine": 3}


def test_vector_defaults_are_the_engines() -> None:
    assert Settings(_env_file=None).vectors() == VectorConfig()


@pytest.mark.parametrize(
    ("name", "value"),
    [("VECTOR_BACKEND", "qdrant"), ("VECTOR_ANN", "lsh"), ("MILVUS_COLLECTION", "bad-name")],
)
def test_bad_vector_settings_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"NEWSDESK_{name}", value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_search_settings_reach_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).search() == SearchConfig()
    monkeypatch.setenv("NEWSDESK_RERANK_DEPTH", "0")
    monkeypatch.setenv("NEWSDESK_SEARCH_MODE", "lexical")
    config = Settings(_env_file=None).search()
    assert (config.rerank_depth, config.mode) == (0, "lexical")
    monkeypatch.setenv("NEWSDESK_RERANK_DEPTH", "-1")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)
