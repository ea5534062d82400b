"""newsdesk feeds/update/watch on the command line, against the loopback news site."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests.bot.test_cli import assert_one_line_error
from tests.conftest import REPO
from tests.retrieval.feeds.newssite import CORPUS_NAME, NewsSite, Story, corpus_path, real_articles, stories_from


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[NewsSite]:
    """The news site with two real stories in an RSS feed; no delay between requests."""
    if corpus_path() is None:
        pytest.skip(f"the real news corpus ../{CORPUS_NAME} is not here")
    monkeypatch.setenv("NEWSDESK_FEEDS_HOST_DELAY", "0")
    monkeypatch.setenv("NEWSDESK_FEEDS_TIMEOUT", "2")
    with NewsSite() as running:
        running.add_feed("top", "rss", "Top stories")
        for story in stories_from(real_articles(2)):
            running.publish("top", story)
        yield running


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_export_remove_import(site: NewsSite, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "feeds", "add", site.base + "/")  # the home page announces the feed
    assert code == 0 and f"{site.base}/feeds/top.rss" in err and "announced" in err
    code, out, _ = run(capsys, "feeds", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["name"] == "Top stories" and listed["articles"] == 0 and listed["last_polled"] is None
    code, out, _ = run(capsys, "feeds", "list")
    assert code == 0 and "Top stories" in out and "not polled yet" in out
    code, _, _ = run(capsys, "feeds", "export", "--out", str(tmp_path / "f.opml"))
    assert code == 0 and "xmlUrl" in (tmp_path / "f.opml").read_text()
    code, _, err = run(capsys, "feeds", "remove", "Top stories")
    assert code == 0 and "No longer following" in err
    code, _, err = run(capsys, "feeds", "import", str(tmp_path / "f.opml"))
    assert code == 0 and "Imported 1 feed" in err


@pytest.mark.parametrize(
    ("path", "fragment"),
    [("/bad/page.html", "announces no feed"), ("/bad/error500.rss", "HTTP 500"), ("/bad/malformed.rss", "not a feed")],
)
def test_adding_what_is_no_feed_is_one_line_and_fails(
    site: NewsSite, capsys: pytest.CaptureFixture[str], path: str, fragment: str
) -> None:
    code, _, err = run(capsys, "feeds", "add", site.base + path)
    assert code == 1
    assert_one_line_error(err, fragment)


def test_bad_arguments_are_one_line(site: NewsSite, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "feeds", "add", "ftp://example.org/feed")
    assert code == 1
    assert_one_line_error(err, "not an http(s) URL")
    code, _, err = run(capsys, "feeds", "remove", "nothing")
    assert code == 1
    assert_one_line_error(err, "not following")
    code, _, err = run(capsys, "feeds", "import", str(tmp_path / "missing.opml"))
    assert code == 1
    assert_one_line_error(err, "no such file")


def test_update_prints_each_feed_and_a_summary(site: NewsSite, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "feeds", "add", site.base + "/feeds/top.rss")
    from retrieval.feeds.state import FeedStore

    FeedStore(Path("index/feeds.sqlite3")).add_feed(site.base + "/bad/error500.rss", "broken")
    code, out, _ = run(capsys, "update", "--no-index")
    assert code == 0
    assert "+ Top stories: 2 new, 2 pages fetched" in out
    assert "✗ broken: failed — HTTP 500 Internal Server Error" in out
    assert "Polled 2 feeds" in out and "2 new articles" in out and "1 failed" in out
    code, out, _ = run(capsys, "update", "--no-index")
    assert "· Top stories: unchanged" in out and "0 new articles" in out
    assert len(list(Path("seeds/feeds").rglob("*.md"))) == 2


@pytest.mark.model
def test_update_indexes_and_the_answer_cites_the_article(
    site: NewsSite, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    story: Story = next(iter(site.stories.values()))
    run(capsys, "feeds", "add", site.base + "/feeds/top.rss", "--index", str(tmp_path / "idx"))
    code, out, _ = run(capsys, "update", "--index", str(tmp_path / "idx"), "--seeds", str(tmp_path / "seeds"))
    assert code == 0 and "Indexed 2 new" in out
    question = f"What happened: {story.title}?"
    code, out, _ = run(capsys, "ask", question, "--json", "--index", str(tmp_path / "idx"))
    answer = json.loads(out)
    assert code == 0 and site.base + story.path in [c["url"] for c in answer["citations"]]


WITH_CTRL_C = [
    sys.executable,
    "-c",
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('bot', run_name='__main__', alter_sys=True)",
]
"""``python -m bot`` with Ctrl-C raising KeyboardInterrupt, as in a terminal: a suite run in a
background job inherits SIGINT ignored from the shell, and Python then never raises it."""


def test_watch_stops_cleanly_on_ctrl_c(site: NewsSite, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")},
        "NEWSDESK_FEEDS_DB": str(tmp_path / "feeds.sqlite3"),
        "PYTHONPATH": str(REPO),
    }
    seeds = tmp_path / "seeds"
    watch = [*WITH_CTRL_C, "watch", "--no-feeds", "--seeds", str(seeds), "--index", str(tmp_path / "i")]
    child = subprocess.Popen(watch, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stderr is not None
        line = child.stderr.readline()
        assert "Watching" in line and "Ctrl-C stops" in line
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    assert "Stopped" in err and "Traceback" not in err


def test_feed_settings_reach_the_engine_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import Settings

    monkeypatch.setenv("NEWSDESK_FEEDS_HOST_DELAY", "2.5")
    monkeypatch.setenv("NEWSDESK_FEEDS_CONTACT", "ops@example.org")
    config = Settings().feeds
    assert config.host_delay == 2.5 and config.agent == "newsdesk/0.1.0 (news feed reader; +ops@example.org)"
    monkeypatch.setenv("NEWSDESK_FEEDS_HOST_DELAY", "-1")
    code = main(["feeds", "list"])
    assert code == 2


def test_each_index_keeps_its_own_feeds(
    site: NewsSite, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feed list and fetch state live in the index directory: a second seeds folder (with its own
    index) run from the same directory gets its feeds' articles too, and another directory sees them."""
    for name in ("a", "b"):
        code, _, _ = run(capsys, "feeds", "add", site.base + "/feeds/top.rss", "--index", f"idx-{name}")
        assert code == 0
        code, out, _ = run(capsys, "update", "--no-index", "--index", f"idx-{name}", "--seeds", f"seeds-{name}")
        assert code == 0 and "+ Top stories: 2 new" in out
        assert len(list(Path(f"seeds-{name}/feeds").rglob("*.md"))) == 2
        assert Path(f"idx-{name}/feeds.sqlite3").is_file()
    assert not Path("feeds.sqlite3").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = run(capsys, "feeds", "list", "--index", str(tmp_path / "idx-a"))
    assert code == 0 and "Top stories" in out and "2 articles" in out and not err


def test_the_feed_state_can_live_elsewhere(
    site: NewsSite, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDESK_FEEDS_DB", str(tmp_path / "shared" / "feeds.sqlite3"))
    run(capsys, "feeds", "add", site.base + "/feeds/top.rss", "--index", "one")
    code, out, _ = run(capsys, "feeds", "list", "--index", "two")
    assert code == 0 and "Top stories" in out
    assert (tmp_path / "shared" / "feeds.sqlite3").is_file() and not Path("one/feeds.sqlite3").exists()


def test_an_old_feed_state_in_the_current_directory_is_noticed(
    site: NewsSite, capsys: pytest.CaptureFixture[str]
) -> None:
    """An older newsdesk kept ./feeds.sqlite3: it is named in one line (not moved: it may feed another
    index), until this index has a feed state of its own."""
    from retrieval.feeds.state import FeedStore

    FeedStore(Path("feeds.sqlite3")).add_feed(site.base + "/feeds/top.rss", "Top stories")
    code, _, err = run(capsys, "feeds", "list")
    (note,) = err.splitlines()[:1]
    assert code == 0 and "feeds.sqlite3 is the feed state of an older newsdesk" in note
    assert "NEWSDESK_FEEDS_DB=" in note and "index/feeds.sqlite3" in note
    run(capsys, "feeds", "add", site.base + "/feeds/top.rss")
    code, out, err = run(capsys, "feeds", "list")
    assert code == 0 and "Top stories" in out and "older newsdesk" not in err
