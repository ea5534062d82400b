"""newsdesk's Discord front: a thin discord.py client over the engine (named so it never shadows
the ``discord`` package)."""

from bot.discord_bot.client import NewsdeskBot, create_bot, run_bot

__all__ = ["NewsdeskBot", "create_bot", "run_bot"]
