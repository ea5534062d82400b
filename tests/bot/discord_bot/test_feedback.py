"""The feedback store and ``newsdesk feedback export``; ``newsdesk bot`` without a token."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.cli import main
from bot.discord_bot.embeds import cited_passages
from bot.discord_bot.feedback import FeedbackStore


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """Run the CLI in tmp_path (no .env) with no NEWSDESK_* variable from the outside."""
    import os

    for name in [n for n in os.environ if n.startswith("NEWSDESK_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSDESK_FEEDBACK_DB", str(tmp_path / "fb.sqlite3"))
    return tmp_path


def test_votes_are_stored_changed_and_exported(engine, tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    answer = engine.ask("Where will ships be inspected?")
    answer_id = store.record_answer(answer, cited_passages(answer), guild_id=1, channel_id=2, user_id=3, via="slash")
    assert store.passages(answer_id)[0].text.startswith("Russia and Ukraine signed a deal")
    assert store.passages(answer_id + 1) is None
    assert store.vote(answer_id, 10, 1) and store.vote(answer_id, 11, 1) and store.vote(answer_id, 11, -1)
    assert not store.vote(answer_id + 1, 10, 1)  # unknown answer
    out = tmp_path / "out.jsonl"
    with out.open("w") as fh:
        assert store.export_jsonl(fh) == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(r["user_id"], r["vote"]) for r in rows} == {(10, "up"), (11, "down")}
    assert rows[0]["cited"] == [
        {
            "number": 1,
            "article_id": answer.citations[0].article_id,
            "passage_ids": [q.passage_id for q in answer.citations[0].quotes],
            "title": "Grain deal reached in Istanbul",
            "url": "https://example.com/grain-deal",
        }
    ]


def test_a_fresh_store_takes_many_answers_at_once(engine, tmp_path):
    """The first answers of a new bot arrive together: every one is stored (the first-use set-up ran
    in each thread at once, and switching a busy file to WAL failed with "database is locked")."""
    answer = engine.ask("Where will ships be inspected?")
    passages = cited_passages(answer)
    for attempt in range(40):
        store = FeedbackStore(tmp_path / f"fb{attempt}.sqlite3")
        start = threading.Barrier(16)

        def record(user: int, store: FeedbackStore = store, start: threading.Barrier = start) -> int:
            start.wait()
            return store.record_answer(answer, passages, guild_id=1, channel_id=2, user_id=user, via="slash")

        with ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(record, range(16)))
        assert sorted(ids) == list(range(1, 17))


def test_feedback_export_command(cli_env, engine, capsys):
    store = FeedbackStore(cli_env / "fb.sqlite3")
    answer = engine.ask("Where will ships be inspected?")
    store.vote(store.record_answer(answer, [], guild_id=None, channel_id=None, user_id=1, via="mention"), 1, 1)

    assert main(["feedback", "export", "--out", "votes.jsonl"]) == 0
    [row] = [json.loads(line) for line in (cli_env / "votes.jsonl").read_text().splitlines()]
    assert row["question"] == "Where will ships be inspected?" and row["vote"] == "up"
    assert "Exported 1 vote from" in capsys.readouterr().err

    assert main(["feedback", "export"]) == 0
    assert json.loads(capsys.readouterr().out)["answer_id"] == row["answer_id"]

    assert main(["feedback", "export", "--out", "missing-dir/votes.jsonl"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("newsdesk: cannot write missing-dir/votes.jsonl") and "\n" not in err


@pytest.mark.parametrize("token", [None, "   "])
def test_bot_without_a_token_is_one_line_and_exit_1(cli_env, monkeypatch, capsys, token):
    if token is not None:
        monkeypatch.setenv("NEWSDESK_DISCORD_TOKEN", token)
    assert main(["bot"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        "newsdesk: no Discord token: set NEWSDESK_DISCORD_TOKEN in the environment or .env (see .env.example)"
    )
