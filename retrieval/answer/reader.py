"""The reader: a small cross-encoder that reads a question with one candidate sentence and says how
likely that sentence is to hold the answer.

The model is trained by ``scripts/train_reader.py`` (the first layers of all-MiniLM-L6-v2, fine-tuned
on news quiz questions) and shipped as an int8 ONNX file with its tokenizer in
``models/newsdesk-reader/``. Training and serving both turn a candidate into the model's text with
:func:`format_candidate`, so the two never drift apart. Serving needs only ``onnxruntime`` and
``tokenizers``; a ``reader.json`` beside the weights records the format and a hash of the model,
checked on load.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval.errors import ModelLoadError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Bump when ``reader.json`` or the model's inputs/outputs change shape."""
INPUT_FORMAT = "question/sentence|title,month-day|before-v1"
"""Names what :func:`format_candidate` produces; a model trained on another format is refused."""
META_FILE = "reader.json"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
SEPARATOR = " | "
BEFORE_CHARS = 300
"""The sentence before is cut to this many characters before tokenizing (truncation drops the rest)."""


@dataclass(frozen=True)
class ReaderInput:
    """One candidate answer sentence with the context the reader sees beside it."""

    sentence: str
    title: str = ""
    date: dt.date | None = None
    before: str = ""
    """The sentence before this one in its article ('' for an article's first sentence)."""


def _squash(text: str) -> str:
    return " ".join(text.split())


def format_candidate(question: str, candidate: ReaderInput) -> tuple[str, str]:
    """The (first, second) text pair the model reads: the question, then the sentence and its context.

    The sentence comes first so that truncation (from the end) cuts context, not the sentence. The
    date is given as month and day only: the year would let a model key on the period it was
    trained on.
    """
    header = _squash(candidate.title)
    if candidate.date is not None:
        day = f"{candidate.date:%B} {candidate.date.day}"
        header = f"{header} ({day})" if header else day
    parts = [_squash(candidate.sentence), header, _squash(candidate.before[:BEFORE_CHARS])]
    return _squash(question), SEPARATOR.join(p for p in parts if p)


class Reader(Protocol):
    """Anything that scores candidate sentences as answers to a question."""

    def score(self, question: str, candidates: Sequence[ReaderInput]) -> np.ndarray:
        """The probability, in [0, 1], that each candidate holds the answer (float32, one per candidate)."""
        ...


@dataclass(frozen=True)
class ReaderMeta:
    """What ``reader.json`` records beside the weights; checked on load."""

    format_version: int
    input_format: str
    max_length: int
    sha256: str
    """Of ``model.onnx``."""
    base_model: str = ""
    layers: int = 0
    extra: dict[str, Any] | None = None
    """Free-form training facts (seed, data, metrics) for people; never read by the runtime."""


def default_model_dir() -> Path:
    """The reader shipped with newsdesk: ``models/newsdesk-reader`` at the root of the repository."""
    return Path(__file__).resolve().parents[2] / "models" / "newsdesk-reader"


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_meta(model_dir: Path, meta: ReaderMeta) -> None:
    """Write ``reader.json`` into ``model_dir``."""
    (model_dir / META_FILE).write_text(json.dumps(asdict(meta), indent=2) + "\n", encoding="utf-8")


def read_meta(model_dir: Path) -> ReaderMeta:
    """``reader.json`` of ``model_dir`` after checking it against this code and the weights (ModelLoadError if not)."""
    where = f"reader model {model_dir}"
    if not model_dir.is_dir():
        raise ModelLoadError(f"{where}: no such directory")
    meta_path = model_dir / META_FILE
    try:
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
        meta = ReaderMeta(**raw)
    except FileNotFoundError:
        raise ModelLoadError(f"{where}: no {META_FILE} (not a reader model directory)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
        raise ModelLoadError(f"{where}: {META_FILE} is unreadable ({type(exc).__name__})") from None
    if meta.format_version != FORMAT_VERSION:
        raise ModelLoadError(f"{where}: format version {meta.format_version}, this newsdesk reads {FORMAT_VERSION}")
    if meta.input_format != INPUT_FORMAT:
        raise ModelLoadError(f"{where}: input format '{meta.input_format}', this newsdesk writes '{INPUT_FORMAT}'")
    if not isinstance(meta.max_length, int) or meta.max_length < 8:
        raise ModelLoadError(f"{where}: bad max_length {meta.max_length!r} in {META_FILE}")
    for name in (MODEL_FILE, TOKENIZER_FILE):
        if not (model_dir / name).is_file():
            raise ModelLoadError(f"{where}: {name} is missing")
    if file_sha256(model_dir / MODEL_FILE) != meta.sha256:
        raise ModelLoadError(f"{where}: {MODEL_FILE} does not match the sha256 in {META_FILE} (damaged or replaced)")
    return meta


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class OnnxReader:
    """The Reader protocol on ONNX Runtime: one session run per question, padded to the longest candidate."""

    def __init__(self, model_dir: Path, threads: int = 0) -> None:
        self.model_dir = Path(model_dir)
        self.meta = read_meta(self.model_dir)
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.intra_op_num_threads = threads  # 0: one per physical core
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3
            self._session = ort.InferenceSession(
                str(self.model_dir / MODEL_FILE), options, providers=["CPUExecutionProvider"]
            )
            tokenizer = Tokenizer.from_file(str(self.model_dir / TOKENIZER_FILE))
            tokenizer.enable_truncation(max_length=self.meta.max_length, strategy="longest_first")
            pad_id = tokenizer.token_to_id("[PAD]")
            tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
            self._tokenizer = tokenizer
            names = {i.name for i in self._session.get_inputs()}
        except Exception as exc:  # onnxruntime and tokenizers raise their own exception types
            raise ModelLoadError(f"reader model {self.model_dir}: cannot load ({_first_line(exc)})") from exc
        if names != set(INPUT_NAMES):
            raise ModelLoadError(f"reader model {self.model_dir}: inputs {sorted(names)}, expected {list(INPUT_NAMES)}")
        log.info("loaded reader %s (%d layers, max_length %d)", self.model_dir, self.meta.layers, self.meta.max_length)

    def encode(self, question: str, candidates: Sequence[ReaderInput]) -> dict[str, np.ndarray]:
        """The model's inputs for one question and its candidates, padded to the longest."""
        encodings = self._tokenizer.encode_batch([format_candidate(question, c) for c in candidates])
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }

    def score(self, question: str, candidates: Sequence[ReaderInput]) -> np.ndarray:
        """The probability that each candidate holds the answer, all candidates in one run."""
        if not candidates:
            return np.zeros(0, dtype=np.float32)
        probabilities = self._session.run(None, self.encode(question, candidates))[0]
        return np.clip(np.asarray(probabilities, dtype=np.float32).reshape(-1), 0.0, 1.0)
