"""Fixtures for the Discord bot tests: a real Engine over a few tiny articles, with a fast
deterministic embedder (hashed bag of words), and the bot built on it for simcord."""

from __future__ import annotations

import shutil
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import discord
import numpy as np
import pytest
import yarl

from bot.discord_bot.client import NewsdeskBot, create_bot
from bot.discord_bot.feedback import FeedbackStore
from bot.settings import Settings
from retrieval.config import AnswerConfig, ChunkingConfig
from retrieval.engine import Engine
from retrieval.index.store import IndexStore
from tests.bot.discord_bot.fake_discord import FakeDiscord
from tests.conftest import HashEmbedder
from tests.retrieval.feeds.newssite import CORPUS_NAME, NewsSite, Story, corpus_path, real_articles, stories_from


class SlowHashEmbedder(HashEmbedder):
    """The shared test embedder, plus ``query_work`` seconds of pure-Python work (holding the GIL)
    on every single-text encode, i.e. every question, so questions cost what a real model's would.
    Records which threads encoded questions. With ``meet`` > 1 a question's encode first waits (up
    to ``MEET_WAIT`` s) until ``meet`` of them have been in flight at once: concurrency is then a
    fact the test can check on a loaded machine too, not a race it may lose (a second question that
    arrives after the first finished hits the query cache and never encodes)."""

    MEET_WAIT = 10.0

    def __init__(self, query_work: float = 0.0, meet: int = 1) -> None:
        super().__init__()
        self.query_work = query_work
        self.meet = meet
        self.threads: set[int] = set()
        self.peak = 0
        self._in_flight = 0
        self._met = threading.Condition()

    def encode(self, texts: Sequence[str], progress=None) -> np.ndarray:  # noqa: ANN001
        if len(texts) != 1:
            return super().encode(texts, progress)
        self.threads.add(threading.get_ident())
        with self._met:
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
            self._met.notify_all()
            self._met.wait_for(lambda: self.peak >= self.meet, timeout=self.MEET_WAIT)
        try:
            end = time.perf_counter() + self.query_work
            while time.perf_counter() < end:
                sum(range(200))
            return super().encode(texts, progress)
        finally:
            with self._met:
                self._in_flight -= 1


LONG_SENTENCE = (
    "The harbour committee decided that tariffs on grain shipments would fall in stages, "
    + " ".join(
        f"with clause {n} of the harbour tariff schedule covering grain berths, storage silos, "
        f"pilotage fees and the customs inspections that the committee reviewed in session {n}"
        for n in range(1, 12)
    )
    + "."
)

ARTICLES = {
    "turkey.md": """\
        ---
        title: Why Turkey will not sanction Russia
        date: 2022-03-12
        source: Example Wire
        url: https://example.com/turkey-russia-sanctions
        ---
        Turkey will not sanction Russia because it depends on Russian gas and tourists. Ankara says
        sanctions would hurt the Turkish economy more than the Kremlin. @everyone Officials in Ankara
        told <@&123456789012345678> reporters and <@234567890123456789> that neutrality keeps talks open.
        Turkey hosted the foreign ministers of Russia and Ukraine in Antalya.
        """,
    "grain.md": """\
        ---
        title: Grain deal reached in Istanbul
        date: 2022-07-22
        source: Harbour Times
        url: https://example.com/grain-deal
        ---
        Russia and Ukraine signed a deal in Istanbul to resume grain exports from Black Sea ports.
        The United Nations and Turkey brokered the grain agreement. Ships will be inspected in Istanbul.
        """,
    "nato.md": """\
        ---
        title: NATO rejects a no-fly zone
        date: 2022-03-04
        source: Example Wire
        url: https://example.com/nato-no-fly
        ---
        NATO refused to impose a no-fly zone over Ukraine. Jens Stoltenberg said a no-fly zone would
        lead to open war between NATO and Russia. The alliance will send more troops to its eastern flank.
        """,
    "harbour.md": f"""\
        ---
        title: Harbour committee cuts grain tariffs
        date: 2022-05-02
        source: Port Gazette
        url: https://example.com/harbour-tariffs
        ---
        {LONG_SENTENCE} {LONG_SENTENCE.replace("decided", "agreed")} {LONG_SENTENCE.replace("decided", "ruled")}
        """,
}


def write_seeds(seeds: Path) -> Path:
    """The tiny corpus as Markdown files with front matter."""
    seeds.mkdir(parents=True, exist_ok=True)
    for name, body in ARTICLES.items():
        (seeds / name).write_text(textwrap.dedent(body), encoding="utf-8")
    return seeds


def make_engine(tmp_path: Path, embedder: HashEmbedder | None = None) -> Engine:
    """A real Engine with a built index over the tiny corpus."""
    engine = Engine(
        IndexStore(tmp_path / "index"),
        embedder or HashEmbedder(),
        answer=AnswerConfig(min_confidence=0.2, max_question_chars=300, ranker=None),
        chunking=ChunkingConfig(max_tokens=200),
    )
    engine.build(write_seeds(tmp_path / "seeds"), full=True)
    return engine


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for tests: nothing read from the environment or a .env file."""
    values: dict[str, object] = {
        "index_dir": tmp_path / "index",
        "seeds_dir": tmp_path / "seeds",
        "feedback_db": tmp_path / "feedback.sqlite3",
        "discord_token": None,
        "discord_guild_id": None,
        "discord_channels": [],
        "cooldown_questions": 4,
        "cooldown_seconds": 60.0,
        "answer_chars": 1500,
        "mention_replies_in_thread": False,
        "discord_mentions": True,
        "discord_workers": 4,
        "max_question_chars": 300,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def built_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index built per session; each test gets its own copy."""
    root = tmp_path_factory.mktemp("corpus")
    make_engine(root)
    return root


@pytest.fixture
def engine(tmp_path: Path, built_index: Path) -> Engine:
    """A real engine over a private copy of the tiny corpus and its index."""
    shutil.copytree(built_index / "index", tmp_path / "index", symlinks=True)
    shutil.copytree(built_index / "seeds", tmp_path / "seeds")
    engine = Engine(
        IndexStore(tmp_path / "index"),
        HashEmbedder(),
        answer=AnswerConfig(min_confidence=0.2, max_question_chars=300, ranker=None),
        chunking=ChunkingConfig(max_tokens=200),
    )
    engine.load()
    return engine


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """The fake Discord (REST + gateway) on 127.0.0.1, with discord.py pointed at it."""
    server = FakeDiscord()
    await server.start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway_url))
    yield server
    await server.stop()


@pytest.fixture
def bot_options() -> dict[str, object]:
    """Per-test settings overrides (override this fixture, or use indirect parametrisation)."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, bot_options: dict[str, object]) -> Settings:
    return make_settings(tmp_path, **bot_options)


@pytest.fixture
def feedback(settings: Settings) -> FeedbackStore:
    return FeedbackStore(settings.discord.feedback_db)


@pytest.fixture
def simcord_bot(engine: Engine, settings: Settings, feedback: FeedbackStore) -> NewsdeskBot:
    """The bot under test, handed to simcord's ``simcord_env`` fixture."""
    return create_bot(engine, settings, feedback=feedback)


@pytest.fixture(scope="module")
def news_stories() -> list[Story]:
    """Three real news articles as stories (read now, never stored in the repo)."""
    if corpus_path() is None:
        pytest.skip(f"the real news corpus ../{CORPUS_NAME} is not here")
    return list(stories_from(real_articles(3)))


@pytest.fixture
def site(news_stories: list[Story]) -> Iterator[NewsSite]:
    """The loopback news site with a "Top stories" RSS feed holding the first story."""
    with NewsSite() as running:
        running.add_feed("top", "rss", "Top stories")
        running.publish("top", news_stories[0])
        yield running
