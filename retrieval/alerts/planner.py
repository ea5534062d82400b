"""What to post when the index grows: for each followed topic, one card per matching story, within the
hourly cap; the stories over the cap are held for a one-line summary."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.alerts.matching import TopicMatch, TopicMatcher
from retrieval.alerts.store import Follow, TopicStore
from retrieval.alerts.stories import Story, group_stories

HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Card:
    """One story for one followed topic: its best-matching article and the sentence that matched."""

    follow: Follow
    match: TopicMatch
    story: Story
    copies: tuple[str, ...] = ()
    """Outlets whose identical copy of an article was indexed once (the feed state knows them)."""

    @property
    def also(self) -> tuple[str, ...]:
        """The other outlets that carried the story."""
        return tuple(o for o in dict.fromkeys((*self.story.outlets, *self.copies)) if o != self.match.article.source)


@dataclass(frozen=True)
class TopicAlerts:
    """What one followed topic gets from one growth of the index."""

    follow: Follow
    cards: tuple[Card, ...]
    held: tuple[Card, ...] = ()
    """Stories over the hourly cap: summed up in one line, not posted as cards."""


def topic_cards(follow: Follow, matches: Sequence[TopicMatch], stories: Sequence[Story]) -> list[Card]:
    """One card per story, led by its best match (``matches`` best first, ``stories`` in that order)."""
    best = {m.article.id: m for m in matches}
    return [Card(follow, best[story.lead.id], story) for story in stories]


def plan_alerts(
    store: TopicStore,
    matcher: TopicMatcher,
    new_ids: Sequence[str],
    *,
    per_hour: int,
    now: dt.datetime | None = None,
) -> list[TopicAlerts]:
    """The cards each follow gets for the articles ``new_ids``, at most ``per_hour`` per follow in any hour
    (the cards planned are recorded as posted, so two growths in one hour share the cap)."""
    now = now or dt.datetime.now(dt.UTC)
    out: list[TopicAlerts] = []
    if not new_ids:
        return out
    for follow in store.follows():
        matches = matcher.match(follow.topic, new_ids)
        if not matches:
            continue
        stories = group_stories(matcher.index, [m.article for m in matches])
        cards = topic_cards(follow, matches, stories)
        room = max(0, per_hour - store.posted_since(follow.id, now - HOUR))
        posted, held = cards[:room], cards[room:]
        store.record_posts(follow.id, [c.match.article.id for c in posted], now)
        out.append(TopicAlerts(follow, tuple(posted), tuple(held)))
    return out
