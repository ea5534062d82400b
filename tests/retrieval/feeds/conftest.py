"""Fixtures for the feed tests: the loopback news site with real news text, fast polite settings, an updater."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from retrieval.engine import Engine
from retrieval.feeds.config import FeedsConfig
from retrieval.feeds.state import FeedStore
from retrieval.feeds.updater import FeedUpdater
from tests.conftest import HashEmbedder, make_engine
from tests.retrieval.feeds.newssite import CORPUS_NAME, NewsSite, Story, corpus_path, real_articles, stories_from


@pytest.fixture(scope="session")
def news() -> list[dict[str, Any]]:
    """Forty real news articles from the dev corpus (read now; never stored in the repo)."""
    if corpus_path() is None:
        pytest.skip(f"the real news corpus ../{CORPUS_NAME} is not here")
    return real_articles(40)


@pytest.fixture
def stories(news: list[dict[str, Any]]) -> list[Story]:
    """The real articles as stories of the site."""
    return list(stories_from(news))


@pytest.fixture
def site() -> Iterator[NewsSite]:
    """The news site on 127.0.0.1, stopped after the test."""
    with NewsSite() as running:
        yield running


@pytest.fixture
def config() -> FeedsConfig:
    """Fast settings for loopback: no delay between requests, short timeouts, a 1 MB cap."""
    return FeedsConfig(
        interval=0.3,
        max_backoff=5.0,
        host_delay=0.0,
        connect_timeout=2.0,
        read_timeout=2.0,
        total_timeout=5.0,
        max_bytes=1_000_000,
        workers=4,
    )


@pytest.fixture
def feeds_engine(tmp_path: Path) -> Engine:
    """An engine on the deterministic embedder."""
    return make_engine(tmp_path / "index", HashEmbedder())


@pytest.fixture
def make_updater(tmp_path: Path, config: FeedsConfig) -> Iterator[Callable[..., FeedUpdater]]:
    """Make updaters over tmp_path's state and seeds (closed after the test)."""
    made: list[FeedUpdater] = []

    def make(engine: Engine | None = None, **changes: Any) -> FeedUpdater:
        from dataclasses import replace

        updater = FeedUpdater(
            FeedStore(tmp_path / "feeds.sqlite3"), tmp_path / "seeds", replace(config, **changes), engine=engine
        )
        made.append(updater)
        return updater

    yield make
    for updater in made:
        updater.close()
        updater.store.close()
