"""The learned ranker: the shipped model loads and matches the code; a bad one is one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.cli import hint
from retrieval.answer.features import PASSAGE_FEATURES, QUESTION_FEATURES, SENTENCE_FEATURES
from retrieval.answer.ranker import RANKER_FILE, LinearModel, Ranker, default_ranker_dir, search_order
from retrieval.errors import ModelLoadError, RankerLoadError


def test_the_shipped_ranker_loads_and_names_the_features_this_code_computes() -> None:
    ranker = Ranker.load(default_ranker_dir())
    assert ranker.passages.features == PASSAGE_FEATURES
    assert ranker.sentences.features == SENTENCE_FEATURES
    assert ranker.confidence.features == QUESTION_FEATURES
    assert 0.0 < ranker.min_confidence < 1.0 and 0.0 < ranker.second_sentence <= 1.0
    assert "news_train_2024" in str(ranker.fitted_on["data"])
    assert (default_ranker_dir() / "README.md").is_file()  # the model card


def test_probabilities_are_a_standardised_logistic() -> None:
    model = LinearModel(("a", "b"), (2.0, -1.0), 0.5, (1.0, 0.0), (2.0, 1.0))
    rows = np.array([[1.0, 0.0], [3.0, 1.0]])
    expected = 1.0 / (1.0 + np.exp(-np.array([0.5, 2.0 * 1.0 - 1.0 + 0.5])))
    assert np.allclose(model.probabilities(rows), expected)
    assert model.probabilities(np.zeros((0, 2))).shape == (0,)


def test_a_limit_holds_standardised_features_within_it() -> None:
    model = LinearModel(("a", "b"), (2.0, -1.0), 0.5, (1.0, 0.0), (2.0, 1.0))
    far = np.array([[101.0, -50.0]])  # 50 and -50 standard deviations out
    assert model.logits(far)[0] == pytest.approx(2.0 * 50 + 50 + 0.5)
    assert model.logits(far, 3.0)[0] == pytest.approx(2.0 * 3 + 3 + 0.5)
    near = np.array([[3.0, 1.0]])  # within the limit: unchanged
    assert model.logits(near, 3.0)[0] == pytest.approx(model.logits(near)[0])


def test_the_confidence_holds_its_features_within_the_training_range() -> None:
    """A corpus of a handful of articles: the best passage leads the next by seven standard deviations
    of training; the shipped confidence then weighs that lead as three."""
    from retrieval.answer.ranker import CONFIDENCE_Z_LIMIT

    confidence = Ranker.load(default_ranker_dir()).confidence
    row = np.asarray(confidence.mean, dtype=np.float64)[None, :].copy()
    gap = QUESTION_FEATURES.index("passage_gap")
    row[0, gap] += 7 * confidence.scale[gap]
    held = row.copy()
    held[0, gap] = confidence.mean[gap] + CONFIDENCE_Z_LIMIT * confidence.scale[gap]
    assert confidence.probabilities(row, CONFIDENCE_Z_LIMIT)[0] == pytest.approx(confidence.probabilities(held)[0])


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    shipped = Ranker.load(default_ranker_dir())
    shipped.save(tmp_path / "copy")
    assert Ranker.load(tmp_path / "copy") == shipped


def _written(tmp_path: Path, change: dict[str, object]) -> Path:
    data = json.loads((default_ranker_dir() / RANKER_FILE).read_text(encoding="utf-8"))
    data.update(change)
    (tmp_path / RANKER_FILE).write_text(json.dumps(data), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"format_version": 99}, "format 99"),
        (
            {"sentences": {"features": ["cosine"], "weights": [1.0], "bias": 0.0, "mean": [0.0], "scale": [1.0]}},
            "fitted on other features",
        ),
        ({"confidence": "nonsense"}, "unreadable"),
    ],
)
def test_a_mismatched_or_damaged_model_is_one_line(tmp_path: Path, change: dict[str, object], said: str) -> None:
    with pytest.raises(RankerLoadError, match=said) as caught:
        Ranker.load(_written(tmp_path, change))
    assert "\n" not in str(caught.value)


def test_a_missing_model_names_the_ranker_setting(tmp_path: Path) -> None:
    with pytest.raises(RankerLoadError, match="no ranker.json") as caught:
        Ranker.load(tmp_path)
    assert isinstance(caught.value, ModelLoadError)
    assert "NEWSDESK_RANKER" in hint(caught.value) and "NEWSDESK_MODEL" not in hint(caught.value)


def _rows(ranks: list[int]) -> np.ndarray:
    """Passage feature rows whose ``rank`` feature is 1 / place in the fused order, the rest zero."""
    rows = np.zeros((len(ranks), len(PASSAGE_FEATURES)))
    rows[:, PASSAGE_FEATURES.index("rank")] = [1.0 / r for r in ranks]
    return rows


def test_the_search_order_keeps_a_say_for_the_fused_order() -> None:
    rows = _rows([1, 2, 3])
    probabilities = np.array([0.50, 0.56, 0.20])
    assert search_order(probabilities, rows, 0.0).tolist() == [1, 0, 2]  # the probability alone
    assert search_order(probabilities, rows, 0.15).tolist() == [0, 1, 2]  # 0.65 against 0.635
    assert search_order(np.array([0.3, 0.3]), _rows([2, 1]), 0.0).tolist() == [0, 1]  # ties: as pooled
    assert search_order(np.zeros(0), _rows([]), 0.15).tolist() == []


def test_the_shipped_ranker_orders_as_it_was_fitted_and_an_older_one_by_probability(tmp_path: Path) -> None:
    shipped = Ranker.load(default_ranker_dir())
    assert shipped.rank_weight == shipped.fitted_on["cv_rank_weight"]["chosen"]  # type: ignore[index]
    rows = _rows([1, 2])
    rows[1, PASSAGE_FEATURES.index("sentence")] = 5.0  # far likelier to hold the answer
    probabilities, order = shipped.order(rows)
    assert np.allclose(probabilities, shipped.passages.probabilities(rows)) and order.tolist() == [1, 0]
    data = json.loads((default_ranker_dir() / RANKER_FILE).read_text(encoding="utf-8"))
    del data["rank_weight"]  # a ranker.json written before the weight existed
    (tmp_path / RANKER_FILE).write_text(json.dumps(data), encoding="utf-8")
    assert Ranker.load(tmp_path).rank_weight == 0.0
