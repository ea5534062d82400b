"""scripts/train_reader.py: it refuses the dev questions, and its composition helpers order an answer as
the engine does (the real fit needs the training index and is never run in CI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT.parent / "shared" / "bench"
needs_bench = pytest.mark.skipif(not BENCH.is_dir(), reason="the news benchmarks (../shared/bench) are not here")


@needs_bench
def test_it_refuses_the_dev_questions(tmp_path: Path) -> None:
    dev = BENCH / "news_dev_2023h1" / "questions.jsonl"
    command = [
        sys.executable,
        str(ROOT / "scripts" / "train_reader.py"),
        "--index",
        str(tmp_path),
        "--questions",
        str(dev),
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "training questions only" in result.stderr


def test_the_out_of_fold_answers_lead_with_the_shown_span_or_the_supported_sentence() -> None:
    from retrieval.answer.reader import Reader
    from retrieval.evaluation import EvalQuestion
    from tests.retrieval.answer.test_reader import CapitalisedRuns, _sentences

    script = load_script("train_reader")
    texts = ["The summit ended early.", "Jens Stoltenberg chaired it.", "It was held in Antalya."]
    sentences = _sentences(texts)
    probability = {(c.hit.passage.id, c.start): p for c, p in zip(sentences, (0.9, 0.2, 0.1), strict=True)}
    question = "Who chaired the summit?"
    spans, x = Reader(CapitalisedRuns(), None).spans(question, sentences, [0.9, 0.2, 0.1], {})
    item = EvalQuestion("q1", question, ("a1",), ("Jens Stoltenberg",), True)
    read = script.Read(
        item, "w1", sentences, probability, spans, x, np.array([s.text == "Jens Stoltenberg" for s in spans])
    )
    scores = {"q1": np.array([0.3 if s.text == "Jens Stoltenberg" else 0.1 for s in spans])}
    lead, _ = script.ordered(read, scores["q1"], 0.25, 0.0)
    assert lead.text == texts[1]  # the shown span's sentence
    lead, _ = script.ordered(read, scores["q1"], 0.5, 0.0)
    assert lead.text == texts[0]  # not shown, no weight: the blended best
    assert script.lead_holds_gold([read], scores, 0.5, 4.0) == 1.0  # weighted support moves it up
    median, held = script.composed_metrics([read], scores, 0.25, 0.0, 1.0)
    assert held == 1.0 and median == len((texts[1] + " " + texts[0]).split())  # the lead, the best, no more
