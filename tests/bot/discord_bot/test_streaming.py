"""Written answers streamed into Discord: the coalescing of edits (pure logic, on a real event loop), and
end to end over the fake Discord with a scripted OpenAI-compatible model on 127.0.0.1: the reply is
posted at the first verified sentence, edited at most once a second, and its last edit is the whole
answer with its sources and buttons; a model that stalls falls back while other questions are answered."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.discord_bot.client import create_bot
from bot.discord_bot.embeds import WRITING
from bot.discord_bot.streaming import Coalescer
from retrieval.config import AnswerConfig, ChunkingConfig, LLMConfig
from retrieval.engine import Engine
from retrieval.index.store import IndexStore
from tests.bot.discord_bot.test_transport import connect, disconnect, posts
from tests.conftest import HashEmbedder
from tests.retrieval.answer.fake_llm import FakeServer, Reply, fake_llm_server

pytest.importorskip("openai")  # the llm extra: the OpenAI-compatible client the engine streams with

SHIPS = "Where will ships be inspected?"
WRITTEN = [
    "Ships will be inspected ",
    "in Istanbul [1]. ",
    "Russia and Ukraine signed a deal in Istanbul ",
    "to resume grain exports from Black Sea ports [1]. ",
    "Turkey imposed sanctions on Russia on 3 March [1]. ",  # not what the passage says: never shown
    "The United Nations and Turkey brokered ",
    "the grain agreement [1].",
]


# -- the coalescer -------------------------------------------------------------------------------


async def test_pushes_coalesce_into_at_most_one_send_per_interval() -> None:
    sent: list[tuple[float, int]] = []

    async def send(value: int) -> None:
        sent.append((time.monotonic(), value))
        await asyncio.sleep(0.01)  # a send takes a while; pushes meanwhile wait for the next turn

    edits = Coalescer(send, interval=0.2)
    began = time.monotonic()
    for value in range(1, 21):  # a push every 25 ms for half a second (longer on a busy machine)
        edits.push(value)
        await asyncio.sleep(0.025)
    pushing = time.monotonic() - began
    await edits.stop()
    final = await edits.last(lambda: send(99))
    assert final is None
    times = [t for t, _ in sent]
    assert sent[0][1] == 1  # the first push goes out at once
    assert all(b - a >= 0.2 - 1e-3 for a, b in zip(times, times[1:], strict=False)), times
    # 21 values, a handful of sends (one per interval while the pushes lasted), the final one last
    assert 3 <= len(sent) <= 3 + pushing / 0.2 and sent[-1][1] == 99
    values = [v for _, v in sent[:-1]]
    assert values == sorted(values) and len(values) < 20  # later values replaced earlier ones
    assert edits.sends == len(sent)


async def test_stop_drops_a_waiting_send_and_the_last_waits_its_turn() -> None:
    sent: list[tuple[float, str]] = []

    async def send(value: str) -> None:
        sent.append((time.monotonic(), value))

    edits = Coalescer(send, interval=0.3)
    edits.push("one")
    await asyncio.sleep(0.01)
    edits.push("two")  # waits for its turn…
    await edits.stop()  # …and is dropped
    edits.push("three")  # ignored once stopped
    await edits.last(lambda: send("final"))
    assert [v for _, v in sent] == ["one", "final"]
    assert sent[1][0] - sent[0][0] >= 0.3 - 1e-3


async def test_a_failed_intermediate_edit_does_not_stop_the_stream() -> None:
    import discord

    calls: list[str] = []

    class Response:
        status, reason = 500, "Server Error"

    async def send(value: str) -> None:
        calls.append(value)
        if value == "one":
            raise discord.HTTPException(Response(), "boom")  # type: ignore[arg-type]

    edits = Coalescer(send, interval=0.05)
    edits.push("one")
    await asyncio.sleep(0.01)
    edits.push("two")
    for _ in range(1000):  # its turn comes 50 ms after the first; a busy machine may take longer
        if len(calls) == 2:
            break
        await asyncio.sleep(0.01)
    assert calls == ["one", "two"]


# -- over the wire -------------------------------------------------------------------------------


@pytest.fixture
def llm() -> Iterator[FakeServer]:
    with fake_llm_server() as server:
        yield server


@pytest.fixture
def engine(tmp_path: Path, built_index: Path, llm: FakeServer) -> Engine:
    """The tiny corpus's engine, answering with the scripted model (answerer=llm, a 3 s budget)."""
    shutil.copytree(built_index / "index", tmp_path / "index", symlinks=True)
    shutil.copytree(built_index / "seeds", tmp_path / "seeds")
    engine = Engine(
        IndexStore(tmp_path / "index"),
        HashEmbedder(),
        answer=AnswerConfig(min_confidence=0.2, max_question_chars=300, ranker=None),
        chunking=ChunkingConfig(max_tokens=200),
        llm=LLMConfig(answerer="llm", url=llm.url, model="fake-model", timeout=3.0, mode="passages"),
    )
    engine.load()
    return engine


def original(fake, token: str) -> str:  # noqa: ANN001
    return f"/webhooks/{fake.app_id}/{token}/messages/@original"


async def test_a_written_answer_streams_in_coalesced_edits_and_ends_complete(fake, engine, llm, settings):
    llm.say(Reply(WRITTEN, delay=0.3))  # a sentence about every half second
    # A budget no busy machine reaches: this test is about the edits (the stalled one below, the budget).
    engine.llm_config = replace(engine.llm_config, timeout=60.0)
    bot = create_bot(engine, settings)
    task = await connect(fake, bot)
    try:
        token = await fake.slash(fake.user("alice"), "ask", question=SHIPS)

        def done(requests) -> bool:  # noqa: ANN001
            return any(r.body.get("components") for r in posts(requests, original(fake, token)))

        requests = await fake.wait_for(done, 20)
    finally:
        await disconnect(bot, task)
    edits = [r for r in posts(requests, original(fake, token)) if r.method == "PATCH"]
    assert not [r for r in posts(requests, f"/webhooks/{fake.app_id}/{token}") if r.method == "POST"]
    gaps = [b.at - a.at for a, b in zip(edits, edits[1:], strict=False)]
    assert len(edits) >= 2 and all(gap >= 0.9 for gap in gaps), gaps  # at most one edit a second
    first, *middle, last = (e.body["embeds"][0] for e in edits)
    assert first["footer"]["text"] == WRITING  # posted early, at the first verified sentence
    assert first["description"] == "Ships will be inspected in Istanbul. [1 · 2022-07-22]"
    # Three sentences and the final answer: at most one edit each (fewer when they come within a second of
    # each other, as on an idle machine; the Coalescer tests above pin the coalescing down).
    assert len(edits) <= 4
    assert all(e["footer"]["text"] == WRITING and e["description"].startswith(first["description"]) for e in middle)
    assert last["description"].startswith("Ships will be inspected in Istanbul. [1 · 2022-07-22] Russia and Ukraine")
    assert last["description"].endswith("brokered the grain agreement. [1 · 2022-07-22]")
    assert last["fields"][0]["name"] == "Sources — [1] Grain deal reached in Istanbul"
    assert last["footer"]["text"].startswith(
        "1 written sentence not supported by the passages left out · 1 source · answered in "
    )
    assert "3 March" not in str([e.body for e in edits])
    assert last["footer"]["text"].endswith(" ms · written, each sentence checked against its source")
    buttons = [c["custom_id"] for c in edits[-1].body["components"][0]["components"]]
    assert buttons[0].startswith("newsdesk:passages:")


async def test_a_stalled_model_falls_back_while_other_questions_are_answered(fake, engine, llm, settings):
    llm.say(Reply(["never"], stall=60.0), Reply(WRITTEN[:2]))  # the first question's model stalls past 3 s
    bot = create_bot(engine, settings)
    task = await connect(fake, bot)
    try:
        alice = fake.user("alice")
        slow = await fake.slash(alice, "ask", question=SHIPS)
        await asyncio.to_thread(lambda: [time.sleep(0.02) for _ in range(250) if not llm.requests])
        quick = await fake.slash(fake.user("bob"), "ask", question=SHIPS)

        def answered(requests, token) -> list:  # noqa: ANN001
            return [r for r in posts(requests, f"/webhooks/{fake.app_id}/{token}") if r.body.get("components")]

        requests = await fake.wait_for(lambda rs: answered(rs, slow) and answered(rs, quick), 20)
    finally:
        await disconnect(bot, task)
    [slow_answer], [quick_answer] = answered(requests, slow), answered(requests, quick)
    assert quick_answer.at < slow_answer.at  # the bot kept answering while the first model stalled
    assert quick_answer.body["embeds"][0]["description"] == "Ships will be inspected in Istanbul. [1 · 2022-07-22]"
    # the stalled one: the extractive answer after the 3 s budget, never a streamed edit
    assert slow_answer.method == "POST"
    fallback = slow_answer.body["embeds"][0]
    assert fallback["description"] == "Ships will be inspected in Istanbul. [1 · 2022-07-22]"
    assert fallback["footer"]["text"].startswith(
        "the language model took longer than 3 s; quoting the articles instead · 1 source · answered in "
    )
    assert fallback["footer"]["text"].endswith("quotes are verbatim")


# -- mentions (simcord) --------------------------------------------------------------------------


async def test_a_mention_is_answered_by_a_reply_that_is_edited_as_it_is_written(simcord_env, llm):
    llm.say(Reply(WRITTEN, delay=0.05))
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("news")
    alice = guild.add_member(simcord_env.create_user("alice"))
    asked = await alice.send(channel, f"<@{simcord_env.bot.user.id}> {SHIPS}")

    reply = channel.last_message
    assert reply.reference is not None and reply.reference.message_id == asked.id
    [embed] = reply.embeds
    assert embed.description.startswith("Ships will be inspected in Istanbul. [1 · 2022-07-22] Russia and Ukraine")
    assert embed.description.endswith("brokered the grain agreement. [1 · 2022-07-22]")
    assert embed.fields[0].name == "Sources — [1] Grain deal reached in Istanbul" and reply.components
    requests = simcord_env.http_requests
    [posted] = [r for r in requests if r.method == "POST" and r.path.endswith(f"/channels/{channel.id}/messages")]
    assert posted.json["embeds"][0]["footer"]["text"] == WRITING  # posted at the first verified sentence
    edits = [r for r in requests if r.method == "PATCH" and r.path.endswith(f"/messages/{reply.id}")]
    assert 1 <= len(edits) <= 3 and edits[-1].json["components"]


async def test_unverified_sentences_are_marked_when_the_setting_shows_them(simcord_env, engine, llm, caplog):
    engine.llm_config = replace(engine.llm_config, show_unverified=True)  # (read when the writer is made)
    llm.say(Reply(WRITTEN))
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("news")
    alice = guild.add_member(simcord_env.create_user("alice"))
    result = await alice.slash(channel, "ask", question=SHIPS)
    description = result.response.embeds[0].description
    assert "Turkey imposed sanctions on Russia on 3 March. **[unverified]** The United Nations" in description
    assert description.count("[1 · 2022-07-22]") == 3
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]  # every edit went through
    edits = [r for r in simcord_env.http_requests if r.method == "PATCH" and r.path.endswith("/@original")]
    assert edits and edits[0].json["embeds"][0]["footer"]["text"] == WRITING
