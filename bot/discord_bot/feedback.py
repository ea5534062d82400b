"""Answers given and 👍/👎 votes, kept in a local SQLite file; exported as JSONL."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from bot.discord_bot.embeds import CitedPassage
from retrieval.types import Answer

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asked_at TEXT NOT NULL,
    guild_id INTEGER,
    channel_id INTEGER,
    user_id INTEGER,
    via TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    abstained INTEGER NOT NULL,
    cited TEXT NOT NULL,
    passages TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS votes (
    answer_id INTEGER NOT NULL REFERENCES answers(id),
    user_id INTEGER NOT NULL,
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    voted_at TEXT NOT NULL,
    PRIMARY KEY (answer_id, user_id)
);
"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class FeedbackStore:
    """One SQLite file; every method opens its own connection, so any thread may call it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._ready = False
        self._setting_up = threading.Lock()

    def _set_up(self) -> None:
        """Create the file and its schema once, in one thread: the first answers of a new bot arrive
        together, and switching the file to WAL while another thread writes fails ("database is
        locked") instead of waiting."""
        with self._setting_up:
            if self._ready:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
            finally:
                conn.close()
            self._ready = True

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self._set_up()
        conn = sqlite3.connect(self.path, timeout=10)
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def record_answer(
        self,
        answer: Answer,
        passages: list[CitedPassage],
        *,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int | None,
        via: str,
    ) -> int:
        """Store an answer as given; its id goes into the buttons' custom ids."""
        cited = [
            {
                "number": c.number,
                "article_id": c.article_id,
                "passage_ids": sorted({q.passage_id for q in c.quotes}),
                "title": c.title,
                "url": c.url,
            }
            for c in answer.citations
        ]
        with self._connect() as conn:
            cursor = conn.execute(
                "INSERT INTO answers (asked_at, guild_id, channel_id, user_id, via, question, answer,"
                " abstained, cited, passages) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _now(),
                    guild_id,
                    channel_id,
                    user_id,
                    via,
                    answer.question,
                    answer.text,
                    int(answer.abstained),
                    json.dumps(cited, ensure_ascii=False),
                    json.dumps([asdict(p) for p in passages], ensure_ascii=False),
                ),
            )
            return int(cursor.lastrowid or 0)

    def passages(self, answer_id: int) -> list[CitedPassage] | None:
        """The passages stored with an answer, or None if there is no such answer."""
        with self._connect() as conn:
            row = conn.execute("SELECT passages FROM answers WHERE id = ?", (answer_id,)).fetchone()
        if row is None:
            return None
        return [CitedPassage(**p) for p in json.loads(row[0])]

    def vote(self, answer_id: int, user_id: int, vote: int) -> bool:
        """Record (or change) a user's vote on an answer; False if the answer is unknown."""
        if vote not in (-1, 1):
            raise ValueError("vote must be 1 or -1")
        with self._connect() as conn:
            if conn.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone() is None:
                return False
            conn.execute(
                "INSERT INTO votes (answer_id, user_id, vote, voted_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (answer_id, user_id) DO UPDATE SET vote = excluded.vote,"
                " voted_at = excluded.voted_at",
                (answer_id, user_id, vote, _now()),
            )
        return True

    def export_jsonl(self, out: TextIO) -> int:
        """Write one JSON line per vote (with its question, answer and cited ids); return the count."""
        if not self.path.exists():
            return 0
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT v.answer_id, v.user_id, v.vote, v.voted_at, a.asked_at, a.guild_id, a.channel_id,"
                " a.via, a.question, a.answer, a.abstained, a.cited"
                " FROM votes v JOIN answers a ON a.id = v.answer_id ORDER BY v.voted_at, v.answer_id"
            ).fetchall()
        for (
            answer_id,
            user_id,
            vote,
            voted_at,
            asked_at,
            guild_id,
            channel_id,
            via,
            question,
            text,
            abstained,
            cited,
        ) in rows:
            record = {
                "answer_id": answer_id,
                "vote": "up" if vote > 0 else "down",
                "user_id": user_id,
                "voted_at": voted_at,
                "asked_at": asked_at,
                "guild_id": guild_id,
                "channel_id": channel_id,
                "via": via,
                "question": question,
                "answer": text,
                "abstained": bool(abstained),
                "cited": json.loads(cited),
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return len(rows)
