"""Answers: cited, verbatim, short; abstentions; bad questions; swapping in a rebuilt index."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from retrieval.engine import Engine
from retrieval.errors import BadQuestionError, IndexMissingError, Remedy
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
