"""The reader: input format, loading checks, the shipped model, and the training script's smoke run."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.answer.reader import (
    FORMAT_VERSION,
    INPUT_FORMAT,
    META_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    OnnxReader,
    ReaderInput,
    ReaderMeta,
    default_model_dir,
    file_sha256,
    format_candidate,
    write_meta,
)
from retrieval.errors import ModelLoadError

REPO = Path(__file__).resolve().parents[3]
TRAIN_DATA = [base / "shared" / "bench" / "news_train_2024" for base in (REPO.parent, REPO.parent.parent)]


def test_format_puts_the_sentence_first_and_leaves_the_year_out() -> None:
    candidate = ReaderInput(
        sentence="Priya  Raman won\nthe vote.",
        title="Marlow elects a mayor",
        date=dt.date(2023, 3, 5),
        before="Turnout was 61 percent.",
    )
    first, second = format_candidate(" Who won  the vote? ", candidate)
    assert first == "Who won the vote?"
    assert second == "Priya Raman won the vote. | Marlow elects a mayor (March 5) | Turnout was 61 percent."
    assert "2023" not in second
    assert format_candidate("Q?", ReaderInput(sentence="S.")) == ("Q?", "S.")


def _fake_model_dir(directory: Path, model_bytes: bytes = b"not an onnx model", **meta: object) -> Path:
    directory.mkdir()
    (directory / MODEL_FILE).write_bytes(model_bytes)
    (directory / TOKENIZER_FILE).write_text("{}", encoding="utf-8")
    fields: dict[str, object] = {
        "format_version": FORMAT_VERSION,
        "input_format": INPUT_FORMAT,
        "max_length": 96,
        "sha256": file_sha256(directory / MODEL_FILE),
    }
    fields.update(meta)
    write_meta(directory, ReaderMeta(**fields))  # type: ignore[arg-type]
    return directory


def _load_error(directory: Path) -> str:
    with pytest.raises(ModelLoadError) as caught:
        OnnxReader(directory)
    message = str(caught.value)
    assert "\n" not in message
    assert str(directory) in message
    return message


def test_missing_directory_is_one_line(tmp_path: Path) -> None:
    assert "no such directory" in _load_error(tmp_path / "nowhere")


def test_directory_without_metadata(tmp_path: Path) -> None:
    assert f"no {META_FILE}" in _load_error(tmp_path)


def test_unreadable_metadata(tmp_path: Path) -> None:
    (tmp_path / META_FILE).write_text("{not json", encoding="utf-8")
    assert "unreadable" in _load_error(tmp_path)


def test_altered_weights_fail_the_hash(tmp_path: Path) -> None:
    directory = _fake_model_dir(tmp_path / "m")
    (directory / MODEL_FILE).write_bytes(b"something else")
    assert "does not match the sha256" in _load_error(directory)


def test_other_format_or_version_is_refused(tmp_path: Path) -> None:
    assert "input format" in _load_error(_fake_model_dir(tmp_path / "a", input_format="other-v9"))
    assert "format version" in _load_error(_fake_model_dir(tmp_path / "b", format_version=FORMAT_VERSION + 1))


def test_missing_tokenizer(tmp_path: Path) -> None:
    directory = _fake_model_dir(tmp_path / "m")
    (directory / TOKENIZER_FILE).unlink()
    assert f"{TOKENIZER_FILE} is missing" in _load_error(directory)


@pytest.mark.model  # ONNX Runtime reads the (corrupt) weights
def test_corrupt_weights_with_a_matching_hash(tmp_path: Path) -> None:
    assert "cannot load" in _load_error(_fake_model_dir(tmp_path / "m"))


QUESTIONS = [
    (
        "Who was elected mayor of Marlow on Sunday?",
        "Priya Raman was elected mayor of Marlow on Sunday with 61 percent of the vote.",
    ),
    (
        "Which country will host the 2030 Winter Olympics?",
        "France will host the 2030 Winter Olympics in the French Alps, the IOC announced.",
    ),
    (
        "How many people died in the ferry accident near Tallinn?",
        "Twelve people died when a ferry capsized near Tallinn on Tuesday, officials said.",
    ),
]
UNRELATED = [
    "Shares of chip makers rose sharply on Wall Street after strong quarterly earnings.",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Heavy rain is expected across the region over the weekend.",
    "The museum reopened its east wing after a two-year renovation.",
]


@pytest.mark.model
def test_shipped_reader_ranks_the_answering_sentence_first() -> None:
    reader = OnnxReader(default_model_dir(), threads=1)
    for question, answer in QUESTIONS:
        candidates = [ReaderInput(sentence=s, title="News", date=dt.date(2025, 6, 1)) for s in [*UNRELATED, answer]]
        scores = reader.score(question, candidates)
        assert scores.shape == (len(candidates),)
        assert scores.dtype == np.float32
        assert np.all((scores >= 0) & (scores <= 1))
        assert int(np.argmax(scores)) == len(UNRELATED), (question, scores)
    assert reader.score("Anything?", []).shape == (0,)


@pytest.mark.model
def test_shipped_reader_metadata_matches_its_files() -> None:
    directory = default_model_dir()
    meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    assert meta["sha256"] == file_sha256(directory / MODEL_FILE)
    assert (directory / MODEL_FILE).stat().st_size <= 25_000_000


@pytest.mark.model
def test_a_damaged_copy_of_the_shipped_model_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "reader"
    shutil.copytree(default_model_dir(), copy)
    data = bytearray((copy / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / MODEL_FILE).write_bytes(bytes(data))
    assert "does not match the sha256" in _load_error(copy)


@pytest.mark.model
def test_training_smoke_run_writes_a_loadable_reader(tmp_path: Path) -> None:
    data = next((d for d in TRAIN_DATA if (d / "questions.jsonl").is_file()), None)
    if data is None:
        pytest.skip("news_train_2024 is not beside the repository (../shared/bench)")
    out = tmp_path / "reader"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "train_reader.py"), "--smoke", "--data", str(data), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,  # a hang guard only: a busy machine took over 180 s
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    reader = OnnxReader(out, threads=1)
    scores = reader.score(QUESTIONS[0][0], [ReaderInput(sentence=QUESTIONS[0][1]), ReaderInput(sentence=UNRELATED[0])])
    assert scores.shape == (2,)
    assert np.all((scores >= 0) & (scores <= 1))
    meta = json.loads((out / META_FILE).read_text(encoding="utf-8"))
    assert meta["extra"]["steps"] == 6
