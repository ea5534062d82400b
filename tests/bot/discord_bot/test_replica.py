"""A bot replica in a simulated Discord (simcord): it serves the index a builder published to Milvus (Milvus
Lite, for real) with no index directory; /brief and /stats answer from Milvus as the builder's would, and
what only the builder can do (follow topics and feeds, rebuild) is one line naming it."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import discord
import pytest

from retrieval.config import AnswerConfig, ChunkingConfig, VectorConfig
from retrieval.engine import Engine
from retrieval.index.store import IndexStore
from tests.bot.discord_bot.conftest import write_seeds
from tests.conftest import HashEmbedder


def _engine(index_dir: Path, vectors: VectorConfig) -> Engine:
    return Engine(
        IndexStore(index_dir, vectors),
        HashEmbedder(),
        answer=AnswerConfig(min_confidence=0.2, max_question_chars=300, ranker=None),
        chunking=ChunkingConfig(max_tokens=200),
    )


@pytest.fixture
def vectors(milvus_uri: str) -> VectorConfig:
    return VectorConfig(
        backend="milvus", milvus_uri=milvus_uri, milvus_collection=f"d{uuid.uuid4().hex[:8]}", milvus_corpus=True
    )


@pytest.fixture
def builder(tmp_path: Path, vectors: VectorConfig) -> Engine:
    engine = _engine(tmp_path / "builder", vectors)
    engine.build(write_seeds(tmp_path / "builder-seeds"), full=True)
    return engine


@pytest.fixture
def engine(tmp_path: Path, builder: Engine, vectors: VectorConfig) -> Engine:
    """The replica: the builder's Milvus settings, no index directory (``tmp_path / "index"`` is never made)."""
    replica = _engine(tmp_path / "index", vectors)
    assert replica.replica and not builder.replica
    return replica


@pytest.fixture
def world(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("news")
    mods = guild.create_role("Mods", permissions=discord.Permissions(administrator=True))
    mod = guild.add_member(simcord_env.create_user("mod"), roles=[mods])
    return guild, channel, mod


async def test_a_replica_briefs_and_states_from_milvus(simcord_env, world, engine, builder, tmp_path):
    _, channel, mod = world
    found = await mod.slash(channel, "brief", topic="grain deal in Istanbul", since="2022-07-01")
    [embed] = found.response.embeds
    [field] = embed.fields
    assert field.name == "1. Grain deal reached in Istanbul"
    want = builder.brief(since=dt.date(2022, 1, 1), until=dt.date.today())
    got = engine.brief(since=dt.date(2022, 1, 1), until=dt.date.today())
    assert got == want and got.stories
    stats = (await mod.slash(channel, "stats")).response.embeds[0]
    fields = {f.name: f.value for f in stats.fields}
    assert fields["Articles"] == str(len(builder.article_ids()))
    assert fields["Published"].endswith(f"(generation {builder.corpus.generation()})")  # type: ignore[union-attr]
    assert "Size" not in fields
    assert not (tmp_path / "index").exists()


async def test_what_the_builder_does_is_one_line_on_a_replica(simcord_env, world, tmp_path):
    _, channel, mod = world
    replies = {
        "follow": (await mod.slash(channel, "follow", topic="grain exports")).response.content,
        "following": (await mod.slash(channel, "following")).response.content,
        "feeds add": None,
        "reindex": (await mod.slash(channel, "reindex")).response.content,
    }
    added = await mod.slash(channel, "feeds add", url="https://example.org/feed")
    replies["feeds add"] = (added.followups or [added.response])[0].content
    for name, text in replies.items():
        assert text is not None and "\n" not in text, name
        assert "the bot that builds the index" in text and "builds nothing" in text, (name, text)
    assert replies["follow"].startswith("Cannot follow it: topics are followed on the bot that builds the index")
    assert not list(tmp_path.glob("index*")), "a replica wrote nothing beside its (absent) index directory"
