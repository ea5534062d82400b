"""One huge file no longer keeps `index` busy for an hour: articles are cut to a limit, with a warning,
and the progress names the file being read."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from rich.progress import Progress

from retrieval.ingest.files import load_articles
from tests.reliability.conftest import cli, lines, news_text, run_cli, write_news

LIMIT = 200_000
"""The default NEWSDESK_MAX_ARTICLE_CHARS."""


def test_a_50_mb_text_and_a_10_mb_jsonl_text_are_cut_with_a_warning(tmp_path: Path) -> None:
    seeds = write_news(tmp_path / "seeds", 12)
    body = news_text(50_000_000)
    (seeds / "dump.txt").write_text("date 2023-03-01\nA very long page\n\n" + body[:50_000_000], encoding="utf-8")
    record = {"id": "huge", "title": "Huge record", "date": "2023-03-02", "text": body[-10_000_000:]}
    (seeds / "huge.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    # Before the limit this build ran for the better part of an hour (2.5 GB at 120 s) with no word.
    result = run_cli("index", "--index", tmp_path / "index", "--seeds", seeds, cwd=tmp_path, timeout=300)
    err = result.stderr.decode()
    assert result.returncode == 0, err
    said = [line for line in lines(err) if line.startswith("WARNING: ")]
    assert len(said) == 2, said
    assert said[0].startswith(f"WARNING: dump.txt: longer than the article limit of {LIMIT:,} characters")
    assert said[1].startswith(f"WARNING: huge.jsonl:1: longer than the article limit of {LIMIT:,} characters")
    assert all("NEWSDESK_MAX_ARTICLE_CHARS" in line for line in said)
    assert "2 read with a warning" in lines(err)[-1]
    search = run_cli("search", "news", "--json", "--k", "50", "--index", tmp_path / "index", cwd=tmp_path)
    assert max(hit["end"] for hit in json.loads(search.stdout)) <= LIMIT


def test_the_limit_is_a_setting(
    tmp_path: Path,
    hash_embedder: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    seeds = write_news(tmp_path / "seeds", 3)
    monkeypatch.setenv("NEWSDESK_MAX_ARTICLE_CHARS", "2000")
    code, _, err = cli(capsys, "index", "--index", tmp_path / "index", "--seeds", seeds)
    assert code == 0 and caplog.text.count("longer than the article limit of 2,000 characters") == 3
    assert "3 read with a warning" in err
    caplog.clear()
    code, out, _ = cli(capsys, "search", "news", "--json", "--k", "50", "--index", tmp_path / "index")
    assert code == 0 and max(hit["end"] for hit in json.loads(out)) <= 2000
    monkeypatch.setenv("NEWSDESK_MAX_ARTICLE_CHARS", "200000")  # a new limit: the files are read again, whole
    code, _, err = cli(capsys, "index", "--index", tmp_path / "index", "--seeds", seeds)
    assert code == 0 and "longer than" not in caplog.text and "3 changed" in err


def test_cut_text_ends_on_a_sentence() -> None:
    from retrieval.ingest.article import cut_text

    text = "One sentence here. Another one follows! A third, longer sentence runs past the limit of the cut."
    assert cut_text(text, 1000) == text
    assert cut_text(text, 60) == "One sentence here. Another one follows!"
    assert cut_text("word " * 100, 42) == ("word " * 8).strip()  # no sentence end: on a space


def test_reading_reports_each_file_before_it_is_read(tmp_path: Path) -> None:
    from retrieval.ingest.results import ReadProgress

    seeds = write_news(tmp_path / "seeds", 8)
    events: list[ReadProgress] = []
    result = load_articles(seeds, progress=events.append)
    files = sorted(p.name for p in seeds.iterdir())
    assert [e.path for e in events] == [*files, ""]
    assert [e.done for e in events] == list(range(len(files) + 1)) and {e.total for e in events} == {len(files)}
    assert len(result.articles) == 8


def test_the_progress_names_a_slow_file() -> None:
    from bot.context import _CurrentFile

    progress = Progress()
    task = progress.add_task("reading", total=3, file="seeds/dump.txt", since=time.monotonic() - 12)
    shown = _CurrentFile().render(progress.tasks[task]).plain
    assert shown == "seeds/dump.txt (12s)"
    progress.update(task, file="seeds/quick.txt", since=time.monotonic())
    assert _CurrentFile().render(progress.tasks[task]).plain == ""  # quick files are not named
