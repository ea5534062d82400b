"""Update cycles against the loopback news site: real articles stored and indexed, nothing fetched twice,
every faulty feed logged and retried with backoff while the others go on, nothing lost on a crash."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import frontmatter
import pytest

from retrieval.engine import Engine
from retrieval.feeds.state import FeedStore
from retrieval.feeds.updater import FeedUpdater
from retrieval.ingest.files import load_articles
from tests.conftest import REPO, HashEmbedder, make_engine
from tests.retrieval.feeds.newssite import FURNITURE, NewsSite, Story, wait_for

MakeUpdater = Callable[..., FeedUpdater]
FAULTS = {
    "/bad/slow.rss": "timed out",
    "/bad/error500.rss": "HTTP 500",
    "/bad/gone.rss": "HTTP 404",
    "/bad/loop-a.rss": "redirect loop",
    "/bad/malformed.rss": "malformed XML",
    "/bad/page.html": "an HTML page, not a feed",
    "/bad/huge.rss": "byte limit",
    "/bad/huge-declared.rss": "byte limit",
    "/bad/bomb.rss": "byte limit",
}


def stored(seeds: Path) -> dict[str, frontmatter.Post]:
    """Every stored article under seeds/feeds, by id."""
    posts = [frontmatter.load(str(p)) for p in sorted((seeds / "feeds").rglob("*.md"))]
    return {str(p.metadata["id"]): p for p in posts}


def a_sentence(story: Story) -> str:
    """A sentence from the middle of a story, to find it by."""
    paragraphs = [p for p in story.text.split("\n") if len(p) > 120]
    return paragraphs[len(paragraphs) // 2].split(". ")[0]


def publish_all(site: NewsSite, stories: list[Story]) -> list[str]:
    urls = [
        site.add_feed("top", "rss", "Top stories"),
        site.add_feed("world", "atom", "World"),
        site.add_feed("tech", "json", "Tech"),
        site.add_feed("biz", "rdf", "Business"),
    ]
    for number, story in enumerate(stories):
        site.publish(["top", "world", "tech", "biz"][number % 4], story)
    return urls


def test_every_kind_of_feed_is_stored_with_the_page_text_and_indexed(
    site: NewsSite, stories: list[Story], make_updater: MakeUpdater, feeds_engine: Engine, tmp_path: Path
) -> None:
    feeds = publish_all(site, stories[:8])
    updater = make_updater(feeds_engine)
    for url in feeds:
        updater.add(url)
    report = updater.update()
    assert [f.status for f in report.feeds] == ["new"] * 4
    assert report.new == 8 and report.build is not None and report.build.added == 8
    articles = stored(tmp_path / "seeds")
    assert len(articles) == 8
    by_url = {post.metadata["url"]: post for post in articles.values()}
    for story in stories[:8]:
        post = by_url[site.base + story.path]
        assert post.metadata["title"] == story.title
        assert post.metadata["date"] == story.date
        assert post.metadata["source"] == "Loopback Daily"
        assert post.metadata["author"] == "Staff Reporter"
        assert post.metadata["origin"] == "page"
        assert a_sentence(story) in post.content  # the page's whole text, not the feed's summary
        assert not any(bit in post.content for bit in FURNITURE)
    answer = feeds_engine.ask(a_sentence(stories[5]))
    assert answer.citations and answer.citations[0].url == site.base + stories[5].path
    assert site.gzipped >= 8  # the pages came gzip-compressed


def test_re_polling_fetches_no_page_twice_and_asks_conditionally(
    site: NewsSite, stories: list[Story], make_updater: MakeUpdater, feeds_engine: Engine
) -> None:
    feeds = publish_all(site, stories[:8])
    updater = make_updater(feeds_engine)
    for url in feeds:
        updater.add(url)
    updater.update()
    assert set(site.page_requests().values()) == {1}
    again = updater.update()
    assert [f.status for f in again.feeds] == ["unchanged"] * 4 and again.build is None
    assert sum(site.conditional.values()) == 4  # each feed asked with its ETag, and got a 304
    site.publish("top", stories[9])
    third = updater.update()
    assert third.new == 1 and third.build is not None and third.build.added == 1
    assert set(site.page_requests().values()) == {1} and len(site.page_requests()) == 9
    assert site.requests["/robots.txt"] == 1  # kept in the state, not asked again


def test_faulty_feeds_are_logged_retried_with_backoff_and_never_stop_the_others(
    site: NewsSite,
    stories: list[Story],
    make_updater: MakeUpdater,
    feeds_engine: Engine,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = site.add_feed("top", "rss", "Top stories")
    site.publish("top", stories[0])
    updater = make_updater(feeds_engine, interval=10.0, max_backoff=1000.0)
    updater.add(good)
    for path in FAULTS:
        updater.add_unchecked(site.base + path, path)
    report = updater.update()
    by_name = {f.feed: f for f in report.feeds}
    assert by_name["Top stories"].status == "new" and report.new == 1
    for path, reason in FAULTS.items():
        assert by_name[path].status == "failed" and reason in by_name[path].reason, by_name[path]
        assert any(path in r.getMessage() and reason in r.getMessage() for r in caplog.records)
    first = {f.name: f for f in updater.store.feeds()}
    assert all(first[path].failures == 1 for path in FAULTS)
    later = updater.update(due_only=False)
    second = {f.name: f for f in updater.store.feeds()}
    for path in FAULTS:
        assert second[path].failures == 2
        wait_first = first[path].next_poll - first[path].last_polled  # type: ignore[operator]
        wait_second = second[path].next_poll - second[path].last_polled  # type: ignore[operator]
        assert wait_second > wait_first * 1.5  # the wait doubles (give or take the jitter)
    assert {f.feed: f.status for f in later.feeds}["Top stories"] == "unchanged"
    assert len(stored(tmp_path / "seeds")) == 1  # nothing stored was lost


def test_due_only_skips_feeds_in_backoff(site: NewsSite, make_updater: MakeUpdater) -> None:
    updater = make_updater(interval=60.0, max_backoff=600.0)
    updater.add_unchecked(site.base + "/bad/error500.rss", "broken")
    updater.update()
    assert updater.update(due_only=True).feeds == ()
    assert site.requests["/bad/error500.rss"] == 1


def test_retry_after_is_honoured(site: NewsSite, make_updater: MakeUpdater) -> None:
    updater = make_updater(interval=1.0, max_backoff=3600.0)
    updater.add_unchecked(site.base + "/bad/busy.rss", "busy")
    updater.update()
    feed = updater.store.feed("busy")
    assert feed.next_poll is not None and feed.last_polled is not None
    assert (feed.next_poll - feed.last_polled).total_seconds() >= 100  # Retry-After: 120 (with jitter)


def test_items_without_links_or_dates_keep_the_feed_text(
    site: NewsSite, stories: list[Story], make_updater: MakeUpdater, tmp_path: Path
) -> None:
    url = site.add_feed("bare", "rss", "Bare wire", links=False, dates=False)
    site.publish("bare", stories[0])
    updater = make_updater()
    updater.add(url)
    report = updater.update()
    assert report.new == 1 and "without links" in report.feeds[0].reason
    (post,) = stored(tmp_path / "seeds").values()
    assert post.metadata["origin"] == "feed" and post.metadata["date_from"] == "first seen"
    assert post.metadata["date"] == dt.datetime.now(dt.UTC).date().isoformat()
    assert a_sentence(stories[0]) in post.content
    assert not site.page_requests()


def test_a_wrong_charset_feed_reads_right(site: NewsSite, make_updater: MakeUpdater, tmp_path: Path) -> None:
    updater = make_updater()
    updater.add(site.base + "/bad/charset.rss")
    updater.update()
    (post,) = stored(tmp_path / "seeds").values()
    assert post.metadata["title"] == "Café owners’ “big” week"


def test_robots_txt_keeps_pages_unfetched(
    site: NewsSite, stories: list[Story], make_updater: MakeUpdater, tmp_path: Path
) -> None:
    url = site.add_feed("top", "rss", "Top stories")
    secret = Story("s1", stories[1].title, stories[1].date, stories[1].text)
    site.publish("top", secret)
    site.robots = "User-agent: newsdesk\nDisallow: /news/\n"
    updater = make_updater()
    updater.add(url)
    updater.update()
    assert not site.page_requests()
    (post,) = stored(tmp_path / "seeds").values()
    assert post.metadata["origin"] == "feed"  # the feed's summary, since the page may not be fetched


def test_discovery_a_page_announcing_its_feed_is_followed_as_that_feed(
    site: NewsSite, make_updater: MakeUpdater
) -> None:
    url = site.add_feed("top", "rss", "Top stories")
    feed = make_updater().add(site.base + "/")
    assert feed.url == url and feed.name == "Top stories"


@pytest.mark.parametrize(("path", "reason"), [("/bad/page.html", "announces no feed"), ("/bad/gone.rss", "404")])
def test_adding_what_is_not_a_feed_says_why(site: NewsSite, make_updater: MakeUpdater, path: str, reason: str) -> None:
    from retrieval.errors import FeedError

    updater = make_updater()
    with pytest.raises(FeedError, match=reason):
        updater.add(site.base + path)
    assert updater.store.feeds() == []


def test_the_same_article_in_two_feeds_is_fetched_and_stored_once(
    site: NewsSite, stories: list[Story], make_updater: MakeUpdater, tmp_path: Path
) -> None:
    first = site.add_feed("top", "rss", "Top stories")
    second = site.add_feed("world", "atom", "World")
    site.publish("top", stories[0])
    site.publish("world", stories[0])
    updater = make_updater()
    updater.add(first)
    updater.add(second)
    updater.update()
    assert site.page_requests()[stories[0].path] == 1
    assert len(stored(tmp_path / "seeds")) == 1


@pytest.mark.parametrize("early_first", [True, False])
def test_two_outlets_with_one_story_the_earlier_keeps_it_and_the_later_is_also_reported(
    site: NewsSite, stories: list[Story], make_updater: MakeUpdater, feeds_engine: Engine, early_first: bool
) -> None:
    """One wire story on two outlets' pages, a day apart: the answer cites the first to publish and names
    the other as "also reported by", whichever of their files' names sorts first (both orders are tried)."""
    story = stories[0]
    slugs = ("wire-a", "wire-b") if early_first else ("wire-b", "wire-a")
    early = Story(slugs[0], story.title, "2023-03-01", story.text, outlet="Early Post")
    late = Story(slugs[1], story.title, "2023-03-02", story.text, outlet="Late Courier")
    urls = [site.add_feed("early", "rss", "Early Post"), site.add_feed("late", "atom", "Late Courier")]
    site.publish("early", early)
    site.publish("late", late)
    updater = make_updater(feeds_engine)
    for url in urls:
        updater.add(url)
    report = updater.update()
    assert report.new == 2 and report.build is not None
    answer = feeds_engine.ask(a_sentence(story))
    top = answer.citations[0]
    assert top.url == site.base + early.path and top.source == "Early Post"
    assert top.also == ("Late Courier",)
    assert all(c.url != site.base + late.path for c in answer.citations)


def test_a_full_rebuild_keeps_every_fetched_article_without_the_network(
    site: NewsSite, stories: list[Story], make_updater: MakeUpdater, feeds_engine: Engine, tmp_path: Path
) -> None:
    for url in publish_all(site, stories[:8]):
        make_updater(feeds_engine).add(url)
    make_updater(feeds_engine).update()
    site.stop()
    import shutil

    shutil.rmtree(tmp_path / "index")
    rebuilt = make_engine(tmp_path / "index", HashEmbedder())
    summary, _ = rebuilt.build(tmp_path / "seeds", full=True)
    assert summary.articles == 8
    answer = rebuilt.ask(a_sentence(stories[3]))
    assert answer.citations[0].url == site.base + stories[3].path


def test_articles_written_before_a_crash_are_adopted_not_fetched_again(
    site: NewsSite, stories: list[Story], make_updater: MakeUpdater, tmp_path: Path
) -> None:
    url = site.add_feed("top", "rss", "Top stories")
    for story in stories[:3]:
        site.publish("top", story)
    updater = make_updater()
    updater.add(url)
    updater.update()
    updater.store.forget_items(updater.store.feed(url).id)  # as if the process died after writing the files
    updater.store.polled(updater.store.feed(url).id, status="", failed=False, next_poll=dt.datetime.now(dt.UTC),
                         etag="", last_modified="", body_hash="")  # fmt: skip
    updater.update()
    assert set(site.page_requests().values()) == {1}
    assert updater.store.feed(url).articles == 3


def test_a_kill_mid_update_loses_nothing_and_refetches_nothing(
    site: NewsSite, stories: list[Story], tmp_path: Path, make_updater: MakeUpdater, feeds_engine: Engine
) -> None:
    url = site.add_feed("top", "rss", "Top stories")
    for story in reversed(stories[:6]):
        site.publish("top", story)  # newest first: stories[0] is fetched first
    stalled_path = stories[3].path
    import threading

    site.stall[stalled_path] = threading.Event()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")},
        "NEWSDESK_FEEDS_DB": str(tmp_path / "feeds.sqlite3"),
        "NEWSDESK_FEEDS_HOST_DELAY": "0",
        "NEWSDESK_FEEDS_WORKERS": "1",
        "PYTHONPATH": str(REPO),
    }
    seeds = tmp_path / "seeds"
    run = [sys.executable, "-m", "bot", "--help"]
    add = [sys.executable, "-m", "bot", "feeds", "add", url, "--seeds", str(seeds)]
    assert subprocess.run(add, env=env, cwd=tmp_path, capture_output=True, timeout=60).returncode == 0, run
    update = [sys.executable, "-m", "bot", "update", "--no-index", "--seeds", str(seeds)]
    child = subprocess.Popen(update, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(site.stalled.is_set, timeout=60), "the update never reached the stalled page"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    before = stored(seeds)
    assert len(before) == 3  # the three pages fetched before the kill are all on disk, whole
    leftover = seeds / "feeds" / "127.0.0.1" / ".half-written.md.123.1.tmp"
    leftover.write_text("---\ntitle: half", encoding="utf-8")  # as a kill mid-write would leave one
    for post in before.values():
        assert post.metadata["origin"] == "page"
    del site.stall[stalled_path]
    updater = make_updater(feeds_engine)
    report = updater.update()
    assert report.new == 3 and report.build is not None and report.build.articles == 6
    pages = site.page_requests()
    assert pages[stalled_path] == 2  # the one in flight when killed (nothing of it was kept)
    assert all(pages[s.path] == 1 for s in stories[:6] if s.path != stalled_path)
    assert len(stored(seeds)) == 6
    assert len(load_articles(seeds).articles) == 6
    assert not leftover.exists()


def test_removing_a_feed_with_purge_deletes_its_articles(
    site: NewsSite, stories: list[Story], make_updater: MakeUpdater, tmp_path: Path
) -> None:
    url = site.add_feed("top", "rss", "Top stories")
    site.publish("top", stories[0])
    updater = make_updater()
    updater.add(url)
    updater.update()
    feed, deleted = updater.remove("Top stories", purge=True)
    assert feed.url == url and deleted == 1 and not stored(tmp_path / "seeds")
    assert FeedStore(tmp_path / "feeds.sqlite3").feeds() == []


def test_an_unreachable_robots_txt_delays_the_page_it_does_not_forbid_it(
    site: NewsSite, stories: list[Story], make_updater: MakeUpdater, tmp_path: Path
) -> None:
    url = site.add_feed("top", "rss", "Top stories")
    site.publish("top", stories[0])
    site.robots_status = 503
    updater = make_updater()
    updater.add(url)
    first = updater.update()
    assert first.new == 1 and first.feeds[0].page_failures == 1 and not site.page_requests()
    (post,) = stored(tmp_path / "seeds").values()
    assert post.metadata["origin"] == "feed"  # the summary meanwhile
    site.robots_status = 200
    import retrieval.feeds.robots

    retrieval.feeds.robots.UNREACHABLE_TTL = 0.0  # (ask robots.txt again at once)
    try:
        updater.update()
    finally:
        retrieval.feeds.robots.UNREACHABLE_TTL = 900.0
    (post,) = stored(tmp_path / "seeds").values()
    assert post.metadata["origin"] == "page" and site.page_requests()[stories[0].path] == 1
    assert a_sentence(stories[0]) in post.content


def test_a_feed_moved_for_good_is_followed_at_its_new_url(
    site: NewsSite, stories: list[Story], make_updater: MakeUpdater
) -> None:
    url = site.add_feed("top", "rss", "Top stories")
    site.publish("top", stories[0])
    updater = make_updater()
    updater.add_unchecked(site.base + "/bad/moved.rss", "moved")
    report = updater.update()
    assert "moved permanently" in report.feeds[0].reason
    assert updater.store.feed("moved").url == url


def test_articles_stored_without_indexing_are_indexed_by_the_next_update(
    site: NewsSite, stories: list[Story], make_updater: MakeUpdater, feeds_engine: Engine
) -> None:
    url = site.add_feed("top", "rss", "Top stories")
    site.publish("top", stories[0])
    updater = make_updater(feeds_engine)
    updater.add(url)
    assert updater.update(index=False).build is None
    again = updater.update()  # nothing new on the feed, but what is stored is not indexed yet
    assert again.new == 0 and again.build is not None and again.build.added == 1
    assert updater.update().build is None
