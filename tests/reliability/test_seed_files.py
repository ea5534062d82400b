"""Bad seed files: each is skipped (or read with a warning) with one line naming it, every build alike."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.reliability.conftest import cli, lines, run_cli, write_news

FLOOD = "Flooding forced 3,000 residents of Riverton to evacuate on Monday, officials said. The river rose two metres."
BAD_FILES = {
    # name: what the warning about it says
    "binary.txt": "binary file",
    "empty.txt": "empty file",
    "blank.md": "empty file",
    "latin1.txt": "not UTF-8 text",
    "photo.png": "unsupported file type '.png'",
    "notes.docx": "unsupported file type '.docx'",
    "bodiless.html": "no article text found",
    "front.md": "bad front matter",
    "mixed.jsonl:1": "not valid JSON",
    "mixed.jsonl:2": "not a JSON object",
    "mixed.jsonl:3": "no text",
    "dangling.txt": "a broken symlink",
    "loop-a.txt": "a symlink loop",
    "loop-b.txt": "a symlink loop",
    "sub/up/": "a symlink loop",
    "pipe.txt": "not a regular file (a FIFO)",
}
WARNED = {
    "baddate.txt": "bad date header: '2022-13-45' is not a date; the article is left undated",
    "mixed.jsonl:4": "bad date: 12 is not a date; the article is left undated",
    "mixed.jsonl:5": "bad date: 'June' is not a whole date (year, month and day)",
}


def write_bad_files(seeds: Path) -> Path:
    """Every kind of bad file the careful user found, plus a few readable oddities (UTF-16, UTF-32)."""
    bad = seeds / "bad"
    bad.mkdir(parents=True)
    (bad / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 40)
    (bad / "empty.txt").write_bytes(b"")
    (bad / "blank.md").write_text("  \n\n\t\n")
    (bad / "latin1.txt").write_bytes("date 2023-01-05\nCafé owners protest.".encode("latin-1"))
    (bad / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (bad / "notes.docx").write_bytes(b"PK\x03\x04")
    (bad / "bodiless.html").write_text("<html><head><title>Nothing</title></head><body></body></html>")
    (bad / "front.md").write_text("---\ntitle: [unclosed\n---\nRain fell in Spain on Monday.")
    (bad / "baddate.txt").write_text(
        "date 2022-13-45\nMinisters met in Brussels on Thursday to discuss energy prices without agreement."
    )
    (bad / "utf16.txt").write_bytes(f"date 2023-02-01\n{FLOOD}".encode("utf-16"))
    (bad / "utf32.md").write_bytes("# Snow in Lisbon\n\nSnow fell in Lisbon on Sunday.".encode("utf-32"))
    (bad / "mixed.jsonl").write_text(
        "\n".join(
            [
                "{not json",
                '["a", "list"]',
                json.dumps({"id": "no-text", "title": "Nothing"}),
                json.dumps({"id": "int-date", "date": 12, "text": "The grain deal was extended for 120 days."}),
                json.dumps({"id": "month", "date": "June", "text": "Wheat prices fell by a tenth in June."}),
            ]
        )
        + "\n"
    )
    os.symlink("does-not-exist.txt", bad / "dangling.txt")
    os.symlink("loop-b.txt", bad / "loop-a.txt")
    os.symlink("loop-a.txt", bad / "loop-b.txt")
    (bad / "sub").mkdir()
    os.symlink("..", bad / "sub" / "up")
    os.mkfifo(bad / "pipe.txt")
    return bad


@pytest.fixture
def bad_seeds(tmp_path: Path) -> Path:
    """The real articles plus every bad file."""
    seeds = write_news(tmp_path / "seeds")
    write_bad_files(seeds)
    return seeds


def warnings_of(err: bytes | str) -> list[str]:
    """The WARNING lines of a build."""
    return [line for line in lines(err) if line.startswith("WARNING: ")]


def test_every_bad_file_gets_one_warning_and_every_build_says_the_same(bad_seeds: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    first = run_cli("index", "--index", index, "--seeds", bad_seeds, cwd=tmp_path, timeout=300)  # a FIFO never blocks
    assert first.returncode == 0, first.stderr.decode()
    said = warnings_of(first.stderr)
    for name, reason in {**BAD_FILES, **WARNED}.items():
        matching = [w for w in said if f" bad/{name}: " in w or w.startswith(f"WARNING: bad/{name}: ")]
        assert len(matching) == 1, (name, said)
        assert reason in matching[0], (reason, matching[0])
    assert len(said) == len(BAD_FILES) + len(WARNED), said  # nothing else: no "discarding data: None"
    summary = lines(first.stderr)[-1]
    assert f"skipped {len(BAD_FILES)} files, {len(WARNED)} read with a warning" in summary

    again = run_cli("index", "--index", index, "--seeds", bad_seeds, cwd=tmp_path)  # from the seed cache
    assert again.returncode == 0 and "0 new, 0 changed" in again.stderr.decode()
    assert warnings_of(again.stderr) == said


def test_dates_are_never_invented_and_boms_are_honoured(
    bad_seeds: Path, tmp_path: Path, hash_embedder: object, capsys: pytest.CaptureFixture[str]
) -> None:
    index = tmp_path / "index"
    assert cli(capsys, "index", "--index", index, "--seeds", bad_seeds)[0] == 0
    code, out, _ = cli(capsys, "search", "grain deal extended", "--json", "--k", "1", "--index", index)
    assert code == 0 and json.loads(out)[0]["article_id"] == "int-date"
    assert json.loads(out)[0]["date"] is None  # dateutil would have made 12 the 12th of this month
    code, out, _ = cli(capsys, "search", "wheat prices June", "--json", "--k", "1", "--index", index)
    assert json.loads(out)[0]["article_id"] == "month" and json.loads(out)[0]["date"] is None
    code, out, _ = cli(capsys, "search", "ministers Brussels energy prices", "--json", "--k", "1", "--index", index)
    assert json.loads(out)[0]["article_id"] == "bad/baddate.txt" and json.loads(out)[0]["date"] is None
    code, out, _ = cli(capsys, "search", "Riverton flooding evacuate", "--json", "--k", "1", "--index", index)
    assert json.loads(out)[0]["article_id"] == "bad/utf16.txt" and json.loads(out)[0]["date"] == "2023-02-01"
    code, out, _ = cli(capsys, "search", "snow Lisbon", "--json", "--k", "1", "--index", index)
    assert json.loads(out)[0]["article_id"] == "bad/utf32.md"
    code, out, _ = cli(capsys, "stats", "--json", "--index", index)
    stats = json.loads(out)
    assert stats["last_date"] < "2024-01-01" and stats["articles"] == 36 + 5  # the real ones, five readable odd ones


def test_a_fifo_given_as_the_seeds_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jsonl")
    result = run_cli("index", "--index", tmp_path / "i", "--seeds", tmp_path / "pipe.jsonl", cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    expected = f"newsdesk: the seeds path {tmp_path / 'pipe.jsonl'} is not a directory or a regular file"
    assert lines(result.stderr) == [expected]


def test_a_lone_surrogate_in_a_jsonl_article_is_indexed(
    tmp_path: Path, hash_embedder: object, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds = write_news(tmp_path / "seeds", 4)
    odd = '{"id": "odd", "title": "Odd \\ud800 title", "text": "Kestrels \\udcff nested."}\n'  # JSON allows them
    (seeds / "odd.jsonl").write_text(odd)
    code, out, err = cli(capsys, "index", "--index", tmp_path / "index", "--seeds", seeds)
    assert code == 0, err
    code, out, _ = cli(capsys, "search", "kestrels", "--json", "--k", "1", "--index", tmp_path / "index")
    hit = json.loads(out)[0]
    assert hit["title"] == "Odd \ufffd title" and hit["text"] == "Kestrels \ufffd nested."


def test_an_unknown_time_zone_is_read_quietly_and_shown_only_at_vv(tmp_path: Path) -> None:
    """dateutil warns of a zone it does not know ("EDT"); the date is read all the same, and the
    warning (UnknownTimezoneWarning) is library noise: shown with -vv only."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    front = "---\ntitle: Flood\ndate: March 3, 2024 10:00 EDT\n---\n\n"
    (seeds / "edt.md").write_text(front + FLOOD + "\n", encoding="utf-8")
    quiet = run_cli("index", "--seeds", seeds, "--index", tmp_path / "i1", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert b"tzname EDT" not in quiet.stderr and b"left undated" not in quiet.stderr
    loud = run_cli("index", "-vv", "--seeds", seeds, "--index", tmp_path / "i2", cwd=tmp_path)
    assert loud.returncode == 0, loud.stderr
    assert b"UnknownTimezoneWarning: tzname EDT identified but not understood" in loud.stderr
