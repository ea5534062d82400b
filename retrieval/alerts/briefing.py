"""A briefing: the top stories published in a window of days, grouped by story, most reported first, each
told by one quoted sentence with its citations and the outlets that carried it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from retrieval.alerts.matching import MIN_QUOTE_WORDS, MatchConfig, TopicMatch, TopicMatcher
from retrieval.alerts.stories import Story, group_stories, known_passages, lead_vectors
from retrieval.embedding.base import Embedder
from retrieval.errors import TopicError
from retrieval.index.data import IndexData
from retrieval.types import Article, Citation, Passage, Quote

CITED_PER_STORY = 3
"""How many of a story's articles are cited (the other outlets are named)."""
CANDIDATE_SENTENCES = 3
"""A story is told by one of the first sentences of its articles (a news lead says what happened)."""
_RELATIVE = re.compile(r"^(\d{1,3})\s*([hdw])$", re.IGNORECASE)


@dataclass(frozen=True)
class BriefConfig:
    """How a briefing is made."""

    stories: int = 8
    """The most stories it lists."""
    match: MatchConfig = field(default_factory=MatchConfig)
    """How a topic's articles are found (as for alerts)."""


@dataclass(frozen=True)
class BriefStory:
    """One story of a briefing: the sentence that tells it, from the article cited first."""

    quote: Quote
    citations: tuple[Citation, ...]
    """The articles cited, the quoted one first (it alone carries the quote)."""
    outlets: tuple[str, ...]
    """Every outlet that carried it, the quoted one first."""
    articles: int


@dataclass(frozen=True)
class Briefing:
    """The top stories of a window of days (both ends included), optionally on one topic."""

    since: dt.date
    until: dt.date
    topic: str | None
    stories: tuple[BriefStory, ...]
    articles: int
    """Articles published in the window (on the topic, if one is given)."""
    total_stories: int
    """Stories they tell (``stories`` lists the top ones)."""


def window(as_of: dt.date, since: str | dt.date | None) -> tuple[dt.date, dt.date]:
    """The days a briefing covers: from ``since`` (a date, or ``24h``/``3d``/``1w`` back from ``as_of``;
    default the day before) to ``as_of``. TopicError for anything else."""
    if since is None:
        return as_of - dt.timedelta(days=1), as_of
    if isinstance(since, dt.date):
        start = since
    else:
        text = since.strip()
        relative = _RELATIVE.match(text)
        if relative:
            number, unit = int(relative.group(1)), relative.group(2).lower()
            days = {"h": -(-number // 24), "d": number, "w": 7 * number}[unit]
            start = as_of - dt.timedelta(days=days)
        else:
            try:
                start = dt.date.fromisoformat(text)
            except ValueError:
                raise TopicError(f"“{text}” is not a date: use YYYY-MM-DD, or 24h, 3d, 1w") from None
    if start > as_of:
        raise TopicError(f"{start.isoformat()} is after the day of the briefing ({as_of.isoformat()})")
    return start, as_of


def articles_between(index: IndexData, since: dt.date, until: dt.date) -> list[str]:
    """The live articles dated from ``since`` to ``until`` (inclusive), newest first."""
    return index.articles_between(since.toordinal(), until.toordinal())


def central_quote(
    index: IndexData, story: Story, known: Mapping[str, list[Passage]] | None = None
) -> tuple[Article, Quote]:
    """The lead sentence (of any of the story's articles) closest in meaning to the story as a whole
    (``known``: the articles' passages, if already read)."""
    ids = [a.id for a in story.articles]
    passages_of = known_passages(index, ids, known)
    centre = np.mean(list(lead_vectors(index, ids, known=passages_of).values()), axis=0)
    best: tuple[float, Article, Quote] | None = None
    for article_id, passages in passages_of.items():
        article = index.articles[article_id]
        spans: dict[int, tuple[tuple[int, int], int]] = {}
        for passage in passages:
            for span, unit in zip(passage.sentences, passage.units, strict=True):
                spans.setdefault(unit, (span, passage.id))
        whole = [u for u in sorted(spans) if len(article.text[slice(*spans[u][0])].split()) >= MIN_QUOTE_WORDS]
        for unit in (whole or sorted(spans))[:CANDIDATE_SENTENCES]:
            (start, end), pid = spans[unit]
            score = float(index.vectors.vectors(np.asarray([unit], dtype=np.int64))[0] @ centre)
            if best is None or score > best[0]:
                best = (score, article, Quote(article.text[start:end], start, end, pid))
    if best is None:
        raise ValueError("a story without sentences")
    return best[1], best[2]


def _story(story: Story, article: Article, quote: Quote, first_number: int) -> BriefStory:
    others = [a for a in story.articles if a.id != article.id]
    cited = [article, *others][:CITED_PER_STORY]
    citations = tuple(
        Citation(
            number=first_number + i,
            article_id=a.id,
            title=a.title,
            date=a.date,
            source=a.source,
            url=a.url,
            quotes=(quote,) if a.id == article.id else (),
        )
        for i, a in enumerate(cited)
    )
    outlets = tuple(dict.fromkeys(o for o in (article.source, *story.outlets) if o))
    return BriefStory(quote, citations, outlets, len(story.articles))


def _rank(story: Story) -> tuple[int, int, int]:
    newest = max((a.date.toordinal() for a in story.articles if a.date), default=0)
    return (-len(story.outlets), -len(story.articles), -newest)


def brief(
    index: IndexData,
    embedder: Embedder,
    *,
    since: dt.date,
    until: dt.date,
    topic: str | None = None,
    config: BriefConfig | None = None,
) -> Briefing:
    """The briefing of the days ``since``..``until``: every article of the window (or those matching
    ``topic``), grouped by story, most outlets first, the top ``config.stories`` told by one sentence each."""
    config = config or BriefConfig()
    ids = articles_between(index, since, until)
    matches: dict[str, TopicMatch] = {}
    if topic is not None:
        found = TopicMatcher(index, embedder, config.match).match(topic, ids)
        matches = {m.article.id: m for m in found}
        ids = [m.article.id for m in found]
    known = index.article_passages(ids)  # read once for the stories and their quotes
    articles = [index.articles[a] for a in ids]
    stories = sorted(group_stories(index, articles, known=known), key=_rank)
    told: list[BriefStory] = []
    number = 1
    for story in stories[: config.stories]:
        if topic is not None:
            match = matches[story.lead.id]
            article, quote = match.article, match.quote
        else:
            article, quote = central_quote(index, story, known)
        item = _story(story, article, quote, number)
        number += len(item.citations)
        told.append(item)
    return Briefing(since, until, topic, tuple(told), len(articles), len(stories))
