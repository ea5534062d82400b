"""The follows database: add/list/find/remove, one-line errors, the seen articles, the posting history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from retrieval.alerts.store import MAX_TOPIC_CHARS, TopicStore, alerts_db
from retrieval.errors import TopicError, UnknownTopicError


def test_the_database_sits_beside_the_index(tmp_path: Path) -> None:
    assert alerts_db(tmp_path / "index") == tmp_path / "index.alerts.sqlite3"


def test_add_list_find_remove(tmp_path: Path) -> None:
    store = TopicStore(tmp_path / "a.sqlite3")
    first = store.add("  Grain   exports ", 11, guild_id=5, added_by="42")
    second = store.add("grain exports", 12)  # the same topic in another channel (from the command line)
    assert first.topic == "Grain exports" and first.guild_id == 5 and second.guild_id == 0
    with pytest.raises(TopicError, match="this channel already follows “Grain exports”"):
        store.add("GRAIN EXPORTS", 11)
    assert [f.id for f in store.follows()] == [first.id, second.id]
    assert [f.id for f in store.follows(guild_id=7)] == [second.id]  # another server sees only CLI follows
    with pytest.raises(TopicError, match="followed in several channels"):
        store.find("grain exports", store.follows())
    assert store.find(str(first.id), store.follows()) == first
    store.remove(first.id)
    assert store.find("grain exports", store.follows()) == second
    with pytest.raises(UnknownTopicError, match="not following “wolves”"):
        store.find("wolves", store.follows())
    store.close()
    assert TopicStore(tmp_path / "a.sqlite3").follows() == [second]  # durable


@pytest.mark.parametrize(
    ("topic", "channel", "message"),
    [
        ("   ", 1, "the topic is empty"),
        ("x" * (MAX_TOPIC_CHARS + 1), 1, "the limit is"),
        ("what is it?", 1, "has nothing to match"),
        ("ok", 0, "not a channel"),
    ],
)
def test_bad_follows_are_one_line_errors(tmp_path: Path, topic: str, channel: int, message: str) -> None:
    with pytest.raises(TopicError, match=message) as raised:
        TopicStore(tmp_path / "a.sqlite3").add(topic, channel)
    assert "\n" not in str(raised.value)


def test_not_a_database_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    path.write_bytes(b"not sqlite at all, just some bytes" * 100)
    with pytest.raises(TopicError, match="cannot open the followed topics"):
        TopicStore(path)


def test_only_articles_after_the_baseline_are_new(tmp_path: Path) -> None:
    store = TopicStore(tmp_path / "a.sqlite3")
    assert not store.has_baseline
    store.set_baseline(["a", "b"])
    store.set_baseline(["a", "b", "c"])  # once only
    assert store.has_baseline
    assert store.take_new(["a", "b", "c", "d"]) == ["c", "d"]
    assert store.take_new(["a", "b", "c", "d"]) == []


def test_posts_are_counted_per_follow_and_hour(tmp_path: Path) -> None:
    store = TopicStore(tmp_path / "a.sqlite3")
    follow = store.add("wolves", 3)
    now = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    store.record_posts(follow.id, ["a", "b"], now - dt.timedelta(minutes=90))
    store.record_posts(follow.id, ["c"], now - dt.timedelta(minutes=10))
    assert store.posted_since(follow.id, now - dt.timedelta(hours=1)) == 1
    assert store.posted_since(follow.id + 1, now - dt.timedelta(hours=1)) == 0
