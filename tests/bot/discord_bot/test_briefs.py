"""/brief in a simulated Discord (simcord): the briefing within Discord's limits however long the articles,
the stories most reported first, a topic, and one-line refusals."""

from __future__ import annotations

import discord
import pytest

from bot.discord_bot.briefs import brief_embeds, story_field
from bot.discord_bot.embeds import fits
from bot.discord_bot.limits import FIELD_VALUE_LIMIT
from retrieval.alerts.briefing import Briefing, BriefStory
from retrieval.types import Citation, Quote

SUBJECTS = [
    "harbour cranes", "river ferries", "city libraries", "mountain railways", "tram depots", "school gardens",
    "market halls", "lighthouse keepers", "glass factories", "orchard cooperatives", "bridge inspectors",
]  # fmt: skip


def long_article(number: int, subject: str) -> str:
    """An article with a very long title, URL and first sentence, on its own subject (Discord's limits must
    still hold)."""
    word = subject.split()[0]
    filler = " ".join(f"{word}{i}" for i in range(180))
    return (
        f"---\ntitle: {(subject.title() + ' ') * 12}\ndate: 2022-09-0{1 + number % 3}\n"
        f"source: Outlet {number}\nurl: https://example.com/{word * 30}/{number}\n---\n"
        f"{subject.capitalize()} {filler}. {subject.capitalize()} {word}x{number} {word}y{number}.\n"
    )


@pytest.fixture
def world(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("news")
    member = guild.add_member(simcord_env.create_user("alice"))
    return guild, channel, member


async def test_brief_stays_within_discords_limits(simcord_env, world, settings, engine):
    _, channel, alice = world
    for number, subject in enumerate(SUBJECTS):
        (settings.seeds_dir / f"long-{number}.md").write_text(long_article(number, subject), encoding="utf-8")
    engine.build(settings.seeds_dir)
    result = await alice.slash(channel, "brief", since="2022-09-01")
    messages = [result.response, *result.followups]
    assert not result.ephemeral and len(messages) >= 2  # too much for one message: split, never rejected
    embeds = [e for m in messages for e in m.embeds]
    for message in messages:
        assert fits(message.embeds, message.content or "")
    fields = [f for e in embeds for f in e.fields]
    assert len(fields) == 8  # the default number of stories
    assert [f.name.split(".")[0] for f in fields] == [str(n) for n in range(1, 9)]
    assert all(f.value.startswith("> “") for f in fields)
    assert embeds[0].title.startswith("Briefing 2022-09-01 … 2")
    assert embeds[-1].footer.text.startswith("8 stories of 11 from 11 articles · most reported first")


async def test_brief_on_a_topic_and_an_empty_window(simcord_env, world):
    _, channel, alice = world
    found = await alice.slash(channel, "brief", topic="grain deal in Istanbul", since="2022-07-01")
    [embed] = found.response.embeds
    [field] = embed.fields
    assert field.name == "1. Grain deal reached in Istanbul"
    assert "Harbour Times · 2022-07-22 · <https://example.com/grain-deal>" in field.value
    empty = await alice.slash(channel, "brief")
    assert empty.response.embeds[0].description.startswith("No article was published in these days")


@pytest.mark.parametrize(("since", "message"), [("soon", "is not a date"), ("2999-01-01", "is after the day")])
async def test_bad_since_is_one_line(simcord_env, world, since, message):
    _, channel, alice = world
    result = await alice.slash(channel, "brief", since=since)
    assert result.ephemeral and result.response.content.startswith("Cannot brief: ")
    assert message in result.response.content and "\n" not in result.response.content


def test_a_story_field_fits_whatever_its_parts() -> None:
    quote = Quote("word " * 900, 0, 4500, 0)
    citations = tuple(
        Citation(n, f"a{n}", "t" * 300, None, "s" * 200, "https://example.com/" + "p" * 400, ()) for n in (1, 2, 3)
    )
    name, value = story_field(1, BriefStory(quote, citations, tuple(f"outlet {n}" for n in range(60)), 60))
    assert len(value) <= FIELD_VALUE_LIMIT and len(name) <= 256
    import datetime as dt

    briefing = Briefing(
        dt.date(2022, 1, 1), dt.date(2022, 1, 2), None, (BriefStory(quote, citations, (), 1),) * 25, 25, 25
    )
    for message in brief_embeds(briefing):
        assert fits(message)
    assert isinstance(brief_embeds(briefing)[0][0], discord.Embed)
