"""scripts/train_ranker.py end to end on a tiny slice of news_train_2024 (the real model is never
trained in CI: this checks that the script runs, writes a model the engine loads, and refuses dev)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.answer.ranker import Ranker
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT.parent / "shared" / "bench"
TRAIN = BENCH / "news_train_2024"
needs_train = pytest.mark.skipif(not TRAIN.is_dir(), reason="the news benchmarks (../shared/bench) are not here")


def test_a_fit_with_a_limit_sees_the_features_held_as_they_are_served() -> None:
    """An outlier far beyond three deviations: fitted with the limit, the model is the logistic regression
    of the held standardised features (as ``LinearModel.logits(rows, 3.0)`` serves them); unheld, another."""
    from sklearn.linear_model import LogisticRegression

    script = load_script("train_ranker")
    rng = np.random.default_rng(13)
    x = rng.normal(size=(200, 2))
    x[0, 0] = 40.0  # beyond three (inflated) standard deviations
    y = (x[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int)
    y[0] = 0  # against the trend: unheld, it drags the weight down
    held = script.fit_linear(x, y, ("a", "b"), 1.0, 13, limit=3.0)
    free = script.fit_linear(x, y, ("a", "b"), 1.0, 13)
    z = np.clip((x - np.asarray(held.mean)) / np.asarray(held.scale), -3.0, 3.0)
    by_hand = LogisticRegression(C=1.0, max_iter=2000, random_state=13).fit(z, y)
    assert np.allclose(held.weights, by_hand.coef_[0]) and held.bias == pytest.approx(by_hand.intercept_[0])
    assert np.allclose(held.probabilities(x, 3.0), by_hand.predict_proba(z)[:, 1])
    assert not np.allclose(held.weights, free.weights, atol=1e-2)


def test_the_shipped_confidence_was_fitted_as_it_is_served() -> None:
    from retrieval.answer.ranker import CONFIDENCE_Z_LIMIT, default_ranker_dir

    fitted_on = Ranker.load(default_ranker_dir()).fitted_on
    assert fitted_on["confidence_z_limit"] == CONFIDENCE_Z_LIMIT
    assert fitted_on["regularisation_C"]["confidence"] in load_script("train_ranker").GRID  # type: ignore[index]


def test_the_rank_weight_is_the_least_that_puts_the_gold_article_first() -> None:
    """Every question: the fused order's first passage is the gold article's and holds the answer; the
    passage model puts another article's a little above it (0.537 against 0.5). Weights below 0.075 keep
    that order; 0.1, the least of the grid past it, gives Hits@1 and MRR@10 1."""
    import datetime as dt

    from retrieval.answer.features import PASSAGE_FEATURES, QuestionContext
    from retrieval.evaluation import EvalQuestion
    from retrieval.types import Article, Hit, Passage

    script = load_script("train_ranker")
    model = script.one_feature("sentence")
    questions = []
    for n in range(10):
        pool = [
            Hit(Passage(2 * n + i, f"q{n}-{name}", 0, 4, "text"), Article(f"q{n}-{name}", "t", None, "s", "text"), 1.0)
            for i, name in enumerate(("gold", "other"))
        ]
        x = np.zeros((2, len(PASSAGE_FEATURES)))
        x[:, PASSAGE_FEATURES.index("rank")] = [1.0, 0.5]
        x[1, PASSAGE_FEATURES.index("sentence")] = 0.15
        item = EvalQuestion(f"q{n}", "Who?", (f"q{n}-gold",), ("x",), True, dt.date(2024, 1, 1))
        questions.append(script.Question(item, f"w{n}", QuestionContext("Who?", None, None), pool, x, np.array([1, 0])))
    folds = [n % script.FOLDS for n in range(10)]
    weight, metrics = script.choose_rank_weight(questions, folds, [model] * script.FOLDS)
    assert weight == 0.1 and metrics == {"hits@1": 1.0, "hits@5": 1.0, "mrr@10": 1.0}
    assert script.article_hits(questions, model, 0.05)["hits@1"] == 0.0


def _run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "scripts" / "train_ranker.py"), *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)


@needs_train
def test_it_refuses_the_dev_questions(tmp_path: Path) -> None:
    dev = BENCH / "news_dev_2023h1" / "questions.jsonl"
    result = _run("--index", tmp_path / "i", "--questions", dev, cwd=tmp_path)
    assert result.returncode == 2 and "training questions only" in result.stderr


@needs_train
@pytest.mark.model
def test_a_tiny_fit_writes_a_model_the_engine_loads(tmp_path: Path) -> None:
    out = tmp_path / "ranker"
    result = _run(
        "--corpus", TRAIN / "corpus.jsonl.gz", "--questions", TRAIN / "questions.jsonl",
        "--slice", 20, "--articles", 60, "--index", tmp_path / "index", "--out", out,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    ranker = Ranker.load(out)
    assert ranker.fitted_on["questions"] == 20
    assert json.loads((out / "ranker.json").read_text())["fitted_on"]["seed"] == 13
