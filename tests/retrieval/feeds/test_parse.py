"""Feed documents of every kind to items, discovery, and HTML fragments to text."""

from __future__ import annotations

import pytest

from retrieval.feeds.parse import NotAFeedError, discover_feeds, html_to_text, parse_feed
from tests.retrieval.feeds.newssite import FeedSpec, Story, render_feed

STORIES = [
    Story("one", "Port opens terminal", "2023-05-02", "The port opened a terminal.\nIt cost 40 million euros."),
    Story("two", "Mayor elected", "2023-06-15", "Voters elected a mayor.\nTurnout was high."),
]
BASE = "http://127.0.0.1:1"


@pytest.mark.parametrize("kind", ["rss", "atom", "rdf", "json"])
def test_every_feed_kind_gives_titles_links_dates_and_text(kind: str) -> None:
    body, ctype = render_feed(FeedSpec(kind, "Top"), STORIES, BASE)
    feed = parse_feed(body, BASE + "/feed", {"content-type": ctype})
    assert feed.title == "Top"
    assert [i.title for i in feed.items] == ["Port opens terminal", "Mayor elected"]
    assert [i.link for i in feed.items] == [f"{BASE}/news/one.html", f"{BASE}/news/two.html"]
    assert [i.published.date().isoformat() for i in feed.items if i.published] == ["2023-05-02", "2023-06-15"]
    assert feed.items[0].text == "The port opened a terminal."
    assert feed.items[0].author == "Staff Reporter"
    assert feed.kind.startswith({"rss": "rss20", "atom": "atom", "rdf": "rss10", "json": "json"}[kind])


def test_items_without_links_or_dates_keep_their_text() -> None:
    body, ctype = render_feed(FeedSpec("rss", "Top", links=False, dates=False), STORIES, BASE)
    feed = parse_feed(body, BASE + "/feed", {"content-type": ctype})
    assert all(i.published is None for i in feed.items)
    assert feed.items[0].guid == "one" and "40 million euros" in feed.items[0].text


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<!doctype html><html><body>hi</body></html>", "an HTML page"),
        (b'<?xml version="1.0"?><rss version="2.0"><chan<<el>>', "malformed XML"),
        (b"", "empty document"),
        (b"just words", "neither XML nor JSON"),
        (b'{"hello": 1}', "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "malformed JSON"),
    ],
)
def test_what_is_not_a_feed_says_why(body: bytes, reason: str) -> None:
    with pytest.raises(NotAFeedError, match=reason):
        parse_feed(body, BASE + "/feed", {})


def test_a_feed_in_the_wrong_charset_reads_right() -> None:
    body = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Café</title><item>'
    body += "<title>“Crème brûlée” week</title><link>http://x/a</link><description>Naïve café.</description>"
    body += "</item></channel></rss>"
    feed = parse_feed(body.encode("windows-1252"), "http://x/feed", {"content-type": "text/xml; charset=utf-8"})
    assert feed.items[0].title == "“Crème brûlée” week"
    assert feed.items[0].text == "Naïve café."


def test_discovery_finds_announced_feeds_in_page_order() -> None:
    page = (
        b'<html><head><link rel="stylesheet" href="/s.css"><link rel="alternate" type="application/atom+xml" '
        b'href="/atom.xml" title="Atom"><link rel="alternate" type="application/rss+xml" href="https://x.org/rss">'
        b'<link rel="alternate" type="application/feed+json" href="feed.json"></head><body></body></html>'
    )
    found = discover_feeds(page, "https://x.org/news/")
    assert [f.url for f in found] == ["https://x.org/atom.xml", "https://x.org/rss", "https://x.org/news/feed.json"]
    assert found[0].title == "Atom"


def test_html_fragments_become_paragraphs_without_markup() -> None:
    text = html_to_text("<p>One &amp; two.</p><script>x()</script><p>Three<br>four</p><ul><li>five</li></ul>")
    assert text == "One & two.\n\nThree\nfour\n\nfive"
