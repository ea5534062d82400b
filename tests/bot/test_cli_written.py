"""newsdesk ask --answerer llm: streamed verified sentences, JSON, fallback notes and setting errors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests.bot.test_cli import QUESTION, assert_one_line_error, run
from tests.conftest import SEEDS
from tests.retrieval.answer.fake_llm import FakeServer, Reply, fake_llm_server

SUPPORTED = "Ankara had no plans to impose sanctions on Russia [1]. "
FABRICATED = "Turkey imposed sanctions on Russia on 3 March [2]."


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-written") / "index"
    assert main(["index", "--index", str(path), "--seeds", str(SEEDS)]) == 0
    return path


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    with fake_llm_server() as running:
        monkeypatch.setenv("NEWSDESK_LLM_URL", running.url)
        monkeypatch.setenv("NEWSDESK_LLM_MODE", "passages")  # these script whole-passage replies
        yield running


@pytest.mark.model
def test_ask_llm_prints_verified_sentences_and_sources(
    index_dir: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.say(Reply([SUPPORTED, FABRICATED]))
    code, out, err = run(capsys, "ask", QUESTION, "--answerer", "llm", "--index", str(index_dir))
    assert code == 0, err
    assert out.startswith("Ankara had no plans to impose sanctions on Russia. [1 · 2022-03-12]")
    assert "3 March" not in out and "unverified" not in out
    assert "1 written sentence not supported by the passages left out" in out
    assert "Sources" in out and "impose sanctions on Russia" in out.split("Sources")[1]


@pytest.mark.model
def test_ask_llm_json_and_fallback(index_dir: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.say(Reply([SUPPORTED]), Reply(["NOT_IN_SOURCES"]))
    code, out, _ = run(capsys, "ask", QUESTION, "--answerer", "llm", "--json", "--index", str(index_dir))
    data = json.loads(out)
    assert code == 0 and data["answerer"] == "llm" and data["note"] is None
    [sentence] = data["sentences"]
    assert sentence["verified"] and sentence["support"] > 0 and sentence["passage_id"] is not None
    code, out, _ = run(capsys, "ask", QUESTION, "--answerer", "llm", "--json", "--index", str(index_dir))
    data = json.loads(out)
    assert data["answerer"] == "extractive" and "do not answer it" in data["note"]


@pytest.mark.model
def test_ask_llm_marks_unverified_when_shown(
    index_dir: Path, server: FakeServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDESK_LLM_SHOW_UNVERIFIED", "true")
    server.say(Reply([SUPPORTED, FABRICATED]))
    code, out, _ = run(capsys, "ask", QUESTION, "--answerer", "llm", "--index", str(index_dir))
    assert code == 0 and "on 3 March. [unverified]" in out


def test_answerer_llm_without_a_model_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ask", QUESTION, "--answerer", "llm")
    assert code == 1
    assert_one_line_error(err, "NEWSDESK_LLM_URL", "NEWSDESK_LLM_GGUF")


def test_llm_settings_are_checked(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSDESK_ANSWERER", "llm")
    code, _, err = run(capsys, "stats")
    assert code == 2 and err.strip() == (
        "newsdesk: bad settings: NEWSDESK_ANSWERER=llm needs NEWSDESK_LLM_URL (an OpenAI-compatible server) "
        "or NEWSDESK_LLM_GGUF"
    )
    monkeypatch.setenv("NEWSDESK_LLM_GGUF", "/nowhere/model.gguf")
    code, _, err = run(capsys, "stats")
    assert code == 2 and "no file at /nowhere/model.gguf" in err
    monkeypatch.setenv("NEWSDESK_ANSWERER", "poetry")
    code, _, err = run(capsys, "stats")
    assert code == 2 and "NEWSDESK_ANSWERER" in err and "extractive or llm" in err


def test_the_api_key_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import Settings

    monkeypatch.setenv("NEWSDESK_LLM_API_KEY", "sk-secret-123")
    settings = Settings()
    assert "sk-secret-123" not in repr(settings) and "sk-secret-123" not in repr(settings.llm)
    assert settings.llm.api_key == "sk-secret-123"


@pytest.mark.model
def test_on_a_terminal_the_quotes_show_first_and_the_written_answer_replaces_them(
    index_dir: Path, server: FakeServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    server.say(Reply([SUPPORTED]))
    code, out, err = run(capsys, "ask", QUESTION, "--answerer", "llm", "--index", str(index_dir))
    assert code == 0, err
    preview, _, final = out.rpartition("(quoting the articles while the language model writes…)")
    assert preview, "the extractive answer was not shown first"
    assert "\x1b[2K" in final  # the preview's lines erased
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", final)
    assert "Ankara had no plans to impose sanctions on Russia. [1 · 2022-03-12]" in plain
