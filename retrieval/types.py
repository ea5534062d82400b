"""The domain types every part of newsdesk passes around: small, frozen, typed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Article:
    """One cleaned news article, as ingested from the seeds directory."""

    id: str
    title: str
    date: dt.date | None
    source: str
    text: str
    url: str | None = None
    content_hash: str = ""


@dataclass(frozen=True)
class Passage:
    """A chunk of an article: whole sentences, with character offsets into the cleaned text."""

    id: int
    article_id: str
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...] = ()
    """Sentence spans inside this passage, as article offsets."""
    units: tuple[int, ...] = ()
    """The vector id of each sentence (aligned with ``sentences``); shared by overlapping passages."""


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with the article it comes from and how it scored."""

    passage: Passage
    article: Article
    score: float
    """What the hit is ranked by: its best sentence's score when re-ranked, else ``fused_score``."""
    dense_score: float | None = None
    lexical_score: float | None = None
    rank: int = 0
    fused_score: float | None = None
    """The dense and BM25 scores combined (see ``retrieval.search.fuse``)."""
    sentence_scores: tuple[float, ...] = ()
    """Cosine of the question to each sentence of the passage (aligned with its ``sentences``)."""


@dataclass(frozen=True)
class Citation:
    """A numbered pointer from an answer sentence to the exact passage text that supports it."""

    number: int
    article_id: str
    title: str
    date: dt.date | None
    source: str
    url: str | None
    quote: str
    start: int
    end: int
    passage_id: int


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer, quoted verbatim, with the citation number that backs it."""

    text: str
    citation: int


@dataclass(frozen=True)
class Answer:
    """What every front renders: the answer text, its citations, the passages and the timings."""

    question: str
    text: str
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    hits: tuple[Hit, ...]
    abstained: bool
    confidence: float
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class DateRange:
    """An inclusive publication-date filter; either end may be open."""

    since: dt.date | None = None
    until: dt.date | None = None

    def admits(self, day: dt.date | None) -> bool:
        """True if an article published on ``day`` passes the filter (undated ones never do)."""
        if self.since is None and self.until is None:
            return True
        if day is None:
            return False
        if self.since is not None and day < self.since:
            return False
        return not (self.until is not None and day > self.until)

    @property
    def active(self) -> bool:
        """True if either end is set."""
        return self.since is not None or self.until is not None
