"""The learned ranker: three small logistic models fitted on news_train_2024 by ``scripts/train_ranker.py``.

- **passages**: how likely a candidate passage holds the answer (``features.PASSAGE_FEATURES``); the
  re-ranked order of the search.
- **sentences**: how likely a sentence of the top passages is the answer (``SENTENCE_FEATURES``); the
  answer leads with the best one.
- **confidence**: how likely the question is answered by the articles at all (``QUESTION_FEATURES``);
  below ``min_confidence`` the answer abstains.

They ship as ``ranker.json`` in ``models/newsdesk-ranker/`` with a model card; the JSON names every
feature, so a model that does not match this code is refused with one line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from retrieval.answer.features import PASSAGE_FEATURES, QUESTION_FEATURES, SENTENCE_FEATURES
from retrieval.errors import ModelLoadError, RankerLoadError

RANKER_FILE = "ranker.json"
RANK_FEATURE = PASSAGE_FEATURES.index("rank")
FORMAT_VERSION = 1
_M = TypeVar("_M")
CONFIDENCE_Z_LIMIT = 3.0
"""The confidence's standardised features are held within this many training standard deviations: a
linear model extrapolates without bound, and a corpus unlike the training one (a handful of articles,
where the best passage leads the next by far more than it ever did in training) would otherwise
turn a supported answer into a refusal on one feature alone."""


@dataclass(frozen=True)
class LinearModel:
    """Standardised features in, a logistic probability out."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def logits(self, rows: np.ndarray, limit: float | None = None) -> np.ndarray:
        """One logit per row of features (in ``features`` order); ``limit``: standardised features are
        held within this many training standard deviations."""
        if rows.size == 0:
            return np.zeros(len(rows))
        z = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        if limit is not None:
            z = np.clip(z, -limit, limit)
        return z @ np.asarray(self.weights) + self.bias

    def probabilities(self, rows: np.ndarray, limit: float | None = None) -> np.ndarray:
        """One probability per row of features (``limit`` as in ``logits``)."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.logits(rows, limit), -30, 30)))

    def check(self, expected: Sequence[str], name: str, where: Path) -> None:
        """Refuse a model fitted on other features than this code computes."""
        if tuple(self.features) != tuple(expected):
            raise RankerLoadError(f"ranker model {where}: its {name} model was fitted on other features; refit it")
        sizes = {len(self.weights), len(self.mean), len(self.scale)}
        if sizes != {len(expected)} or not all(math.isfinite(w) for w in self.weights):
            raise RankerLoadError(f"ranker model {where}: its {name} model is malformed")


@dataclass(frozen=True)
class Ranker:
    """The three fitted models and the thresholds that turn their probabilities into an answer."""

    passages: LinearModel
    sentences: LinearModel
    confidence: LinearModel
    min_confidence: float
    """Abstain when the question's probability of being answered falls below this."""
    second_sentence: float
    """A second sentence joins the answer only with at least this probability."""
    format_version: int = FORMAT_VERSION
    fitted_on: dict[str, object] = field(default_factory=dict)
    """Provenance and metrics for people (data, command, seed, scores); never read by the engine."""
    rank_weight: float = 0.0
    """The search orders its candidates by their passage probability plus this times their ``rank``
    feature (1 / their place in the fused order): the fused order keeps a say in which article leads."""

    def order(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The passage probability of each candidate (``rows``: their ``PASSAGE_FEATURES``) and the
        candidates' indices in the search's order (``search_order``)."""
        probabilities = self.passages.probabilities(rows)
        return probabilities, search_order(probabilities, rows, self.rank_weight)

    def save(self, directory: Path) -> None:
        """Write ``ranker.json`` into ``directory``."""
        save_fitted(self, directory / RANKER_FILE)

    @classmethod
    def load(cls, directory: Path) -> Ranker:
        """The ranker in ``directory``; RankerLoadError (one line) if it is missing, damaged or mismatched."""
        ranker = load_fitted(directory, RANKER_FILE, FORMAT_VERSION, RankerLoadError, cls._from_json)
        ranker.passages.check(PASSAGE_FEATURES, "passage", directory)
        ranker.sentences.check(SENTENCE_FEATURES, "sentence", directory)
        ranker.confidence.check(QUESTION_FEATURES, "confidence", directory)
        return ranker

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> Ranker:
        return cls(
            passages=linear_from_json(data["passages"]),
            sentences=linear_from_json(data["sentences"]),
            confidence=linear_from_json(data["confidence"]),
            min_confidence=float(data["min_confidence"]),
            second_sentence=float(data["second_sentence"]),
            format_version=int(data.get("format_version", -1)),
            fitted_on=dict(data.get("fitted_on") or {}),
            rank_weight=float(data.get("rank_weight", 0.0)),
        )


def search_order(probabilities: np.ndarray, rows: np.ndarray, rank_weight: float) -> np.ndarray:
    """Candidate indices, best first, by passage probability plus ``rank_weight`` × the ``rank`` feature of
    their ``rows`` (ties keep the fused order)."""
    if not len(probabilities):
        return np.zeros(0, dtype=int)
    return np.argsort(-(probabilities + rank_weight * rows[:, RANK_FEATURE]), kind="stable")


def save_fitted(model: object, path: Path) -> None:
    """Write a fitted model (a dataclass) as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(model), indent=1) + "\n", encoding="utf-8")  # type: ignore[call-overload]


def load_fitted(
    directory: Path,
    filename: str,
    version: int,
    error: type[ModelLoadError],
    build: Callable[[dict[str, Any]], _M],
) -> _M:
    """``build`` over the JSON in ``directory/filename``; ``error`` (one line, naming the file) if it is
    missing, damaged or of a format version other than ``version``."""
    what = f"{filename.removesuffix('.json')} model"
    try:
        model = build(json.loads((Path(directory) / filename).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise error(f"{what} {directory}: no {filename}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise error(f"{what} {directory}: {filename} is unreadable ({exc})") from None
    found = getattr(model, "format_version", -1)
    if found != version:
        raise error(f"{what} {directory}: format {found}, this newsdesk reads {version}")
    return model


def linear_from_json(data: dict[str, Any]) -> LinearModel:
    return LinearModel(
        features=tuple(str(f) for f in data["features"]),
        weights=tuple(float(w) for w in data["weights"]),
        bias=float(data["bias"]),
        mean=tuple(float(m) for m in data["mean"]),
        scale=tuple(float(s) for s in data["scale"]),
    )


def default_ranker_dir() -> Path:
    """The ranker shipped with newsdesk: ``models/newsdesk-ranker`` at the root of the repository."""
    return Path(__file__).resolve().parents[2] / "models" / "newsdesk-ranker"
