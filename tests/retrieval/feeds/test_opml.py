"""OPML subscription lists: read nested outlines, write what can be read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.errors import FeedError
from retrieval.feeds.opml import read_opml, write_opml
from retrieval.feeds.types import Feed


def test_export_then_import_gives_the_same_feeds(tmp_path: Path) -> None:
    feeds = [Feed(1, "https://a.org/rss", "A & B news", site="https://a.org/"), Feed(2, "https://b.org/atom", "B")]
    path = tmp_path / "feeds.opml"
    path.write_text(write_opml(feeds), encoding="utf-8")
    assert [(s.url, s.title) for s in read_opml(path)] == [
        ("https://a.org/rss", "A & B news"),
        ("https://b.org/atom", "B"),
    ]


def test_nested_outlines_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "in.opml"
    path.write_text(
        '<opml version="1.0"><body><outline text="News"><outline text="One" xmlUrl="https://one.org/f"/>'
        '<outline text="Again" xmlUrl="https://one.org/f"/></outline><outline text="folder only"/>'
        '<outline title="Two" xmlUrl="https://two.org/f" type="rss"/></body></opml>',
        encoding="utf-8",
    )
    assert [(s.url, s.title) for s in read_opml(path)] == [("https://one.org/f", "One"), ("https://two.org/f", "Two")]


@pytest.mark.parametrize(("content", "reason"), [("<html/>", "not OPML"), ("<opml", "not readable OPML")])
def test_what_is_not_opml_says_so(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "bad.opml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FeedError, match=reason):
        read_opml(path)
