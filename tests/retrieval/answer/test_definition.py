"""Questions that ask who or what a name is: the subject, its mentions written as a name, the description
(an apposition, a predicate, a title in front) and the sentence that introduces it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest

from retrieval.answer.definition import apposition, describe, introduce, mentions, subject, title_before
from retrieval.answer.reader import NOUN_PHRASE, Entity, SpacyTagger
from retrieval.answer.sentences import Candidate
from retrieval.types import Article, Hit, Passage


def _sentences(*articles: Sequence[str]) -> list[Candidate]:
    """The sentences of ``articles`` (one passage each) as candidates, best first in the order given:
    article by article, each article's sentences in their order."""
    out: list[Candidate] = []
    for number, sentences in enumerate(articles):
        text = " ".join(sentences)
        article = Article(id=f"a{number}", title="t", date=dt.date(2024, 1, 1), source="x", text=text)
        hit = Hit(Passage(number, article.id, 0, len(text), text), article, 1.0, number + 1)
        start = 0
        for sentence in sentences:
            out.append(Candidate(hit, start, start + len(sentence), sentence, 1.0, coverage=0.5, similarity=0.2))
            start += len(sentence) + 1
    return out


def _around(text: str, span: tuple[int, int] | None) -> str | None:
    return None if span is None else text[span[0] : span[1]]


@pytest.mark.parametrize(
    ("question", "name"),
    [
        ("Who is Maria Olsen?", "Maria Olsen"),
        ("who's jens stoltenberg", "jens stoltenberg"),
        ("What is the European Union?", "European Union"),
        ("What were the Houthis ?", "Houthis"),
        ("Who is the President of France?", None),  # a role: who holds it, not what it is
        ("Who were the Houthis?", None),
        ("Who was Time's Person of the Year?", None),
        ("Who is Secretary of State?", None),
        ("What is the Bank of England?", "Bank of England"),
        ("What is the secretary general of NATO?", "secretary general of NATO"),  # mentions() decides
        ("Who is it?", None),
        ("Why won't Turkey sanction Russia?", None),
        ("Who won the Nobel Peace Prize?", None),
        ("What is the name of the new prime minister of a very small country?", None),  # too long
    ],
)
def test_the_subject_of_a_who_or_what_is_question(question: str, name: str | None) -> None:
    assert subject(question) == name


def test_a_mention_counts_only_where_the_article_writes_a_name() -> None:
    text = "Officials met Jens  Stoltenberg, secretary general of NATO, and the secretary general of the UN."
    assert [text[a:b] for a, b in mentions("jens stoltenberg", text)] == ["Jens  Stoltenberg"]
    assert mentions("secretary general of NATO", text) == []  # written in lowercase: not a name
    assert mentions("Stolten", text) == []  # whole words only
    assert mentions("Kalin", "Kalin said so.") == []  # any word is capitalised at a sentence's start
    assert mentions("Kalin", "Kalin said so.", at_start=True) == [(0, 5)]


@pytest.mark.parametrize(
    ("text", "name", "description"),
    [
        (
            "said Maria Olsen, chief scientist of the marine park authority.",
            "Maria Olsen",
            "chief scientist of the marine park authority",
        ),
        (
            "The head of NATO, an organization of which Turkey is a member, spoke.",
            "NATO",
            "organization of which Turkey is a member",
        ),
        (
            "Telenet was the first public data network in the U.S. market.",
            "Telenet",
            "first public data network in the U.S. market",
        ),
        ("The network (CSNET) was a computer network that began in 1981.", "CSNET", "computer network"),
        ("Biden met Erdogan, Macron and Scholz.", "Erdogan", None),  # a list of names, not a description
        ("Stoltenberg, said the officials, will come.", "Stoltenberg", None),
        ("Kalin was speaking on Friday.", "Kalin", None),  # no a/an/the: not a description
    ],
)
def test_the_description_after_a_name(text: str, name: str, description: str | None) -> None:
    end = text.index(name) + len(name)
    assert _around(text, apposition(text, end)) == description


def test_a_title_in_front_of_a_name_with_its_opener() -> None:
    text = "Turkish presidential spokesman Ibrahim Kalin spoke. US President Joe Biden called on Friday Kalin."
    entities = [
        Entity(0, 7, "NORP"),
        Entity(8, 30, NOUN_PHRASE),
        Entity(31, 43, "PERSON"),
        Entity(52, 54, "GPE"),
        Entity(65, 74, "PERSON"),
        Entity(85, 91, "DATE"),
    ]
    assert _around(text, title_before(text, 31, entities)) == "Turkish presidential spokesman"
    assert _around(text, title_before(text, 65, entities)) == "US President"
    assert title_before(text, text.rindex("Kalin"), entities) is None  # a date in front is no title


def test_the_introducing_sentence_leads_with_its_description_as_a_verbatim_span() -> None:
    ranked = _sentences(
        ["Water on the reef was 2 degrees above average.", "Olsen said it was the worst year."],
        ["Divers counted bleached corals.", "It was widespread, said Maria Olsen, chief scientist of the park."],
    )
    introduction = introduce("Who is Olsen?", ranked, None)
    assert introduction is not None
    assert introduction.sentences[0].text.endswith("chief scientist of the park.")
    span = introduction.description
    assert span is not None and span.text == "chief scientist of the park"
    assert span.sentence.hit.article.text[span.start : span.end] == span.text
    assert [c.text for c in introduction.sentences[1:]] == ["Olsen said it was the worst year."]


def test_without_a_description_the_first_mention_in_the_best_article_leads() -> None:
    ranked = _sentences(["A storm hit the coast.", "Mayor Priya Raman visited.", "Raman promised repairs."])
    introduction = introduce("Who is Priya Raman?", ranked, None)
    assert introduction is not None and introduction.description is None
    assert [c.text for c in introduction.sentences] == ["Mayor Priya Raman visited."]


def test_a_name_no_sentence_holds_or_another_kind_of_question_is_left_to_the_ranker() -> None:
    ranked = _sentences(["The secretary general of NATO spoke in Antalya."])
    assert introduce("Who is Boris Johnson?", ranked, None) is None
    assert introduce("Who is the secretary general of NATO?", ranked, None) is None
    role = _sentences(["France's leader, the President of France, Emmanuel Macron, spoke."])
    assert introduce("Who is the President of France?", role, None) is None  # the reader names him
    assert introduce("Why did NATO speak?", ranked, None) is None


@pytest.mark.model
def test_the_real_tagger_finds_the_title_in_front_of_a_surname() -> None:
    ranked = _sentences(
        ["Turkish presidential spokesman Ibrahim Kalin reiterated that Ankara has no plans to join sanctions."]
    )
    span = describe(ranked[0], "Kalin", SpacyTagger().entities([ranked[0].text])[0])
    assert span is not None and span.text == "Turkish presidential spokesman"
