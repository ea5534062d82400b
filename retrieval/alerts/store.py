"""The followed topics in SQLite beside the index: follows, the articles already seen, the cards posted.

Like the feed state (``retrieval.feeds.state``): WAL, synchronous=FULL, one transaction per change, safe
from many threads.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import TopicError, UnknownTopicError
from retrieval.ingest.textclean import has_letters_or_digits, scrub
from retrieval.sqlite import SqliteStore
from retrieval.text import tokenize

SCHEMA = """
CREATE TABLE IF NOT EXISTS follows (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    topic_key TEXT NOT NULL,
    channel_id INTEGER NOT NULL,
    guild_id INTEGER NOT NULL DEFAULT 0,
    added_by TEXT NOT NULL DEFAULT '',
    added TEXT NOT NULL,
    UNIQUE (channel_id, topic_key)
);
CREATE TABLE IF NOT EXISTS seen (
    article_id TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS posts (
    id INTEGER PRIMARY KEY,
    follow_id INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    posted_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS posts_follow ON posts (follow_id, posted_at);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

MAX_TOPIC_CHARS = 100
"""The longest topic accepted (a topic is a few words: "grain exports", "Turkey and NATO")."""
_BASELINE = "baseline"


def alerts_db(index_dir: Path) -> Path:
    """Where the follows of the index in ``index_dir`` are kept: ``<index_dir>.alerts.sqlite3`` beside it."""
    index_dir = Path(index_dir)
    return index_dir.with_name(f"{index_dir.name}.alerts.sqlite3")


def topic_key(topic: str) -> str:
    """A topic as an identity: case and spacing ignored."""
    return " ".join(topic.lower().split())


def clean_topic(topic: str) -> str:
    """The topic cleaned (control characters dropped, whitespace collapsed); TopicError if it is empty, too
    long, or holds nothing to match."""
    cleaned = " ".join(scrub(str(topic), keep="").split())
    if not cleaned:
        raise TopicError('the topic is empty: name what to follow, e.g. "grain exports from Ukraine"')
    if len(cleaned) > MAX_TOPIC_CHARS:
        raise TopicError(f"the topic is {len(cleaned)} characters long; the limit is {MAX_TOPIC_CHARS}")
    if not has_letters_or_digits(cleaned) or not tokenize([cleaned])[0]:
        raise TopicError(
            f"the topic “{cleaned}” has nothing to match (only common words, punctuation or symbols): "
            'name a person, place or event, e.g. "grain exports from Ukraine"'
        )
    return cleaned


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Follow:
    """A topic followed in a channel."""

    id: int
    topic: str
    channel_id: int
    guild_id: int = 0
    """The server of the channel (0 when added from the command line, which knows only the channel)."""
    added_by: str = ""
    added: dt.datetime | None = None


class TopicStore(SqliteStore):
    """The follows database: safe from many threads; every change is one atomic, durable transaction."""

    def __init__(self, path: Path) -> None:
        try:
            super().__init__(path, SCHEMA)
        except (sqlite3.Error, OSError) as exc:  # not a database, an unwritable directory
            raise TopicError(f"cannot open the followed topics {path}: {exc}") from exc

    # -- follows ---------------------------------------------------------------------------

    def add(self, topic: str, channel_id: int, *, guild_id: int = 0, added_by: str = "") -> Follow:
        """Follow ``topic`` in a channel; TopicError if the channel already follows it."""
        topic = clean_topic(topic)
        if channel_id <= 0:
            raise TopicError(f"not a channel id: {channel_id}")
        key = topic_key(topic)
        for existing in self.follows():
            if existing.channel_id == channel_id and topic_key(existing.topic) == key:
                raise TopicError(f"this channel already follows “{existing.topic}”")
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO follows (topic, topic_key, channel_id, guild_id, added_by, added) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (topic, key, channel_id, guild_id, added_by, _now().isoformat(timespec="seconds")),
            )
        return self.follow(int(cursor.lastrowid or 0))

    def follows(self, *, guild_id: int | None = None) -> list[Follow]:
        """Every follow (or those of a server, plus those added from the command line), oldest first."""
        sql: str = "SELECT * FROM follows"
        args: tuple[object, ...] = ()
        if guild_id is not None:
            sql, args = sql + " WHERE guild_id IN (?, 0)", (guild_id,)
        return [self._follow(row) for row in self._query(sql + " ORDER BY id", args)]

    def follow(self, follow_id: int) -> Follow:
        """The follow with this id; UnknownTopicError if there is none."""
        rows = self._query("SELECT * FROM follows WHERE id = ?", (follow_id,))
        if not rows:
            raise UnknownTopicError(f"no followed topic has id {follow_id}")
        return self._follow(rows[0])

    def find(self, topic_or_id: str, follows: Sequence[Follow]) -> Follow:
        """The one of ``follows`` named by ``topic_or_id`` (its topic, any case, or its id)."""
        wanted = topic_or_id.strip()
        by_id = [f for f in follows if wanted.isdigit() and f.id == int(wanted)]
        by_topic = [f for f in follows if topic_key(f.topic) == topic_key(wanted)]
        found = by_id or by_topic
        if not found:
            raise UnknownTopicError(f"not following “{wanted}”")
        if len(found) > 1:
            ids = ", ".join(f"{f.id} (channel {f.channel_id})" for f in found)
            raise TopicError(f"“{wanted}” is followed in several channels; name one by its id: {ids}")
        return found[0]

    def remove(self, follow_id: int) -> None:
        """Stop following (its posting history goes too)."""
        with self._tx() as db:
            db.execute("DELETE FROM follows WHERE id = ?", (follow_id,))
            db.execute("DELETE FROM posts WHERE follow_id = ?", (follow_id,))

    @staticmethod
    def _follow(row: sqlite3.Row) -> Follow:
        return Follow(
            id=row["id"],
            topic=row["topic"],
            channel_id=row["channel_id"],
            guild_id=row["guild_id"],
            added_by=row["added_by"],
            added=dt.datetime.fromisoformat(row["added"]),
        )

    # -- the articles already seen ---------------------------------------------------------

    @property
    def has_baseline(self) -> bool:
        """True once the articles of the index have been noted as seen (nothing before is alerted)."""
        return bool(self._query("SELECT 1 FROM meta WHERE key = ?", (_BASELINE,)))

    def set_baseline(self, article_ids: Iterable[str]) -> None:
        """Note every article now indexed as seen, once: only articles indexed later are new."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM meta WHERE key = ?", (_BASELINE,)).fetchone():
                return
            db.executemany("INSERT OR IGNORE INTO seen (article_id) VALUES (?)", ((a,) for a in article_ids))
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (_BASELINE, _now().isoformat()))

    def take_new(self, article_ids: Iterable[str]) -> list[str]:
        """The ones of ``article_ids`` not seen before, now noted as seen (one transaction)."""
        ids = list(dict.fromkeys(article_ids))
        with self._tx() as db:
            seen = {row[0] for row in db.execute("SELECT article_id FROM seen")}
            new = [a for a in ids if a not in seen]
            db.executemany("INSERT INTO seen (article_id) VALUES (?)", ((a,) for a in new))
        return new

    # -- cards posted ----------------------------------------------------------------------

    def posted_since(self, follow_id: int, since: dt.datetime) -> int:
        """How many cards were posted for a follow since ``since``."""
        rows = self._query(
            "SELECT COUNT(*) AS n FROM posts WHERE follow_id = ? AND posted_at >= ?",
            (follow_id, since.isoformat()),
        )
        return int(rows[0]["n"])

    def record_posts(self, follow_id: int, article_ids: Sequence[str], when: dt.datetime | None = None) -> None:
        """Note the cards posted for a follow (one per story, named by its leading article)."""
        stamp = (when or _now()).isoformat()
        with self._tx() as db:
            db.executemany(
                "INSERT INTO posts (follow_id, article_id, posted_at) VALUES (?, ?, ?)",
                ((follow_id, a, stamp) for a in article_ids),
            )
