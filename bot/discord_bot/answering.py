"""The one answer flow that /ask, mentions, replies to the bot and thread follow-ups share: ask the
engine off the loop (against the question the conversation follows), stream a written answer, deliver
the embeds, tell the asker when the question cannot be asked or the engine failed, and remember what
the answer was about. Where the reply goes (an interaction, a message, a thread) is a ``Reply``."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import discord

from bot.discord_bot.embeds import APOLOGY, answer_embeds
from bot.discord_bot.streaming import AnswerStream, Coalescer, Written
from retrieval.errors import BadQuestionError

if TYPE_CHECKING:
    from bot.discord_bot.client import NewsdeskBot
    from bot.discord_bot.guard import Question

log = logging.getLogger(__name__)

ASKED_BY = {"slash": "/ask", "mention": "a mention", "reply": "a reply", "thread": "a thread follow-up"}
"""How each way of asking is named in the log."""


@dataclass(frozen=True)
class Asking:
    """Who asked, where, when, and what the question may follow."""

    as_of: dt.date
    guild_id: int | None
    channel_id: int | None
    user_id: int
    via: str
    """How it was asked: ``slash``, ``mention``, ``reply`` or ``thread`` (recorded with the answer)."""
    follows: tuple[int | None, ...] = ()
    """Ids whose last question this one may follow, first known wins: the replied-to answer, the thread."""
    thread: int | None = None
    """The thread it was asked in, if any: later follow-ups there follow this answer."""


class Reply(Protocol):
    """Where an answer goes."""

    async def show(self, written: list[Written]) -> None:
        """Show a written answer's sentences so far."""

    async def deliver(
        self, messages: list[list[discord.Embed]], answer_id: int, edits: Coalescer[list[Written]]
    ) -> Sequence[discord.Message]:
        """Post the whole answer (buttons on the last message); returns what was posted."""

    async def withdraw(self) -> None:
        """Take back a partly shown answer (the engine failed after all)."""

    async def tell(self, text: str) -> None:
        """A short note to the asker (a refusal, an apology)."""


async def answer_question(bot: NewsdeskBot, question: Question, asking: Asking, reply: Reply) -> None:
    """Answer an admitted ``question`` into ``reply``; a question the engine refuses is told why, an
    engine failure is logged and apologised for."""
    stream = AnswerStream(asyncio.get_running_loop(), reply.show)
    try:
        answer, answer_id = await bot.answer(
            question.text,
            question.dates,
            as_of=asking.as_of,
            previous=bot.conversations.previous(asking.follows),
            guild_id=asking.guild_id,
            channel_id=asking.channel_id,
            user_id=asking.user_id,
            via=asking.via,
            on_sentence=stream.on_sentence,
        )
    except BadQuestionError as exc:
        await stream.edits.stop()
        await reply.withdraw()
        await reply.tell(f"I can't ask that: {exc}.")
        return
    except Exception:
        log.exception("the engine failed on %s %r", ASKED_BY.get(asking.via, asking.via), question.text)
        await stream.edits.stop()
        await reply.withdraw()
        await reply.tell(APOLOGY)
        return
    await stream.edits.stop()
    sent = await reply.deliver(
        answer_embeds(answer, answer_chars=bot.settings.discord.answer_chars), answer_id, stream.edits
    )
    threads = {m.channel.id for m in sent if isinstance(m.channel, discord.Thread)}
    if asking.thread is not None:
        threads.add(asking.thread)
    bot.conversations.join(threads)  # the bot answered there: later messages there are follow-ups
    if not answer.abstained:
        bot.conversations.remember([*(m.id for m in sent), *threads], answer.searched or answer.question)
