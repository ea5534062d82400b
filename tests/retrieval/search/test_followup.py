"""Follow-up questions are made explicit against the previous question of the conversation."""

from __future__ import annotations

import pytest

from retrieval.search.followup import resolve
from retrieval.text import names

TURKEY = "Why won't Turkey sanction Russia?"


@pytest.mark.parametrize(
    ("question", "searched"),
    [
        ("and what about Hungary?", "Why won't Hungary sanction Russia?"),
        ("What about Hungary", "Why won't Hungary sanction Russia?"),
        ("When did he say that?", "When did he say that? (Turkey, Russia)"),
        ("Why?", "Why? (Turkey, Russia)"),
    ],
)
def test_a_follow_up_carries_the_previous_subject(question: str, searched: str) -> None:
    assert resolve(question, TURKEY) == searched


@pytest.mark.parametrize("question", ["What did Erdogan say?", "Who is the secretary general of NATO?"])
def test_a_question_with_its_own_subject_stands_alone(question: str) -> None:
    assert resolve(question, TURKEY) == question


def test_no_previous_question_no_change() -> None:
    assert resolve("When did he say that?", None) == "When did he say that?"


def test_names_skip_question_openers() -> None:
    assert names("What did Recep Tayyip Erdogan tell the UN in New York?") == ["Recep Tayyip Erdogan", "UN", "New York"]
