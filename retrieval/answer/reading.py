"""The reader at work: which candidate sentences of the retrieved passages it reads, and what it says.

Reading is the expensive step (a cross-encoder pass per sentence), so it reads a budget of
sentences: each passage's most promising one by the cheap sentence score first, in passage order,
then the best of the rest. A sentence shared by overlapping passages is read once. What it does not
read scores NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from retrieval.answer.reader import BEFORE_CHARS, Reader, ReaderInput
from retrieval.answer.sentences import Candidate
from retrieval.types import Hit

_SENTENCE_END = (". ", "? ", "! ", ".” ", "?” ", "!” ", '." ', "\n")


def sentence_before(hit: Hit, position: int) -> str:
    """The sentence before sentence ``position`` of the hit's passage, as the reader was trained to see it."""
    text = hit.article.text
    start = hit.passage.sentences[position][0]
    if position > 0:
        before_start = hit.passage.sentences[position - 1][0]
        return text[before_start:start].strip()
    window = text[max(0, start - BEFORE_CHARS) : start]
    cut = max(window.rfind(mark, 0, len(window.rstrip()) - 1) for mark in _SENTENCE_END)
    return (window[cut + 1 :] if cut >= 0 else window).strip()


def reader_input(hit: Hit, position: int) -> ReaderInput:
    """What the reader sees of sentence ``position`` of a hit: the sentence, the title, the date, the one before."""
    start, end = hit.passage.sentences[position]
    return ReaderInput(
        sentence=hit.article.text[start:end],
        title=hit.article.title,
        date=hit.article.date,
        before=sentence_before(hit, position),
    )


def choose(scored: Sequence[Sequence[Candidate]], budget: int) -> list[tuple[int, int]]:
    """The (hit, sentence) positions to read: each hit's best first, then the best remaining, to ``budget``."""
    picked: list[tuple[int, int]] = []
    seen: set[tuple[str, int, int]] = set()

    def take(hit: int, position: int) -> None:
        candidate = scored[hit][position]
        key = (candidate.hit.article.id, candidate.start, candidate.end)
        if key not in seen and len(picked) < budget:
            seen.add(key)
            picked.append((hit, position))

    for hit, sentences in enumerate(scored):
        if sentences:
            take(hit, max(range(len(sentences)), key=lambda i: sentences[i].score))
    rest = sorted(
        ((c.score, hit, position) for hit, sentences in enumerate(scored) for position, c in enumerate(sentences)),
        reverse=True,
    )
    for _, hit, position in rest:
        take(hit, position)
    return picked


def read(
    reader: Reader, question: str, hits: Sequence[Hit], scored: Sequence[Sequence[Candidate]], budget: int
) -> list[Hit]:
    """The hits with ``reader_scores`` filled in for the sentences read (NaN for the others)."""
    picked = choose(scored, budget)
    probabilities = reader.score(question, [reader_input(hits[h], p) for h, p in picked])
    by_key = {
        (hits[h].article.id, *hits[h].passage.sentences[p]): float(prob)
        for (h, p), prob in zip(picked, probabilities, strict=True)
    }
    return [
        replace(
            hit, reader_scores=tuple(by_key.get((hit.article.id, s, e), math.nan) for s, e in hit.passage.sentences)
        )
        for hit in hits
    ]


def best_reading(hit: Hit) -> float:
    """The highest reader probability among a hit's sentences (0 if none was read)."""
    read_scores = [s for s in hit.reader_scores if not math.isnan(s)]
    return max(read_scores, default=0.0)
