"""Time words in a question ("this week", "yesterday", "in March", "on Tuesday") as a date window.

News questions are asked on a day — the as-of date — and speak relative to it. This module turns the
few phrases news readers use into an inclusive :class:`~retrieval.types.DateRange`, never reaching
past the as-of date. It only reads the phrases it knows; anything else is no window (the search then
uses the as-of date as a recency prior instead).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from retrieval.types import DateRange

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = tuple(m.lower() for m in calendar.month_name[1:])
_MONTH_ABBREVIATIONS = {m[:3]: i for i, m in enumerate(_MONTHS, start=1)} | {"sept": 9}

_PATTERN = re.compile(
    r"\b(?:(?P<rel>this|last|past) (?P<unit>week|weekend|month|year)"
    r"|(?P<day>today|yesterday|tonight)"
    r"|on (?P<weekday>" + "|".join(_WEEKDAYS) + r")"
    r"|in (?:early |mid-?|late )?(?P<month>" + "|".join(_MONTHS) + r"|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)"
    r"\.?(?:,? (?P<month_year>(?:19|20)\d\d))?"
    r"|in (?P<year>(?:19|20)\d\d))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TimeWindow:
    """The dates a question's time words point at, and the words themselves."""

    dates: DateRange
    phrase: str


def _month_range(year: int, month: int) -> tuple[dt.date, dt.date]:
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, 1), dt.date(year, month, last)


def _relative(rel: str, unit: str, as_of: dt.date) -> tuple[dt.date, dt.date]:
    """``this/last/past week|weekend|month|year`` relative to ``as_of``."""
    last = rel.lower() == "last"
    unit = unit.lower()
    if unit == "week":
        # A rolling week: news quizzes ask "this week" at its end; "last week" is the one before.
        end = as_of - dt.timedelta(days=7) if last else as_of
        return end - dt.timedelta(days=6), end
    if unit == "weekend":
        saturday = as_of - dt.timedelta(days=(as_of.weekday() - 5) % 7)
        if last and saturday + dt.timedelta(days=1) >= as_of:
            saturday -= dt.timedelta(days=7)
        return saturday, saturday + dt.timedelta(days=2)  # Monday's reporting included
    if unit == "month":
        if last:
            first = as_of.replace(day=1) - dt.timedelta(days=1)
            return _month_range(first.year, first.month)
        if rel.lower() == "past":
            return as_of - dt.timedelta(days=30), as_of
        return as_of.replace(day=1), as_of
    year = as_of.year - 1 if last else as_of.year
    if rel.lower() == "past":
        return as_of - dt.timedelta(days=365), as_of
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def _month(name: str, year: str | None, as_of: dt.date) -> tuple[dt.date, dt.date]:
    """``in March [2023]``: that month of that year, else the latest March not after ``as_of``."""
    key = name.lower().rstrip(".")
    month = _MONTHS.index(key) + 1 if key in _MONTHS else _MONTH_ABBREVIATIONS[key[:4] if key == "sept" else key[:3]]
    if year:
        return _month_range(int(year), month)
    chosen = as_of.year if month <= as_of.month else as_of.year - 1
    return _month_range(chosen, month)


def time_window(question: str, as_of: dt.date) -> TimeWindow | None:
    """The date window a question's time words set, capped at ``as_of``; None if it has none."""
    match = _PATTERN.search(question)
    if match is None:
        return None
    groups = match.groupdict()
    if groups["rel"]:
        start, end = _relative(groups["rel"], groups["unit"], as_of)
    elif groups["day"]:
        back = 0 if groups["day"].lower() in ("today", "tonight") else 1
        start, end = as_of - dt.timedelta(days=back), as_of  # what happened yesterday is reported today
    elif groups["weekday"]:
        weekday = _WEEKDAYS.index(groups["weekday"].lower())
        start = as_of - dt.timedelta(days=(as_of.weekday() - weekday) % 7)
        end = start + dt.timedelta(days=1)  # and the next day's reporting
    elif groups["month"]:
        start, end = _month(groups["month"], groups["month_year"], as_of)
    else:
        year = int(groups["year"])
        start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    end = min(end, as_of)
    if start > end:
        return None  # a window entirely after the as-of date: nothing to point at
    return TimeWindow(DateRange(start, end), match.group(0))
