"""Answers: cited, verbatim, short; abstentions; bad questions; swapping in a rebuilt index."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest

from retrieval.config import SearchConfig
from retrieval.engine import Engine
from retrieval.errors import BadQuestionError, IndexMissingError, Remedy
from retrieval.types import DateRange
from tests.conftest import HashEmbedder, make_engine


def test_answer_quotes_and_cites_verbatim(engine: Engine) -> None:
    answer = engine.ask("How many flights were cancelled by the storm at the airport?")
    assert not answer.abstained
    assert 1 <= len(answer.sentences) <= 4
    assert "200 flights were cancelled" in answer.text
    for sentence in answer.sentences:
        assert f"{sentence.text} [{sentence.citation}]" in answer.text
    assert [c.number for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    assert len({c.article_id for c in answer.citations}) == len(answer.citations)  # one entry per article
    for citation in answer.citations:
        article = engine.index.articles[citation.article_id]
        assert citation.quotes
        for quote in citation.quotes:
            assert article.text[quote.start : quote.end] == quote.text
            assert quote.text in engine.index.passages[quote.passage_id].text
        assert (citation.title, citation.date) == (article.title, article.date)
    cited = {(s.citation, s.text) for s in answer.sentences}
    assert cited == {(c.number, q.text) for c in answer.citations for q in c.quotes}
    assert set(answer.timings) == {"embed_ms", "search_ms", "answer_ms", "total_ms"}


def test_abstains_when_nothing_answers(engine: Engine) -> None:
    answer = engine.ask("Who scored the winning goal in the cricket final?")
    assert answer.abstained
    assert answer.text.startswith("The indexed articles don't say")
    assert answer.citations == () and answer.hits  # still lists possibly related passages


@pytest.mark.parametrize("question", ["", "   \n\t", "x" * 501])
def test_bad_questions_are_refused(engine: Engine, question: str) -> None:
    with pytest.raises(BadQuestionError):
        engine.ask(question)


def test_ask_without_index_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="no index at") as info:
        make_engine(tmp_path / "none", HashEmbedder()).ask("anything?")
    assert info.value.remedy is Remedy.BUILD and "newsdesk" not in str(info.value)  # the front words the fix


def test_questions_keep_being_answered_during_a_rebuild(engine: Engine, seeds_dir: Path) -> None:
    (seeds_dir / "late.txt").write_text(" date 2023-10-10 The zoo welcomed a baby giraffe on Monday.")
    errors: list[BaseException] = []
    answered = 0
    stop = threading.Event()

    def keep_asking() -> None:
        nonlocal answered
        while not stop.is_set():
            try:
                engine.ask("What did the central bank do with interest rates?")
                answered += 1
            except BaseException as exc:  # noqa: BLE001 - any failure is the test failing
                errors.append(exc)

    worker = threading.Thread(target=keep_asking)
    worker.start()
    engine.build(seeds_dir, full=True)
    stop.set()
    worker.join(timeout=30)
    assert not errors and answered > 0
    assert engine.search("baby giraffe zoo")[0].article.id == "late.txt"


def test_a_new_engine_reads_only_seed_files_changed_since_the_last_build(
    tmp_path: Path, seeds_dir: Path, files_read: list[str]
) -> None:
    from retrieval.engine import SEED_CACHE

    make_engine(tmp_path / "index", HashEmbedder()).build(seeds_dir)
    assert (tmp_path / "index" / SEED_CACHE).is_file()
    read = files_read
    read.clear()
    (seeds_dir / "late.txt").write_text(" date 2023-10-10 The zoo welcomed a baby giraffe on Monday.")
    engine = make_engine(tmp_path / "index", HashEmbedder())  # a new process, as `newsdesk index` is
    summary, _ = engine.build(seeds_dir)
    assert read == ["late.txt"] and summary.added == 1
    assert engine.search("baby giraffe zoo")[0].article.id == "late.txt"
    read.clear()
    make_engine(tmp_path / "index", HashEmbedder()).build(seeds_dir, full=True)  # --full reads everything
    assert sorted(read) == sorted(p.name for p in seeds_dir.iterdir())
    # A damaged cache costs only time: everything is read again, nothing fails.
    (tmp_path / "index" / SEED_CACHE).write_bytes(b"not a pickle")
    read.clear()
    summary, _ = make_engine(tmp_path / "index", HashEmbedder()).build(seeds_dir)
    assert sorted(read) == sorted(p.name for p in seeds_dir.iterdir()) and summary.added == 0


def test_articles_after_the_as_of_day_do_not_exist(engine: Engine) -> None:
    question = "How many flights were cancelled when the storm closed the airport?"
    before = engine.search(question, as_of=dt.date(2023, 7, 25))
    assert before and all(h.article.date is None or h.article.date <= dt.date(2023, 7, 25) for h in before)
    after = engine.ask(question, as_of=dt.date(2023, 8, 2))
    assert after.hits[0].article.id == "wire-2" and after.as_of == dt.date(2023, 8, 2)


def test_undated_articles_are_not_hidden_by_the_as_of_day(engine: Engine) -> None:
    hits = engine.search("Wolves returned to the Oder valley", as_of=dt.date(2000, 1, 1))
    assert hits and hits[0].article.date is None and "Wolves" in hits[0].passage.text


@pytest.mark.parametrize(("mode", "found"), [("strict", False), ("prior", True)])
def test_time_words_window_strict_or_prior(tmp_path: Path, seeds_dir: Path, mode: str, found: bool) -> None:
    engine = make_engine(tmp_path / "index", HashEmbedder(), search=SearchConfig(time_words=mode))
    engine.build(seeds_dir, full=True)
    answer = engine.ask("Which storm closed the airport this week?", as_of=dt.date(2023, 9, 30))
    assert answer.window == DateRange(dt.date(2023, 9, 24), dt.date(2023, 9, 30))
    assert any(h.article.id == "wire-2" for h in answer.hits) is found
    inside = engine.ask("Which storm closed the airport this week?", as_of=dt.date(2023, 8, 3))
    assert inside.hits[0].article.id == "wire-2"


def test_a_follow_up_is_searched_with_the_previous_question(engine: Engine) -> None:
    answer = engine.ask("and what about Marlow?", previous="Who won the election in Tallinn?")
    assert answer.searched == "Who won the election in Marlow?"
    assert answer.hits[0].article.title == "Coastal town elects new mayor"


def test_the_same_wire_story_from_two_outlets_is_cited_once_with_the_other_outlet(tmp_path: Path) -> None:
    story = (
        "A storm closed the city airport for six hours on Tuesday. More than 200 flights were cancelled and "
        "thousands of travellers were stranded. The airport reopened on Wednesday morning."
    )
    lines = [
        {"id": "a", "title": "Storm shuts airport", "date": "2023-08-01", "source": "Wire Daily", "text": story},
        {
            "id": "b",
            "title": "Airport closed",
            "date": "2023-08-01",
            "source": "Coast Herald",
            "text": "By staff. " + story,
        },
    ]
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "wire.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    engine = make_engine(tmp_path / "index", HashEmbedder())
    engine.build(seeds, full=True)
    answer = engine.ask("How many flights were cancelled when the storm closed the airport?")
    assert not answer.abstained and len(answer.citations) == 1
    [citation] = answer.citations
    assert {citation.source, *citation.also} == {"Wire Daily", "Coast Herald"} and len(citation.also) == 1


def test_a_bare_follow_up_is_asked_about_the_previous_question(engine: Engine) -> None:
    with pytest.raises(BadQuestionError, match="nothing to search for"):
        engine.ask("Why?")
    answer = engine.ask("Why?", previous="Who won the election in Marlow?")
    assert answer.searched == "Why? (won election Marlow)"
    assert answer.hits[0].article.title == "Coastal town elects new mayor"
