"""What each server chose for the bot (today: whether messages in a thread the bot answered in are
follow-ups without a mention), in a SQLite file beside the index."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FILE_NAME = "discord-servers.sqlite3"
"""The file's name, in the directory that holds the index directory."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS server_settings (
    guild_id INTEGER PRIMARY KEY,
    thread_followups INTEGER NOT NULL
);
"""


def servers_path(index_dir: Path) -> Path:
    """Where the servers' choices are kept for an index at ``index_dir``: beside it."""
    return Path(index_dir).parent / FILE_NAME


class ServerSettings:
    """One SQLite file; every method opens its own connection, so any thread may call it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        try:
            conn.executescript(_SCHEMA)
            with conn:
                yield conn
        finally:
            conn.close()

    def thread_followups(self, guild_id: int) -> bool:
        """Whether a message in a thread the bot answered in is a follow-up without a mention (default on)."""
        with self._connect() as conn:
            query = "SELECT thread_followups FROM server_settings WHERE guild_id = ?"
            row = conn.execute(query, (guild_id,)).fetchone()
        return True if row is None else bool(row[0])

    def set_thread_followups(self, guild_id: int, on: bool) -> None:
        """Turn thread follow-ups on or off for a server."""
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO server_settings (guild_id, thread_followups) VALUES (?, ?) "
                "ON CONFLICT(guild_id) DO UPDATE SET thread_followups = excluded.thread_followups",
                (guild_id, int(on)),
            )
