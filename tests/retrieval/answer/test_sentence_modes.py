"""Quote mode and write mode: the model reads the best sentences, and shows nothing a sentence does not say.

A scripted OpenAI-compatible server on 127.0.0.1 plays the model (tests/retrieval/answer/fake_llm.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.answer.prompt import REFUSAL
from retrieval.config import LLMConfig
from retrieval.engine import Engine
from retrieval.types import Answer, AnswerSentence, Citation
from tests.conftest import HashEmbedder, make_engine
from tests.retrieval.answer.fake_llm import FakeServer, Reply

QUESTION = "How much did the new ferry terminal in Tallinn cost?"
COST = "The terminal cost 40 million euros and will handle two million passengers a year."


def engine_for(index: Path, server: FakeServer, mode: str) -> Engine:
    engine = make_engine(index, HashEmbedder())
    engine.llm_config = LLMConfig(answerer="llm", url=server.url, model="fake-model", timeout=5.0, mode=mode)
    return engine


def numbered(server: FakeServer) -> dict[str, int]:
    """The sentences the model was given, by text, with their numbers (parsed from the prompt)."""
    user = server.requests[-1]["messages"][-1]["content"]
    out = {}
    for line in user.splitlines():
        if line.startswith("[") and "] (" in line:
            number, rest = line[1:].split("] (", 1)
            out[rest.split(") ", 1)[1]] = int(number)
    return out


def ask(engine: Engine, server: FakeServer, reply: str | None = None, pick: str = "") -> Answer:
    """Ask once to learn the numbering, then again with ``reply`` (``{n}`` is the COST sentence's number)."""
    server.say(Reply([REFUSAL]))
    engine.ask(QUESTION)
    number = numbered(server)[COST]
    server.say(Reply([(reply or "{n} | " + pick).format(n=number)]))
    return engine.ask(QUESTION)


def test_the_prompt_holds_sentences_not_passages(built: Path, server: FakeServer) -> None:
    server.say(Reply([REFUSAL]))
    engine_for(built, server, "quote").ask(QUESTION)
    given = numbered(server)
    assert COST in given and 1 <= len(given) <= 6
    assert len(server.requests[-1]["messages"][-1]["content"]) < 2000  # a few hundred tokens


def test_quote_mode_leads_with_the_picked_sentence(built: Path, server: FakeServer) -> None:
    streamed: list[tuple[AnswerSentence, Citation | None]] = []
    engine = engine_for(built, server, "quote")
    server.say(Reply([REFUSAL]))
    engine.ask(QUESTION)
    server.say(Reply([f"{numbered(server)[COST]} | 40 million euros"]))
    answer = engine.ask(QUESTION, on_sentence=lambda s, c: streamed.append((s, c)))
    assert answer.answerer == "llm" and answer.sentences[0].text == COST
    assert answer.text.startswith(COST + " [1]") and answer.note == ""
    assert streamed and streamed[0][0].text == COST and streamed[0][1] is not None
    quotes = {" ".join(q.text.split()) for c in answer.citations for q in c.quotes}
    assert all(s.text in quotes for s in answer.sentences)  # everything shown is a quote


@pytest.mark.parametrize("pick", ["45 million euros", "the terminal was cheap", "", "40 million euros"])
def test_quote_mode_shows_no_short_answer(built: Path, server: FakeServer, pick: str) -> None:
    answer = ask(engine_for(built, server, "quote"), server, pick=pick)
    assert answer.answerer == "llm" and answer.sentences[0].text == COST
    assert answer.text.startswith(COST) and answer.note == ""


def test_the_short_answer_is_kept_only_as_a_verbatim_span() -> None:
    from retrieval.answer.written import verbatim_span

    assert verbatim_span("40 MILLION euros.", COST) == "40 million euros"
    assert verbatim_span("45 million euros", COST) == ""
    assert verbatim_span("  ", COST) == ""


@pytest.mark.parametrize("reply", [REFUSAL, "99 | 40 million euros", "The terminal cost a lot."])
def test_quote_mode_falls_back_to_the_extractive_answer(built: Path, server: FakeServer, reply: str) -> None:
    engine = engine_for(built, server, "quote")
    server.say(Reply([reply]))
    answer = engine.ask(QUESTION)
    assert answer.answerer == "extractive" and "quoting the articles" in answer.note


def test_write_mode_shows_a_restatement_of_one_sentence(built: Path, server: FakeServer) -> None:
    answer = ask(engine_for(built, server, "write"), server, "The terminal cost 40 million euros [{n}].")
    assert answer.answerer == "llm"
    assert [s.text for s in answer.sentences] == ["The terminal cost 40 million euros."]
    assert any(" ".join(q.text.split()) == COST for c in answer.citations for q in c.quotes)


@pytest.mark.parametrize(
    "written",
    [
        "The terminal cost 45 million euros [{n}].",  # a number changed
        "The Tallinn terminal cost 40 million euros [{n}].",  # a name from the question, not the sentence
        "The new terminal cost 40 million euros [{n}].",  # "new" is the question's word
        "The terminal cost 40 million euros and opened on Tuesday [{n}].",  # spliced from another sentence
    ],
)
def test_write_mode_drops_what_the_sentence_does_not_state(built: Path, server: FakeServer, written: str) -> None:
    answer = ask(engine_for(built, server, "write"), server, written)
    assert answer.answerer == "extractive"
    assert "no written sentence was supported" in answer.note
