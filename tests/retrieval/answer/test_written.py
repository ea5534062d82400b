"""Written answers through a real HTTP stream from a scripted server on 127.0.0.1: every fault case."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import threading
from pathlib import Path

import pytest

from bot.render import answer_to_dict
from retrieval.answer.prompt import REFUSAL
from retrieval.answer.written import complete_sentences
from retrieval.config import LLMConfig
from retrieval.engine import Engine
from retrieval.errors import LLMConfigError
from retrieval.types import AnswerSentence, Citation
from tests.conftest import HashEmbedder, make_engine
from tests.retrieval.answer.fake_llm import FakeServer, Reply

QUESTION = "How much did the new ferry terminal in Tallinn cost?"
GOOD = "The new terminal cost 40 million euros [1]. "
ALSO_GOOD = "It will handle two million passengers a year [1]."
FABRICATED = "The new terminal cost 45 million euros [1]. "


def engine_for(index: Path, url: str, **llm: object) -> Engine:
    engine = make_engine(index, HashEmbedder())
    engine.llm_config = LLMConfig(answerer="llm", url=url, mode="passages", **llm)  # type: ignore[arg-type]
    return engine


@pytest.fixture
def engine(built: Path, server: FakeServer) -> Engine:
    return engine_for(built, server.url, timeout=5.0)


def test_verified_sentences_stream_before_the_reply_ends(engine: Engine, server: FakeServer) -> None:
    pieces = [
        "The new terminal ",
        "cost 40 million euros [1]. ",
        "It will ",
        "handle two ",
        "million passengers ",
        "a year [1].",
    ]
    first_out = threading.Event()
    # The server sends the first sentence and the start of the next, then holds the rest until the first is out.
    server.say(Reply(pieces, hold=first_out, hold_after=3))
    seen: list[tuple[AnswerSentence, Citation | None]] = []

    def on_sentence(sentence: AnswerSentence, citation: Citation | None) -> None:
        seen.append((sentence, citation))
        first_out.set()

    answer = engine.ask(QUESTION, on_sentence=on_sentence)
    assert answer.answerer == "llm" and not answer.abstained and answer.note == ""
    assert [s.text for s in answer.sentences] == [
        "The new terminal cost 40 million euros.",
        "It will handle two million passengers a year.",
    ]
    assert all(s.verified and s.citation == 1 and s.support is not None for s in answer.sentences)
    assert answer.text.endswith("a year. [1]")
    assert len(seen) == 2 and server.released == [True]  # the first was out while the model still wrote
    assert seen[0][1] is not None and seen[0][1].title == "Port of Tallinn opens new ferry terminal"
    [citation] = answer.citations
    assert citation.quotes[0].text.startswith("The terminal cost 40 million euros")
    assert answer.timings["write_ms"] > 0 and "first_token_ms" in answer.timings


def test_the_prompt_carries_question_date_and_numbered_passages(built: Path, server: FakeServer) -> None:
    engine = engine_for(built, server.url)
    server.say(Reply([GOOD]))
    engine.ask(QUESTION, as_of=dt.date(2023, 9, 6))
    request = server.requests[-1]
    assert request["stream"] is True and request["model"] == "fake-model"  # the first the server lists
    system, user = (m["content"] for m in request["messages"])
    assert REFUSAL in system and "[2]" in system
    assert "2023-09-06" in user and QUESTION in user
    assert "[1] Port of Tallinn opens new ferry terminal — harbour.txt — 2023-05-02" in user
    assert "[5] " in user and "[6] " not in user


def test_a_fabricated_number_never_reaches_the_reader(engine: Engine, server: FakeServer) -> None:
    server.say(Reply([FABRICATED, ALSO_GOOD]))
    shown: list[AnswerSentence] = []
    answer = engine.ask(QUESTION, on_sentence=lambda s, c: shown.append(s))
    assert answer.answerer == "llm"
    assert (
        [s.text for s in answer.sentences]
        == ["It will handle two million passengers a year."]
        == [s.text for s in shown]
    )
    assert "45" not in answer.text and "1 written sentence not supported" in answer.note


def test_list_numbers_repeats_and_copied_title_lines_are_not_shown(engine: Engine, server: FakeServer) -> None:
    title = "Port of Tallinn opens new ferry terminal — harbour.txt — 2023-05-02 [1]. "
    server.say(Reply(["1. ", GOOD, "2. ", GOOD.replace("new ", ""), title, ALSO_GOOD]))
    answer = engine.ask(QUESTION)
    assert [s.text for s in answer.sentences] == [
        "The new terminal cost 40 million euros.",
        "It will handle two million passengers a year.",
    ]
    assert answer.note == ""  # nothing unsupported was left out: a repeat and a title line are no claims
    server.say(Reply([title]))
    answer = engine.ask(QUESTION)
    assert answer.answerer == "extractive" and "nothing to check" in answer.note


def test_a_wrong_citation_is_mended(engine: Engine, server: FakeServer) -> None:
    server.say(Reply(["The new terminal cost 40 million euros [4]."]))
    answer = engine.ask(QUESTION)
    [sentence] = answer.sentences
    assert sentence.verified and answer.citations[0].article_id == "harbour.txt"
    assert sentence.passage_id == answer.hits[0].passage.id


def test_a_citation_to_a_passage_not_given_with_nothing_supporting_falls_back(
    engine: Engine, server: FakeServer
) -> None:
    server.say(Reply(["The terminal was designed by Zaha Hadid [9]."]))
    answer = engine.ask(QUESTION)
    assert answer.answerer == "extractive" and "no written sentence was supported" in answer.note
    assert "40 million euros" in answer.text  # the quotes


def test_a_refusal_falls_back_to_the_quotes(engine: Engine, server: FakeServer) -> None:
    server.say(Reply(["NOT_IN", "_SOURCES"]))
    answer = engine.ask(QUESTION)
    assert answer.answerer == "extractive" and not answer.abstained
    assert "said the passages do not answer it" in answer.note


def test_a_model_that_does_not_answer_in_time(built: Path, server: FakeServer) -> None:
    engine = engine_for(built, server.url, timeout=0.8)
    server.say(Reply([GOOD], stall=60.0))  # a client that waited for it would get a written answer
    answer = engine.ask(QUESTION)
    assert answer.answerer == "extractive" and "longer than 0.8 s" in answer.note


def test_a_slow_model_keeps_what_it_finished_in_time(built: Path, server: FakeServer) -> None:
    engine = engine_for(built, server.url, timeout=3.0)
    never = threading.Event()  # the rest of the reply is held until the client has given up
    server.say(Reply([GOOD, "It will handle ", "two million ", "passengers ", "a year [1]."], hold=never, hold_after=2))
    answer = engine.ask(QUESTION)
    never.set()
    assert answer.answerer == "llm" and [s.text for s in answer.sentences] == [
        "The new terminal cost 40 million euros."
    ]
    assert "longer than 3 s" in answer.note and "incomplete" in answer.note


def test_a_server_dying_mid_stream(engine: Engine, server: FakeServer) -> None:
    server.say(Reply([GOOD, "It will handle ", "two million passengers a year [1]."], die_after=2))
    answer = engine.ask(QUESTION)
    assert answer.answerer == "llm" and len(answer.sentences) == 1
    assert "stopped mid-answer" in answer.note
    server.say(Reply(["The new terminal ", "cost 40 million"], die_after=1))
    answer = engine.ask(QUESTION)
    assert answer.answerer == "extractive" and "stopped mid-answer" in answer.note


def test_an_unreachable_server(built: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the question: nobody listens there
    engine = engine_for(built, f"http://127.0.0.1:{port}/v1", model="any")
    answer = engine.ask(QUESTION)
    assert answer.answerer == "extractive" and "unreachable" in answer.note


def test_a_server_error(engine: Engine, server: FakeServer) -> None:
    server.say(Reply(status=500))
    answer = engine.ask(QUESTION)
    assert answer.answerer == "extractive" and "HTTP 500" in answer.note


def test_unverified_sentences_only_when_asked_and_marked(built: Path, server: FakeServer) -> None:
    engine = engine_for(built, server.url, show_unverified=True)
    server.say(Reply([FABRICATED, ALSO_GOOD]))
    data = answer_to_dict(engine.ask(QUESTION))
    assert data["answerer"] == "llm"
    assert [(s["verified"], s["citation"]) for s in data["sentences"]] == [(False, 0), (True, 1)]
    assert data["sentences"][1]["support"] > 0 and data["sentences"][1]["passage_id"] is not None
    assert data["sentences"][0]["passage_id"] is None


def test_no_model_call_when_nothing_retrieved_answers(engine: Engine, server: FakeServer) -> None:
    answer = engine.ask("Which volcano erupted in Iceland?")
    assert answer.abstained and server.requests == [] and "no written answer" in answer.note


def test_extractive_by_default_and_per_question(built: Path, server: FakeServer) -> None:
    engine = make_engine(built, HashEmbedder())
    engine.llm_config = dataclasses.replace(LLMConfig(url=server.url, mode="passages"))
    assert engine.ask(QUESTION).answerer == "extractive" and server.requests == []
    server.say(Reply([GOOD]))
    assert engine.ask(QUESTION, answerer="llm").answerer == "llm"


def test_no_model_configured_is_a_clear_error(built: Path) -> None:
    engine = make_engine(built, HashEmbedder())
    with pytest.raises(LLMConfigError, match="OpenAI-compatible server"):
        engine.ask(QUESTION, answerer="llm")


@pytest.mark.parametrize(
    ("buffer", "done", "rest"),
    [
        ("It cost 40 million euros [1]. It will", ["It cost 40 million euros [1]."], "It will"),
        ("It cost 40 million euros. [1] It will", ["It cost 40 million euros. [1]"], "It will"),
        ("It cost 40 million euros. [1", [], "It cost 40 million euros. [1"),
        ("It cost 40 million euros [1].", [], "It cost 40 million euros [1]."),
        ("The U.S. Navy said so [2]. Then", ["The U.S. Navy said so [2]."], "Then"),
    ],
)
def test_complete_sentences(buffer: str, done: list[str], rest: str) -> None:
    assert complete_sentences(buffer) == (done, rest)
