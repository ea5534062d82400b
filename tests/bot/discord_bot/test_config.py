"""The bot's configuration surface: .env.example lists every setting; intents are minimal."""

from __future__ import annotations

import re
from pathlib import Path

from bot.discord_bot.client import bot_intents
from bot.settings import settings

REPO = Path(__file__).resolve().parents[3]


def test_env_example_lists_every_setting_with_a_comment():
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    listed = re.findall(r"^#? ?NEWSDESK_([A-Z_]+)=", text, re.MULTILINE)
    assert sorted(set(listed)) == sorted(s.env.removeprefix("NEWSDESK_") for s in settings())
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^#? ?NEWSDESK_", line):  # a comment line right above each setting (or its group)
            above = [x for x in lines[:i] if x.strip()][-1]
            assert above.startswith("#"), line


def test_intents_are_only_what_the_bot_needs():
    mentions = bot_intents(True)
    assert mentions.guilds and mentions.guild_messages
    assert not (mentions.message_content or mentions.members or mentions.presences)
    assert mentions.value == bot_intents(False).value | bot_intents(True).__class__(guild_messages=True).value
    assert not bot_intents(False).guild_messages
