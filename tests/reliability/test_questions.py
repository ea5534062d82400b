"""Bad questions — single, --jsonl and chat: cleaned or refused in one line, and a batch or session goes on."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from retrieval.engine import check_question
from retrieval.errors import BadQuestionError
from tests.reliability.conftest import assert_one_line, cli, lines, run_cli, write_news

GOOD = "Who is selling Kurt Cobain's childhood home?"
CONTENTLESS = ["?!.,;", "what is it?", "🔥🔥🔥", "the of and", "Who is he?", "¿¡…!?", "___ __"]
BAD_UTF8 = "why \udcff\udcfe evacuated?"  # what Python makes of `newsdesk ask $'why \xff\xfe evacuated?'`


@pytest.mark.parametrize("question", CONTENTLESS)
def test_a_contentless_question_is_refused(
    question: str, news_index: tuple[Path, Path], hash_embedder: object, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "ask", question, "--index", news_index[1])
    assert code == 1 and out == ""
    assert_one_line(err, "nothing to search for")


def test_questions_with_content_are_not_refused() -> None:
    for question in [GOOD, "G7 summit?", "Почему Турция не вводит санкции?", "为什么", "Who won the 2022 World Cup?"]:
        assert check_question(question, 500)


def test_check_question_cleans_bad_bytes_and_control_characters() -> None:
    cleaned = check_question("why \udcff\udcfe \x1b[31mevacuated\x1b[0m?\x07\u202e", 500)
    assert cleaned == "why \ufffd\ufffd evacuated?"
    cleaned.encode("utf-8")  # every tokenizer can take it
    with pytest.raises(BadQuestionError, match="empty"):
        check_question("\x1b[2J\x1b[H", 500)  # nothing but escape sequences


def test_escape_sequences_are_never_echoed(
    news_index: tuple[Path, Path], hash_embedder: object, capsys: pytest.CaptureFixture[str]
) -> None:
    question = "Who is \x1b[31mselling\x1b[0m Kurt Cobain's \x1b]0;pwned\x07childhood home?\x1b[2J"
    code, out, err = cli(capsys, "ask", question, "--index", news_index[1])
    assert code == 0 and "Cobain" in out
    assert "\x1b" not in out + err and "\x07" not in out + err
    code, out, _ = cli(capsys, "ask", question, "--json", "--index", news_index[1])
    assert json.loads(out)["question"] == "Who is selling Kurt Cobain's childhood home?"


def test_article_text_with_escape_sequences_prints_clean(
    tmp_path: Path, hash_embedder: object, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds = write_news(tmp_path / "seeds", 6)
    (seeds / "evil.jsonl").write_text(
        json.dumps(
            {
                "id": "evil\x1b[8m",
                "title": "Harbour \x1b[31mclosed\x1b[0m\u202e by storm",
                "date": "2023-02-02",
                "text": "The harbour was closed \x1b[2Jby the storm on Tuesday.\x07 Ferries stayed in port.",
            }
        )
        + "\n"
    )
    code, out, err = cli(capsys, "ask", "Why was the harbour closed?", "--index", tmp_path / "i", "--seeds", seeds)
    assert code == 0 and "Harbour closed by storm" in out and "harbour was closed" in out
    assert not {"\x1b", "\x07", "\u202e"} & set(out + err)
    code, out, _ = cli(capsys, "search", "harbour storm", "--index", tmp_path / "i")
    assert code == 0 and "Harbour closed by storm" in out and "\x1b" not in out


def test_rich_markup_in_a_path_is_printed_as_it_is(
    tmp_path: Path, hash_embedder: object, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds = write_news(tmp_path / "seeds [/bold]", 4)
    index = tmp_path / "[/bold] [red]idx[/]"
    code, out, err = cli(capsys, "ask", GOOD, "--index", index, "--seeds", seeds)
    assert code == 0, err
    assert f"No index at {index} yet: building it from {seeds} first." in err
    assert f"index at {index}" in err
    code, out, err = cli(capsys, "stats", "--index", index)
    assert code == 0 and "[/bold] [red]idx[/]" in out
    code, _, err = cli(capsys, "stats", "--index", tmp_path / "[/bold]missing")
    assert code == 1
    assert_one_line(err, "[/bold]missing")


def test_jsonl_batch_answers_every_line(
    news_index: tuple[Path, Path],
    hash_embedder: object,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    questions: list[object] = [GOOD, BAD_UTF8, "?!", "", "what is it?", "Who won?", "x" * 600, 42, GOOD + "\x1b[0m"]
    records = [json.dumps({"id": f"q{n}", "question": q}) for n, q in enumerate(questions, start=1)]
    stdin = "\n".join([*records, "{not json", '["a list"]', json.dumps({"id": "last", "question": GOOD})]) + "\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code, out, err = cli(capsys, "ask", "--jsonl", "--index", news_index[1])
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["id"] for a in answers] == [*(f"q{n}" for n in range(1, 10)), 10, 11, "last"]
    answered = [a["id"] for a in answers if "answer" in a]
    assert answered == ["q1", "q2", "q9", "last"]
    assert answers[1]["question"] == "why \ufffd\ufffd evacuated?"
    assert code == 1 and "Traceback" not in err
    assert len(lines(err)) == 8 and all(line.startswith("newsdesk: line ") for line in lines(err))


def test_jsonl_with_bytes_that_are_not_utf8(news_index: tuple[Path, Path], tmp_path: Path) -> None:
    stdin = b'{"id": 1, "question": "why \xff\xfe was the home sold?"}\n'
    stdin += json.dumps({"id": 2, "question": GOOD}).encode()
    result = run_cli("ask", "--jsonl", "--index", news_index[1], cwd=tmp_path, stdin=stdin + b"\n")
    answers = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [a["id"] for a in answers] == [1, 2] and all("answer" in a for a in answers), result.stderr
    assert answers[0]["question"] == "why \ufffd\ufffd was the home sold?"
    assert result.returncode == 0, result.stderr


def test_chat_goes_on_after_bad_questions(news_index: tuple[Path, Path], tmp_path: Path) -> None:
    stdin = "\n".join(["?!", "what is it?", "x" * 600, "why \x1b[31mwas\x1b[0m it sold?", GOOD]).encode() + b"\n"
    stdin += b"why \xff\xfe was Cobain's home sold?\n" + GOOD.encode() + b"\n"
    result = run_cli("chat", "--index", news_index[1], cwd=tmp_path, stdin=stdin, env={"HOME": str(tmp_path)})
    err, out = result.stderr.decode(), result.stdout.decode()
    assert result.returncode == 0, err
    assert "Traceback" not in err and "\x1b" not in out + err
    assert err.count("nothing to search for") == 2 and err.count("limit is 500") == 1
    assert out.count("newsdesk> ") == 8  # every line was read: the session went on to the end
    assert out.count("Sources") >= 2  # GOOD, asked twice, answered twice


@pytest.mark.model
def test_bad_utf8_question_on_the_real_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The ONNX tokenizer refused lone surrogates with a TypeError: a traceback, a lost batch, an ended chat."""
    seeds = write_news(tmp_path / "seeds", 8)  # among them: "Swiss bank UBS plans massive layoffs of 10,000"
    index = tmp_path / "index"
    bad, good = "How many jobs will UBS \udcff\udcfe cut?", "How many jobs will UBS cut?"
    code, out, err = cli(capsys, "ask", bad, "--index", index, "--seeds", seeds)
    assert code == 0 and "10,000" in out, err
    stdin = "\n".join(json.dumps({"id": n, "question": q}) for n, q in enumerate([good, bad] * 8)) + "\n"
    result = run_cli("ask", "--jsonl", "--index", index, cwd=tmp_path, stdin=stdin.encode(), hash_embedder=False)
    answers = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(answers) == 16 and not any("error" in a or a["abstained"] for a in answers), result.stderr[-2000:]
    assert all("10,000" in json.dumps(a["citations"]) for a in answers)  # each from the UBS story
    assert result.returncode == 0
    chat = run_cli(
        "chat",
        "--index",
        index,
        cwd=tmp_path,
        stdin=b"How many jobs will UBS \xff\xfe cut?\n" + good.encode() + b"\n",
        hash_embedder=False,
        env={"HOME": str(tmp_path)},
    )
    assert chat.returncode == 0 and b"Traceback" not in chat.stderr
    assert chat.stdout.count(b"10,000") >= 2
