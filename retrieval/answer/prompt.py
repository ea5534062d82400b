"""The prompt for a written answer: the question, the day it is asked, and the numbered passages.

The passages are cut to whole sentences once (:func:`number_passages`); the prompt shows exactly
those sentences and the verifier checks against exactly those, never against text the model did not
see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.answer.llm.base import Message
from retrieval.types import Hit

REFUSAL = "NOT_IN_SOURCES"
"""What the model is told to reply, alone, when the passages do not answer the question."""

SYSTEM = (
    "You answer questions about the news using only the numbered passages you are given. "
    "Write 1 to 3 short sentences. End every sentence with the number of the passage it comes from "
    "in square brackets, like [2]. State only what a passage says; copy names, numbers and dates "
    "exactly as the passage writes them. If the passages do not answer the question, reply with "
    f"exactly {REFUSAL} and nothing else."
)


@dataclass(frozen=True)
class NumberedPassage:
    """A retrieved passage as the model sees it: its number in the prompt and the sentences given."""

    number: int
    hit: Hit
    spans: tuple[tuple[int, int], ...]
    """The sentences shown, as article offsets (a prefix of the passage's sentences)."""

    @property
    def sentences(self) -> tuple[str, ...]:
        """The text of each sentence shown."""
        return tuple(self.hit.article.text[s:e] for s, e in self.spans)

    @property
    def text(self) -> str:
        """The passage as shown, whitespace squashed."""
        return " ".join(" ".join(self.sentences).split())

    @property
    def header(self) -> str:
        """``title — outlet — date`` as shown above the passage."""
        article = self.hit.article
        day = article.date.isoformat() if article.date else "undated"
        return f"{article.title} — {article.source or 'unknown outlet'} — {day}"


def number_passages(hits: Sequence[Hit], max_chars: int) -> list[NumberedPassage]:
    """The hits numbered from 1, each cut to whole sentences within ``max_chars`` (at least one)."""
    out = []
    for number, hit in enumerate(hits, start=1):
        spans = hit.passage.sentences or ((hit.passage.start, hit.passage.end),)
        kept = [spans[0]]
        for span in spans[1:]:
            if span[1] - spans[0][0] > max_chars:
                break
            kept.append(span)
        out.append(NumberedPassage(number, hit, tuple(kept)))
    return out


def build_messages(question: str, passages: Sequence[NumberedPassage], *, as_of: dt.date) -> list[Message]:
    """The chat to send: instructions, then today's date, the passages [1]…[n] and the question."""
    blocks = "\n\n".join(f"[{p.number}] {p.header}\n{p.text}" for p in passages)
    user = (
        f"Today is {as_of:%A, %B} {as_of.day}, {as_of.year} ({as_of.isoformat()}).\n\n"
        f"Passages:\n\n{blocks}\n\n"
        f"Question: {question}\n"
        f"Answer in 1 to 3 sentences, each ending with its passage number like [1], or reply {REFUSAL}."
    )
    return [Message("system", SYSTEM), Message("user", user)]
