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


def publication_day(article: Article) -> int:
    """What orders copies of one story: the publication day (a proleptic ordinal; undated after every date)."""
    return article.date.toordinal() if article.date else dt.date.max.toordinal() + 1


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
    also: tuple[str, ...] = ()
    """Other outlets whose near-identical copy of this passage was not listed (syndicated wire copy)."""


@dataclass(frozen=True)
class Quote:
    """A sentence quoted verbatim from an article: its text and where it stands (article offsets)."""

    text: str
    start: int
    end: int
    passage_id: int


@dataclass(frozen=True)
class Citation:
    """One numbered source of an answer: an article, and the sentences the answer quotes from it."""

    number: int
    article_id: str
    title: str
    date: dt.date | None
    source: str
    url: str | None
    quotes: tuple[Quote, ...]
    also: tuple[str, ...] = ()
    """Other outlets that carried the same story (near-duplicate copies), for corroboration."""


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer with the number of the source that backs it.

    Extractive sentences are quotes (verified by construction); written ones (an LLM's) carry what
    the verifier found: whether the cited passage supports it, by what score, and which passage.
    """

    text: str
    citation: int
    verified: bool = True
    support: float | None = None
    passage_id: int | None = None


@dataclass(frozen=True)
class ShortAnswer:
    """The name, number, amount, date or place asked for: a verbatim span of the answer's first sentence."""

    text: str
    citation: int
    start: int
    """Article offsets of the span (``end`` exclusive)."""
    end: int
    passage_id: int
    probability: float
    """The reader's probability that the span is the answer (for the description of a name asked about,
    ``retrieval.answer.definition``, the answer's confidence)."""


@dataclass(frozen=True)
class Answer:
    """What every front renders: the answer text, its numbered sources, the passages and the timings."""

    question: str
    text: str
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    hits: tuple[Hit, ...]
    abstained: bool
    confidence: float
    timings: dict[str, float] = field(default_factory=dict)
    searched: str = ""
    """The question as searched, when it differs from the one asked (a follow-up made explicit)."""
    as_of: dt.date | None = None
    """The day the question was asked as: articles after it were not searched."""
    window: DateRange | None = None
    """The date window the question's own time words set ("this week", "in March"), if any."""
    answerer: str = "extractive"
    """What wrote the text: ``extractive`` (quotes) or ``llm`` (verified written sentences)."""
    note: str = ""
    """A one-line remark for the reader (e.g. why a written answer fell back to quotes)."""
    short_answer: ShortAnswer | None = None
    """The short answer the text opens with (None: the question asks for none, or none was found)."""


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

    def days(self) -> tuple[int | None, int | None]:
        """The window as inclusive proleptic ordinals (either end None when open)."""
        return (
            self.since.toordinal() if self.since else None,
            self.until.toordinal() if self.until else None,
        )
