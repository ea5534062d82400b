"""Sentence scores: the expected kind of answer, question-term coverage, and the score that ranks."""

from __future__ import annotations

import pytest

from retrieval.answer.sentences import SentenceScorer, answer_type, question_terms, type_match
from retrieval.engine import Engine


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many flights were cancelled?", "number"),
        ("What percentage voted?", "number"),
        ("When did the storm hit?", "when"),
        ("What year was the bridge built?", "when"),
        ("Who won the election?", "who"),
        ("Where did the wolves return?", "where"),
        ("Why won't Turkey sanction Russia?", "why"),
        ("What did the governor say?", "say"),
        ("What has Biden said about Iran?", "say"),
        ("What is said to be the cause?", None),
        ("What did the storm destroy?", None),
    ],
)
def test_answer_type(question: str, kind: str | None) -> None:
    assert answer_type(question) == kind


@pytest.mark.parametrize(
    ("kind", "sentence", "expected"),
    [
        ("number", "More than 200 flights were cancelled.", 1.0),
        ("number", "Many flights were cancelled.", 0.0),
        ("when", "The terminal opened in May 2023.", 1.0),
        ("when", "The terminal opened to great applause.", 0.0),
        ("who", "The mayor thanked Priya Raman.", 1.0),
        ("who", "the mayor thanked everyone.", 0.0),
        ("why", "Flights stopped because of the storm.", 1.0),
        (None, "Anything at all.", 0.0),
    ],
)
def test_type_match(kind: str | None, sentence: str, expected: float) -> None:
    assert type_match(kind, sentence) == expected


def test_question_words_are_not_terms_to_cover() -> None:
    terms = question_terms("How many flights were cancelled by the storm?")
    assert "mani" not in terms and "many" not in terms
    assert {"flight", "cancel", "storm"} <= set(terms)


def test_the_sentence_that_answers_scores_best(engine: Engine) -> None:
    question = "How many flights were cancelled by the storm?"
    hits = engine.search(question)
    scored = SentenceScorer(engine.index.lexical).score(question, hits)
    assert [len(s) for s in scored] == [len(h.passage.sentences) for h in hits]
    best = max((c for sentences in scored for c in sentences), key=lambda c: c.score)
    assert best.text == "More than 200 flights were cancelled and thousands of travellers were stranded."
    weights = SentenceScorer(engine.index.lexical).term_weights(question)
    held = weights["flight"] + weights["cancel"]  # "storm" is in the sentence before
    assert best.coverage == pytest.approx(held / sum(weights.values()))
    assert best.hit.article.text[best.start : best.end] == best.text
    # The search ranks by the same score: the hit holding that sentence comes first.
    assert hits[0].passage.id == best.hit.passage.id and hits[0].score == pytest.approx(best.score)
