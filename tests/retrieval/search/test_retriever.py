"""Retrieval: hybrid ranking, citations' raw material, date filters inside the search, no duplicates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from retrieval.config import SearchConfig, VectorConfig
from retrieval.engine import Engine
from retrieval.search.retriever import Retriever
from retrieval.types import DateRange
from tests.conftest import HashEmbedder, make_engine, write_articles


def test_top_hit_is_the_right_article(engine: Engine) -> None:
    hits = engine.search("How many flights were cancelled by the storm?")
    top = hits[0]
    assert top.article.id == "wire-2" and "200 flights" in top.passage.text
    assert top.article.title == "Storm closes airport" and top.article.date == dt.date(2023, 8, 1)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert top.dense_score is not None and top.lexical_score is not None


def test_modes(engine: Engine) -> None:
    for mode in ("dense", "lexical", "hybrid"):
        retriever = Retriever(engine.index, engine.embedder, SearchConfig(mode=mode))
        hits = retriever.search(retriever.query("wolves returned to the Oder valley"), 3)
        assert hits[0].article.id == "wildlife.html", mode


def test_date_filter_is_applied_inside_the_search(tmp_path: Path, vector_config: VectorConfig) -> None:
    # Ten near-identical stories on ten days: a post-filter on the top 5 would find at most 5.
    articles = {
        f"day{i}.jsonl": (
            f'{{"id": "d{i}", "title": "Bridge update {i}", "date": "2024-01-{i + 1:02d}", '
            f'"text": "The bridge repair continued on day {i}. Crews worked on bridge cables."}}\n'
        )
        for i in range(10)
    }
    write_articles(tmp_path / "seeds", articles)
    engine = make_engine(tmp_path / "index", HashEmbedder(), vector_config)
    engine.build(tmp_path / "seeds")
    window = DateRange(dt.date(2024, 1, 7), dt.date(2024, 1, 9))
    hits = engine.search("bridge repair cables", k=5, dates=window)
    assert {h.article.id for h in hits} == {"d6", "d7", "d8"}
    assert engine.search("bridge repair", dates=DateRange(since=dt.date(2030, 1, 1))) == []


def test_near_duplicate_passages_do_not_crowd_out_others(tmp_path: Path, vector_config: VectorConfig) -> None:
    quote = (
        "“We have no plans to impose sanctions,” the spokesman said, adding that the channels "
        "of communication must stay open for the sake of peace talks."
    )
    articles = {
        "a.txt": " date 2022-03-12 " + quote,
        "b.txt": " date 2022-03-12 Agency report\n\n" + quote + " He spoke on Thursday.",
        "c.txt": " date 2022-03-13 The foreign minister said sanctions were under review by the cabinet.",
    }
    write_articles(tmp_path / "seeds", articles)
    engine = make_engine(tmp_path / "index", HashEmbedder(), vector_config)
    engine.build(tmp_path / "seeds")
    hits = engine.search("plans to impose sanctions", k=2)
    assert len(hits) == 2
    assert hits[1].article.id == "c.txt"
    # However deep the re-ranking: with none, and with a pool that holds only the two copies.
    for depth in (0, 1, 2):
        retriever = Retriever(engine.index, engine.embedder, SearchConfig(rerank_depth=depth))
        hits = retriever.search(retriever.query("plans to impose sanctions"), 2)
        assert [h.rank for h in hits] == [1, 2] and hits[1].article.id == "c.txt", depth
        assert hits[0].score >= hits[1].score


BUDGET_QUESTION = "When did the council approve the bridge repair budget?"


def _engines(tmp_path: Path, vectors: VectorConfig, articles: dict[str, str]) -> tuple[Engine, Retriever]:
    """An engine over ``articles`` (re-ranking, the default) and a retriever on its index that does not re-rank."""
    write_articles(tmp_path / "seeds", articles)
    engine = make_engine(tmp_path / "index", HashEmbedder(), vectors)
    engine.build(tmp_path / "seeds")
    return engine, Retriever(engine.index, engine.embedder, SearchConfig(rerank_depth=0))


def test_passages_are_reranked_by_their_best_answer_sentence(tmp_path: Path, vector_config: VectorConfig) -> None:
    # The first story repeats the question's words (BM25 and cosine favour it) but never says when;
    # the second has one sentence that holds every term of the question and a date.
    articles = {
        "debate.txt": (
            " date 2024-03-10 Council debates bridge repair budget\n\nThe council debated the bridge repair "
            "budget. The bridge repair budget was disputed by the council. Council members said the bridge "
            "repair budget was too high."
        ),
        "vote.txt": (
            " date 2024-03-13 Town news\n\nThe council approved the bridge repair budget on 12 March 2024. "
            "Work starts in the summer. Traffic will use the old ferry meanwhile."
        ),
    }
    engine, fused_only = _engines(tmp_path, vector_config, articles)
    question = BUDGET_QUESTION
    plain = fused_only.search(fused_only.query(question), 2)
    assert [h.article.id for h in plain] == ["debate.txt", "vote.txt"]
    assert all(h.score == h.fused_score for h in plain)

    hits = engine.search(question, k=2)
    assert [h.article.id for h in hits] == ["vote.txt", "debate.txt"]
    assert [h.rank for h in hits] == [1, 2] and hits[0].score > hits[1].score
    assert {h.passage.id: h.fused_score for h in hits} == {h.passage.id: h.fused_score for h in plain}
    answer = engine.ask(question)
    assert answer.sentences[0].text.startswith("The council approved")


def test_reranking_looks_past_the_first_k_fused_passages(tmp_path: Path, vector_config: VectorConfig) -> None:
    articles = {
        f"decoy{i}.txt": f" date 2024-03-1{i} Budget talk {i}\n\nThe bridge repair budget of the council was "
        f"debated again by council members, round {i}."
        for i in range(4)
    }
    articles["vote.txt"] = (
        " date 2024-03-13 Town news\n\nThe council approved the bridge repair budget on 12 March 2024."
    )
    engine, fused_only = _engines(tmp_path, vector_config, articles)
    assert "vote.txt" not in {h.article.id for h in fused_only.search(fused_only.query(BUDGET_QUESTION), 1)}
    assert engine.search(BUDGET_QUESTION, k=1)[0].article.id == "vote.txt"
