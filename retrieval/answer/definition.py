"""Questions that ask who or what a name is: "Who is Maria Olsen?", "What is Hezbollah?".

The ranker's models were fitted on news-quiz questions, which hold almost none of this kind. A question
that is a name alone has a low cosine to the sentence that introduces the name, so it was refused though
the articles say who it is. Here the support is the name itself, written as the articles write a name
(capitalised, not at a sentence's start only) in a sentence that was read. The answer leads with the
sentence that introduces it: the first in its article that describes it, else its first mention. The
short answer is that description where the sentence gives one: an apposition after the name ("Maria
Olsen, chief scientist of the marine park authority,") or the title in front of it ("presidential
spokesman Ibrahim Kalin"). A name the passages read do not hold is left to the usual decision.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrieval.answer.reader import NOUN_PHRASE, Choice, Entity, EntityTagger, Span
from retrieval.answer.sentences import Candidate

_ASKS = re.compile(
    r"^\s*(?P<wh>who|what)(?:['’]s|\s+(?:is|was|are|were))\s+(?P<subject>[^?]+?)[\s?.!]*$", re.IGNORECASE
)
_ROLE = re.compile(r"['’]s\b|\bof\b", re.IGNORECASE)
"""In a who-question's subject, a possessive or "of" names a role, not a person ("Time's Person of the Year")."""
_DETERMINER = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_CONNECTOR_WORDS = "of the and de del der di du da la le van von al bin ibn el & -"
_PRONOUN_WORDS = "he she it they we you i this that these those there here him her them"
CONNECTORS = frozenset(_CONNECTOR_WORDS.split())
"""Lowercase words a name may hold between its capitalised ones ("Bank of England", "Ursula von der Leyen")."""
PRONOUNS = frozenset(_PRONOUN_WORDS.split())
MAX_SUBJECT_WORDS = 6
MAX_DESCRIPTION_WORDS = 12
SECOND_SENTENCE_WORDS = 40
"""A second sentence naming the subject joins the lead only if the two together stay within this many words."""
_STOP = r"[,;:!?()“”\"]|(?<![A-Z])\.|$"
"""Where a description stops: a comma, colon, bracket, quote or full stop (not the one of an initial: "the
U.S. National Science Foundation"); a predicate ("was a network that …") stops at a relative clause too."""
_TEXT = r"[^,;:!?()“”\"]+?"
_APPOSITION = re.compile(r"^\s*,\s*(?:who (?:is|was|has been) )?(?P<text>" + _TEXT + r")\s*(?=" + _STOP + ")")
_COPULA = re.compile(
    r"^\)?\s+(?:is|was|are|were|has been|had been)\s+(?P<text>(?:a|an|the)\s"
    + _TEXT
    + r")\s*(?="
    + _STOP
    + r"|\s(?:that|which|who|whose|where)\b)"
)
"""A description stated as the sentence's predicate: "Telenet was the first public data network …"."""
_NOT_DESCRIPTIONS = re.compile(r"^(?:said|says|told|tells|added|and|but|or|who|which|according)\b")
_TITLE_WORD = re.compile(r"\b[A-Z][a-z]+\s+$")
TITLE_WORDS = 3
"""At most this many capitalised title words before a name ("Secretary General ")."""
_DESCRIPTION_LABELS = frozenset({"NORP", "GPE", "ORG"})
"""Named entities that may open a title in front of a name ("Turkish", "US", "NATO" …)."""


@dataclass(frozen=True)
class Introduction:
    """The answer to a question that asks who or what a name is: its sentences, lead first, and the
    description of the name as the short answer (None where the lead gives none)."""

    sentences: tuple[Candidate, ...]
    description: Span | None


def subject(question: str) -> str | None:
    """The name a "who/what is X?" question asks about, as typed ("Maria Olsen"); None for any other
    question, a pronoun, more than ``MAX_SUBJECT_WORDS`` words, or a role: "who is the X?", "who is X of
    Y?", "who was X's Y?" ask who holds it ("Who is the President of France?", "Who was Time's Person of
    the Year?": the reader's person), whatever the articles capitalise."""
    match = _ASKS.match(question)
    if match is None:
        return None
    asked = match.group("subject").strip()
    name = _DETERMINER.sub("", asked)
    if match.group("wh").lower() == "who" and (name != asked or _ROLE.search(name)):
        return None
    words = name.split()
    if not words or len(words) > MAX_SUBJECT_WORDS or name.lower() in PRONOUNS:
        return None
    return name


def mentions(name: str, text: str, at_start: bool = False) -> list[tuple[int, int]]:
    """Where ``name`` stands in ``text`` (offsets), whole words, any case and spacing, written as a name:
    capitalised words, connectors between them. A single word at the text's start counts only with
    ``at_start`` (any word is capitalised there: the caller knows it is a name from elsewhere)."""
    words = name.split()
    pattern = r"(?<![\w-])" + r"\s+".join(re.escape(w) for w in words) + r"(?![\w-])"
    found = []
    for match in re.finditer(pattern, text, re.IGNORECASE):
        written = match.group().split()
        if len(written) == 1 and not at_start and not text[: match.start()].strip():
            continue
        if all(w.lower() in CONNECTORS or w[:1].isupper() for w in written) and written[0][:1].isupper():
            found.append((match.start(), match.end()))
    return found


def apposition(text: str, end: int) -> tuple[int, int] | None:
    """The description after a name ending at ``end``: set off by commas (", chief scientist of the park,"
    → the offsets of "chief scientist of the park") or stated by "is/was a …"; None unless it opens
    with a lowercase word."""
    match = _APPOSITION.match(text[end:]) or _COPULA.match(text[end:])
    if match is None:
        return None
    start, stop = end + match.start("text"), end + match.end("text")
    described = _DETERMINER.sub("", text[start:stop])
    start = stop - len(described)
    words = described.split()
    if not words or not words[0][:1].islower() or _NOT_DESCRIPTIONS.match(described):
        return None
    return (start, stop) if len(words) <= MAX_DESCRIPTION_WORDS else None


def title_before(text: str, start: int, entities: Sequence[Entity]) -> tuple[int, int] | None:
    """The title just in front of a name starting at ``start``: a common-noun phrase ("presidential
    spokesman Ibrahim Kalin"), or capitalised title words after a nationality, country or body ("US
    President Joe Biden"), with that opener ("Turkish presidential spokesman"); from the tagger's
    ``entities`` of ``text``."""
    phrase = _adjacent(text, entities, start, lambda e: e.label == NOUN_PHRASE)
    if phrase is not None:
        cut = phrase.start
    else:
        cut = _title_words(text, start, entities)
        if cut == start:
            return None
    opener = _adjacent(text, entities, cut, lambda e: e.label in _DESCRIPTION_LABELS)
    if opener is None and phrase is None:
        return None  # capitalised words alone may be anything ("Friday Kalin")
    return (opener.start if opener else cut), len(text[:start].rstrip())


def _title_words(text: str, start: int, entities: Sequence[Entity]) -> int:
    """Where the capitalised words outside every entity right before offset ``start`` begin (at most
    ``TITLE_WORDS`` of them; ``start`` where there are none)."""
    cut = start
    for _ in range(TITLE_WORDS):
        word = _TITLE_WORD.search(text[:cut])
        if word is None or any(e.start < word.end() and word.start() < e.end for e in entities):
            break
        cut = word.start()
    return cut


def _well_formed(span: tuple[int, int] | None, entities: Sequence[Entity]) -> tuple[int, int] | None:
    """``span`` if it ends in a noun or a name (where the sentence was tagged: "a program of coordinated"
    does not) and no date or time stands at its start (", a day after …" describes no one)."""
    if span is None or any(e.label in ("DATE", "TIME") and e.start <= span[0] < e.end for e in entities):
        return None
    if entities and not any(e.end == span[1] and e.label not in ("DATE", "TIME") for e in entities):
        return None
    return span


def _adjacent(text: str, entities: Sequence[Entity], at: int, kind: Callable[[Entity], bool]) -> Entity | None:
    """The entity of ``kind`` that ends just before offset ``at`` (nothing but spaces between)."""
    return next((e for e in entities if kind(e) and e.end <= at and not text[e.end : at].strip()), None)


def describe(candidate: Candidate, name: str, entities: Sequence[Entity]) -> Span | None:
    """The description of ``name`` in ``candidate``'s sentence (an apposition, else a title in front), as a
    span in article offsets; None where it gives none. ``entities``: the tagger's of the sentence (none
    without a tagger: appositions and predicates only). A mention inside a longer tagged name ("Kalin"
    in "Ibrahim Kalin") is described as that name is."""
    text = candidate.text
    for begin, end in mentions(name, text, at_start=True):
        whole = next((e for e in entities if e.label != NOUN_PHRASE and e.start <= begin and end <= e.end), None)
        if whole is not None:
            begin, end = whole.start, whole.end
        found = _well_formed(apposition(text, end), entities) or (
            title_before(text, begin, entities) if entities else None
        )
        if found is not None:
            first, last = found
            return Span(candidate, candidate.start + first, candidate.start + last, text[first:last], "DESCRIPTION")
    return None


def introduce(question: str, ranked: Sequence[Candidate], tagger: EntityTagger | None) -> Introduction | None:
    """The answer to a question asking who or what a name is, from the sentences read (``ranked``: best
    first); None if the question is of another kind or no sentence names its subject."""
    name = subject(question)
    if name is None or not any(mentions(name, c.text) for c in ranked):
        return None
    named = [c for c in ranked if mentions(name, c.text, at_start=True)]
    articles = list(dict.fromkeys(c.hit.article.id for c in named))  # by their best mention
    in_order = sorted(named, key=lambda c: (articles.index(c.hit.article.id), c.start))
    tagged = tagger.entities([c.text for c in in_order]) if tagger is not None else [[] for _ in in_order]
    described = ((c, describe(c, name, entities)) for c, entities in zip(in_order, tagged, strict=True))
    lead, description = next(((c, d) for c, d in described if d is not None), (in_order[0], None))
    sentences = [lead]
    second = next((c for c in named if c is not lead and c.text != lead.text), None)
    if second is not None and len(lead.text.split()) + len(second.text.split()) <= SECOND_SENTENCE_WORDS:
        sentences.append(second)
    return Introduction(tuple(sentences), description)


def as_choice(introduction: Introduction, confidence: float) -> Choice | None:
    """The description as the answer's short answer, carrying the answer's ``confidence``."""
    if introduction.description is None:
        return None
    return Choice(introduction.description, confidence)
