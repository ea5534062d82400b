"""Acceptance on the real model and the real seeds, asked today (years after the articles): cited answers,
the short answer first, and honest abstention."""

from __future__ import annotations

import datetime as dt

from retrieval.engine import Engine

TODAY = dt.date.today()
KALIN = ("no plans to impose sanctions", "channel of trust", "no plans to “impose sanctions")


def test_turkey_answer_cites_the_kalin_quote(seeds_engine: Engine) -> None:
    answer = seeds_engine.ask("Why won't Turkey sanction Russia?", as_of=TODAY)
    assert not answer.abstained
    kalin = [c for c in answer.citations if any(k in q.text for q in c.quotes for k in KALIN)]
    assert kalin, answer.text
    assert all(c.date == dt.date(2022, 3, 12) for c in kalin)
    assert any(k in answer.sentences[0].text for k in KALIN), answer.text  # it opens with the reason
    assert answer.short_answer is None  # a why question has no short answer
    for citation in answer.citations:
        article = seeds_engine.index.articles[citation.article_id]
        assert all(article.text[q.start : q.end] == q.text for q in citation.quotes)
        assert f"[{citation.number}]" in answer.text


def test_what_erdogan_said_is_answered_from_his_sentences(seeds_engine: Engine) -> None:
    answer = seeds_engine.ask("What did Erdogan say?", as_of=TODAY)
    assert not answer.abstained
    first = answer.sentences[0].text
    assert "Erdogan" in first or "head of state" in first, answer.text
    assert any(verb in first for verb in ("presented", "reiterated", "said")), answer.text


def test_nato_secretary_general_is_stoltenberg_with_its_date(seeds_engine: Engine) -> None:
    answer = seeds_engine.ask("Who is the secretary general of NATO?", as_of=TODAY)
    assert not answer.abstained  # an old article that states it still answers
    short = answer.short_answer
    assert short is not None and short.text == "Jens Stoltenberg", answer.text
    assert answer.text.startswith("Jens Stoltenberg — ") and short.text in answer.sentences[0].text
    citation = next(c for c in answer.citations if c.number == short.citation)
    assert seeds_engine.index.articles[citation.article_id].text[short.start : short.end] == short.text
    assert citation.date == dt.date(2022, 3, 12)


def test_football_question_abstains(seeds_engine: Engine) -> None:
    answer = seeds_engine.ask("What was the score of the Arsenal football match?", as_of=TODAY)
    assert answer.abstained
    assert answer.text.startswith("The indexed articles don't say")
    assert not answer.citations and answer.hits


def test_who_a_name_is_is_answered_with_the_sentence_that_describes_it(seeds_engine: Engine) -> None:
    answer = seeds_engine.ask("Who is Jens Stoltenberg?", as_of=TODAY)
    assert not answer.abstained, answer.text  # the name alone is far from its sentence: it was refused
    short = answer.short_answer
    assert short is not None and short.text == "secretary general of the North Atlantic Treaty Organization"
    assert answer.text.startswith(f"{short.text} — ") and short.text in answer.sentences[0].text
    citation = next(c for c in answer.citations if c.number == short.citation)
    assert seeds_engine.index.articles[citation.article_id].text[short.start : short.end] == short.text
    assert seeds_engine.ask("Who is Boris Johnson?", as_of=TODAY).abstained  # a name the articles do not hold
