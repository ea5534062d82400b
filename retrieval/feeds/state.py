"""The feed state in SQLite: subscriptions, every item seen, robots.txt rules. Each change is one transaction."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import FeedError, UnknownFeedError
from retrieval.feeds.robots import RobotsRules
from retrieval.feeds.types import Feed, ParsedItem
from retrieval.sqlite import SqliteStore

STATE_FILE = "feeds.sqlite3"
"""The feed state's file name: inside the index directory unless configured elsewhere."""


def state_path(index_dir: Path, configured: Path | None = None) -> Path:
    """Where the feed list and fetch state live: ``configured`` if given, else beside the index it feeds."""
    return Path(configured) if configured is not None else Path(index_dir) / STATE_FILE


def old_state_note(path: Path, cwd: Path | None = None) -> str:
    """A one-line note when ``path`` does not exist yet but an older newsdesk left ``./feeds.sqlite3`` (the
    default before the state moved beside the index); "" otherwise. It is not moved: it may feed another index."""
    old = (cwd or Path.cwd()) / STATE_FILE
    if path.exists() or not old.is_file() or old.resolve() == path.resolve():
        return ""
    return (
        f"{old} is the feed state of an older newsdesk (it now lives with the index, at {path}): "
        f"move it there if it belongs to this index, or set NEWSDESK_FEEDS_DB={old} to keep using it"
    )


SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    site TEXT NOT NULL DEFAULT '',
    etag TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT '',
    body_hash TEXT NOT NULL DEFAULT '',
    last_polled TEXT,
    last_status TEXT NOT NULL DEFAULT '',
    failures INTEGER NOT NULL DEFAULT 0,
    next_poll TEXT,
    added TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    feed_id INTEGER,
    guid TEXT NOT NULL DEFAULT '',
    link TEXT NOT NULL DEFAULT '',
    canonical TEXT NOT NULL DEFAULT '',
    article_id TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    item TEXT NOT NULL DEFAULT '{}',
    first_seen TEXT NOT NULL,
    fetched_at TEXT
);
CREATE INDEX IF NOT EXISTS items_guid ON items (feed_id, guid);
CREATE INDEX IF NOT EXISTS items_link ON items (link);
CREATE INDEX IF NOT EXISTS items_canonical ON items (canonical);
CREATE INDEX IF NOT EXISTS items_fingerprint ON items (fingerprint);
CREATE INDEX IF NOT EXISTS items_state ON items (feed_id, state);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS robots (
    origin TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    fetched_at REAL NOT NULL
);
"""

STORED = "stored"
"""The article is under the seeds directory."""
RETRY = "retry"
"""The page failed: the feed's text (if any) is stored meanwhile, and the page is tried again on the next polls."""
DUPLICATE = "duplicate"
"""The same article (canonical URL) was already stored from another item or feed."""
EMPTY = "empty"
"""Neither the feed nor the page had any text."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(when: dt.datetime | None) -> str | None:
    return when.isoformat(timespec="milliseconds") if when is not None else None


def _when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class ItemRecord:
    """An item as the state remembers it."""

    key: str
    feed_id: int | None
    state: str
    link: str
    article_id: str
    path: str
    attempts: int
    item: ParsedItem | None


@dataclass(frozen=True)
class Outlet:
    """One outlet's copy of a story: the article, its source and its URL."""

    article_id: str
    source: str
    url: str


class FeedStore(SqliteStore):
    """The state database (WAL, synchronous=FULL): safe from many threads; every change is atomic and durable."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA)

    # -- feeds -----------------------------------------------------------------------------

    def add_feed(self, url: str, name: str, site: str = "") -> Feed:
        """Subscribe to ``url`` as ``name``; FeedError if either is taken."""
        for existing in self.feeds():
            if existing.url == url:
                raise FeedError(f"already following {url} (as {existing.name!r})")
            if existing.name == name:
                raise FeedError(f"a feed is already named {name!r} ({existing.url}): pick another --name")
        with self._tx() as db:
            db.execute(
                "INSERT INTO feeds (url, name, site, added, next_poll) VALUES (?, ?, ?, ?, ?)",
                (url, name, site, _iso(_now()), _iso(_now())),
            )
        return self.feed(url)

    def feeds(self, *, due_before: dt.datetime | None = None) -> list[Feed]:
        """Every feed (or those due for a poll by ``due_before``), oldest subscription first."""
        sql = (
            "SELECT f.*, (SELECT COUNT(*) FROM items i WHERE i.feed_id = f.id AND i.path != '' "
            "AND i.state IN ('stored', 'retry')) AS articles FROM feeds f"
        )
        args: tuple[object, ...] = ()
        if due_before is not None:
            sql += " WHERE f.next_poll IS NULL OR f.next_poll <= ?"
            args = (_iso(due_before),)
        return [self._feed(row) for row in self._query(sql + " ORDER BY f.id", args)]

    def feed(self, url_or_name: str) -> Feed:
        """The feed with this URL or name; FeedError if there is none."""
        rows = [f for f in self.feeds() if url_or_name in (f.url, f.name)]
        if not rows:
            raise UnknownFeedError(f"not following {url_or_name!r}")
        return rows[0]

    def feed_by_id(self, feed_id: int) -> Feed:
        """The feed with this id."""
        return next(f for f in self.feeds() if f.id == feed_id)

    @staticmethod
    def _feed(row: sqlite3.Row) -> Feed:
        return Feed(
            id=row["id"],
            url=row["url"],
            name=row["name"],
            site=row["site"],
            etag=row["etag"],
            last_modified=row["last_modified"],
            last_polled=_when(row["last_polled"]),
            last_status=row["last_status"],
            failures=row["failures"],
            next_poll=_when(row["next_poll"]),
            articles=row["articles"],
            added=_when(row["added"]),
        )

    def body_hash(self, feed_id: int) -> str:
        """The hash of the feed document last read whole (to skip parsing an unchanged one)."""
        rows = self._query("SELECT body_hash FROM feeds WHERE id = ?", (feed_id,))
        return str(rows[0]["body_hash"]) if rows else ""

    def remove_feed(self, feed_id: int) -> None:
        """Unsubscribe; its items stay known (so re-adding it fetches nothing twice) and its articles stay."""
        with self._tx() as db:
            db.execute("DELETE FROM feeds WHERE id = ?", (feed_id,))
            db.execute("UPDATE items SET feed_id = NULL WHERE feed_id = ?", (feed_id,))

    def polled(
        self,
        feed_id: int,
        *,
        status: str,
        failed: bool,
        next_poll: dt.datetime,
        etag: str | None = None,
        last_modified: str | None = None,
        body_hash: str | None = None,
        site: str | None = None,
        url: str | None = None,
    ) -> None:
        """Record a poll: its status, the validators of the document read (only once its items are handled)."""
        sets = ["last_polled = ?", "last_status = ?", "next_poll = ?"]
        args: list[object] = [_iso(_now()), status, _iso(next_poll)]
        sets.append("failures = failures + 1" if failed else "failures = 0")
        for column, value in (
            ("etag", etag),
            ("last_modified", last_modified),
            ("body_hash", body_hash),
            ("site", site),
            ("url", url),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        with self._tx() as db:
            db.execute(f"UPDATE feeds SET {', '.join(sets)} WHERE id = ?", (*args, feed_id))

    def next_due(self) -> dt.datetime | None:
        """When the next feed is due for a poll (None: no feed)."""
        rows = self._query("SELECT MIN(COALESCE(next_poll, '')) AS due FROM feeds")
        if not rows or rows[0]["due"] is None:
            return None
        return _when(rows[0]["due"]) or _now()

    # -- items -----------------------------------------------------------------------------

    def known(self, key: str, feed_id: int, guid: str, link: str) -> bool:
        """True if this item was handled before: same key, same GUID in this feed, or same link or canonical URL."""
        checks: list[tuple[str, tuple[object, ...]]] = [("SELECT 1 FROM items WHERE key = ? LIMIT 1", (key,))]
        if guid:
            checks.append(("SELECT 1 FROM items WHERE feed_id = ? AND guid = ? LIMIT 1", (feed_id, guid)))
        if link:  # one indexed lookup each (an OR across columns would scan the table)
            checks.append(("SELECT 1 FROM items WHERE link = ? LIMIT 1", (link,)))
            checks.append(("SELECT 1 FROM items WHERE canonical = ? LIMIT 1", (link,)))
        return any(self._query(sql, args) for sql, args in checks)

    def stored_with_canonical(self, canonical: str) -> str | None:
        """The article id already stored for this canonical URL, if any."""
        rows = self._query(
            "SELECT article_id FROM items WHERE canonical = ? AND path != '' AND state IN ('stored', 'retry') LIMIT 1",
            (canonical,),
        )
        return str(rows[0]["article_id"]) if rows else None

    def record(
        self,
        key: str,
        feed_id: int | None,
        item: ParsedItem,
        *,
        state: str,
        link: str,
        canonical: str = "",
        article_id: str = "",
        path: str = "",
        source: str = "",
        fingerprint: str = "",
        reason: str = "",
        attempts: int = 0,
    ) -> None:
        """Remember an item (insert or replace): what became of it and where its article is."""
        now = _iso(_now())
        payload = json.dumps(
            {
                "guid": item.guid,
                "link": item.link,
                "title": item.title,
                "published": _iso(item.published),
                "author": item.author,
                "text": item.text if state == RETRY else "",
                "source": item.source,
            }
        )
        with self._tx() as db:
            db.execute(
                "INSERT INTO items (key, feed_id, guid, link, canonical, article_id, path, source, fingerprint, "
                "state, reason, attempts, item, first_seen, fetched_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET canonical = excluded.canonical, article_id = excluded.article_id, "
                "path = excluded.path, source = excluded.source, fingerprint = excluded.fingerprint, "
                "state = excluded.state, reason = excluded.reason, attempts = excluded.attempts, "
                "item = excluded.item, fetched_at = excluded.fetched_at",
                (
                    key,
                    feed_id,
                    item.guid,
                    link,
                    canonical,
                    article_id,
                    path,
                    source,
                    fingerprint,
                    state,
                    reason,
                    attempts,
                    payload,
                    now,
                    now,
                ),
            )

    def retries(self, feed_id: int) -> list[ItemRecord]:
        """Items of this feed whose page is to be tried again."""
        rows = self._query("SELECT * FROM items WHERE feed_id = ? AND state = ? ORDER BY first_seen", (feed_id, RETRY))
        out = []
        for row in rows:
            raw = json.loads(row["item"] or "{}")
            item = ParsedItem(
                guid=raw.get("guid", ""),
                link=raw.get("link", ""),
                title=raw.get("title", ""),
                published=_when(raw.get("published")),
                author=raw.get("author", ""),
                text=raw.get("text", ""),
                source=raw.get("source", ""),
            )
            out.append(
                ItemRecord(
                    row["key"],
                    row["feed_id"],
                    row["state"],
                    row["link"],
                    row["article_id"],
                    row["path"],
                    row["attempts"],
                    item,
                )  # fmt: skip
            )
        return out

    def items_of(self, feed_id: int) -> list[ItemRecord]:
        """Every item of a feed that has an article on disk."""
        rows = self._query("SELECT * FROM items WHERE feed_id = ? AND path != ''", (feed_id,))
        return [
            ItemRecord(r["key"], r["feed_id"], r["state"], r["link"], r["article_id"], r["path"], r["attempts"], None)
            for r in rows
        ]

    def forget_items(self, feed_id: int) -> None:
        """Forget a feed's items (their articles were deleted)."""
        with self._tx() as db:
            db.execute("DELETE FROM items WHERE feed_id = ?", (feed_id,))

    def outlets(self, fingerprint: str) -> list[Outlet]:
        """Every stored copy of a text (the same wire story carried by several outlets)."""
        rows = self._query(
            "SELECT article_id, source, COALESCE(NULLIF(canonical, ''), link) AS url FROM items "
            "WHERE fingerprint = ? AND path != '' ORDER BY first_seen",
            (fingerprint,),
        )
        return [Outlet(r["article_id"], r["source"], r["url"]) for r in rows]

    def copies(self, article_id: str) -> list[Outlet]:
        """Every stored copy of the text of ``article_id`` (itself included): the outlets of a wire story
        that the index holds once (identical texts are indexed once)."""
        rows = self._query(
            "SELECT fingerprint FROM items WHERE article_id = ? AND fingerprint != '' AND path != '' LIMIT 1",
            (article_id,),
        )
        return self.outlets(rows[0]["fingerprint"]) if rows else []

    def count_items(self) -> dict[str, int]:
        """How many items are in each state."""
        return {r["state"]: r["n"] for r in self._query("SELECT state, COUNT(*) AS n FROM items GROUP BY state")}

    # -- flags -----------------------------------------------------------------------------

    def flag(self, key: str) -> bool:
        """A yes/no the state keeps (``index_pending``: articles stored that no build has indexed yet)."""
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return bool(rows) and rows[0]["value"] == "1"

    def set_flag(self, key: str, value: bool) -> None:
        """Set a yes/no."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, "1" if value else "0"))

    # -- robots.txt ------------------------------------------------------------------------

    def robots(self, origin: str) -> RobotsRules | None:
        """The robots.txt rules kept for ``origin``, if any."""
        rows = self._query("SELECT kind, text, fetched_at FROM robots WHERE origin = ?", (origin,))
        return RobotsRules(rows[0]["kind"], rows[0]["text"], rows[0]["fetched_at"]) if rows else None

    def save_robots(self, origin: str, rules: RobotsRules) -> None:
        """Keep the robots.txt rules of ``origin``."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO robots (origin, kind, text, fetched_at) VALUES (?, ?, ?, ?)",
                (origin, rules.kind, rules.text, rules.fetched_at),
            )
