"""The reader: the expected answer type, its candidate spans and their features, the span model's
loading checks, and (on the real tagger and the shipped model) the short answer to a question."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from retrieval.answer.reader import (
    NOUN_PHRASE,
    SPAN_FEATURES,
    Entity,
    Reader,
    ReaderModel,
    SpacyTagger,
    by_support,
    default_reader_dir,
    expected_type,
    noun_phrases,
    question_head,
    support_of,
    type_score,
)
from retrieval.answer.sentences import Candidate
from retrieval.errors import ModelLoadError, ReaderLoadError
from retrieval.types import Article, Hit, Passage

FEATURE = {name: i for i, name in enumerate(SPAN_FEATURES)}


class CapitalisedRuns:
    """An entity tagger for these tests: runs of capitalised words are PERSON (ORG if listed), digits CARDINAL."""

    def __init__(self, orgs: Sequence[str] = ("NATO", "AFP")) -> None:
        self.orgs = set(orgs)

    def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        out = []
        for text in texts:
            found = []
            for m in re.finditer(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*|\b[A-Z]{2,}\b|\b\d[\d,]*\b", text):
                word = m.group(0)
                if word == "The":
                    continue
                label = "CARDINAL" if word[0].isdigit() else "ORG" if word in self.orgs else "PERSON"
                found.append(Entity(m.start(), m.end(), label))
            out.append(found)
        return out


def _sentences(texts: Sequence[str], article_ids: Sequence[str] | None = None) -> list[Candidate]:
    out = []
    for i, text in enumerate(texts):
        aid = article_ids[i] if article_ids else f"a{i}"
        article = Article(id=aid, title="t", date=dt.date(2022, 3, 12), source="s", text=text)
        passage = Passage(id=i, article_id=aid, start=0, end=len(text), text=text, sentences=((0, len(text)),))
        hit = Hit(passage=passage, article=article, score=1.0, rank=i + 1)
        out.append(Candidate(hit, 0, len(text), text, 1.0, coverage=0.5, similarity=0.5))
    return out


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who is the secretary general of NATO?", "person"),
        ("Which country hosted the summit?", "place"),
        ("President Joe Biden visited which US state this week?", "place"),
        ("Which NFL team won the Super Bowl?", "org"),
        ("How much did the company pay?", "money"),
        ("How many people were evacuated?", "count"),
        ("When will the law take effect?", "date"),
        ("Why won't Turkey sanction Russia?", "none"),
        ("What did Erdogan say?", "none"),
        ("How did the fire start?", "none"),
        ("What is the name of the new chatbot?", None),
        ("Does NATO want war with Russia?", "none"),  # yes or no
        ("Is the Lisbon Treaty one that alters treaties?", "none"),
        ("What is a no-fly zone?", "none"),  # a common noun defined
        ("What is an example of a rotary engine without pistons?", None),  # an example is a name
        ("What does Stoltenberg want?", "none"),
        ("What is Turkey's position on sanctions?", "none"),
        ("What is partially responsible for the weakened immune response?", None),
    ],
)
def test_expected_type_from_the_question(question: str, kind: str | None) -> None:
    assert expected_type(question) == kind


def test_a_belief_may_still_name_a_thing() -> None:
    assert expected_type("What do officials believe the objects were?") != "none"  # balloons


def test_type_score_primary_near_and_other() -> None:
    assert type_score("person", "PERSON") == 1.0
    assert type_score("person", "ORG") == 0.5
    assert type_score("person", "DATE") == 0.0
    assert type_score(None, "PERSON") == 0.0


def test_spans_are_verbatim_with_article_offsets_and_features() -> None:
    texts = [
        "Jens Stoltenberg, secretary general of NATO, told AFP on Saturday.",
        "The alliance chief Jens Stoltenberg spoke again.",
    ]
    sentences = _sentences(texts)
    reader = Reader(CapitalisedRuns(), None)
    spans, rows = reader.spans("Who is the secretary general of NATO?", sentences, [0.9, 0.4], {0: 0, 1: 1})
    assert rows.shape == (len(spans), len(SPAN_FEATURES))
    for span in spans:
        assert span.sentence.hit.article.text[span.start : span.end] == span.text
    by_text = {s.text: r for s, r in zip(spans, rows, strict=True) if s.sentence is sentences[0]}
    jens, nato = by_text["Jens Stoltenberg"], by_text["NATO"]
    assert jens[FEATURE["type"]] == 1.0 and nato[FEATURE["type"]] == 0.5
    assert nato[FEATURE["echo"]] == 1.0 and jens[FEATURE["echo"]] == 0.0  # NATO repeats the question
    assert jens[FEATURE["agree_sentences"]] > 0 and jens[FEATURE["agree_articles"]] > 0  # said twice, 2 articles
    assert by_text["AFP"][FEATURE["agree_sentences"]] == 0
    assert jens[FEATURE["near"]] > 0  # "secretary general" two words on
    assert jens[FEATURE["sentence"]] == pytest.approx(0.9) and jens[FEATURE["sentence_rank"]] == 1.0


def test_no_spans_for_a_question_that_asks_for_none() -> None:
    reader = Reader(CapitalisedRuns(), None)
    spans, rows = reader.spans("Why did Jens Stoltenberg speak?", _sentences(["Jens Stoltenberg spoke."]), [0.5], {})
    assert spans == [] and rows.shape == (0, len(SPAN_FEATURES))
    assert reader.choose("Who spoke?", _sentences(["Jens Stoltenberg spoke."]), [0.5], {}) is None  # no model


def _model(tmp_path: Path, weights: dict[str, float], bar: float) -> ReaderModel:
    from retrieval.answer.ranker import LinearModel

    n = len(SPAN_FEATURES)
    linear = LinearModel(SPAN_FEATURES, tuple(weights.get(f, 0.0) for f in SPAN_FEATURES), -1.0, (0.0,) * n, (1.0,) * n)
    ReaderModel(linear, bar).save(tmp_path)
    return ReaderModel.load(tmp_path)


def test_choose_takes_the_best_span_above_the_bar_and_none_below(tmp_path: Path) -> None:
    model = _model(tmp_path, {"type": 3.0, "echo": -3.0}, 0.8)
    sentences = _sentences(["Jens Stoltenberg, secretary general of NATO, told AFP on Saturday."])
    choice = Reader(CapitalisedRuns(), model).choose("Who is the secretary general of NATO?", sentences, [0.9], {})
    assert choice is not None and choice.span.text == "Jens Stoltenberg"
    assert choice.probability == pytest.approx(1 / (1 + np.exp(-2.0)))
    strict = _model(tmp_path, {"type": 3.0, "echo": -3.0}, 0.95)
    assert Reader(CapitalisedRuns(), strict).choose("Who leads NATO?", sentences, [0.9], {}) is None


def test_a_damaged_or_mismatched_model_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no reader.json"):
        ReaderModel.load(tmp_path)
    (tmp_path / "reader.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="unreadable"):
        ReaderModel.load(tmp_path)
    _model(tmp_path, {}, 0.5)
    data = json.loads((tmp_path / "reader.json").read_text(encoding="utf-8"))
    data["spans"]["features"] = ["cosine", *data["spans"]["features"][1:]]
    (tmp_path / "reader.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="other features"):
        ReaderModel.load(tmp_path)


def test_the_shipped_model_loads_and_says_where_it_was_fitted() -> None:
    model = ReaderModel.load(default_reader_dir())
    assert "news_train_2024" in str(model.fitted_on["data"])
    assert 0.0 < model.min_probability < 1.0


@pytest.mark.model
def test_the_real_tagger_and_shipped_model_read_stoltenberg() -> None:
    texts = [
        "“We expect all our allies to impose sanctions,” Jens Stoltenberg, secretary general of the North Atlantic "
        "Treaty Organization, told AFP on Saturday.",
        "Turkey has said it will not impose sanctions on Russia.",
    ]
    reader = Reader(SpacyTagger(), ReaderModel.load(default_reader_dir()))
    question = "Who is the secretary general of NATO?"
    spans, rows = reader.spans(question, _sentences(texts), [0.8, 0.3], {0: 0, 1: 1})
    assert reader.model is not None
    scores = reader.model.spans.probabilities(rows)
    order = np.argsort(-scores)
    assert spans[order[0]].text == "Jens Stoltenberg"
    assert scores[order[0]] - scores[order[1]] > 0.05  # a margin: the tagger's floats differ across CPUs


def test_a_reader_model_error_names_its_own_setting(tmp_path: Path) -> None:
    (tmp_path / "reader.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ReaderLoadError) as caught:
        ReaderModel.load(tmp_path)
    assert caught.value.setting == "reader"  # the CLI then hints NEWSDESK_READER, not NEWSDESK_MODEL


def test_noun_phrases_are_runs_ending_in_a_common_noun_outside_named_entities() -> None:
    text = "Officials linked organic walnuts to the outbreak in Canada."
    # (start, end, part of speech, inside a named entity) per token, as spaCy's tagger gives them
    words = [
        ("Officials", "NOUN"),
        ("linked", "VERB"),
        ("organic", "ADJ"),
        ("walnuts", "NOUN"),
        ("to", "ADP"),
        ("the", "DET"),
        ("outbreak", "NOUN"),
        ("in", "ADP"),
        ("Canada", "PROPN"),
        (".", "PUNCT"),
    ]
    tokens, at = [], 0
    for word, pos in words:
        start = text.index(word, at)
        tokens.append((start, start + len(word), pos, word == "Canada"))
        at = start + len(word)
    found = [text[e.start : e.end] for e in noun_phrases(tokens)]
    assert found == ["Officials", "organic walnuts", "outbreak"]  # "Canada" is an entity, not a phrase
    assert all(e.label == NOUN_PHRASE for e in noun_phrases(tokens))
    long = [(i * 2, i * 2 + 1, "NOUN", False) for i in range(6)]
    assert [(e.start, e.end) for e in noun_phrases(long)] == [(4, 11)]  # its last four words
    assert noun_phrases([(0, 5, "ADJ", False), (6, 9, "VERB", False)]) == []  # no noun, no phrase


def test_a_span_held_by_a_longer_one_is_marked_and_shares_its_agreement() -> None:
    texts = ["Kevin Durant scored 40,000 points.", "Durant became the first to do it.", "Durant and Curry played."]
    reader = Reader(CapitalisedRuns(), None)
    spans, rows = reader.spans("Which player scored 40,000 points?", _sentences(texts), [0.9, 0.5, 0.4], {})
    by = {(s.text, s.sentence.text): r for s, r in zip(spans, rows, strict=True)}
    full, short = by[("Kevin Durant", texts[0])], by[("Durant", texts[1])]
    assert short[FEATURE["shortened"]] == 1.0 and full[FEATURE["shortened"]] == 0.0
    assert full[FEATURE["agree_sentences"]] == pytest.approx(np.log1p(2))  # "Durant" twice elsewhere agrees
    assert full[FEATURE["typed_before"]] == 1.0  # the first person read
    assert short[FEATURE["typed_before"]] < 1.0


def test_support_is_each_sentences_best_span_and_reorders_by_its_weight(tmp_path: Path) -> None:
    texts = ["The summit ended early.", "Jens Stoltenberg chaired it."]
    sentences = [replace(c, score=s) for c, s in zip(_sentences(texts), (0.9, 0.6), strict=True)]
    model = _model(tmp_path, {"type": 3.0}, 0.99)
    reading = Reader(CapitalisedRuns(), model).read("Who chaired the summit?", sentences, [0.9, 0.6], {})
    assert reading.choice is None  # below the bar: no short answer, but the support is there
    key = (sentences[1].hit.passage.id, sentences[1].start)
    assert set(reading.support) == {key} and reading.support[key] == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert [c.text for c in by_support(sentences, reading.support, 0.0)] == texts
    assert [c.text for c in by_support(sentences, reading.support, 1.0)] == texts[::-1]
    assert [c.score for c in by_support(sentences, reading.support, 1.0)] == [0.6, 0.9]  # scores kept
    assert support_of([], []) == {}


def _tagged(question: str, phrases: Sequence[str], names: Sequence[str] = ()) -> list[Entity]:
    """Entities of ``question`` as a tagger gives them: ``phrases`` as noun phrases, ``names`` as ORG."""
    found = [Entity(question.index(p), question.index(p) + len(p), NOUN_PHRASE) for p in phrases]
    return found + [Entity(question.index(n), question.index(n) + len(n), "ORG") for n in names]


@pytest.mark.parametrize(
    ("question", "phrases", "names", "head"),
    [
        ("Which NFL team won the Super Bowl?", ["team"], ["NFL", "Super Bowl"], "NFL team"),
        ("The spacecraft is headed towards which planet?", ["spacecraft", "planet"], [], "planet"),
        ("What meteor shower lit up the skies?", ["meteor shower", "skies"], [], "meteor shower"),
        ("What is the estimated cost of the project?", ["estimated cost", "project"], [], None),
        ("Which of the following was struck by an earthquake?", ["earthquake"], [], None),
        ("Who won the Super Bowl?", [], ["Super Bowl"], None),
        ("Which NFL won?", [], ["NFL"], None),
    ],
)
def test_the_question_head_is_the_noun_right_after_which_or_what(
    question: str, phrases: list[str], names: list[str], head: str | None
) -> None:
    assert question_head(question, _tagged(question, phrases, names)) == head


@pytest.mark.model
def test_the_head_features_score_spans_by_their_meaning_next_to_the_head(real_embedder) -> None:  # noqa: ANN001
    question = "NASA's Europa Clipper spacecraft has launched, headed towards which planet?"
    sentences = _sentences(["NASA launched the Europa Clipper spacecraft to Jupiter from Florida on Monday."])
    spans, rows = Reader(SpacyTagger(), None, real_embedder).spans(question, sentences, [0.9], {0: 0})
    head = {s.text: r[FEATURE["head"]] for s, r in zip(spans, rows, strict=True)}
    assert {"NASA", "Jupiter", "Florida"} <= set(head)
    assert head["Jupiter"] > max(head["NASA"], head["Florida"])
    assert all(r[FEATURE["has_head"]] == 1.0 for r in rows)
    _, without = Reader(SpacyTagger(), None).spans(question, sentences, [0.9], {0: 0})  # no embedder: 0
    assert not without[:, [FEATURE["head"], FEATURE["has_head"]]].any()
    _, headless = Reader(SpacyTagger(), None, real_embedder).spans("Who launched it?", sentences, [0.9], {0: 0})
    assert not headless[:, [FEATURE["head"], FEATURE["has_head"]]].any()


class CountingEmbedder:
    """Wraps a real embedder and records the texts each encode call is given."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner, self.calls = inner, []
        self.name, self.dimension, self.max_tokens = inner.name, inner.dimension, inner.max_tokens

    def encode(self, texts, progress=None):  # noqa: ANN001, ANN201
        self.calls.append(list(texts))
        return self.inner.encode(texts, progress)

    def count_tokens(self, texts):  # noqa: ANN001, ANN201
        return self.inner.count_tokens(texts)


@pytest.mark.model
def test_span_vectors_are_kept_for_later_questions(real_embedder, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import retrieval.answer.reader as reader_module

    counting = CountingEmbedder(real_embedder)
    reader = Reader(SpacyTagger(), None, counting)
    sentences = _sentences(["NASA launched the Europa Clipper spacecraft to Jupiter from Florida on Monday."])
    _, first = reader.spans("Headed towards which planet?", sentences, [0.9], {0: 0})
    assert "planet" in counting.calls[0] and "Jupiter" in counting.calls[0]
    _, again = reader.spans("Headed towards which planet?", sentences, [0.9], {0: 0})
    assert len(counting.calls) == 1 and np.array_equal(first, again)  # nothing embedded twice
    reader.spans("Launched from which state?", sentences, [0.9], {0: 0})
    assert counting.calls[1] == ["state"]  # only the new head
    monkeypatch.setattr(reader_module, "SPAN_VECTORS_KEPT", 2)
    reader.spans("Launched from which city?", sentences, [0.9], {0: 0})
    assert counting.calls[2] == ["city"] and list(reader._vectors)[-1] == "city"
    assert len(reader._vectors) == 2  # the least recently used are let go
