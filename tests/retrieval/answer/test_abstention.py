"""The abstention decision and the note on old reporting."""

from __future__ import annotations

import datetime as dt

from retrieval.answer.abstention import HEURISTIC_THRESHOLD, Abstention, asks_about_present, staleness_note
from retrieval.answer.features import PASSAGE_FEATURES, QUESTION_FEATURES, SENTENCE_FEATURES
from retrieval.answer.ranker import Ranker, default_ranker_dir
from retrieval.config import AnswerConfig


def test_the_threshold_is_the_setting_else_the_rankers_else_the_heuristics() -> None:
    ranker = Ranker.load(default_ranker_dir())
    assert Abstention.of(AnswerConfig(min_confidence=0.4), ranker).threshold == 0.4
    assert Abstention.of(AnswerConfig(), ranker).threshold == ranker.min_confidence
    assert Abstention.of(AnswerConfig(), None).threshold == HEURISTIC_THRESHOLD
    assert Abstention(0.5).refuses(0.49) and not Abstention(0.5).refuses(0.5)


def test_no_model_sees_the_age_of_an_article() -> None:
    names = PASSAGE_FEATURES + SENTENCE_FEATURES + QUESTION_FEATURES
    assert not any(n == "age" or "days" in n for n in names)


def test_a_present_question_answered_from_old_reporting_gets_a_note() -> None:
    question = "Who is the current secretary general of NATO?"
    assert asks_about_present(question)
    note = staleness_note(question, [dt.date(2022, 3, 12), None], dt.date(2026, 12, 6))
    assert "12 March 2022" in note and "newer reporting may differ" in note


def test_no_note_for_recent_reporting_or_a_question_not_about_now() -> None:
    assert staleness_note("Who is the current head?", [dt.date(2026, 12, 1)], dt.date(2026, 12, 6)) == ""
    assert staleness_note("Who is the secretary general of NATO?", [dt.date(2022, 3, 12)], dt.date(2026, 12, 6)) == ""
    assert staleness_note("Who leads it now?", [None], dt.date(2026, 12, 6)) == ""
    assert not asks_about_present("Who won the snow show?")
