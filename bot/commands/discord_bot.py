"""newsdesk bot: the Discord bot"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from bot.context import CommandError

if TYPE_CHECKING:
    from bot.context import CommandContext

log = logging.getLogger(__name__)


def cmd_bot(ctx: CommandContext) -> int:
    """newsdesk bot: load the model and index once, then answer on Discord until interrupted."""
    token = ctx.settings.discord.token
    if token is None or not token.get_secret_value().strip():
        raise CommandError("no Discord token: set NEWSDESK_DISCORD_TOKEN in the environment or .env (see .env.example)")
    from bot.discord_bot.client import run_bot

    if not ctx.args.verbose:  # a service logs what it loaded and when it is ready
        for handler in logging.getLogger().handlers:
            handler.setLevel(min(handler.level, logging.INFO))
        logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    engine = ctx.ready_engine()
    try:
        run_bot(engine, ctx.settings, token.get_secret_value().strip(), seeds_dir=ctx.seeds_dir)
    except KeyboardInterrupt:
        log.info("stopped")
    return 0


def register(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``newsdesk bot``."""
    p = sub.add_parser("bot", parents=[parents["common"]], help="run the Discord bot (NEWSDESK_DISCORD_TOKEN)")
    p.set_defaults(handler=cmd_bot)
