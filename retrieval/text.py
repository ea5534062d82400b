"""Small text helpers shared by search and answering: word shingles, their overlap, and capitalised names."""

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


_NAME = re.compile(r"\b(?:[A-Z][\w'’.-]*[a-z0-9]|[A-Z]{2,})(?:\s+(?:of\s+|de\s+|al-)?(?:[A-Z][\w'’.-]*|[A-Z]{2,}))*")
_OPENER_WORDS = (
    "What Who Whom Whose When Where Why How Which Is Are Was Were Do Does Did Can Could Will Would "
    "Should Has Have Had And But So Also In On At For The A An"
)
_QUESTION_OPENERS = frozenset(_OPENER_WORDS.split())


def names(text: str) -> list[str]:
    """The capitalised names in ``text`` (runs of capitalised words), without question openers."""
    found = []
    for match in _NAME.finditer(text):
        words = match.group(0).split()
        while words and words[0] in _QUESTION_OPENERS:
            words = words[1:]
        if words:
            found.append(" ".join(words))
    return found
