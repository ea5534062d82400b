"""The one gate every question passes before the engine sees it, whether it came by /ask, /sources
or a mention: the channel, the question itself (and its dates), then the asker's cooldown."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bot.discord_bot.cooldown import Cooldown
from bot.discord_bot.embeds import shorten
from retrieval.errors import BadQuestionError, NewsdeskError
from retrieval.types import DateRange

if TYPE_CHECKING:
    from retrieval.engine import Engine

Reason = Literal["channel", "question", "cooldown"]


class Refusal(NewsdeskError):
    """A question the bot will not answer: why (``reason``) and what to tell the asker (``text``).

    ``repeated`` is set on a cooldown refusal when the asker was already told in this window, so a
    front that cannot reply privately (mention mode) can stay quiet instead of answering spam.
    """

    def __init__(self, reason: Reason, text: str, *, repeated: bool = False) -> None:
        super().__init__(text)
        self.reason: Reason = reason
        self.text = text
        self.repeated = repeated


@dataclass(frozen=True)
class Question:
    """A question the guard let through: cleaned text and the date filter."""

    text: str
    dates: DateRange = DateRange()


def parse_dates(since: str | None, until: str | None) -> DateRange:
    """The since/until options as a DateRange; BadQuestionError if one is not a date."""

    def day(name: str, value: str | None) -> dt.date | None:
        if value is None or not value.strip():
            return None
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise BadQuestionError(f"{name} '{shorten(value, 40)}' is not a date; use YYYY-MM-DD") from None

    start, end = day("since", since), day("until", until)
    if start and end and start > end:
        raise BadQuestionError(f"since {start} is after until {end}")
    return DateRange(start, end)


class QuestionGuard:
    """Decides whether a question goes to the engine; ``admit`` returns it cleaned or raises Refusal."""

    def __init__(self, engine: Engine, channels: Collection[int], cooldown: Cooldown) -> None:
        self._engine = engine
        self.channels = frozenset(channels)
        self.cooldown = cooldown

    def channel_allowed(self, channel: object) -> bool:
        """True if the bot answers in ``channel`` (or in the channel a thread belongs to)."""
        if not self.channels:
            return True
        ids = {getattr(channel, "id", None), getattr(channel, "parent_id", None)}
        return any(i in self.channels for i in ids if i is not None)

    def admit(
        self,
        question: str,
        *,
        user_id: int,
        channel: object,
        since: str | None = None,
        until: str | None = None,
        verb: str = "ask",
        warn_once: bool = False,
    ) -> Question:
        """The question cleaned with its dates, or Refusal: wrong channel, bad question or dates, too many
        questions (checked in that order, so a refused question never uses up the asker's budget).

        With ``warn_once``, a cooldown refusal after the first in a window is marked ``repeated``."""
        if not self.channel_allowed(channel):
            where = ", ".join(f"<#{c}>" for c in sorted(self.channels))
            raise Refusal("channel", f"I answer questions in {where}.")
        try:
            admitted = Question(self._engine.check_question(question), parse_dates(since, until))
        except BadQuestionError as exc:
            raise Refusal("question", f"I can't {verb} that: {exc}.") from None
        wait = self.cooldown.hit(user_id)
        if wait:
            cd = self.cooldown
            text = (
                f"You're asking quickly: try again in {math.ceil(wait)} s "
                f"(up to {cd.rate} questions every {cd.per:g} s)."
            )
            raise Refusal("cooldown", text, repeated=warn_once and not cd.should_warn(user_id))
        return admitted
