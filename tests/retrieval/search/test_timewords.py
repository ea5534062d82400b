"""Time words in questions become date windows counted from the as-of day."""

from __future__ import annotations

import datetime as dt

import pytest

from retrieval.search.timewords import time_window
from retrieval.types import DateRange

THURSDAY = dt.date(2023, 3, 16)


@pytest.mark.parametrize(
    ("question", "since", "until"),
    [
        ("Who resigned this week?", dt.date(2023, 3, 10), THURSDAY),
        ("Who resigned last week?", dt.date(2023, 3, 3), dt.date(2023, 3, 9)),
        ("What happened yesterday in Paris?", dt.date(2023, 3, 15), THURSDAY),
        ("What did the court rule today?", THURSDAY, THURSDAY),
        ("Which bank failed on Friday?", dt.date(2023, 3, 10), dt.date(2023, 3, 11)),
        ("What did he say on Thursday?", THURSDAY, THURSDAY),
        ("What was announced this month?", dt.date(2023, 3, 1), THURSDAY),
        ("What was announced last month?", dt.date(2023, 2, 1), dt.date(2023, 2, 28)),
        ("Who won the election in November?", dt.date(2022, 11, 1), dt.date(2022, 11, 30)),
        ("What happened in March 2021?", dt.date(2021, 3, 1), dt.date(2021, 3, 31)),
        ("What happened in March?", dt.date(2023, 3, 1), THURSDAY),
        ("Who won the World Cup in 2022?", dt.date(2022, 1, 1), dt.date(2022, 12, 31)),
        ("What did they agree last weekend?", dt.date(2023, 3, 11), dt.date(2023, 3, 13)),
    ],
)
def test_time_words_become_a_window(question: str, since: dt.date, until: dt.date) -> None:
    window = time_window(question, THURSDAY)
    assert window is not None
    assert window.dates == DateRange(since, until)
    assert window.phrase.lower() in question.lower()


@pytest.mark.parametrize(
    "question",
    ["Why won't Turkey sanction Russia?", "Who is the secretary general of NATO?", "What will happen in 2030?"],
)
def test_no_time_words_no_window(question: str) -> None:
    assert time_window(question, THURSDAY) is None


def test_a_window_never_reaches_past_the_as_of_day() -> None:
    window = time_window("What happened this year?", THURSDAY)
    assert window is not None and window.dates.until == THURSDAY
