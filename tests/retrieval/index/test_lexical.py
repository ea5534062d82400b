"""BM25 in segments: exactly bm25s's scores, however the passages were split into segments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.index.lexical import LexicalIndex
from retrieval.text import stemmer, tokenize
from tests.conftest import ARTICLES

TEXTS = [text for text in ARTICLES.values()] + [
    "Kestrels nest on the cathedral tower; a kestrel pair raised four chicks.",
    "",
    "The the the.",
    "Ferry ferry ferry terminal: the ferry company ordered two ferries.",
]
QUERIES = ["ferry terminal", "kestrel chicks tower", "harbour master", "the", "unknownword ferry ferry"]


def bm25s_scores(texts: list[str], query: str) -> np.ndarray:
    import bm25s

    retriever = bm25s.BM25()
    corpus = bm25s.tokenize(texts, stopwords="en_plus", stemmer=stemmer(), show_progress=False)
    retriever.index(corpus, show_progress=False, create_empty_token=True)
    ids = [retriever.vocab_dict[t] for t in tokenize([query])[0] if t in retriever.vocab_dict]
    return retriever.get_scores(ids) if ids else np.zeros(len(texts), dtype=np.float32)


@pytest.mark.parametrize("cuts", [(), (3,), (1, 2, 5)])
def test_segments_score_exactly_like_one_bm25s_index(cuts: tuple[int, ...]) -> None:
    bounds = [0, *cuts, len(TEXTS)]
    index = LexicalIndex.build(TEXTS[: bounds[1]])
    for start, end in zip(bounds[1:-1], bounds[2:], strict=True):
        index = index.extend(TEXTS[start:end])
    assert len(index.segments) == len(bounds) - 1 and index.n_docs == len(TEXTS)
    merged = index.select(range(len(TEXTS)))
    assert len(merged.segments) == 1
    for query in QUERIES:
        expected = bm25s_scores(TEXTS, query)
        for candidate in (index, merged):
            got = candidate.scores(query)
            got = np.zeros(len(TEXTS), dtype=np.float32) if got is None else got
            assert np.allclose(got, expected, atol=1e-5), query


def test_select_keeps_the_chosen_passages_in_order() -> None:
    index = LexicalIndex.build(TEXTS[:4]).extend(TEXTS[4:])
    chosen = [6, 0, 3]
    picked = index.select(chosen)
    for query in QUERIES:
        got = picked.scores(query)
        got = np.zeros(3, dtype=np.float32) if got is None else got
        assert np.allclose(got, bm25s_scores([TEXTS[i] for i in chosen], query), atol=1e-5)


def test_segments_round_trip_through_disk(tmp_path: Path) -> None:
    index = LexicalIndex.build(TEXTS[:3]).extend(TEXTS[3:])
    for number in range(2):
        index.save_segment(number, tmp_path / f"s{number}")
    loaded = LexicalIndex.load([tmp_path / "s0", tmp_path / "s1"])
    assert loaded.terms == index.terms
    for query in QUERIES:
        assert loaded.search(query, 5) == index.search(query, 5)
    assert loaded.idf("ferri") == index.idf("ferri") < loaded.idf("never-seen")


def test_search_honours_the_mask() -> None:
    index = LexicalIndex.build(TEXTS)
    ferry = [pid for pid, _ in index.search("ferry", 10)]
    assert len(ferry) >= 2
    mask = np.ones(len(TEXTS), dtype=bool)
    mask[ferry[0]] = False
    assert ferry[0] not in [pid for pid, _ in index.search("ferry", 10, mask)]


def test_tombstoned_passages_never_score_and_the_statistics_are_the_live_ones() -> None:
    """Scores equal those of one bm25s index over the live passages alone; k results come back."""
    index = LexicalIndex.build(TEXTS[:4]).extend(TEXTS[4:])
    dead = [np.zeros(4, dtype=bool), np.zeros(len(TEXTS) - 4, dtype=bool)]
    dead[0][0] = True  # the ferry terminal article
    dead[1][3] = True  # "Ferry ferry ferry terminal..."
    tombstoned = LexicalIndex(index.segments, dead)
    live = [i for i in range(len(TEXTS)) if i not in (0, 7)]
    assert tombstoned.n_live == len(live) and tombstoned.n_docs == len(TEXTS)
    for query in QUERIES:
        got = tombstoned.scores(query)
        got = np.zeros(len(TEXTS), dtype=np.float32) if got is None else got
        assert got[0] == got[7] == 0
        assert np.allclose(got[live], bm25s_scores([TEXTS[i] for i in live], query), atol=1e-5), query
    assert tombstoned.search("ferry terminal", 5) == []
    assert index.search("percent", 1)[0][0] == 1
    dead[0][1] = True  # the best passage for "percent" gone: k=1 still brings one, the next best
    assert [pid for pid, _ in LexicalIndex(index.segments, dead).search("percent", 1)] == [3]
    assert tombstoned.idf("ferri") > index.idf("ferri")  # fewer live passages hold it


def test_the_tokenizer_is_bm25s_s() -> None:
    """newsdesk tokenizes as bm25s does (its pattern, en_plus stop words, Snowball), without importing it."""
    import bm25s

    texts = [
        *TEXTS,
        "Élysée: the Président's 2,000-strong “convoy” didn't stop; naïve café-owners cheered — 4x4s, Ö-Zürich!",
        "Running runners ran; the RUNS were run by a runner's club. a I 1 22 333 _under_scores_",
        "Ankara wouldn't impose sanctions on Russia, Kalin said.",
    ]
    expected = bm25s.tokenize(texts, stopwords="en_plus", stemmer=stemmer(), return_ids=False, show_progress=False)
    assert tokenize(texts) == [list(doc) for doc in expected]


def test_the_ceiling_bounds_every_score_whatever_the_corpus_size() -> None:
    for texts in (TEXTS[:2], TEXTS):
        index = LexicalIndex.build(texts)
        for query in QUERIES:
            scores = index.scores(query)
            ceiling = index.ceiling(query)
            if scores is None:
                assert ceiling == 0.0
                continue
            expected = sum(index.idf(t) for t in tokenize([query])[0] if t in index._vocab)
            assert abs(ceiling - expected) < 1e-9
            assert float(scores.max()) <= ceiling + 1e-6
