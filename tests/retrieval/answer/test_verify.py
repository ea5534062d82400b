"""The verifier on scripted sentences: numbers, names, quotes, citations and the support score."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pytest

from retrieval.answer.prompt import NumberedPassage, number_passages
from retrieval.answer.verify import LexicalSupport, SentenceVerifier, Verifier, facts, split_citations
from retrieval.types import Article, Hit, Passage

QUESTION = "How much did the new ferry terminal in Tallinn cost?"
TEXTS = {
    "harbour": (
        "Port of Tallinn opens new ferry terminal",
        "Harbour Weekly",
        dt.date(2023, 5, 2),
        [
            "The Port of Tallinn opened a new ferry terminal on Tuesday.",
            "The terminal cost 40 million euros and will handle two million passengers a year.",
            "Harbour master Liis Kask said the old building was “too small for modern ships”.",
        ],
    ),
    "mayor": (
        "Coastal town elects new mayor",
        "Example Gazette",
        dt.date(2023, 6, 15),
        [
            "Voters in Marlow elected Priya Raman as mayor on Sunday.",
            "Raman won 54 percent of the vote, and turnout was 61 percent.",
        ],
    ),
}


def make_hit(number: int, key: str) -> Hit:
    title, source, day, sentences = TEXTS[key]
    text = " ".join(sentences)
    spans, start = [], 0
    for sentence in sentences:
        spans.append((start, start + len(sentence)))
        start += len(sentence) + 1
    article = Article(id=key, title=title, date=day, source=source, text=text)
    passage = Passage(id=number, article_id=key, start=0, end=len(text), text=text, sentences=tuple(spans))
    return Hit(passage=passage, article=article, score=1.0, rank=number)


@pytest.fixture
def passages() -> list[NumberedPassage]:
    """[1] the harbour story, [2] the mayor story."""
    return number_passages([make_hit(1, "harbour"), make_hit(2, "mayor")], max_chars=2000)


@pytest.fixture
def verifier() -> Verifier:
    return Verifier(LexicalSupport())


def test_a_supported_sentence_keeps_its_citation(verifier: Verifier, passages: list[NumberedPassage]) -> None:
    verdict = verifier.verify(QUESTION, "The new terminal cost 40 million euros [1].", passages)
    assert verdict.verified and not verdict.recited and verdict.reason == ""
    assert verdict.passage is passages[0] and verdict.text == "The new terminal cost 40 million euros."
    assert verdict.support >= verifier.threshold
    assert passages[0].sentences[verdict.evidence].startswith("The terminal cost 40 million euros")


def test_a_fabricated_number_is_dropped(verifier: Verifier, passages: list[NumberedPassage]) -> None:
    verdict = verifier.verify(QUESTION, "The new terminal cost 45 million euros [1].", passages)
    assert not verdict.verified and "45" in verdict.reason


def test_number_words_and_digits_are_the_same_number(verifier: Verifier, passages: list[NumberedPassage]) -> None:
    assert verifier.verify(QUESTION, "It will handle 2 million passengers a year [1].", passages).verified
    assert not verifier.verify(QUESTION, "It will handle three million passengers a year [1].", passages).verified


def test_a_wrong_citation_moves_to_the_passage_that_supports_it(
    verifier: Verifier, passages: list[NumberedPassage]
) -> None:
    verdict = verifier.verify(QUESTION, "The terminal cost 40 million euros [2].", passages)
    assert verdict.verified and verdict.recited and verdict.passage is passages[0]
    assert "[1] supports it" in verdict.reason


def test_a_citation_to_a_passage_not_given(verifier: Verifier, passages: list[NumberedPassage]) -> None:
    moved = verifier.verify(QUESTION, "The terminal cost 40 million euros [7].", passages)
    assert moved.verified and moved.passage is passages[0] and "not given" in moved.reason
    dropped = verifier.verify(QUESTION, "The terminal cost 90 million euros [7].", passages)
    assert not dropped.verified and dropped.passage is None


def test_no_citation_gets_the_best_supporting_passage(verifier: Verifier, passages: list[NumberedPassage]) -> None:
    verdict = verifier.verify(QUESTION, "Priya Raman won 54 percent of the vote.", passages)
    assert verdict.verified and verdict.passage is passages[1] and "no citation" in verdict.reason


def test_a_name_the_passage_lacks_is_dropped(verifier: Verifier, passages: list[NumberedPassage]) -> None:
    verdict = verifier.verify(QUESTION, "Mayor John Smith opened the terminal [1].", passages)
    assert not verdict.verified and "john" in verdict.reason.lower()


def test_quoted_words_must_be_verbatim(verifier: Verifier, passages: list[NumberedPassage]) -> None:
    ok = "Liis Kask said the old building was “too small for modern ships” [1]."
    assert verifier.verify(QUESTION, ok, passages).verified
    bad = "Liis Kask said the old building was “far too small” [1]."
    verdict = verifier.verify(QUESTION, bad, passages)
    assert not verdict.verified and "far too small" in verdict.reason


def test_words_the_passage_does_not_hold_fail_the_support_score(
    verifier: Verifier, passages: list[NumberedPassage]
) -> None:
    verdict = verifier.verify(QUESTION, "the terminal is painted green and smells of fish and diesel [1].", passages)
    assert not verdict.verified and verdict.reason.startswith("support")


def test_the_date_line_is_part_of_the_passage(verifier: Verifier, passages: list[NumberedPassage]) -> None:
    assert verifier.verify(QUESTION, "Tallinn's new ferry terminal opened on May 2, 2023 [1].", passages).verified
    assert not verifier.verify(QUESTION, "Tallinn's new ferry terminal opened on May 3, 2023 [1].", passages).verified


def test_a_sentence_with_nothing_to_check_is_dropped(verifier: Verifier, passages: list[NumberedPassage]) -> None:
    assert not verifier.verify(QUESTION, "I hope this helps!", passages).verified


def test_the_question_asked_again_is_no_answer(verifier: Verifier, passages: list[NumberedPassage]) -> None:
    echo = verifier.verify(QUESTION, "The new ferry terminal in Tallinn cost how much [1]?", passages)
    assert not echo.verified and not echo.claim and "question" in echo.reason
    assert verifier.verify(QUESTION, "The new ferry terminal in Tallinn cost 40 million euros [1].", passages).verified


def test_only_what_the_model_was_shown_counts() -> None:
    cut = number_passages([make_hit(1, "harbour")], max_chars=70)  # the first sentence only
    assert len(cut[0].sentences) == 1
    verdict = Verifier(LexicalSupport()).verify(QUESTION, "The terminal cost 40 million euros [1].", cut)
    assert not verdict.verified


@pytest.mark.parametrize(
    ("sentence", "text", "cited"),
    [
        ("It cost 40 million euros [1].", "It cost 40 million euros.", (1,)),
        ("It cost 40 million euros. [1]", "It cost 40 million euros.", (1,)),
        ("Both say so [1, 2].", "Both say so.", (1, 2)),
        ("Both say so [1][2].", "Both say so.", (1, 2)),
        ("As reported [Passage 2].", "As reported.", (2,)),
        ("No marker at all.", "No marker at all.", ()),
    ],
)
def test_split_citations(sentence: str, text: str, cited: tuple[int, ...]) -> None:
    assert split_citations(sentence) == (text, cited)


def test_facts() -> None:
    found = facts("The U.S. team's coach, Gregg Berhalter, said “we will win” on 3 June 2,000 times.")
    assert {"us", "gregg", "berhalter", "june"} <= found.names and "the" not in found.names
    assert {"3", "2000"} <= found.numbers
    assert found.quotes == ("we will win",)


def test_idf_weights_the_support() -> None:
    """A rare word missing costs more than a common one."""
    passage = number_passages([make_hit(1, "harbour")], 2000)
    common = LexicalSupport(idf=lambda t: 0.1 if t == "cheap" else 5.0)
    rare = LexicalSupport(idf=lambda t: 5.0 if t == "cheap" else 0.1)
    claim = "The terminal was cheap."
    assert common.support(QUESTION, claim, passage)[0].score > rare.support(QUESTION, claim, passage)[0].score


def test_the_claims_terms_are_weighed_in_one_call() -> None:
    """A replica's index reads a claim's terms' idf in one query: support asks for them all at once."""
    calls: list[list[str]] = []

    def idfs(terms: Iterable[str]) -> dict[str, float]:
        calls.append(sorted(terms))
        return {term: 0.1 if term == "cheap" else 5.0 for term in calls[-1]}

    passage = number_passages([make_hit(1, "harbour")], 2000)
    claim = "The terminal was cheap."
    batched = LexicalSupport(idfs=idfs).support(QUESTION, claim, passage)
    single = LexicalSupport(idf=lambda t: 0.1 if t == "cheap" else 5.0).support(QUESTION, claim, passage)
    assert batched == single
    assert len(calls) == 1 and "cheap" in calls[0] and len(calls[0]) > 1


def one_sentence(text: str, number: int = 1) -> NumberedPassage:
    """``text`` as a numbered one-sentence evidence unit (the sentence prompt's)."""
    article = Article(
        id="a", title="Jury verdict in civil trial", date=dt.date(2022, 6, 21), source="Example", text=text
    )
    hit = Hit(Passage(0, "a", 0, len(text), text, ((0, len(text)),)), article, 1.0)
    return NumberedPassage(number, hit, ((0, len(text)),))


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("The jury awarded Huth $500,000 [1].", True),
        ("A jury awarded Judy Huth $500,000 in damages, it was reported [1].", True),
        ("Huth awarded the jury $500,000 [1].", False),  # who did what to whom, swapped
        ("The jury awarded Cosby $500,000 [1].", False),  # a name the sentence has, in another role
        ("The jury awarded Huth $500,000 in Los Angeles [1].", False),  # a place from elsewhere
        ("The jury awarded Huth $5 million [1].", False),
    ],
)
def test_the_sentence_verifier_wants_one_sentence_to_state_it(written: str, kept: bool) -> None:
    evidence = one_sentence("A jury awarded Judy Huth $500,000 in damages on Tuesday in her suit against Bill Cosby.")
    verdict = SentenceVerifier().verify("How much did the jury award Huth?", written, [evidence])
    assert verdict.verified is kept, verdict.reason
