"""How the reader's probabilities become rankings, answers and abstentions: weights fitted on train.

``scripts/fit_answerer.py`` fits these on ``news_train_2024`` (never on the dev questions) with the
shipped reader and writes them to ``answerer.json`` beside the reader's weights; the engine reads
them back. Without that file (a reader of one's own, not yet fitted) the defaults below rank by the
reader alone and abstain below an even chance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from retrieval.errors import ModelLoadError

CALIBRATION_FILE = "answerer.json"
FEATURES = ("reader", "reader_second", "sentence", "cosine", "fused")
"""The question-level signals the confidence combines, in order (see ``confidence_features``)."""


@dataclass(frozen=True)
class Calibration:
    """Fitted weights: passage ranking, answer confidence and its threshold, the second sentence's bar."""

    passage_weights: tuple[float, float, float] = (1.0, 0.0, 0.0)
    """Passage score = w·(best reader probability, best sentence score, fused score)."""
    confidence_weights: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 0.0)
    """Over ``FEATURES``; with ``confidence_bias`` a logistic model of "the first sentence answers"."""
    confidence_bias: float = 0.0
    logistic: bool = False
    """False: the confidence is the weighted sum itself (the defaults: the best reader probability)."""
    min_confidence: float = 0.5
    """Abstain below this (fitted so that few answerable questions are refused)."""
    second_sentence: float = 0.5
    """A second sentence joins the answer only if the reader gives it at least this probability."""
    fitted_on: dict[str, object] = field(default_factory=dict)
    """Provenance for people (data, questions, command, date); never read by the engine."""

    def passage_score(self, reader: float, sentence: float, fused: float) -> float:
        """The score a re-ranked passage is ordered by."""
        a, b, c = self.passage_weights
        return a * reader + b * sentence + c * fused

    def confidence(self, features: Sequence[float]) -> float:
        """How likely the answer's first sentence answers the question."""
        z = self.confidence_bias + sum(w * f for w, f in zip(self.confidence_weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-z)) if self.logistic else z

    def save(self, directory: Path) -> None:
        """Write ``answerer.json`` into ``directory``."""
        (directory / CALIBRATION_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> Calibration:
        """``answerer.json`` of a reader directory, or the defaults if there is none."""
        path = directory / CALIBRATION_FILE
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["passage_weights"] = tuple(data["passage_weights"])
            data["confidence_weights"] = tuple(data["confidence_weights"])
            calibration = cls(**data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"reader model {directory}: {CALIBRATION_FILE} is unreadable ({exc})") from exc
        if len(calibration.confidence_weights) != len(FEATURES) or len(calibration.passage_weights) != 3:
            raise ModelLoadError(f"reader model {directory}: {CALIBRATION_FILE} has weights of the wrong size")
        return calibration
