"""Mention mode: a message that mentions the bot is a question, answered as a reply (or in a thread).
An extension: ``setup(bot)`` registers the message listener."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.discord_bot.buttons import answer_view
from bot.discord_bot.embeds import APOLOGY, answer_embeds, note, shorten
from bot.discord_bot.guard import Question, Refusal

if TYPE_CHECKING:
    from bot.discord_bot.client import NewsdeskBot

log = logging.getLogger(__name__)

NOTE_SECONDS = 60.0
"""How long a note about the asker's own question (refusal, cooldown, apology) stays in the channel.
A reply to a message cannot be ephemeral, so such notes are public; they delete themselves."""


def mention_question(content: str, bot_id: int) -> str:
    """The message text without the bot's own mention(s)."""
    return re.sub(rf"<@!?{bot_id}>", " ", content)


async def reply_note(message: discord.Message, text: str) -> None:
    """A short public reply to ``message`` (no ping) that deletes itself after NOTE_SECONDS."""
    try:
        await message.reply(note(text), mention_author=False, delete_after=NOTE_SECONDS)
    except discord.HTTPException as exc:
        log.warning("could not reply to message %s: %s", message.id, exc)


@contextlib.asynccontextmanager
async def typing_indicator(channel: discord.abc.Messageable) -> AsyncIterator[None]:
    """Show the bot typing while the body runs, if Discord allows it: best effort, a refusal (say a 403)
    is logged and never reaches the body, whose own errors pass through untouched."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(channel.typing())
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.warning("no typing indicator in channel %s: %s", getattr(channel, "id", "?"), exc)
        yield


async def handle_mention(bot: NewsdeskBot, message: discord.Message) -> None:
    """Answer a message that mentions the bot in an allowed channel, replying to it (or in a thread)."""
    me = bot.user
    if message.author.bot or message.guild is None or me is None:
        return  # other bots, itself included, and DMs are ignored
    if me.id not in message.raw_mentions:
        return
    try:
        question = bot.guard.admit(
            mention_question(message.content, me.id),
            user_id=message.author.id,
            channel=message.channel,
            warn_once=True,
        )
    except Refusal as refusal:
        if refusal.reason != "channel" and not refusal.repeated:  # other channels are not the bot's to talk in
            await reply_note(message, refusal.text)
        return
    thread = message.channel.id if isinstance(message.channel, discord.Thread) else None
    replied = message.reference.message_id if message.reference is not None else None
    async with typing_indicator(message.channel):
        try:
            answer, answer_id = await bot.answer(
                question.text,
                question.dates,
                as_of=message.created_at.date(),
                previous=bot.conversations.previous([replied, thread]),
                guild_id=message.guild.id,
                channel_id=message.channel.id,
                user_id=message.author.id,
                via="mention",
            )
        except Exception:
            log.exception("the engine failed on a mention %r", question.text)
            await reply_note(message, APOLOGY)
            return
    sent = await deliver(
        bot, message, question, answer_embeds(answer, answer_chars=bot.settings.answer_chars), answer_id
    )
    if not answer.abstained:
        where = {m.id for m in sent} | {m.channel.id for m in sent if isinstance(m.channel, discord.Thread)}
        bot.conversations.remember([*where, thread], answer.searched or answer.question)


async def deliver(
    bot: NewsdeskBot, message: discord.Message, question: Question, messages: list[list[discord.Embed]], answer_id: int
) -> list[discord.Message]:
    """Post the answer's messages as a reply to ``message`` (or in a new thread), buttons on the last;
    returns what was posted."""
    sent: list[discord.Message] = []
    target: discord.abc.Messageable | None = None
    if bot.settings.mention_replies_in_thread and isinstance(message.channel, discord.TextChannel):
        try:
            target = await message.create_thread(name=shorten(question.text, 100), auto_archive_duration=1440)
        except discord.HTTPException as exc:
            log.warning("could not start a thread, replying in the channel instead: %s", exc)
    for number, embeds in enumerate(messages, start=1):
        kwargs: dict[str, Any] = {"embeds": embeds}
        if number == len(messages):
            kwargs["view"] = answer_view(answer_id)
        if target is not None:
            sent.append(await target.send(**kwargs))
        elif number == 1:
            sent.append(await message.reply(mention_author=False, **kwargs))
        else:
            sent.append(await message.channel.send(**kwargs))
    return sent


def setup(bot: NewsdeskBot) -> None:
    """Listen for messages that mention the bot (they arrive only with the guild_messages intent)."""

    @bot.event
    async def on_message(message: discord.Message) -> None:
        await handle_mention(bot, message)
