"""Composing the answer with the ranker: the blend of the two sentence scores, leading with a sentence
of the kind asked for where the training questions hold too few of that kind, and the reader's runner-up
behind a lone lead."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from retrieval.answer.extractive import (
    LEAD_MARGIN,
    RUNNER_UP_WORDS,
    blend,
    lead_with_kind,
    led_by,
    read_order,
    scored_by,
    with_runner_up,
)
from retrieval.answer.reader import Choice, Reader, ReaderModel, Reading, SpacyTagger, Span, default_reader_dir
from retrieval.answer.sentences import Candidate
from retrieval.types import Article, Hit, Passage

SENTENCES = [
    "NATO expects all allies to impose sanctions on Russia, its chief told Turkish media.",
    "Ankara has no plans to impose sanctions because it wants to keep the channel of trust open.",
    "The forum met in Antalya on Friday.",
]


def _candidates(scores: list[float], sentences: list[str] = SENTENCES) -> list[Candidate]:
    """``sentences`` as the candidate sentences of one passage of one article, with ``scores``."""
    text = " ".join(sentences)
    article = Article(id="a", title="Turkey and the sanctions", date=dt.date(2022, 3, 12), source="x", text=text)
    passage = Passage(id=0, article_id="a", start=0, end=len(text), text=text, sentences=())
    hit = Hit(passage=passage, article=article, score=1.0, rank=1)
    out, start = [], 0
    for sentence, score in zip(sentences, scores, strict=True):
        out.append(Candidate(hit, start, start + len(sentence), sentence, score, coverage=1.0, similarity=0.5))
        start += len(sentence) + 1
    return out


def test_blend_averages_the_ranker_probability_with_the_hand_score_over_its_best() -> None:
    candidates = _candidates([2.0, 1.0, 0.5])  # hand weights: the first sentence
    order = blend(candidates, [0.1, 0.9, 0.2])  # the ranker: the second
    assert [c.text for c in order] == [SENTENCES[1], SENTENCES[0], SENTENCES[2]]
    assert abs(order[0].score - (0.5 * 0.9 + 0.5 * 0.5)) < 1e-9
    assert [c.score for c in scored_by(candidates, [0.3, 0.1, 0.2])] == [0.3, 0.2, 0.1]


def test_a_why_question_leads_with_a_reason_within_the_margin() -> None:
    ranked = _candidates([0.8, 0.6, 0.1])
    led = lead_with_kind("Why won't Turkey sanction Russia?", ranked)
    assert led[0].text == SENTENCES[1] and len(led) == 3


def test_a_reason_far_below_the_best_does_not_lead() -> None:
    ranked = _candidates([0.8, 0.8 * LEAD_MARGIN - 0.01, 0.1])
    assert lead_with_kind("Why won't Turkey sanction Russia?", ranked) == ranked


def test_what_someone_said_leads_with_reported_speech() -> None:
    texts = ["He visited Ankara.", *SENTENCES[:2]]
    ranked = [replace(c, text=t) for c, t in zip(_candidates([0.9, 0.7, 0.1]), texts, strict=True)]
    led = lead_with_kind("What did Stoltenberg say?", ranked)
    assert led[0].text == SENTENCES[0]  # "… told Turkish media"


def test_other_kinds_keep_the_ranked_order() -> None:
    ranked = _candidates([0.8, 0.6, 0.1])
    assert lead_with_kind("Who leads NATO?", ranked) == ranked
    assert lead_with_kind("Why?", []) == []


def test_the_sentence_stating_the_short_answer_leads_and_the_best_follows() -> None:
    ranked = _candidates([0.9, 0.5, 0.2])
    probability = {(c.hit.passage.id, c.start): p for c, p in zip(ranked, [0.9, 0.1, 0.5], strict=True)}
    moved = led_by(ranked[2], ranked, probability, bar=0.4)
    assert [c.text for c in moved] == [SENTENCES[2], SENTENCES[0]]  # the best follows whatever its bar
    kept = led_by(ranked[0], ranked, probability, bar=0.4)
    assert [c.text for c in kept] == [SENTENCES[0], SENTENCES[2]]  # only what clears the bar follows


def test_the_readers_support_picks_the_lead_and_the_best_still_follows() -> None:
    ranked = _candidates([0.9, 0.5, 0.2])
    key = {c.text: (c.hit.passage.id, c.start) for c in ranked}
    supported = Reading(None, {key[SENTENCES[2]]: 0.9, key[SENTENCES[1]]: 0.3})
    lead, order = read_order(ranked, supported, weight=1.0)  # 0.2 + 0.9 beats 0.9 + 0 and 0.5 + 0.3
    assert lead.text == SENTENCES[2]
    assert [c.text for c in order] == [SENTENCES[0], SENTENCES[2], SENTENCES[1]]  # the best first of the rest
    lead, order = read_order(ranked, supported, weight=0.0)  # no weight: the blended order
    assert lead.text == SENTENCES[0] and [c.text for c in order] == SENTENCES


def test_a_shown_short_answer_leads_with_its_sentence() -> None:
    ranked = _candidates([0.9, 0.5, 0.2])
    span = Span(ranked[1], ranked[1].start, ranked[1].start + 6, "Ankara", "GPE")
    lead, order = read_order(ranked, Reading(Choice(span, 0.7), {}), weight=1.0)
    assert lead.text == SENTENCES[1] and order[0].text == SENTENCES[0]


def _support(ranked: list[Candidate], values: list[float]) -> dict[tuple[int, int], float]:
    return {(c.hit.passage.id, c.start): v for c, v in zip(ranked, values, strict=True)}


def test_a_lone_lead_takes_the_sentence_of_the_readers_runner_up() -> None:
    ranked = _candidates([0.9, 0.5, 0.2])
    support = _support(ranked, [0.6, 0.1, 0.4])  # the runner-up's span is in the third, not the next
    kept = with_runner_up([ranked[0]], ranked, support)
    assert [c.text for c in kept] == [SENTENCES[0], SENTENCES[2]]


def test_the_runner_up_stays_out_past_the_word_budget_and_behind_two_sentences() -> None:
    long = "Stoltenberg " * (RUNNER_UP_WORDS + 1 - len(SENTENCES[2].split()))  # with the third: one word too many
    texts = [long.strip(), *SENTENCES[1:]]
    ranked = [replace(c, text=t) for c, t in zip(_candidates([0.9, 0.5, 0.2]), texts, strict=True)]
    support = _support(ranked, [0.6, 0.1, 0.4])
    assert with_runner_up([ranked[0]], ranked, support) == [ranked[0]]
    fits = [replace(ranked[0], text=" ".join(long.split()[1:]))]
    assert len(with_runner_up(fits, ranked, support)) == 2  # exactly at the budget it joins
    assert with_runner_up(ranked[:2], ranked, support) == ranked[:2]  # already two: unchanged
    assert with_runner_up([ranked[0]], ranked, {}) == [ranked[0]]  # nothing read: unchanged


@pytest.mark.model
def test_the_real_reader_puts_the_other_candidate_answers_sentence_behind_the_lead() -> None:
    texts = [
        "The Nobel Peace Prize was announced in Oslo on Friday by the committee chair, Berit Reiss-Andersen.",
        "The journalists Maria Ressa and Dmitry Muratov won it for their defence of free expression.",
        "Organisers said the ceremony will be held in December.",
    ]
    ranked = _candidates([0.9, 0.5, 0.4], texts)
    model = ReaderModel.load(default_reader_dir())
    probability = [0.8, 0.4, 0.3]
    reading = Reader(SpacyTagger(), model).read("Who won the Nobel Peace Prize?", ranked, probability, {0: 0})
    support = [reading.support.get((c.hit.passage.id, c.start), 0.0) for c in ranked]
    assert reading.choice is None  # no span probable enough: the blended best leads, alone
    assert support[1] - support[2] > 0.03  # a margin: the tagger's floats differ across CPUs
    lead, order = read_order(ranked, reading, model.sentence_weight)
    kept = led_by(lead, order, _support(ranked, probability), model.second_sentence)
    assert [c.text for c in kept] == texts[:1]
    assert [c.text for c in with_runner_up(kept, ranked, reading.support)] == texts[:2]  # Ressa's sentence
