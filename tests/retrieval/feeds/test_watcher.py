"""The watcher: an item published while it runs becomes answerable, and seed files are indexed as they change,
while questions keep being answered."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from retrieval.engine import Engine
from retrieval.feeds.updater import FeedUpdater
from retrieval.feeds.watcher import Watcher, WatchEvent
from tests.conftest import write_articles
from tests.retrieval.feeds.newssite import NewsSite, Story, wait_for
from tests.retrieval.feeds.test_updater import a_sentence


def cites(engine: Engine, question: str, url: str) -> bool:
    """True if the answer to ``question`` cites ``url``."""
    return any(c.url == url for c in engine.ask(question).citations)


@pytest.fixture
def asking(feeds_engine: Engine) -> Callable[[], list[BaseException]]:
    """Questions asked over and over in a thread while the test runs; returns the errors they raised."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                if feeds_engine.has_index():
                    feeds_engine.ask("When did the ferry terminal open?")
            except BaseException as exc:  # noqa: BLE001 — every failure counts
                errors.append(exc)
            stop.wait(0.01)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield lambda: errors
    stop.set()
    thread.join(5)


@pytest.mark.parametrize("polling", [False, True], ids=["native", "polling"])
def test_published_items_and_changed_files_are_indexed_while_questions_go_on(
    site: NewsSite,
    stories: list[Story],
    make_updater: Callable[..., FeedUpdater],
    feeds_engine: Engine,
    tmp_path: Path,
    asking: Callable[[], list[BaseException]],
    polling: bool,
) -> None:
    seeds = write_articles(tmp_path / "seeds")
    feeds_engine.build(seeds)
    url = site.add_feed("top", "rss", "Top stories")
    site.publish("top", stories[0])
    updater = make_updater(feeds_engine)
    updater.add(url)
    events: list[WatchEvent] = []
    watcher = Watcher(feeds_engine, seeds, updater, on_event=events.append, force_polling=polling, poll_seconds=0.2)
    watcher.start()
    try:
        assert wait_for(lambda: cites(feeds_engine, a_sentence(stories[0]), site.base + stories[0].path), 30)
        site.publish("top", stories[1])  # published while the watcher runs
        assert wait_for(lambda: cites(feeds_engine, a_sentence(stories[1]), site.base + stories[1].path), 30)
        (seeds / "dropped.md").write_text(
            "---\ntitle: Lighthouse keeper retires\ndate: 2023-07-01\nurl: https://example.org/keeper\n---\n"
            "The last lighthouse keeper of Skerry Point retired on Friday after forty-one years at the lamp.\n",
            encoding="utf-8",
        )
        assert wait_for(lambda: cites(feeds_engine, "lighthouse keeper Skerry Point", "https://example.org/keeper"))
        (seeds / "dropped.md").unlink()
        builds = [e for e in events if e.kind != "update"]
        assert wait_for(lambda: "dropped.md" not in feeds_engine.index.articles), builds
    finally:
        watcher.stop()
    assert not asking(), asking()[:3]
    assert any(e.kind == "update" and e.update and e.update.new for e in events)
    assert any(e.kind == "build" for e in events)
    assert set(site.page_requests().values()) == {1}
    assert not [e for e in events if e.kind == "error"]


def test_a_failing_feed_does_not_stop_the_watcher(
    site: NewsSite, make_updater: Callable[..., FeedUpdater], feeds_engine: Engine, tmp_path: Path
) -> None:
    seeds = write_articles(tmp_path / "seeds")
    updater = make_updater(feeds_engine, interval=0.2, max_backoff=0.4)
    updater.add_unchecked(site.base + "/bad/error500.rss", "broken")
    watcher = Watcher(feeds_engine, seeds, updater, poll_seconds=0.2)
    watcher.start()
    try:
        assert wait_for(lambda: site.requests["/bad/error500.rss"] >= 3, 20)  # retried, with backoff capped
    finally:
        watcher.stop()
    assert updater.store.feed("broken").failures >= 3
