"""Follow-up questions are made explicit against the previous question of the conversation (as searched)."""

from __future__ import annotations

import pytest

from retrieval.search.followup import leans_back, new_subject, resolve, split_carried, subject_words

TURKEY = "Why won't Turkey sanction Russia?"
NATO_ON_IT = "What did NATO say about it? (Turkey sanction Russia)"


@pytest.mark.parametrize(
    ("question", "searched"),
    [
        ("and what about Hungary?", "Why won't Hungary sanction Russia?"),
        ("What about Hungary", "Why won't Hungary sanction Russia?"),
        ("What about in Hungary?", "Why won't Hungary sanction Russia?"),
        ("When did he say that?", "When did he say that? (Turkey sanction Russia)"),
        ("Why?", "Why? (Turkey sanction Russia)"),
        ("And when?", "And when? (Turkey sanction Russia)"),
        ("What happened there?", "What happened there? (Turkey sanction Russia)"),
        ("What did they decide then?", "What did they decide then? (Turkey sanction Russia)"),
        ("In how many cities?", "In how many cities? (Turkey sanction Russia)"),
        ("When was the decision taken?", "When was the decision taken? (Turkey sanction Russia)"),
    ],
)
def test_a_follow_up_carries_the_previous_subject(question: str, searched: str) -> None:
    assert resolve(question, TURKEY) == searched


def test_a_question_that_names_something_and_points_back_keeps_the_subject() -> None:
    assert resolve("What did NATO say about it?", TURKEY) == NATO_ON_IT
    said = "When did Stoltenberg say that?"
    assert resolve(said, TURKEY) == f"{said} (Turkey sanction Russia)"


def test_who_he_is_asks_about_the_one_name_the_previous_question_held() -> None:
    assert resolve("Who is he?", "What did Erdogan say?") == "Who is Erdogan?"
    assert resolve("and what is it?", NATO_ON_IT) == "what is NATO?"  # the carried words are not names asked
    assert resolve("Who is he?", TURKEY) == "Who is he? (Turkey sanction Russia)"  # two names: as before
    assert resolve("What did he say?", "What did Erdogan say?") == "What did he say? (Erdogan)"


def test_an_elliptic_new_subject_replaces_the_name_not_the_carried_subject() -> None:
    assert resolve("and Erdogan?", NATO_ON_IT) == "What did Erdogan say about it? (Turkey sanction Russia)"
    assert resolve("what about the EU?", NATO_ON_IT) == "What did EU say about it? (Turkey sanction Russia)"


def test_a_new_subject_that_is_no_name_is_added() -> None:
    assert resolve("and the gun charge?", "Who announced them? (Hunter Biden charges)") == (
        "Who announced them? (Hunter Biden charges gun charge)"
    )


def test_a_follow_up_of_a_follow_up_carries_the_words_carried_before() -> None:
    first = resolve("Why?", TURKEY)
    assert resolve("Who said it?", first) == "Who said it? (Turkey sanction Russia)"


@pytest.mark.parametrize(
    "question",
    [
        "What did Erdogan say?",
        "Who is the secretary general of NATO?",
        "Is there a deal between Russia and Ukraine?",
        "What did Erdogan say this week?",
        "Who said that Turkey would not sanction Russia?",
    ],
)
def test_a_question_with_its_own_subject_stands_alone(question: str) -> None:
    assert resolve(question, TURKEY) == question


@pytest.mark.parametrize("previous", [None, "", "   "])
def test_no_previous_question_no_change(previous: str | None) -> None:
    assert resolve("When did he say that?", previous) == "When did he say that?"


def test_the_parts_of_a_resolution() -> None:
    assert split_carried(NATO_ON_IT) == ("What did NATO say about it?", "Turkey sanction Russia")
    assert split_carried(TURKEY) == (TURKEY, "")
    assert subject_words(NATO_ON_IT, exclude="When did NATO decide?") == ["Turkey", "sanction", "Russia"]
    assert new_subject("and Erdogan?") == "Erdogan"
    assert new_subject("and when did he say it?") is None
    assert new_subject("And is it over?") is None
    assert leans_back("Is there a deal?") is False
    assert leans_back("Did he announce that?") is True
