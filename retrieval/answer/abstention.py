"""When newsdesk refuses to answer, and what it says when an answer rests on old reporting.

The one place that decides. An answer is refused only when the passages do not support it: the
confidence is the ranker's question model (``retrieval.answer.ranker``), whose features describe how
well the passages state an answer (scores, coverage, names) and nothing of the articles' age, so an
old article that states the answer still answers. The age of the reporting is told instead: every
sentence carries its article's date, and a question about the present ("who is the current …",
"still", "now", "latest", "this week") answered from reporting older than ``STALE_DAYS`` gets a
one-line note that newer reporting may differ.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from retrieval.answer.ranker import Ranker
from retrieval.config import AnswerConfig

HEURISTIC_THRESHOLD = 0.35
"""Without the learned ranker: abstain below this confidence (kept wrongly abstained answerable
questions under 10 % on the SQuAD guard)."""
STALE_DAYS = 21
"""Reporting older than this (before the day asked) may be overtaken by events."""
_PRESENT = re.compile(
    r"\b(current|currently|now|nowadays|still|latest|today|at present|presently|these days|this (week|month|year))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Abstention:
    """Refuses below ``threshold``: the configured one, else the ranker's fitted one, else the heuristic's."""

    threshold: float

    @classmethod
    def of(cls, config: AnswerConfig, ranker: Ranker | None) -> Abstention:
        """The decision an engine with ``config`` and ``ranker`` makes."""
        if config.min_confidence is not None:
            return cls(config.min_confidence)
        return cls(ranker.min_confidence if ranker is not None else HEURISTIC_THRESHOLD)

    def refuses(self, confidence: float) -> bool:
        """True when the passages do not support an answer well enough to give one."""
        return confidence < self.threshold


def asks_about_present(question: str) -> bool:
    """True if the question asks how things stand now ("current", "still", "latest", "this week" …)."""
    return bool(_PRESENT.search(question))


def staleness_note(question: str, dates: Iterable[dt.date | None], as_of: dt.date) -> str:
    """A one-line note when a question about the present is answered from reporting older than
    ``STALE_DAYS`` before ``as_of`` (``dates``: the cited articles'); '' otherwise."""
    known = [d for d in dates if d is not None]
    if not known or not asks_about_present(question):
        return ""
    newest = max(known)
    if (as_of - newest).days <= STALE_DAYS:
        return ""
    return f"as of {newest.day} {newest:%B %Y}, the newest reporting that answers this: newer reporting may differ"
