"""scripts/train_ranker.py end to end on a tiny slice of news_train_2024 (the real model is never
trained in CI: this checks that the script runs, writes a model the engine loads, and refuses dev)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval.answer.ranker import Ranker

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT.parent / "shared" / "bench"
TRAIN = BENCH / "news_train_2024"
needs_train = pytest.mark.skipif(not TRAIN.is_dir(), reason="the news benchmarks (../shared/bench) are not here")


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
