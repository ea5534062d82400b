"""Settings: one declaration per setting, read by its NEWSDESK_ variable, handed to the engine as its own configs."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Env, Settings, explain, settings
from retrieval.config import EngineConfig, SearchConfig, VectorConfig


def test_vector_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSDESK_VECTOR_BACKEND", "milvus")
    monkeypatch.setenv("NEWSDESK_MILVUS_URI", "http://milvus.internal:19530")
    monkeypatch.setenv("NEWSDESK_MILVUS_TOKEN", "root:Milvus")
    monkeypatch.setenv("NEWSDESK_MILVUS_COLLECTION", "news")
    monkeypatch.setenv("NEWSDESK_VECTOR_PARAMS", '{"ef_search": 128, "refine": 3}')
    settings = Settings(_env_file=None)
    assert "root:Milvus" not in repr(settings)
    config = settings.vectors
    assert (config.backend, config.milvus_uri, config.milvus_collection) == (
        "milvus",
        "http://milvus.internal:19530",
        "news",
    )
    assert config.milvus_token == "root:Milvus" and "root:Milvus" not in repr(config)
    assert config.params == {"ef_search": 128, "refine": 3}


def test_vector_defaults_are_the_engines() -> None:
    assert Settings(_env_file=None).vectors == VectorConfig()


@pytest.mark.parametrize(
    ("name", "value"),
    [("VECTOR_BACKEND", "qdrant"), ("VECTOR_ANN", "lsh"), ("MILVUS_COLLECTION", "bad-name")],
)
def test_bad_vector_settings_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"NEWSDESK_{name}", value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_search_settings_reach_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).search == SearchConfig()
    monkeypatch.setenv("NEWSDESK_RERANK_DEPTH", "0")
    monkeypatch.setenv("NEWSDESK_SEARCH_MODE", "lexical")
    config = Settings(_env_file=None).search
    assert (config.rerank_depth, config.mode) == (0, "lexical")
    monkeypatch.setenv("NEWSDESK_RERANK_DEPTH", "-1")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_the_defaults_are_the_engines() -> None:
    assert Settings(_env_file=None).engine_config() == EngineConfig(index_dir=Path("index"))


def test_every_field_has_one_variable_or_is_fixed() -> None:
    names = [s.env for s in settings()]
    assert len(names) == len(set(names)), "two settings share a variable"
    for section, info in Settings.model_fields.items():
        env = next(m for m in info.metadata if isinstance(m, Env))
        declared = {s.field for s in settings() if s.section == section} | set(env.fixed)
        fields = (
            {f.name for f in dataclasses.fields(info.annotation)}
            if dataclasses.is_dataclass(info.annotation)
            else set(info.annotation.model_fields)
        )  # type: ignore[union-attr]
        assert declared == fields, f"section {section}: names or fixed name no field: {declared - fields}"
        assert set(env.names) <= fields, f"section {section}: a renamed field does not exist"


def test_values_by_variable_name_and_words_that_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSDESK_RANKER", "Off")
    monkeypatch.setenv("NEWSDESK_MIN_CONFIDENCE", "")
    monkeypatch.setenv("NEWSDESK_DISCORD_CHANNELS", "12, 34 56")
    monkeypatch.setenv("NEWSDESK_FEEDS_TIMEOUT", "12.5")
    settings_ = Settings(_env_file=None, k=7, answer_chars=900)
    assert (settings_.answer.ranker, settings_.answer.min_confidence) == (None, None)
    assert (settings_.search.k, settings_.discord.answer_chars, settings_.discord.channels) == (7, 900, [12, 34, 56])
    assert settings_.feeds.read_timeout == 12.5
    assert settings_.replaced(search_mode="dense").search == SearchConfig(k=7, mode="dense")
    with pytest.raises(ValidationError):
        settings_.replaced(k=0)
    assert settings_.replaced(ranker="default").replaced(ranker="none").answer.ranker is None
    with pytest.raises(KeyError):
        settings_.replaced(kay=3)


def test_the_environment_wins_over_the_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("NEWSDESK_K=7\nnewsdesk_search_mode=dense\n", encoding="utf-8")
    monkeypatch.setenv("NEWSDESK_K", "9")
    config = Settings(_env_file=env_file).search  # type: ignore[call-arg]
    assert (config.k, config.mode) == (9, "dense")


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("NEWSDESK_SEARCH_MODE", "fast", "bad setting NEWSDESK_SEARCH_MODE='fast': must be hybrid, dense or lexical"),
        (
            "NEWSDESK_CHUNK_TOKENS",
            "3",
            "bad setting NEWSDESK_CHUNK_TOKENS='3': Input should be greater than or equal to 16",
        ),
        ("NEWSDESK_FEEDS_TIMEOUT", "0", "bad setting NEWSDESK_FEEDS_TIMEOUT='0': Input should be greater than 0"),
        ("NEWSDESK_DISCORD_WORKERS", "99", "bad setting NEWSDESK_DISCORD_WORKERS='99'"),
        (
            "NEWSDESK_MILVUS_COLLECTION",
            "a-b",
            "NEWSDESK_MILVUS_COLLECTION='a-b': must be word characters starting with",
        ),
    ],
)
def test_an_error_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str, line: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None)
    assert line in explain(info.value)


def test_secrets_are_known_by_their_declaration() -> None:
    secret = {s.env for s in settings() if s.secret}
    assert secret == {"NEWSDESK_MILVUS_TOKEN", "NEWSDESK_LLM_API_KEY", "NEWSDESK_DISCORD_TOKEN"}


EXAMPLES = {
    "NEWSDESK_VECTOR_PARAMS",
    "NEWSDESK_MILVUS_URI",
    "NEWSDESK_DISCORD_GUILD_ID",
    "NEWSDESK_DISCORD_CHANNELS",
    "NEWSDESK_FEEDS_CONTACT",
}
"""Settings whose line in .env.example shows an example value rather than the default."""


def _shown(value: object) -> str:
    if value is None or value in ("", [], {}):
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_env_example_shows_the_defaults_the_code_declares() -> None:
    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text(encoding="utf-8")
    shown = dict(re.findall(r"^#? ?(NEWSDESK_[A-Z0-9_]+)=(.*)$", text, re.MULTILINE))
    for setting in settings():
        if setting.env in EXAMPLES:
            continue
        value, default = shown[setting.env].strip(), _shown(setting.default)
        same = value == default or (value.replace(".", "", 1).isdigit() and float(value) == float(default or "nan"))
        assert same, f".env.example shows {setting.env}={value}, the code's default is {default!r}"


def test_a_mistyped_variable_is_named_with_the_nearest_setting() -> None:
    from bot.settings import unknown_variables

    lines = unknown_variables({"NEWSDESK_TOPK": "3", "NEWSDESK_SERCH_MODE": "dense", "NEWSDESK_K": "3", "HOME": "/"})
    assert lines == [
        "NEWSDESK_SERCH_MODE is not a newsdesk setting; ignored (did you mean NEWSDESK_SEARCH_MODE?)",
        "NEWSDESK_TOPK is not a newsdesk setting; ignored (did you mean NEWSDESK_K?)",
    ]
    assert unknown_variables({"NEWSDESK_WHATEVER_ELSE": "1"}) == [
        "NEWSDESK_WHATEVER_ELSE is not a newsdesk setting; ignored (see docs/settings.md)"
    ]
