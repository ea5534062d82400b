"""Follow-ups in a simulated Discord: a reply to the bot is a question (with or without a typed mention;
with its ping off Discord withholds the text and the bot says how to ask), a thread the bot answered in
takes follow-ups without a mention (a server setting, /followups), a thread it was not asked in is not
the bot's to talk in, and a question the engine refuses is told the same way whichever way it came."""

from __future__ import annotations

import logging

import discord
import pytest
from simcord.backend.models.message import AllowedMentions

TURKEY = "Why won't Turkey sanction Russia?"
NATO_ON_IT = "What did NATO say about it?"
THREADS = {"mention_replies_in_thread": True, "discord_message_content": True}


@pytest.fixture
def world(simcord_env):
    """A guild with a #news channel, a member and a member who manages the server."""
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("news")
    alice = guild.add_member(simcord_env.create_user("alice"))
    admin_role = guild.create_role("admins", permissions=discord.Permissions(manage_guild=True))
    boss = guild.add_member(simcord_env.create_user("boss"), roles=[admin_role])
    return guild, channel, alice, boss


@pytest.fixture
def asked(engine, monkeypatch):
    """The real engine, each question's text and ``previous`` recorded."""
    calls: list[tuple[str, object]] = []
    real_ask = engine.ask

    def recording(question: str, **options: object):
        calls.append((question, options.get("previous")))
        return real_ask(question, **options)

    monkeypatch.setattr(engine, "ask", recording)
    return calls


def bot_messages(env, channel) -> list[discord.Message]:
    return [m for m in channel.history() if m.author.id == env.bot.user.id]


async def reply_without_ping(env, member, channel, message, content: str) -> None:
    """``member`` replies to ``message`` with the reply's @ ping turned off (a toggle in Discord's client)."""
    backend = env.backend
    reference = backend.normalize_message_reference(
        channel.id, {"channel_id": str(channel.id), "message_id": str(message.id)}
    )
    backend.create_message(
        channel.id, member.id, content, reference=reference, allowed_mentions=AllowedMentions(replied_user=False)
    )
    await env.settle()


async def test_a_plain_reply_to_an_answer_is_a_follow_up_and_shows_what_was_searched(simcord_env, world, asked):
    _, channel, alice, _ = world
    await alice.send(channel, f"<@{simcord_env.bot.user.id}> {TURKEY}")
    [answer] = bot_messages(simcord_env, channel)

    await alice.send(channel, NATO_ON_IT, reply_to=answer)  # no typed mention: the reply's ping is on

    assert asked == [(TURKEY, None), (NATO_ON_IT, TURKEY)]
    follow_up = bot_messages(simcord_env, channel)[-1]
    description = follow_up.embeds[0].description
    assert description.startswith("*Searched: What did NATO say about it? (Turkey sanction Russia)*")
    assert "sanction" in description.lower() and "open war" not in description


async def test_a_reply_with_a_typed_mention_is_one_question(simcord_env, world, asked):
    _, channel, alice, _ = world
    bot_id = simcord_env.bot.user.id
    await alice.send(channel, f"<@{bot_id}> {TURKEY}")
    [answer] = bot_messages(simcord_env, channel)
    await alice.send(channel, f"<@{bot_id}> {NATO_ON_IT}", reply_to=answer)
    assert asked == [(TURKEY, None), (NATO_ON_IT, TURKEY)]  # answered once, mention and reply together
    assert len(bot_messages(simcord_env, channel)) == 2


async def test_a_reply_with_the_ping_off_arrives_without_text_and_is_told_how_to_ask_once(simcord_env, world, asked):
    from bot.discord_bot.mentions import PING_OFF

    _, channel, alice, _ = world
    await alice.send(channel, f"<@{simcord_env.bot.user.id}> {TURKEY}")
    [answer] = bot_messages(simcord_env, channel)

    await reply_without_ping(simcord_env, alice, channel, answer, NATO_ON_IT)
    await reply_without_ping(simcord_env, alice, channel, answer, "and Erdogan?")

    assert asked == [(TURKEY, None)]  # Discord withheld the text: nothing to ask
    notes = [m for m in bot_messages(simcord_env, channel) if not m.embeds]
    assert len(notes) == 1 and PING_OFF[:40] in notes[0].content  # once, not at every reply


async def test_a_reply_to_someone_else_is_not_a_question(simcord_env, world, asked):
    _, channel, alice, boss = world
    said = await boss.send(channel, "Turkey is in the news again")
    await alice.send(channel, "Why won't it sanction Russia?", reply_to=said)
    assert asked == [] and bot_messages(simcord_env, channel) == []


@pytest.mark.parametrize("bot_options", [THREADS])
async def test_a_thread_the_bot_answered_in_takes_follow_ups_without_a_mention(simcord_env, world, asked, bot_options):
    _, channel, alice, _ = world
    await alice.send(channel, f"<@{simcord_env.bot.user.id}> {TURKEY}")
    [thread] = channel.threads  # the bot answered in a new thread
    assert len(bot_messages(simcord_env, thread)) == 1

    await alice.send(thread, NATO_ON_IT)
    await alice.send(thread, "and Erdogan?")

    searched_nato = "What did NATO say about it? (Turkey sanction Russia)"
    assert asked == [(TURKEY, None), (NATO_ON_IT, TURKEY), ("and Erdogan?", searched_nato)]
    last = bot_messages(simcord_env, thread)[-1]
    assert last.embeds[0].description.startswith("*Searched: What did Erdogan say about it? (Turkey sanction Russia)*")
    assert not [m for m in bot_messages(simcord_env, channel) if m.embeds]  # no answer in the channel itself


@pytest.mark.parametrize("bot_options", [THREADS])
async def test_the_bot_never_answers_in_a_thread_it_was_not_asked_in(simcord_env, world, asked, bot_options):
    _, channel, alice, boss = world
    simcord_env.backend.create_thread(channel.id, "chat about Turkey", boss.id)
    await simcord_env.settle()
    [thread] = channel.threads
    await boss.send(thread, TURKEY)
    await alice.send(thread, "What did NATO say about it?")
    assert asked == [] and bot_messages(simcord_env, thread) == []


@pytest.mark.parametrize("bot_options", [THREADS])
async def test_followups_off_needs_a_mention_in_threads_and_only_managers_change_it(
    simcord_env, world, asked, bot_options
):
    _, channel, alice, boss = world
    assert "followups" not in alice.available_commands(channel)  # Manage Server only
    turned = await boss.slash(channel, "followups", threads="off")
    assert "follow-ups are **off**" in turned.response.content
    assert turned.response.ephemeral

    await alice.send(channel, f"<@{simcord_env.bot.user.id}> {TURKEY}")
    [thread] = channel.threads
    await alice.send(thread, NATO_ON_IT)  # no mention, follow-ups off: not the bot's
    await alice.send(thread, f"<@{simcord_env.bot.user.id}> {NATO_ON_IT}")  # a mention still is
    assert asked == [(TURKEY, None), (NATO_ON_IT, TURKEY)]
    shown = await boss.slash(channel, "followups")
    assert "follow-ups are **off**" in shown.response.content


@pytest.mark.parametrize("bot_options", [{"mention_replies_in_thread": True}])
async def test_without_the_message_content_intent_a_thread_message_needs_a_mention(
    simcord_env, world, asked, bot_options
):
    _, channel, alice, boss = world
    assert not simcord_env.bot.intents.message_content  # none asked for by default
    await alice.send(channel, f"<@{simcord_env.bot.user.id}> {TURKEY}")
    [thread] = channel.threads
    await alice.send(thread, NATO_ON_IT)  # Discord sends the bot no text: nothing to answer, nothing said
    assert asked == [(TURKEY, None)] and len(bot_messages(simcord_env, thread)) == 1
    await alice.send(thread, f"<@{simcord_env.bot.user.id}> {NATO_ON_IT}")
    assert asked[-1] == (NATO_ON_IT, TURKEY)
    shown = await boss.slash(channel, "followups")
    assert "Message Content intent" in shown.response.content


async def test_a_question_the_engine_refuses_is_told_not_apologised_for(simcord_env, world, caplog):
    _, channel, alice, _ = world
    with caplog.at_level(logging.INFO, logger="bot.discord_bot"):
        await alice.send(channel, f"<@{simcord_env.bot.user.id}> the of and?")
    [note] = bot_messages(simcord_env, channel)
    assert "I can't ask that: the question" in note.content and "nothing to search for" in note.content
    assert not [r for r in caplog.records if "engine failed" in r.getMessage()]


async def test_a_reply_to_an_ask_answer_with_a_typed_mention_follows_it(simcord_env, world, asked):
    from bot.discord_bot.mentions import PING_OFF

    _, channel, alice, _ = world
    result = await alice.slash(channel, "ask", question=TURKEY)
    answer = [m for m in channel.history() if m.embeds][0]
    await alice.send(channel, NATO_ON_IT, reply_to=answer)  # Discord does not count this reply's ping
    await alice.send(channel, f"<@{simcord_env.bot.user.id}> {NATO_ON_IT}", reply_to=answer)
    assert result.response is not None
    assert asked == [(TURKEY, None), (NATO_ON_IT, TURKEY)]
    notes = [m for m in bot_messages(simcord_env, channel) if not m.embeds]
    assert len(notes) == 1 and PING_OFF[:40] in notes[0].content
