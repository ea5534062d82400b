"""The newsdesk command line on the real model and seeds: answers, JSON, and one-line errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import REPO, SEEDS

QUESTION = "Why won't Turkey sanction Russia?"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the seeds built once through the CLI."""
    path = tmp_path_factory.mktemp("cli") / "index"
    assert main(["index", "--index", str(path), "--seeds", str(SEEDS)]) == 0
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("newsdesk: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.model
def test_ask_builds_the_index_first_then_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "ask", QUESTION, "--index", str(tmp_path / "idx"), "--seeds", str(SEEDS))
    assert code == 0
    assert "building it from" in err and "Indexed 2 articles" in err
    assert "[1]" in out and "Sources" in out and "2022-03-12" in out


@pytest.mark.model
def test_ask_json(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ask", QUESTION, "--json", "--index", str(index_dir))
    data = json.loads(out)
    assert code == 0 and not data["abstained"]
    assert data["citations"][0]["date"] == "2022-03-12"
    assert {"answer", "sentences", "passages", "confidence", "timings_ms"} <= set(data)


@pytest.mark.model
def test_ask_jsonl_answers_each_line_and_reports_bad_ones(
    index_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        {"id": "q1", "question": QUESTION},
        {"id": "q2", "question": "Who is the secretary general of NATO?", "as_of": "2022-03-14"},
        {"id": "q3", "question": "   "},
    ]
    stdin = "\n".join(json.dumps(line) for line in lines) + "\nnot json\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code, out, err = run(capsys, "ask", "--jsonl", "--index", str(index_dir))
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["id"] for a in answers] == ["q1", "q2", "q3", 4]
    assert "Stoltenberg" in answers[1]["answer"]
    assert "empty" in answers[2]["error"] and "JSON" in answers[3]["error"]
    assert code == 1 and err.count("newsdesk: line") == 2


@pytest.mark.model
def test_search_and_date_filters(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "search", "Kalin sanctions", "--json", "--k", "3", "--index", str(index_dir))
    hits = json.loads(out)
    assert code == 0 and len(hits) == 3 and all("score" in h for h in hits)
    code, out, _ = run(capsys, "search", "Kalin", "--json", "--since", "2023-01-01", "--index", str(index_dir))
    assert code == 0 and json.loads(out) == []


@pytest.mark.model
def test_chat_answers_until_end_of_input(
    index_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("bot.commands.chat.HISTORY_FILE", tmp_path / "history")
    monkeypatch.setattr(sys, "stdin", io.StringIO("Who is the secretary general of NATO?\n\n"))
    code, out, _ = run(capsys, "chat", "--index", str(index_dir))
    assert code == 0 and "Stoltenberg" in out


@pytest.mark.model
def test_incremental_index_reports_unchanged(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "index", "--index", str(index_dir), "--seeds", str(SEEDS))
    assert code == 0 and "0 new, 0 changed, 0 removed, 2 unchanged" in err and "embedded 0" in err


@pytest.mark.parametrize(
    ("question", "fragment"),
    [("", "empty"), ("   ", "empty"), ("why " * 200, "limit is 500")],
)
def test_bad_questions(index_dir: Path, capsys: pytest.CaptureFixture[str], question: str, fragment: str) -> None:
    code, _, err = run(capsys, "ask", question, "--index", str(index_dir))
    assert code == 1
    assert_one_line_error(err, fragment)


@pytest.mark.model
def test_missing_seeds_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "index", "--index", str(tmp_path / "i"), "--seeds", str(tmp_path / "nope"))
    assert code == 1
    assert_one_line_error(err, "seeds directory not found")


@pytest.mark.model
def test_index_from_another_model(
    index_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrieval.embedding.base import resolve_model_path

    monkeypatch.setenv("NEWSDESK_MODEL", resolve_model_path("sentence-transformers/all-MiniLM-L6-v2"))
    code, _, err = run(capsys, "ask", QUESTION, "--index", str(index_dir))
    assert code == 1
    assert_one_line_error(err, "built with model", "newsdesk index --full")


@pytest.mark.model
def test_unloadable_model_names_the_setting(
    index_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDESK_MODEL", "no-such/model")
    code, _, err = run(capsys, "ask", QUESTION, "--index", str(index_dir))
    assert code == 1
    assert_one_line_error(err, "no-such/model", "NEWSDESK_MODEL")


@pytest.mark.model
def test_corrupt_index(tmp_path: Path, index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(index_dir, copy, symlinks=True)
    (vector_file,) = (copy / "current").glob("*.faiss")
    vector_file.write_bytes(b"not a faiss index")
    code, _, err = run(capsys, "ask", QUESTION, "--index", str(copy))
    assert code == 1
    assert_one_line_error(err, "damaged", "newsdesk index --full")


def test_bad_setting_and_bad_option(
    index_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDESK_K", "lots")
    code, _, err = run(capsys, "stats", "--index", str(index_dir))
    assert code == 2
    assert_one_line_error(err, "NEWSDESK_K")
    monkeypatch.delenv("NEWSDESK_K")
    with pytest.raises(SystemExit) as exit_info:
        main(["ask", QUESTION, "--since", "March"])
    assert exit_info.value.code == 2
    assert "use YYYY-MM-DD" in capsys.readouterr().err


def test_a_mistyped_variable_is_a_warning_not_silence(
    index_dir: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSDESK_TOPK", "3")
    code, _, _ = run(capsys, "stats", "--index", str(index_dir))
    assert code == 0
    assert "NEWSDESK_TOPK is not a newsdesk setting; ignored (did you mean NEWSDESK_K?)" in caplog.messages


def test_stats_reads_the_manifest_without_loading_the_model(index_dir: Path) -> None:
    script = (
        "import sys; from bot.cli import main; code = main(['stats', '--json', '--index', sys.argv[1]]);"
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules, code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(index_dir)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    stats_json, flags = result.stdout.rsplit("\n", 2)[0], result.stdout.strip().splitlines()[-1]
    assert flags == "False False 0", result.stderr
    stats = json.loads(stats_json)
    assert stats["articles"] == 2 and stats["passages"] > 2 and stats["first_date"] == "2022-03-12"
    assert stats["vectors"] >= stats["passages"] and stats["vector_index"] == "flat-ip"
    assert (stats["vector_parts"], stats["segments"]) == (1, 1)


@pytest.mark.model
def test_ask_as_of_a_day_before_the_articles_abstains(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ask", QUESTION, "--as-of", "2021-01-01", "--json", "--index", str(index_dir))
    answer = json.loads(out)
    assert code == 0 and answer["abstained"] and answer["as_of"] == "2021-01-01" and not answer["passages"]
    code, out, _ = run(capsys, "ask", QUESTION, "--as-of", "2022-03-14", "--json", "--index", str(index_dir))
    assert code == 0 and not json.loads(out)["abstained"]


@pytest.mark.model
def test_ask_jsonl_lines_carry_their_own_as_of(
    index_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        {"id": "old", "question": QUESTION, "as_of": "2021-01-01"},
        {"id": "new", "question": QUESTION, "as_of": "2022-03-13"},
        {"id": "bad", "question": QUESTION, "as_of": "March"},
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(json.dumps(line) for line in lines) + "\n"))
    code, out, err = run(capsys, "ask", "--jsonl", "--index", str(index_dir))
    old, new, bad = (json.loads(line) for line in out.splitlines())
    assert old["abstained"] and not new["abstained"] and new["as_of"] == "2022-03-13"
    assert "not a date" in bad["error"] and code == 1 and err.count("newsdesk: line 3") == 1


@pytest.mark.model
def test_chat_keeps_the_conversation_and_its_day(
    index_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("bot.commands.chat.HISTORY_FILE", tmp_path / "history")
    typed = "/as-of 2021-01-01\nWho is the secretary general of NATO?\n/as-of 2022-03-15\n"
    typed += "Who is the secretary general of NATO?\nand what about Turkey?\n/as-of soon\n/new\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    code, out, err = run(capsys, "chat", "--index", str(index_dir))
    answers = out.split("newsdesk> ")
    assert code == 0 and "don't say" in answers[2] and "Stoltenberg" in answers[4]
    assert "(searched: Who is the secretary general of Turkey?)" in answers[5]
    assert "answering as of 2021-01-01" in err and "'soon' is not a date" in err and "new conversation" in err


@pytest.mark.model
def test_chat_follow_ups_keep_the_subject_and_swap_it(
    index_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("bot.commands.chat.HISTORY_FILE", tmp_path / "history")
    typed = "/as-of 2022-03-14\nWhy won't Turkey sanction Russia?\nWhat did NATO say about it?\nand Erdogan?\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    code, out, _ = run(capsys, "chat", "--index", str(index_dir))
    answers = out.split("newsdesk> ")
    assert code == 0
    assert "(searched: What did NATO say about it? (Turkey sanction Russia))" in answers[3]
    assert "impose sanctions" in answers[3] and "open war" not in answers[3]  # Stoltenberg's sanctions sentence
    assert "(searched: What did Erdogan say about it? (Turkey sanction Russia))" in answers[4]
