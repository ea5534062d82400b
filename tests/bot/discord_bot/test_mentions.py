"""Mention mode in a simulated Discord: the typing indicator is best effort, and the notes about the
asker's own question (refusal, cooldown) are short public replies that delete themselves."""

from __future__ import annotations

import logging

import discord
import pytest

SHIPS = "Where will ships be inspected?"
ANSWER = "Ships will be inspected in Istanbul. [1 · 2022-07-22]"


@pytest.fixture
def world(simcord_env):
    """A guild with a #news channel and a member."""
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("news")
    member = guild.add_member(simcord_env.create_user("alice"))
    return guild, channel, member


def bot_messages(env, channel) -> list[discord.Message]:
    return [m for m in channel.history() if m.author.id == env.bot.user.id]


async def test_a_refused_typing_indicator_does_not_lose_the_answer(simcord_env, world, feedback, caplog):
    _, channel, alice = world
    simcord_env.inject_error("POST", "/channels/*/typing", status=403, code=50013, message="Missing Permissions")
    with caplog.at_level(logging.INFO, logger="bot.discord_bot"):
        asked = await alice.send(channel, f"<@{simcord_env.bot.user.id}> {SHIPS}")

    typing = [r for r in simcord_env.http_requests if r.method == "POST" and r.path.endswith("/typing")]
    assert len(typing) == 1  # the bot tried, and Discord refused
    [reply] = bot_messages(simcord_env, channel)
    assert reply.reference.message_id == asked.id
    assert reply.embeds and reply.embeds[0].description == ANSWER, reply.content  # not an apology
    assert feedback.passages(1)  # the answer was recorded, as any other
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "engine failed" in m]
    assert [r.levelno for r in caplog.records if "no typing indicator" in r.getMessage()] == [logging.WARNING]


async def test_an_engine_error_still_apologises_when_typing_works(simcord_env, world, engine, monkeypatch, caplog):
    _, channel, alice = world

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("faiss exploded")

    monkeypatch.setattr(engine, "ask", broken)
    with caplog.at_level(logging.ERROR, logger="bot.discord_bot"):
        await alice.send(channel, f"<@{simcord_env.bot.user.id}> {SHIPS}")
    [apology] = bot_messages(simcord_env, channel)
    assert apology.content.startswith("Sorry, something went wrong")
    [record] = [r for r in caplog.records if r.exc_info]
    assert "the engine failed on a mention" in record.getMessage() and "faiss exploded" in str(record.exc_info[1])


@pytest.mark.parametrize("bot_options", [{"cooldown_questions": 1, "cooldown_seconds": 600}])
async def test_notes_on_a_mention_are_public_unpinging_replies_that_delete_themselves(simcord_env, world, bot_options):
    from bot.discord_bot.mentions import NOTE_SECONDS

    _, channel, alice = world
    mention = f"<@{simcord_env.bot.user.id}>"
    empty = await alice.send(channel, mention)
    [refusal] = bot_messages(simcord_env, channel)
    assert refusal.content.startswith("I can't ask that: the question is empty")
    assert refusal.reference.message_id == empty.id and not refusal.mentions  # a reply, no ping

    await alice.send(channel, f"{mention} {SHIPS}")  # answered: the one question of the window
    fast = await alice.send(channel, f"{mention} {SHIPS}")
    await alice.send(channel, f"{mention} {SHIPS}")  # told once per window: no second note
    notes = [m for m in bot_messages(simcord_env, channel) if not m.embeds]
    assert [n.content[:24] for n in notes] == ["I can't ask that: the qu", "You're asking quickly: t"]
    assert notes[1].reference.message_id == fast.id

    await simcord_env.advance_time(NOTE_SECONDS + 1)
    [answer] = bot_messages(simcord_env, channel)  # the notes are gone, the answer stays
    assert answer.embeds[0].description == ANSWER


async def test_a_reply_to_an_answer_follows_up_its_question_as_of_the_message_day(
    simcord_env, world, engine, monkeypatch
):
    _, channel, alice = world
    asked: list[tuple[str, object, object]] = []
    real_ask = engine.ask

    def recording(question: str, **options: object):  # the real engine, its arguments recorded
        asked.append((question, options.get("previous"), options.get("as_of")))
        return real_ask(question, **options)

    monkeypatch.setattr(engine, "ask", recording)
    bot_id = simcord_env.bot.user.id
    first = await alice.send(channel, f"<@{bot_id}> {SHIPS}")
    [answer] = bot_messages(simcord_env, channel)
    await alice.send(channel, f"<@{bot_id}> and what about Odesa?", reply_to=answer)
    await alice.send(channel, f"<@{bot_id}> and what about Odesa?")  # not a reply: nothing to follow
    assert [(q, previous) for q, previous, _ in asked] == [
        (SHIPS, None),
        ("and what about Odesa?", SHIPS),
        ("and what about Odesa?", None),
    ]
    assert asked[0][2] == first.created_at.date()
    follow_up = bot_messages(simcord_env, channel)[1]
    assert follow_up.embeds[0].description.startswith("*Searched: ")


def test_conversations_remember_the_latest_question_of_each_message_and_thread():
    from bot.discord_bot.conversations import Conversations

    conversations = Conversations(limit=3)
    conversations.remember([10, 20], "first?")
    conversations.remember([11, 20], "second?")
    assert conversations.previous([10, 20]) == "first?"  # the replied-to answer wins over the thread
    assert conversations.previous([None, 20]) == "second?"
    conversations.remember([12, 13], "third?")
    assert conversations.previous([10]) is None  # the oldest was forgotten
