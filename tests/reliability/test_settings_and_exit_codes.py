"""Bad settings are one line and exit 2; anything unexpected is one line, exit 70, and a traceback in the log."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

from tests.reliability.conftest import assert_one_line, cli, run_cli

GOOD = "Who is selling Kurt Cobain's childhood home?"
EXIT_USAGE, EXIT_INTERNAL, EXIT_IO = 2, 70, 74  # as docs/usage.md documents them


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("NEWSDESK_LOG_LEVEL", "LOUD", "NEWSDESK_LOG_LEVEL='LOUD': must be DEBUG, INFO, WARNING, ERROR or CRITICAL"),
        ("NEWSDESK_MAX_ARTICLE_CHARS", "10", "NEWSDESK_MAX_ARTICLE_CHARS='10'"),
        ("NEWSDESK_MAX_ARTICLE_CHARS", "lots", "NEWSDESK_MAX_ARTICLE_CHARS='lots'"),
        ("NEWSDESK_INDEX_DIR", "", "NEWSDESK_INDEX_DIR='': must not be empty"),
        ("NEWSDESK_SEEDS_DIR", " ", "NEWSDESK_SEEDS_DIR"),
        ("NEWSDESK_K", "\x1b[31m5", "NEWSDESK_K="),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(
    name: str, value: str, fragment: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)
    code, out, err = cli(capsys, "stats")
    assert code == EXIT_USAGE and out == ""
    assert "\x1b" not in assert_one_line(err, "bad setting", fragment)


def test_log_levels_in_any_case_are_accepted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("NEWSDESK_LOG_LEVEL", "debug")
    code, _, err = cli(capsys, "stats", "--index", tmp_path / "none")
    assert code == 1 and "no index at" in err


def test_an_empty_path_option_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(capsys, "stats", "--index", "")
    assert exit_info.value.code == EXIT_USAGE and "an empty path" in capsys.readouterr().err


def _explode(ctx: object) -> int:
    raise RuntimeError("the \x1b[31munexpected\x1b[0m\nsecond line")


def test_an_unexpected_error_is_one_line_exit_70_and_the_traceback_is_in_the_log(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr("bot.commands.stats.cmd_stats", _explode)  # a stand-in for a bug: no code path has one left
    code, out, err = cli(capsys, "stats", "--index", tmp_path / "i")
    assert code == EXIT_INTERNAL and out == ""
    line = assert_one_line(err, "internal error in `newsdesk stats`", "RuntimeError: the unexpected", "-v")
    log = Path(os.environ["XDG_STATE_HOME"]) / "newsdesk" / "last-error.log"
    assert str(log) in line and "\x1b" not in line and "second line" not in line
    assert "Traceback" in log.read_text() and "_explode" in log.read_text()

    code, _, err = cli(capsys, "stats", "-v", "--index", tmp_path / "i")
    assert code == EXIT_INTERNAL
    assert "Traceback" in caplog.text and "_explode" in caplog.text  # with -v, in the log (stderr, outside pytest)
    assert_one_line(err, "internal error in `newsdesk stats`", "the traceback is in the log above")


def test_a_crash_in_a_process(tmp_path: Path) -> None:
    env = {"RELIABILITY_CRASH_STATS": "1", "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    result = run_cli("stats", cwd=tmp_path, env=env)
    assert result.returncode == EXIT_INTERNAL
    log = tmp_path / "state" / "newsdesk" / "last-error.log"
    assert_one_line(result.stderr, "internal error in `newsdesk stats`", str(log))
    assert "RuntimeError: a stand-in for a bug" in log.read_text()
    result = run_cli("stats", "-v", cwd=tmp_path, env=env)
    err = result.stderr.decode()
    assert result.returncode == EXIT_INTERNAL and "ERROR: `newsdesk stats` failed:\nTraceback" in err
    assert err.strip().splitlines()[-1].startswith("newsdesk: internal error in `newsdesk stats`")


def test_a_crash_on_one_jsonl_line_does_not_stop_the_batch(
    news_index: tuple[Path, Path],
    hash_embedder: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from retrieval.engine import Engine

    real = Engine.ask

    def ask(self: Engine, question: str, **kwargs: object) -> object:
        if "boom" in question:
            raise ZeroDivisionError("a stand-in for a bug on one question")
        return real(self, question, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Engine, "ask", ask)
    stdin = "".join(json.dumps({"id": n, "question": q}) + "\n" for n, q in enumerate([GOOD, "boom town?", GOOD]))
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code, out, err = cli(capsys, "ask", "--jsonl", "--index", news_index[1])
    answers = [json.loads(line) for line in out.splitlines()]
    assert ["answer" in a for a in answers] == [True, False, True]
    assert "internal error" in answers[1]["error"] and code == EXIT_INTERNAL
    assert_one_line(err, "line 2: internal error", "ZeroDivisionError")


def test_a_full_disk_is_one_line_and_exit_74(news_index: tuple[Path, Path], tmp_path: Path) -> None:
    with open("/dev/full", "wb") as full:
        result = run_cli("ask", GOOD, "--index", news_index[1], cwd=tmp_path, stdout=full)
    assert result.returncode == EXIT_IO
    assert_one_line(result.stderr, "No space left on device")


def test_a_closed_pipe_ends_quietly(news_index: tuple[Path, Path], tmp_path: Path) -> None:
    """``newsdesk ask … | head -1``: the reader has gone, which is no error (rich's own handling exits 1)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader went away before the answer was written
    try:
        result = run_cli("ask", GOOD, "--index", news_index[1], cwd=tmp_path, stdout=write_end)
    finally:
        os.close(write_end)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
