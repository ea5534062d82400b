"""Text as every part of newsdesk reads it: words, BM25 tokens, sentences and where they end, shingles,
capitalised names.

One place for each: the index, the answerers, ingest and the Discord front import these rather than
keep their own patterns (a word counted one way at indexing and another at answering is a bug).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

Span = tuple[int, int]

# -- words ---------------------------------------------------------------------------------------

WORD = re.compile(r"\w+")
"""A run of word characters: "don't" is two words, "3,000" two numbers."""
WORD_WITH_APOSTROPHES = re.compile(r"\w+(?:['’]\w+)*")
"""A word that keeps its apostrophes inside it ("don't", "O’Brien")."""
SPAN_WORD = re.compile(r"[\w'’-]+")
"""A word as a short answer's span counts it: apostrophes and hyphens inside ("Jean-Luc", "O’Brien's")."""
WORD_OR_MARK = re.compile(r"\w+|[^\w\s]")
"""A word or one punctuation mark: what counts tokens without a model's tokenizer."""
TOKEN_WORD = re.compile(r"(?u)\b\w\w+\b")
"""bm25s's token pattern (scikit-learn's CountVectorizer's): words of two characters or more."""
_SHINGLE = 5


# -- BM25 tokens ---------------------------------------------------------------------------------

TOKENIZER = "bm25s/en_plus/snowball-english"
"""What ``tokenize`` is, recorded in the manifest: an index tokenized otherwise must be rebuilt."""


@lru_cache(maxsize=1)
def stemmer() -> Any:
    """The Snowball English stemmer (PyStemmer) the tokens are stemmed with."""
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    """bm25s's ``en_plus`` stop words (NLTK's English list), read from its ``stopwords`` module alone:
    importing the bm25s package would import scipy, which a question does not otherwise need."""
    package = importlib.util.find_spec("bm25s")
    if package is None or not package.submodule_search_locations:
        raise ImportError("bm25s is not installed")
    path = Path(next(iter(package.submodule_search_locations))) / "stopwords.py"
    spec = importlib.util.spec_from_file_location("_bm25s_stopwords", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return frozenset(module.STOPWORDS_EN_PLUS)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed word tokens, as BM25 and the answerer see them: what
    ``bm25s.tokenize(texts, stopwords="en_plus", stemmer=<Snowball English>)`` gives (a test checks)."""
    stop = _stopwords()
    docs = [[token for token in TOKEN_WORD.findall(text.lower()) if token not in stop] for text in texts]
    unique = list(dict.fromkeys(token for doc in docs for token in doc))
    stems = dict(zip(unique, stemmer().stemWords(unique), strict=True))
    return [[stems[token] for token in doc] for doc in docs]


# -- sentences -----------------------------------------------------------------------------------

SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")
"""A sentence's end inside a text: its mark and closing quotes or brackets, before white space."""
_LINE_ENDS_LIKE_A_SENTENCE = re.compile(r"[.!?…:;][”’\"')\]]*$")
_FIRST_SENTENCE_END = re.compile(r"(?<=[.!?])[”’\"]?\s")


def split_sentences(text: str, language: str = "en") -> list[Span]:
    """Sentence spans of ``text`` as (start, end) offsets, trimmed of surrounding white space
    (sentencex's boundaries; a "sentence" over line breaks, a list or a dateline, is one per line)."""
    import sentencex

    spans: list[Span] = []
    for piece in sentencex.get_sentence_boundaries(language, text):
        if piece.get("is_paragraph_break"):
            continue
        start, end = int(piece["start_index"]), int(piece["end_index"])
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            spans.extend(_split_lines(text, start, end))
    return spans


def _split_lines(text: str, start: int, end: int) -> list[Span]:
    """A 'sentence' that spans line breaks (a list, a dateline) becomes one span per line."""
    if "\n" not in text[start:end]:
        return [(start, end)]
    spans = []
    for match in re.finditer(r"[^\n]+", text[start:end]):
        s, e = start + match.start(), start + match.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            spans.append((s, e))
    return spans


def first_sentence(text: str) -> str:
    """The text up to its first sentence end (a quick cut, no sentencex: for titles)."""
    return _FIRST_SENTENCE_END.split(text.strip(), maxsplit=1)[0].strip()


def sentence_ends(text: str, start: int = 0) -> list[int]:
    """Where sentences end in ``text`` from ``start`` on (after the mark and its closing quotes)."""
    return [m.end() for m in SENTENCE_END.finditer(text, start)]


def ends_like_a_sentence(line: str) -> bool:
    """True if ``line`` ends with a sentence's (or a clause's) punctuation: not a headline."""
    return bool(_LINE_ENDS_LIKE_A_SENTENCE.search(line))


# -- shingles ------------------------------------------------------------------------------------


def shingles(text: str) -> set[tuple[str, ...]]:
    """Lower-cased word 5-grams of a text (the whole text if shorter)."""
    found = WORD.findall(text.lower())
    if len(found) < _SHINGLE:
        return {tuple(found)} if found else set()
    return {tuple(found[i : i + _SHINGLE]) for i in range(len(found) - _SHINGLE + 1)}


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
