"""Mention mode: a message that mentions the bot is a question, answered as a reply (or in a thread).
An extension: ``setup(bot)`` registers the message listener."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.discord_bot.buttons import answer_view
from bot.discord_bot.embeds import APOLOGY, answer_embeds, note, shorten, writing_embeds
from bot.discord_bot.guard import Question, Refusal
from bot.discord_bot.streaming import AnswerStream, Coalescer, Written

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
    delivery = Delivery(bot, message, question)
    stream = AnswerStream(asyncio.get_running_loop(), delivery.show)
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
                on_sentence=stream.on_sentence,
            )
        except Exception:
            log.exception("the engine failed on a mention %r", question.text)
            await stream.edits.stop()
            await delivery.withdraw()
            await reply_note(message, APOLOGY)
            return
    await stream.edits.stop()
    sent = await delivery.deliver(
        answer_embeds(answer, answer_chars=bot.settings.discord.answer_chars), answer_id, stream.edits
    )
    if not answer.abstained:
        where = {m.id for m in sent} | {m.channel.id for m in sent if isinstance(m.channel, discord.Thread)}
        bot.conversations.remember([*where, thread], answer.searched or answer.question)


class Delivery:
    """Where a mention's answer goes: a reply to the message, or a new thread (opened on the first post).

    A written answer's first message is posted at its first verified sentence and edited as the others
    come (``show``); ``deliver`` then makes it the whole answer, buttons on the last message.
    """

    def __init__(self, bot: NewsdeskBot, message: discord.Message, question: Question) -> None:
        self.bot = bot
        self.message = message
        self.question = question
        self._target: discord.abc.Messageable | None = None
        self._opened = False
        self.first: discord.Message | None = None
        """The answer's first message, once posted while the answer was being written."""

    async def target(self) -> discord.abc.Messageable | None:
        """The thread to answer in, if the settings say so and it could be started; None: reply in the channel."""
        if not self._opened:
            self._opened = True
            message = self.message
            if self.bot.settings.discord.mention_replies_in_thread and isinstance(message.channel, discord.TextChannel):
                try:
                    self._target = await message.create_thread(
                        name=shorten(self.question.text, 100), auto_archive_duration=1440
                    )
                except discord.HTTPException as exc:
                    log.warning("could not start a thread, replying in the channel instead: %s", exc)
        return self._target

    async def post(self, number: int, **kwargs: Any) -> discord.Message:
        """Post the answer's ``number``-th message: the first as the reply (or in the thread)."""
        target = await self.target()
        if target is not None:
            return await target.send(**kwargs)
        if number == 1:
            return await self.message.reply(mention_author=False, **kwargs)
        return await self.message.channel.send(**kwargs)

    async def show(self, written: list[Written]) -> None:
        """Show the sentences written so far: post the first message, or edit it."""
        embeds = writing_embeds(self.question.text, written, answer_chars=self.bot.settings.discord.answer_chars)
        if self.first is None:
            self.first = await self.post(1, embeds=embeds)
        else:
            await self.first.edit(embeds=embeds)

    async def withdraw(self) -> None:
        """Delete a partly written answer (the engine failed after all)."""
        if self.first is not None:
            with contextlib.suppress(discord.HTTPException):
                await self.first.delete()

    async def deliver(
        self, messages: list[list[discord.Embed]], answer_id: int, edits: Coalescer[list[Written]]
    ) -> list[discord.Message]:
        """Post the answer's messages (the first one edited in turn, if it was posted while written), buttons
        on the last; returns what was posted."""
        view = answer_view(answer_id)
        sent: list[discord.Message] = []
        first = self.first
        if first is not None:
            embeds = messages[0]
            await edits.last(lambda: first.edit(embeds=embeds, view=view if len(messages) == 1 else None))
            sent.append(first)
        for number in range(len(sent) + 1, len(messages) + 1):
            kwargs: dict[str, Any] = {"embeds": messages[number - 1]}
            if number == len(messages):
                kwargs["view"] = view
            sent.append(await self.post(number, **kwargs))
        return sent


def setup(bot: NewsdeskBot) -> None:
    """Listen for messages that mention the bot (they arrive only with the guild_messages intent)."""

    @bot.event
    async def on_message(message: discord.Message) -> None:
        await handle_mention(bot, message)
