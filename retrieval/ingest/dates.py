"""An article's date from what a file says: ISO, a datetime, or words dateutil reads, never guessed."""

from __future__ import annotations

import datetime as dt

from retrieval.ingest.results import Collector


def parse_date(value: object) -> dt.date | None:
    """A date from an ISO string, a datetime or a date; None if there is none.

    ValueError if there is a value but not a whole calendar date: a number (``12``), a day that does
    not exist (``2022-13-45``), or a date missing its year, month or day (``March 2023``). Nothing
    is filled in: dateutil's defaults (today's year, month and day) never become an article's date.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date")
    text = value.strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        pass
    from dateutil import parser as date_parser

    try:  # parsed against two different defaults: a part taken from a default differs between them
        first = date_parser.parse(text, fuzzy=False, default=dt.datetime(1904, 1, 1))
        second = date_parser.parse(text, fuzzy=False, default=dt.datetime(1908, 2, 2))
    except (ValueError, OverflowError):
        raise ValueError(f"'{text[:40]}' is not a date") from None
    if first.date() != second.date():
        raise ValueError(f"'{text[:40]}' is not a whole date (year, month and day)")
    return first.date()


def date_or_warn(value: object, where: str, out: Collector, what: str = "date") -> dt.date | None:
    """``parse_date(value)``; a bad value is a warning naming ``where``, and the article stays undated."""
    try:
        return parse_date(value)
    except ValueError as exc:
        out.warn(where, f"bad {what}: {exc}; the article is left undated")
        return None
