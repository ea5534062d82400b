"""Briefings: the window of days, stories most reported first, one verbatim sentence each with citations;
on the tiny articles and on a slice of the dev news corpus with a fixed as-of day."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from retrieval.alerts.briefing import BriefConfig, articles_between, window
from retrieval.engine import Engine
from retrieval.errors import TopicError
from tests.conftest import HashEmbedder, make_engine
from tests.retrieval.alerts.conftest import HASH_MATCH
from tests.retrieval.alerts.test_matching import WIRE, copies
from tests.retrieval.feeds.newssite import corpus_path

AS_OF = dt.date(2023, 7, 3)


@pytest.mark.parametrize(
    ("since", "expected"),
    [(None, dt.date(2023, 7, 2)), ("24h", dt.date(2023, 7, 2)), ("3d", dt.date(2023, 6, 30)),
     ("1w", dt.date(2023, 6, 26)), ("2023-07-01", dt.date(2023, 7, 1)), (dt.date(2023, 7, 3), AS_OF)],
)  # fmt: skip
def test_window(since: object, expected: dt.date) -> None:
    assert window(AS_OF, since) == (expected, AS_OF)  # type: ignore[arg-type]


@pytest.mark.parametrize(("since", "message"), [("soon", "is not a date"), ("2023-07-04", "is after the day")])
def test_bad_windows_are_one_line(since: str, message: str) -> None:
    with pytest.raises(TopicError, match=message):
        window(AS_OF, since)


def test_the_most_reported_story_comes_first(tmp_path: Path) -> None:
    engine = copies(tmp_path)
    briefing = engine.brief(since=dt.date(2023, 7, 2), until=AS_OF)
    assert (briefing.articles, briefing.total_stories) == (3, 2)
    first, second = briefing.stories
    assert first.outlets == ("Alpine Post", "Valais Daily") or first.outlets == ("Valais Daily", "Alpine Post")
    assert [c.number for c in first.citations] == [1, 2] and [c.number for c in second.citations] == [3]
    assert first.citations[0].quotes == (first.quote,) and first.citations[1].quotes == ()
    assert first.quote.text in WIRE and len(first.quote.text) < len(WIRE)  # one sentence of the story
    only_today = engine.brief(since=AS_OF, until=AS_OF)
    assert only_today.articles == 2  # the copy dated the day before is outside


def test_a_topic_keeps_only_its_stories(tmp_path: Path) -> None:
    engine = copies(tmp_path)
    briefing = engine.brief(since=dt.date(2023, 7, 1), until=AS_OF, topic="bakers strike", config=BriefConfig(
        match=HASH_MATCH))  # fmt: skip
    [story] = briefing.stories
    assert story.citations[0].article_id == "bread.md" and story.quote.text.startswith("Bakers in Sion")
    nothing = engine.brief(since=dt.date(2023, 7, 1), until=AS_OF, topic="volcano", config=BriefConfig(
        match=HASH_MATCH))  # fmt: skip
    assert nothing.stories == () and nothing.articles == 0


DEV_AS_OF = dt.date(2023, 3, 17)
"""A fixed day of the dev corpus: the week before it holds several stories (SVB's collapse among them)."""


@pytest.fixture(scope="module")
def dev_slice(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The dev articles dated in the 14 days up to DEV_AS_OF, indexed with the hash embedder (read now,
    never written into the project)."""
    path = corpus_path()
    if path is None:
        pytest.skip("the dev news corpus is not here")
    import gzip

    low = DEV_AS_OF - dt.timedelta(days=14)
    root = tmp_path_factory.mktemp("dev-slice")
    with gzip.open(path, "rt", encoding="utf-8") as source, (root / "slice.jsonl").open("w") as out:
        for line in source:
            record = json.loads(line)
            if record.get("date") and low <= dt.date.fromisoformat(record["date"][:10]) <= DEV_AS_OF:
                out.write(line)
    engine = make_engine(root / "index", HashEmbedder())
    engine.build(root / "slice.jsonl", full=True)
    return engine


def test_a_week_of_the_dev_corpus(dev_slice: Engine) -> None:
    since, until = window(DEV_AS_OF, "7d")
    briefing = dev_slice.brief(since=since, until=until, config=BriefConfig(stories=10))
    in_window = articles_between(dev_slice.index, since, until)
    assert briefing.articles == len(in_window) >= 10
    assert 1 <= len(briefing.stories) <= 10 and briefing.total_stories >= len(briefing.stories)
    reach = [len(s.outlets) for s in briefing.stories]
    assert reach == sorted(reach, reverse=True)  # most reported first
    numbers = [c.number for s in briefing.stories for c in s.citations]
    assert numbers == list(range(1, len(numbers) + 1))
    for story in briefing.stories:
        quoted = dev_slice.index.articles[story.citations[0].article_id]
        assert quoted.text[story.quote.start : story.quote.end] == story.quote.text  # verbatim
        assert all(since <= c.date <= until for c in story.citations if c.date)
        assert story.outlets[0] == quoted.source
    assert sum(s.articles for s in briefing.stories) <= briefing.articles
