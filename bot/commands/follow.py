"""newsdesk follow add|list|remove: the topics whose new stories the Discord bot posts (docs/alerts.md)"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot.context import print_json

if TYPE_CHECKING:
    from bot.context import CommandContext
    from retrieval.alerts.store import Follow, TopicStore


def _store(ctx: CommandContext) -> TopicStore:
    from retrieval.alerts.store import TopicStore, alerts_db

    return TopicStore(alerts_db(ctx.index_dir))


def follow_to_dict(follow: Follow) -> dict[str, object]:
    """A follow as JSON."""
    return {
        "id": follow.id,
        "topic": follow.topic,
        "channel_id": follow.channel_id,
        "guild_id": follow.guild_id or None,
        "added_by": follow.added_by,
        "added": follow.added.isoformat() if follow.added else None,
    }


def cmd_follow_add(ctx: CommandContext) -> int:
    """newsdesk follow add TOPIC --channel ID"""
    store = _store(ctx)
    try:
        follow = store.add(ctx.args.topic, ctx.args.channel, added_by="cli")
        engine = ctx.engine
        if engine.missing_index() is None and not store.has_baseline:
            store.set_baseline(engine.article_ids())  # only stories indexed from now on are posted
    finally:
        store.close()
    ctx.note(
        f"Following “{follow.topic}” in channel {follow.channel_id} (id {follow.id}). The Discord bot posts each new "
        f"story on it there as it is indexed, at most {ctx.settings.discord.alerts_per_hour} an hour. "
        f'To see what it would match now: newsdesk brief "{follow.topic}" --since 7d'
    )
    return 0


def cmd_follow_list(ctx: CommandContext) -> int:
    """newsdesk follow list [--json]"""
    store = _store(ctx)
    try:
        follows = store.follows()
    finally:
        store.close()
    if ctx.args.json:
        print_json(ctx, [follow_to_dict(f) for f in follows])
        return 0
    if not follows:
        ctx.err.print('No topic is followed: add one with `newsdesk follow add "TOPIC" --channel ID`.')
        return 0
    for f in follows:
        ctx.out.print(f"{f.id}  “{f.topic}”  channel {f.channel_id}  added {f.added:%Y-%m-%d} by {f.added_by or '?'}")
    return 0


def cmd_follow_remove(ctx: CommandContext) -> int:
    """newsdesk follow remove TOPIC|ID"""
    store = _store(ctx)
    try:
        follow = store.find(ctx.args.topic, store.follows())
        store.remove(follow.id)
    finally:
        store.close()
    ctx.note(f"No longer following “{follow.topic}” in channel {follow.channel_id}.")
    return 0


def _channel(value: str) -> int:
    try:
        number = int(value.strip().removeprefix("<#").removesuffix(">"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a channel id: in Discord, right-click the channel → Copy Channel ID "
            "(turn on Developer Mode in Settings → Advanced)"
        ) from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"'{value}' is not a channel id")
    return number


def register(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``newsdesk follow add|list|remove``."""
    common = parents["common"]
    p = sub.add_parser(
        "follow",
        help="topics whose new stories the Discord bot posts (one card per story)",
        description="Topics whose new stories the Discord bot posts in a channel: one card per story, as the "
        "index grows (feeds, watch, /reindex). In Discord: /follow, /following, /unfollow.",
    )
    follow = p.add_subparsers(dest="follow_command", required=True, metavar="ACTION")
    a = follow.add_parser("add", parents=[common], help="follow a topic in a Discord channel")
    a.add_argument("topic", metavar="TOPIC", help='a few words, e.g. "grain exports from Ukraine"')
    a.add_argument("--channel", type=_channel, required=True, metavar="ID", help="the Discord channel's id")
    a.set_defaults(handler=cmd_follow_add)
    a = follow.add_parser("list", parents=[common], help="the topics followed")
    a.add_argument("--json", action="store_true", help="print them as JSON")
    a.set_defaults(handler=cmd_follow_list)
    a = follow.add_parser("remove", parents=[common], help="stop following a topic")
    a.add_argument("topic", metavar="TOPIC|ID")
    a.set_defaults(handler=cmd_follow_remove)
