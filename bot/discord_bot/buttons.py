"""The buttons under each answer: "Show passages" and 👍/👎. Their state lives in the custom id and
the feedback store, so they keep working after the bot restarts (discord.py dynamic items)."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.discord_bot.embeds import passage_embeds

if TYPE_CHECKING:
    from bot.discord_bot.client import NewsdeskBot

log = logging.getLogger(__name__)


def _bot(interaction: discord.Interaction[Any]) -> NewsdeskBot:
    return cast("NewsdeskBot", interaction.client)


PASSAGES_ID = r"newsdesk:passages:(?P<id>[0-9]+)"
VOTE_ID = r"newsdesk:vote:(?P<id>[0-9]+):(?P<v>up|down)"


class PassagesButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=PASSAGES_ID):
    """Shows the full cited passages of an answer, only to whoever clicks."""

    def __init__(self, answer_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Show passages",
                emoji="📄",
                style=discord.ButtonStyle.secondary,
                custom_id=f"newsdesk:passages:{answer_id}",
            )
        )
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PassagesButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = _bot(interaction)
        passages = await bot.run_io(bot.feedback.passages, self.answer_id)
        if passages is None:
            await interaction.response.send_message("That answer is no longer on record.", ephemeral=True)
            return
        messages = passage_embeds(passages)
        await interaction.response.send_message(embeds=messages[0], ephemeral=True)
        for embeds in messages[1:]:
            await interaction.followup.send(embeds=embeds, ephemeral=True)


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=VOTE_ID):
    """👍 or 👎 on an answer, one vote per user (a second click changes it)."""

    def __init__(self, answer_id: int, vote: str) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="👍" if vote == "up" else "👎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"newsdesk:vote:{answer_id}:{vote}",
            )
        )
        self.answer_id = answer_id
        self.vote = vote

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> VoteButton:
        return cls(int(match["id"]), match["v"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = _bot(interaction)
        value = 1 if self.vote == "up" else -1
        known = await bot.run_io(bot.feedback.vote, self.answer_id, interaction.user.id, value)
        text = "Thanks, noted. 👍" if value > 0 else "Thanks, noted: we'll look at this answer. 👎"
        if not known:
            text = "That answer is no longer on record."
        await interaction.response.send_message(text, ephemeral=True)


def answer_view(answer_id: int) -> discord.ui.View:
    """The three buttons for a stored answer."""
    view = discord.ui.View(timeout=None)
    view.add_item(PassagesButton(answer_id))
    view.add_item(VoteButton(answer_id, "up"))
    view.add_item(VoteButton(answer_id, "down"))
    return view


def setup(bot: NewsdeskBot) -> None:
    """Register the buttons: clicks on any answer's buttons reach them, also answers from before a restart."""
    bot.add_dynamic_items(PassagesButton, VoteButton)
