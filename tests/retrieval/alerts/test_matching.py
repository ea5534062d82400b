"""Matching articles to topics with the engine's own vectors and vocabulary; grouping stories; the plan."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from retrieval.alerts.planner import plan_alerts
from retrieval.alerts.store import TopicStore
from retrieval.alerts.stories import group_stories
from retrieval.engine import Engine
from tests.conftest import HashEmbedder, make_engine, write_articles
from tests.retrieval.alerts.conftest import HASH_MATCH


def test_a_topic_matches_its_article_and_quotes_the_sentence(tiny_engine: Engine) -> None:
    matcher = tiny_engine.topic_matcher(HASH_MATCH)
    [match] = matcher.match("ferry terminal in Tallinn", tiny_engine.article_ids())
    assert match.article.id == "harbour.txt"
    assert match.quote.text == "The Port of Tallinn opened a new ferry terminal on Tuesday."
    assert match.article.text[match.quote.start : match.quote.end] == match.quote.text  # verbatim
    assert match.score >= HASH_MATCH.threshold + 0.1  # a margin
    assert matcher.match("cricket world cup in Mumbai", tiny_engine.article_ids()) == []


def test_only_the_articles_asked_about_are_scored(tiny_engine: Engine) -> None:
    matcher = tiny_engine.topic_matcher(HASH_MATCH)
    assert matcher.match("ferry terminal in Tallinn", ["election.md", "no-such-article"]) == []


WIRE = (
    "Rescuers pulled three climbers from a crevasse on the Aletsch glacier on Sunday after a night in the ice. "
    "The climbers, all from Bern, were flown to hospital in Brig with light injuries. "
    "Mountain guides said the snow bridge had collapsed under the first climber."
)


def copies(tmp_path: Path) -> Engine:
    """Two outlets' copies of one wire story and one unrelated article."""
    articles = {  # (the second copy adds a line, as a paper does; identical texts would be one article)
        f"{name}.md": f"---\ntitle: Climbers rescued\ndate: 2023-07-0{day}\nsource: {outlet}\n---\n{WIRE}{extra}\n"
        for name, outlet, day, extra in (
            ("alpine", "Alpine Post", 2, ""),
            ("valais", "Valais Daily", 3, " Our reporter in Brig contributed."),
        )
    }
    articles["bread.md"] = (
        "---\ntitle: Bakers strike\ndate: 2023-07-03\nsource: Valais Daily\n---\n"
        "Bakers in Sion went on strike over flour prices. Shops ran out of bread by noon on Monday.\n"
    )
    engine = make_engine(tmp_path / "index", HashEmbedder())
    engine.build(write_articles(tmp_path / "seeds", articles), full=True)
    return engine


def test_copies_of_one_story_are_one_story(tmp_path: Path) -> None:
    engine = copies(tmp_path)
    index = engine.index
    stories = group_stories(index, [index.articles[a] for a in ("valais.md", "bread.md", "alpine.md")])
    assert [[a.id for a in s.articles] for s in stories] == [["valais.md", "alpine.md"], ["bread.md"]]
    assert stories[0].outlets == ("Valais Daily", "Alpine Post")


def test_the_plan_posts_one_card_per_story_within_the_hourly_cap(tmp_path: Path) -> None:
    engine = copies(tmp_path)
    store = TopicStore(tmp_path / "alerts.sqlite3")
    glacier = store.add("climbers rescued from a glacier crevasse", 1)
    store.add("bakers strike over flour prices", 2)
    now = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    plans = plan_alerts(store, engine.topic_matcher(HASH_MATCH), engine.article_ids(), per_hour=1, now=now)
    by_topic = {p.follow.topic: p for p in plans}
    [card] = by_topic[glacier.topic].cards
    assert card.also == ("Valais Daily",) or card.also == ("Alpine Post",)  # one card, the other outlet named
    assert [c.match.article.id for c in by_topic["bakers strike over flour prices"].cards] == ["bread.md"]
    assert store.posted_since(glacier.id, now - dt.timedelta(hours=1)) == 1
    again = plan_alerts(store, engine.topic_matcher(HASH_MATCH), ["bread.md"], per_hour=1, now=now)
    [bakers] = again
    assert not bakers.cards and [c.match.article.id for c in bakers.held] == ["bread.md"]  # the cap is reached
