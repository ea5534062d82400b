"""Small text helpers shared by search and answering: word shingles and their overlap."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")
_SHINGLE = 5


def shingles(text: str) -> set[tuple[str, ...]]:
    """Lower-cased word 5-grams of a text (the whole text if shorter)."""
    words = _WORD.findall(text.lower())
    if len(words) < _SHINGLE:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}


def overlap(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    """Share of the smaller passage's word 5-grams found in the other."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))
