"""Questions in messages: a message that mentions the bot, replies to one of its messages, or follows up
in a thread it answered in is a question, answered as a reply (or in a thread) by the shared answer flow
(``answering.py``). An extension: ``setup(bot)`` registers the message listener."""

from __future__ import annotations

import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import discord

from bot.discord_bot.answering import Asking, answer_question
from bot.discord_bot.buttons import answer_view
from bot.discord_bot.embeds import note, shorten, writing_embeds
from bot.discord_bot.guard import Question, Refusal
from bot.discord_bot.streaming import Coalescer, Written

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


Source = Literal["mention", "reply", "thread"]

PING_OFF = (
    "Discord didn't show me the text of that reply: it only does for messages that mention me. "
    "Reply with the @ ping on (the default), or type my @mention in the reply."
)
"""Told once per asker and channel, when a reply to the bot arrives without its text (see docs/discord.md)."""


class Once:
    """Remembers which (asker, channel) pairs were told something, so it is said once (the oldest forgotten)."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._told: OrderedDict[tuple[int, int], None] = OrderedDict()

    def first(self, user_id: int, channel_id: int) -> bool:
        """True the first time for this pair (and remembers it)."""
        key = (user_id, channel_id)
        if key in self._told:
            return False
        self._told[key] = None
        while len(self._told) > self.limit:
            self._told.popitem(last=False)
        return True


async def question_source(bot: NewsdeskBot, message: discord.Message, me: discord.ClientUser) -> Source | None:
    """Why ``message`` is a question to the bot, if it is: it mentions the bot (typed, or a reply's ping),
    it replies to one of the bot's messages, or it is in a thread the bot answered in and the server
    keeps thread follow-ups on. None: not the bot's to answer."""
    if any(user.id == me.id for user in message.mentions):
        return "mention"
    replied = message.reference.resolved if message.reference is not None else None
    if isinstance(replied, discord.Message) and replied.author.id == me.id:
        return "reply"
    channel = message.channel
    if (
        isinstance(channel, discord.Thread)
        and bot.conversations.answered_in(channel.id)
        and message.guild is not None
        and await bot.run_io(bot.servers.thread_followups, message.guild.id)
    ):
        return "thread"
    return None


async def handle_message(bot: NewsdeskBot, message: discord.Message, told: Once) -> None:
    """Answer a message that is a question to the bot (``question_source``), replying to it (or in a thread)."""
    me = bot.user
    if message.author.bot or message.guild is None or me is None:
        return  # other bots, itself included, and DMs are ignored
    source = await question_source(bot, message, me)
    if source is None:
        return
    if not message.content.strip():  # Discord withheld the text (no typed mention, no Message Content intent)
        allowed = bot.guard.channel_allowed(message.channel)
        if source != "thread" and allowed and told.first(message.author.id, message.channel.id):
            await reply_note(message, PING_OFF)  # a reply: its ping off, or to an /ask answer
        return
    text = mention_question(message.content, me.id)
    try:
        question = bot.guard.admit(text, user_id=message.author.id, channel=message.channel, warn_once=True)
    except Refusal as refusal:
        if refusal.reason != "channel" and not refusal.repeated:  # other channels are not the bot's to talk in
            await reply_note(message, refusal.text)
        return
    thread = message.channel.id if isinstance(message.channel, discord.Thread) else None
    replied = message.reference.message_id if message.reference is not None else None
    asking = Asking(
        as_of=message.created_at.date(),
        guild_id=message.guild.id,
        channel_id=message.channel.id,
        user_id=message.author.id,
        via=source,
        follows=(replied, thread),
        thread=thread,
    )
    async with typing_indicator(message.channel):
        await answer_question(bot, question, asking, Delivery(bot, message, question))


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

    async def tell(self, text: str) -> None:
        """A note about the question: a public reply that deletes itself."""
        await reply_note(self.message, text)

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
    """Listen for questions in messages (they arrive only with the guild_messages intent)."""

    told = Once()

    @bot.event
    async def on_message(message: discord.Message) -> None:
        await handle_message(bot, message, told)
