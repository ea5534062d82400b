"""Check a written sentence against the passages it cites, before anyone sees it.

A sentence is *verified* when a passage that was given to the model supports it:

1. every number (digits or a number word), name (a capitalised word, months and weekdays included)
   and quoted phrase in the sentence occurs in that passage as the model saw it (its title, outlet
   and date line included), and
2. a :class:`SupportScorer` scores the passage's support at least at its threshold.

The sentence's own ``[n]`` is tried first; when it names no passage that was given, or one that does
not support it, the passage that supports it best is taken instead if one clears the bar; else the
sentence is dropped. What this guarantees and what it does not is in docs/written-answers.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from retrieval.answer.prompt import NumberedPassage
from retrieval.text import WORD_WITH_APOSTROPHES as _WORD
from retrieval.text import tokenize

LEXICAL_THRESHOLD = 0.55
"""The lexical scorer's bar (fitted by ``scripts/fit_support.py`` on news_train_2024, see docs/written-answers.md)."""
QUESTION_TERM_WEIGHT = 0.5
"""A word the question itself used counts this much towards a sentence's support (a restated premise)."""

_MARKER = re.compile(r"\s*\[(?:(?:passage|source)s?\s*)?(\d+(?:\s*[,;&]\s*(?:and\s*)?\d+)*)\]", re.IGNORECASE)
_ANY_MARKER = re.compile(r"\[[^\]]*\d[^\]]*\]")
_NUMBER = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)*")
_CAPITALISED = re.compile(r"(?<![\w'’])[A-Z][\w]*(?:['’]\w+)*")
_QUOTED = re.compile(r"“([^”]{2,})”|\"([^\"]{2,})\"")
_ACRONYM_DOT = re.compile(r"(?<=\b[A-Za-z])\.(?=[A-Za-z]\b)")
_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
)
_TENS = {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90"}
_LARGE = {"hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000"}
NUMBER_WORDS = {word: str(value) for value, word in enumerate(_UNITS.split())} | _TENS | _LARGE
"""Number words a sentence and a passage may use for digits (and the other way round)."""
_IGNORED_NAMES = frozenset({"i"})
_ASKS = re.compile(r"\?\s*$|\b(how (many|much|long|old)|which|what|who|whom|whose|where|when|why)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Support:
    """How well one passage supports a sentence, and which of its sentences supports it best."""

    score: float
    sentence: int
    """Index into the passage's ``sentences`` (the evidence quoted beside the written sentence)."""


class SupportScorer(Protocol):
    """Scores how well each given passage supports a written sentence, on the scorer's own scale.

    ``question`` is the question asked, ``claim`` the written sentence without its markers. A
    reader-based scorer (a cross-encoder reading the claim with each passage sentence) fits here as
    well as the lexical one: it returns, per passage, its best sentence's score and index.
    """

    name: str
    threshold: float
    """The score a passage must reach to support a sentence (fitted on news_train_2024 only)."""

    def support(self, question: str, claim: str, passages: Sequence[NumberedPassage]) -> list[Support]:
        """One ``Support`` per passage, in order."""
        ...


class LexicalSupport:
    """Idf-weighted share of the sentence's content words (stemmed, stop words out) found in the passage.

    The passage counts with its title, outlet and date line. Words the question used weigh half: a
    sentence restating the question's premise is not inventing them, but they are not the answer.
    """

    name = "lexical"

    def __init__(
        self,
        idf: Callable[[str], float] | None = None,
        threshold: float = LEXICAL_THRESHOLD,
        *,
        idfs: Callable[[Iterable[str]], Mapping[str, float]] | None = None,
    ) -> None:
        """``idf`` weighs one term; ``idfs`` many at once (the index's: a replica reads them in one query)."""
        single = idf or (lambda term: 1.0)
        self._idfs = idfs or (lambda terms: {term: single(term) for term in terms})
        self.threshold = threshold

    def support(self, question: str, claim: str, passages: Sequence[NumberedPassage]) -> list[Support]:
        """Each passage's share of the claim's weighted terms, and its sentence sharing the most."""
        texts = [question, claim]
        for passage in passages:
            texts.append(passage.header)
            texts.extend(passage.sentences)
        tokens = iter(set(t) for t in tokenize(texts))
        asked, said = next(tokens), next(tokens)
        weights = {t: idf * (QUESTION_TERM_WEIGHT if t in asked else 1.0) for t, idf in self._idfs(said).items()}
        total = sum(weights.values())
        out = []
        for passage in passages:
            header = next(tokens)
            sentences = [next(tokens) for _ in passage.sentences]
            present = header.union(*sentences)
            score = sum(w for t, w in weights.items() if t in present) / total if total else 0.0
            best = max(range(len(sentences)), key=lambda i: sum(weights.get(t, 0.0) for t in sentences[i]))
            out.append(Support(score, best))
        return out


@dataclass(frozen=True)
class Verdict:
    """What the verifier found for one written sentence."""

    text: str
    """The sentence without its citation markers."""
    cited: tuple[int, ...]
    """The passage numbers it cited, as written."""
    passage: NumberedPassage | None
    """The passage that supports it (None: dropped)."""
    support: float
    """That passage's support score (or the best score seen, when dropped)."""
    evidence: int = 0
    """Index of the supporting sentence in ``passage.sentences``."""
    reason: str = ""
    """Why it was dropped, or how its citation was mended ('' when its own [n] held)."""
    claim: bool = True
    """False for what asserts nothing to check (a bare "I hope this helps", a passage's title line
    copied, a repeat of an earlier sentence): dropped, but not an unsupported claim."""

    @property
    def verified(self) -> bool:
        """True if a given passage supports the sentence."""
        return self.passage is not None

    @property
    def recited(self) -> bool:
        """True if it was attributed to a passage it did not cite."""
        return self.passage is not None and self.passage.number not in self.cited


def split_citations(sentence: str) -> tuple[str, tuple[int, ...]]:
    """The sentence without its ``[n]`` markers, and the numbers they name (in order, once each)."""
    cited: list[int] = []
    for match in _MARKER.finditer(sentence):
        for number in re.findall(r"\d+", match.group(1)):
            if int(number) not in cited:
                cited.append(int(number))
    text = _ANY_MARKER.sub("", _MARKER.sub("", sentence))
    text = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(text.split()))
    return text.strip(), tuple(cited)


def _normal(text: str) -> str:
    """Lower case, straight quotes, dots of acronyms gone, whitespace squashed."""
    text = _ACRONYM_DOT.sub("", text)
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(text.lower().split())


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def _stem(word: str) -> str:
    """The Snowball stem of a lower-cased word ("globes" and "globe" are one name)."""
    return str(_stemmer().stemWord(word))


def _letters(text: str) -> str:
    """Only the letters and digits of a text, lower-cased (to compare copied lines)."""
    return re.sub(r"[\W_]+", "", text.lower())


def _words(text: str) -> set[str]:
    """Lower-cased words of a text and their stems, possessive 's stripped."""
    out: set[str] = set()
    for word in _WORD.findall(_normal(text)):
        bare = word.removesuffix("'s")
        out.update((word, bare, _stem(bare)))
    return out


def _numbers(text: str) -> set[str]:
    """The numbers of a text, digits and number words alike, as plain digit strings."""
    found = set()
    for raw in _NUMBER.findall(text):
        digits = re.sub(r",(?=\d{3}(?!\d))", "", raw)
        found.add(digits.removesuffix(".0"))
    for word in _WORD.findall(text.lower()):
        if word in NUMBER_WORDS:
            found.add(NUMBER_WORDS[word])
    return found


@dataclass(frozen=True)
class Facts:
    """What a sentence asserts that must be found verbatim in its passage."""

    numbers: frozenset[str]
    names: frozenset[str]
    quotes: tuple[str, ...]


def facts(claim: str) -> Facts:
    """The claim's numbers, names (capitalised words, less a sentence-opening stop word) and quotes."""
    names = set()
    for match in _CAPITALISED.finditer(_ACRONYM_DOT.sub("", claim)):
        word = match.group(0).replace("’", "'").lower().removesuffix("'s")
        if word in _IGNORED_NAMES or word in NUMBER_WORDS:
            continue
        if match.start() == 0 and not tokenize([word])[0]:
            continue  # "The", "In", "He": a stop word opening the sentence names nothing
        names.add(word)
    quotes = tuple(_normal(a or b) for a, b in _QUOTED.findall(claim))
    return Facts(frozenset(_numbers(claim)), frozenset(names), quotes)


class PassageFacts:
    """A passage's words, numbers and text as the model saw them, for looking facts up."""

    def __init__(self, passage: NumberedPassage) -> None:
        article = passage.hit.article
        dated = ""
        if article.date is not None:
            day = article.date
            dated = f"{day.isoformat()} {day:%B} {day.day} {day.year}"
        seen = f"{article.title} {article.source} {dated} {passage.text}"
        self.words = _words(seen)
        self.numbers = _numbers(seen) | {n.lstrip("0") or "0" for n in _numbers(seen)}
        self.text = _normal(seen)

    def missing(self, found: Facts) -> str:
        """The first fact the passage lacks, described ('' if it has them all)."""
        for number in sorted(found.numbers):
            if number not in self.numbers and (number.lstrip("0") or "0") not in self.numbers:
                return f"the number {number}"
        for name in sorted(found.names):
            if name not in self.words and _stem(name) not in self.words:
                return f"the name “{name}”"
        for quote in found.quotes:
            if quote not in self.text:
                return f"the quoted “{quote}”"
        return ""


class Verifier:
    """Checks written sentences against the numbered passages of one question."""

    def __init__(self, scorer: SupportScorer, threshold: float | None = None) -> None:
        self.scorer = scorer
        self.threshold = scorer.threshold if threshold is None else threshold

    def verify(self, question: str, sentence: str, passages: Sequence[NumberedPassage]) -> Verdict:
        """The verdict on one written sentence (with its markers) given the passages the model read."""
        text, cited = split_citations(sentence)
        if not passages or not tokenize([text])[0]:
            return Verdict(text, cited, None, 0.0, reason="nothing in it to check", claim=False)
        bare = _letters(text)
        if any(bare in _letters(p.header) for p in passages):
            return Verdict(text, cited, None, 0.0, reason="a passage's title line copied", claim=False)
        if _ASKS.search(text) and set(tokenize([text])[0]) <= set(tokenize([question])[0]):
            return Verdict(text, cited, None, 0.0, reason="the question asked again", claim=False)
        found = facts(text)
        scores = self.scorer.support(question, text, passages)
        lookups = [PassageFacts(p) for p in passages]
        given = {p.number: i for i, p in enumerate(passages)}

        def failure(i: int) -> str:
            missing = lookups[i].missing(found)
            if missing:
                return f"{missing} is not in [{passages[i].number}]"
            if scores[i].score < self.threshold:
                return f"support {scores[i].score:.2f} < {self.threshold:.2f} in [{passages[i].number}]"
            return ""

        own = [given[n] for n in cited if n in given]
        reasons = {i: failure(i) for i in range(len(passages))}
        holding = sorted((i for i in own if not reasons[i]), key=lambda i: -scores[i].score)
        if holding:
            i = holding[0]
            return Verdict(text, cited, passages[i], scores[i].score, scores[i].sentence)
        if not cited:
            why = "no citation"
        elif not own:
            why = f"cites [{', '.join(map(str, cited))}], which the model was not given"
        else:
            why = reasons[own[0]]
        others = sorted((i for i in range(len(passages)) if not reasons[i]), key=lambda i: -scores[i].score)
        if others:
            i = others[0]
            return Verdict(
                text,
                cited,
                passages[i],
                scores[i].score,
                scores[i].sentence,
                reason=f"{why}; [{passages[i].number}] supports it",
            )
        best = max(s.score for s in scores)
        return Verdict(text, cited, None, best, reason=why)


REPORTING_WORDS = frozenset(tokenize(["said says say according reported reports told stated announced also"])[0])
"""Words a restatement may add that assert nothing about the event (stemmed)."""


def _in_order(claim: Sequence[str], evidence: Sequence[str]) -> bool:
    """True if the claim's words (stemmed tokens) occur in the evidence in the same order.

    Each word is placed at its first occurrence at or after the previous word's place, else at its
    first occurrence anywhere; a word placed before the previous one breaks the order. A swap of who
    did what to whom ("Huth awarded the jury" for "a jury awarded Huth") reorders them.
    """
    at = -1
    for word in claim:
        if word in REPORTING_WORDS or word not in evidence:
            continue
        later = [i for i, w in enumerate(evidence) if w == word and i > at]
        if not later:
            return False
        at = later[0]
    return True


class SentenceVerifier:
    """The strict check: a written sentence is shown only when ONE given sentence states it.

    Against each numbered evidence sentence alone (never the title, the question or another
    passage): every number, name and quoted phrase of the written sentence is in it, every content
    word is in it (only reporting words like "said" may be added; a word the question used gets no
    pass), and its words come in the same order as in the evidence (a swap of who did what to whom
    reorders them; a passive rewrite is dropped too, the price of showing nothing unsupported).
    """

    def verify(self, question: str, sentence: str, passages: Sequence[NumberedPassage]) -> Verdict:
        """The verdict on one written sentence against the numbered evidence sentences."""
        text, cited = split_citations(sentence)
        terms = set(tokenize([text])[0])
        if not passages or not terms:
            return Verdict(text, cited, None, 0.0, reason="nothing in it to check", claim=False)
        if _ASKS.search(text) and terms <= set(tokenize([question])[0]):
            return Verdict(text, cited, None, 0.0, reason="the question asked again", claim=False)
        found, order = facts(text), tokenize([text])[0]
        reasons = {}
        for i, passage in enumerate(passages):
            reasons[i] = self._failure(passage, terms, found, order)
        given = {p.number: i for i, p in enumerate(passages)}
        tried = [given[n] for n in cited if n in given] + [i for i in range(len(passages)) if i not in cited]
        holding = [i for i in tried if not reasons[i]]
        if holding:
            i = holding[0]
            mended = "" if passages[i].number in cited else f"[{passages[i].number}] states it"
            return Verdict(text, cited, passages[i], 1.0, 0, reason=mended)
        own = [given[n] for n in cited if n in given]
        why = reasons[own[0]] if own else "no given sentence states it"
        return Verdict(text, cited, None, 0.0, reason=why)

    @staticmethod
    def _failure(passage: NumberedPassage, terms: set[str], found: Facts, order: list[str]) -> str:
        """Why ``passage``'s sentence does not state ``text`` ('' when it does)."""
        evidence = passage.text
        words = _words(evidence)
        number = passage.number
        for value in sorted(found.numbers):
            if value not in _numbers(evidence):
                return f"the number {value} is not in [{number}]"
        for name in sorted(found.names):
            if name not in words and _stem(name) not in words:
                return f"the name “{name}” is not in [{number}]"
        for quote in found.quotes:
            if quote not in _normal(evidence):
                return f"the quoted “{quote}” is not in [{number}]"
        said = tokenize([evidence])[0]
        extra = terms - set(said) - REPORTING_WORDS
        if extra:
            return f"“{sorted(extra)[0]}” is not in [{number}]"
        if not _in_order(order, said):
            return f"its words come in another order than in [{number}]"
        return ""
