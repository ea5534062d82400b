"""newsdesk feeds add|list|remove|import|export, newsdesk update, newsdesk watch: follow news feeds"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.context import CommandError, print_json
from bot.render import feed_line, feed_status, feed_to_dict, plural, seeds_line, summary_line, when

if TYPE_CHECKING:
    from bot.context import CommandContext
    from retrieval.feeds.updater import FeedUpdater
    from retrieval.feeds.watcher import WatchEvent


def _updater(ctx: CommandContext, *, engine: bool = False) -> FeedUpdater:
    from retrieval.feeds.state import FeedStore, old_state_note, state_path
    from retrieval.feeds.updater import FeedUpdater

    path = state_path(ctx.index_dir, ctx.settings.following.feeds_db)
    if note := old_state_note(path):
        ctx.note(note)
    try:
        store = FeedStore(path)
    except Exception as exc:  # sqlite3 errors: not a database, unwritable directory
        raise CommandError(f"cannot open the feed state {path}: {exc}") from exc
    return FeedUpdater(store, ctx.seeds_dir, ctx.settings.feeds, engine=ctx.engine if engine else None)


def cmd_feeds_add(ctx: CommandContext) -> int:
    """newsdesk feeds add URL [--name NAME]"""
    updater = _updater(ctx)
    try:
        feed = updater.add(ctx.args.url, ctx.args.name)
    finally:
        updater.close()
    ctx.note(f"Following {feed.name!r}: {feed.url}")
    if feed.url.rstrip("/") != ctx.args.url.strip().rstrip("/"):
        ctx.note(f"({ctx.args.url} announced this feed.)")
    ctx.note("Run `newsdesk update` to fetch it now.")
    return 0


def cmd_feeds_list(ctx: CommandContext) -> int:
    """newsdesk feeds list [--json]"""
    updater = _updater(ctx)
    feeds = updater.store.feeds()
    updater.close()
    if ctx.args.json:
        print_json(ctx, [feed_to_dict(f) for f in feeds])
        return 0
    if not feeds:
        ctx.err.print("No feeds yet: add one with `newsdesk feeds add URL`.")
        return 0
    for feed in feeds:
        ctx.out.print(f"{feed.name}  {feed.url}")
        ctx.out.print(
            f"  last fetched {when(feed.last_polled)} · {feed_status(feed)} · {plural(feed.articles, 'article')}"
            f" · next poll {when(feed.next_poll)}"
        )
    return 0


def cmd_feeds_remove(ctx: CommandContext) -> int:
    """newsdesk feeds remove URL|NAME [--purge]"""
    updater = _updater(ctx)
    feed, deleted = updater.remove(ctx.args.feed, purge=ctx.args.purge)
    updater.close()
    note = f"; deleted {deleted} of its articles (run `newsdesk index` to drop them)" if ctx.args.purge else ""
    ctx.note(f"No longer following {feed.name!r} ({feed.url}){note}.")
    return 0


def cmd_feeds_import(ctx: CommandContext) -> int:
    """newsdesk feeds import FILE.opml"""
    from retrieval.errors import FeedError
    from retrieval.feeds.opml import read_opml

    subscriptions = read_opml(ctx.args.file)
    updater = _updater(ctx)
    added = skipped = 0
    known = {f.url for f in updater.store.feeds()}
    for sub in subscriptions:
        if sub.url in known:
            skipped += 1
            continue
        try:
            updater.add_unchecked(sub.url, sub.title or sub.url)
            added += 1
        except FeedError as exc:
            ctx.note(f"skipped {sub.url}: {exc}")
            skipped += 1
    updater.close()
    ctx.note(
        f"Imported {added} feed{'s' if added != 1 else ''} from {ctx.args.file} ({skipped} skipped); "
        "`newsdesk update` fetches them."
    )
    return 0


def cmd_feeds_export(ctx: CommandContext) -> int:
    """newsdesk feeds export [--out FILE]"""
    from retrieval.feeds.opml import write_opml

    updater = _updater(ctx)
    feeds = updater.store.feeds()
    updater.close()
    document = write_opml(feeds)
    if ctx.args.out is None:
        sys.stdout.write(document)
    else:
        try:
            ctx.args.out.write_text(document, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {ctx.args.out}: {exc.strerror or exc}") from exc
        ctx.note(f"Exported {len(feeds)} feed{'s' if len(feeds) != 1 else ''} to {ctx.args.out}.")
    return 0


def cmd_update(ctx: CommandContext) -> int:
    """newsdesk update [--due] [--no-index]"""
    updater = _updater(ctx, engine=not ctx.args.no_index)
    if not updater.store.feeds():
        ctx.err.print("No feeds yet: add one with `newsdesk feeds add URL`.")
        return 0
    try:
        report = updater.update(
            due_only=ctx.args.due,
            index=not ctx.args.no_index,
            on_feed=lambda r: ctx.out.print(feed_line(r)),
        )
    finally:
        updater.close()
    ctx.out.print(summary_line(report))
    return 1 if report.index_error else 0


def cmd_watch(ctx: CommandContext) -> int:
    """newsdesk watch [--no-feeds]: poll feeds when due and index seed files as they change, until Ctrl-C."""
    from retrieval.feeds.watcher import Watcher

    updater = None if ctx.args.no_feeds else _updater(ctx, engine=True)
    engine = ctx.engine

    def report(event: WatchEvent) -> None:
        if event.kind == "update" and event.update is not None:
            for feed in event.update.feeds:
                if feed.status != "unchanged":
                    ctx.out.print(feed_line(feed))
            ctx.out.print(summary_line(event.update))
        elif event.kind == "build" and event.build is not None:
            ctx.out.print(seeds_line(event.build))
        elif event.kind == "error":
            ctx.fail(event.message)

    if not ctx.seeds_dir.exists():
        ctx.seeds_dir.mkdir(parents=True)
    watcher = Watcher(
        engine,
        ctx.seeds_dir,
        updater,
        on_event=report,
        force_polling=ctx.settings.following.watch_polling,
        poll_seconds=ctx.settings.following.watch_poll_seconds,
    )
    try:
        what = "the feeds and " if updater is not None else ""
        ctx.note(f"Watching {what}{ctx.seeds_dir} (index {ctx.index_dir}); Ctrl-C stops.")
        thread = watcher.start()
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        ctx.err.print("Stopping (finishing the requests in flight)…", soft_wrap=True)
        watcher.stop()
    finally:
        if updater is not None:
            updater.close()
    ctx.err.print("Stopped; the index is as the last update left it.", soft_wrap=True)
    return 0


def register(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``newsdesk feeds …``, ``newsdesk update`` and ``newsdesk watch``."""
    common = parents["common"]
    p = sub.add_parser("feeds", help="follow news feeds (RSS, Atom, JSON Feed)")
    feeds = p.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    a = feeds.add_parser("add", parents=[common], help="follow a feed (or the feed a web page announces)")
    a.add_argument("url", metavar="URL")
    a.add_argument("--name", help="what to call it (default: the feed's title)")
    a.set_defaults(handler=cmd_feeds_add)
    a = feeds.add_parser("list", parents=[common], help="the feeds followed and how they are doing")
    a.add_argument("--json", action="store_true", help="print them as JSON")
    a.set_defaults(handler=cmd_feeds_list)
    a = feeds.add_parser("remove", parents=[common], help="stop following a feed")
    a.add_argument("feed", metavar="URL|NAME")
    a.add_argument("--purge", action="store_true", help="also delete the articles it brought")
    a.set_defaults(handler=cmd_feeds_remove)
    a = feeds.add_parser("import", parents=[common], help="follow every feed of an OPML file")
    a.add_argument("file", type=Path, metavar="FILE.opml")
    a.set_defaults(handler=cmd_feeds_import)
    a = feeds.add_parser("export", parents=[common], help="write the feeds as OPML")
    a.add_argument("--out", type=Path, metavar="FILE", help="output file (default: standard output)")
    a.set_defaults(handler=cmd_feeds_export)

    p = sub.add_parser("update", parents=[common], help="poll every feed once, store and index what is new")
    p.add_argument("--due", action="store_true", help="only the feeds due for a poll (for cron)")
    p.add_argument("--no-index", action="store_true", help="store the articles but do not index them")
    p.set_defaults(handler=cmd_update)
    p = sub.add_parser("watch", parents=[common], help="keep polling feeds and indexing changed seed files")
    p.add_argument("--no-feeds", action="store_true", help="only watch the seeds directory")
    p.set_defaults(handler=cmd_watch)
