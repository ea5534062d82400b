"""/followups [on|off]: whether messages in a thread the bot answered in are follow-ups without a mention,
for this server (Manage Server only; on by default). An extension: ``setup(bot)`` adds the command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands

from bot.discord_bot.commands import tell

if TYPE_CHECKING:
    from bot.discord_bot.client import NewsdeskBot

Interaction = discord.Interaction[Any]

NOT_ALLOWED_FOLLOWUPS = "Only members with **Manage Server** or **Administrator** can change follow-ups."
NEEDS_INTENT = (
    " The bot runs without the Message Content intent, so Discord only shows it messages that mention it "
    "or reply to it with the @ ping on: in threads, mention it or reply to it (NEWSDESK_DISCORD_MESSAGE_CONTENT)."
)


def state_text(on: bool, message_content: bool) -> str:
    """What /followups says about the server's setting (and whether the bot can act on it)."""
    if not on:
        return "Thread follow-ups are **off**: in a thread, mention the bot or reply to it to ask a follow-up."
    text = "Thread follow-ups are **on**: in a thread where newsdesk answered, any later message is a follow-up."
    return text if message_content else text + NEEDS_INTENT


async def followups_command(bot: NewsdeskBot, interaction: Interaction, threads: str | None) -> None:
    """Show the server's setting, or change it (Manage Server or Administrator only)."""
    guild_id = interaction.guild_id
    if guild_id is None:
        await tell(interaction, "Use this command in a server channel.")
        return
    if threads is not None:
        perms = interaction.permissions
        if not (perms.manage_guild or perms.administrator):
            await tell(interaction, NOT_ALLOWED_FOLLOWUPS)
            return
        await bot.run_io(bot.servers.set_thread_followups, guild_id, threads == "on")
    on = await bot.run_io(bot.servers.thread_followups, guild_id)
    await tell(interaction, state_text(on, bot.settings.discord.message_content))


def setup(bot: NewsdeskBot) -> None:
    """Add /followups: hidden from members without Manage Server, and refused to them if shown."""

    @bot.tree.command(
        name="followups", description="Whether later messages in a thread newsdesk answered in are follow-ups"
    )
    @app_commands.describe(threads="on: any message in such a thread is a follow-up; off: only mentions and replies")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def followups(interaction: Interaction, threads: Literal["on", "off"] | None = None) -> None:
        await followups_command(bot, interaction, threads)
