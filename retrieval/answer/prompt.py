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
from retrieval.index.lexical import tokenize
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


def best_sentences(
    question: str, hits: Sequence[Hit], quoted: Sequence[tuple[int, int, int]], k: int
) -> list[NumberedPassage]:
    """The ``k`` sentences most worth reading, numbered from 1, each its own one-sentence "passage".

    ``quoted`` are the extractive answer's sentences as ``(passage id, start, end)``: they lead, in
    their order. The rest are the retrieved passages' sentences by how many of the question's words
    they hold, then by their similarity to the question, then by passage rank. A sentence appears
    once even when passages overlap. A prompt of a few hundred tokens instead of whole passages.
    """
    asked = set(tokenize([question])[0])
    candidates: list[tuple[tuple[float, ...], Hit, tuple[int, int]]] = []
    by_passage = {hit.passage.id: hit for hit in hits}
    for order, (passage_id, start, end) in enumerate(quoted):
        hit = by_passage.get(passage_id)
        if hit is not None:
            candidates.append(((0.0, float(order)), hit, (start, end)))
    for rank, hit in enumerate(hits):
        spans = hit.passage.sentences or ((hit.passage.start, hit.passage.end),)
        texts = [hit.article.text[s:e] for s, e in spans]
        for i, (span, terms) in enumerate(zip(spans, tokenize(texts), strict=True)):
            similarity = hit.sentence_scores[i] if i < len(hit.sentence_scores) else 0.0
            shared = len(asked & set(terms))
            candidates.append(((1.0, -float(shared), -similarity, float(rank)), hit, span))
    candidates.sort(key=lambda c: c[0])
    out: list[NumberedPassage] = []
    seen: set[tuple[str, int, int]] = set()
    for _, hit, span in candidates:
        key = (hit.article.id, *span)
        if key in seen:
            continue
        seen.add(key)
        out.append(NumberedPassage(len(out) + 1, hit, (span,)))
        if len(out) == k:
            break
    return out


QUOTE_SYSTEM = (
    "You pick the sentence that answers a question about the news. You are given numbered sentences. "
    "Reply with one line: the number of the sentence that answers the question, then ' | ', then the "
    "shortest exact words copied from that sentence that answer it (a name, number, amount, date, place "
    f"or short phrase). Example: 3 | 1.2 billion euros. If no sentence answers it, reply exactly {REFUSAL}."
)

WRITE_SYSTEM = (
    "You answer questions about the news using only the numbered sentences you are given. "
    "Write 1 or 2 short sentences. Each of your sentences must restate ONE given sentence: use only its "
    "words, names, numbers and dates, and end with its number in square brackets, like [2]. Do not "
    "combine sentences, do not add anything. If no sentence answers the question, reply with exactly "
    f"{REFUSAL} and nothing else."
)


def sentence_messages(
    question: str, sentences: Sequence[NumberedPassage], *, as_of: dt.date, quote: bool
) -> list[Message]:
    """The chat for the sentence prompt: each sentence with its outlet's date, then the question."""
    lines = []
    for s in sentences:
        day = s.hit.article.date.isoformat() if s.hit.article.date else "undated"
        lines.append(f"[{s.number}] ({day}) {s.text}")
    ask = (
        "Reply: number | exact words, or " + REFUSAL
        if quote
        else f"Answer in 1 or 2 sentences, each ending with its sentence number like [1], or reply {REFUSAL}."
    )
    user = f"Today is {as_of.isoformat()}.\n\nSentences:\n" + "\n".join(lines) + f"\n\nQuestion: {question}\n{ask}"
    return [Message("system", QUOTE_SYSTEM if quote else WRITE_SYSTEM), Message("user", user)]
