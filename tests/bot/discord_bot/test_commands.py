"""Behaviour of the bot in a simulated Discord (simcord runs the unmodified discord.py against a
backend that enforces Discord's limits and command permissions). The engine is real."""

from __future__ import annotations

import json
import logging
import shutil
import textwrap

import discord
import pytest
from simcord import OptionError

from bot.discord_bot.client import create_bot
from bot.discord_bot.embeds import ELLIPSIS, fits
from tests.bot.discord_bot.conftest import LONG_SENTENCE

TURKEY = "Why won't Turkey sanction Russia?"
SHIPS = "Where will ships be inspected?"
UNANSWERABLE = "Who painted the Mona Lisa?"
HARBOUR = "What did the harbour committee decide about grain tariffs?"


@pytest.fixture
def world(simcord_env):
    """A guild with a #news channel, a member and an admin."""
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("news")
    member = guild.add_member(simcord_env.create_user("alice"))
    admins = guild.create_role("Admins", permissions=discord.Permissions(administrator=True))
    admin = guild.add_member(simcord_env.create_user("root"), roles=[admins])
    return guild, channel, member, admin


def callbacks(env) -> list[dict]:
    """The interaction callback bodies the bot sent, in order."""
    return [r.json for r in env.http_requests if r.method == "POST" and r.path.endswith("/callback")]


def message_payloads(env) -> list[dict]:
    """Every message body the bot posted or edited: channel messages, callbacks, webhooks."""
    out = []
    for r in env.http_requests:
        if r.method not in ("POST", "PATCH") or not isinstance(r.json, dict):
            continue
        if r.path.endswith("/callback"):
            if r.json.get("data"):
                out.append(r.json["data"])
        elif "/messages" in r.path or r.path.startswith("/webhooks/"):
            out.append(r.json)
    return out


def all_embeds(result) -> list[discord.Embed]:
    messages = [result.response, *result.followups] if result.response else list(result.followups)
    return [e for m in messages for e in m.embeds]


# -- /ask ----------------------------------------------------------------------------------------


async def test_ask_defers_then_answers_with_cited_embed_and_buttons(simcord_env, world):
    _, channel, alice, _ = world
    result = await alice.slash(channel, "ask", question=SHIPS)

    assert callbacks(simcord_env)[0]["type"] == 5  # deferred ("thinking…") before any engine work
    assert not result.ephemeral
    [embed] = result.response.embeds
    assert embed.title == SHIPS
    assert embed.description == "Ships will be inspected in Istanbul. [1 · 2022-07-22]"
    source = embed.fields[0]
    assert source.name == "Sources — [1] Grain deal reached in Istanbul"
    assert "2022-07-22 · Harbour Times · <https://example.com/grain-deal>" in source.value
    assert "“Ships will be inspected in Istanbul.”" in source.value
    labels = [c.get("label") or c["emoji"]["name"] for row in result.response.components for c in row["components"]]
    assert labels == ["Show passages", "👍", "👎"]


async def test_ask_date_filter_and_bad_dates(simcord_env, world):
    _, channel, alice, _ = world
    result = await alice.slash(channel, "ask", question="What did NATO refuse over Ukraine?", until="2022-03-05")
    embed = result.response.embeds[0]
    titles = [f.name for f in embed.fields]
    assert titles and all("NATO rejects a no-fly zone" in t for t in titles)

    bad = await alice.slash(channel, "ask", question=TURKEY, since="March 2022")
    assert bad.ephemeral
    assert "since 'March 2022' is not a date; use YYYY-MM-DD" in bad.response.content
    backwards = await alice.slash(channel, "ask", question=TURKEY, since="2022-05-01", until="2022-01-01")
    assert backwards.ephemeral and "is after until" in backwards.response.content


async def test_unanswerable_question_says_so_and_shows_possibly_related(simcord_env, world):
    _, channel, alice, _ = world
    result = await alice.slash(channel, "ask", question=UNANSWERABLE)
    embed = result.response.embeds[0]
    assert embed.title == "No answer in the articles"
    assert "don't say" in embed.description
    assert embed.fields[0].name.startswith("Possibly related — ")
    assert "[1]" not in embed.description  # nothing is cited as if it answered


@pytest.mark.parametrize("bot_options", [{"answer_chars": 4096}, {"answer_chars": 200}])
async def test_very_long_answer_is_trimmed_within_discord_limits(simcord_env, world, bot_options):
    _, channel, alice, _ = world
    result = await alice.slash(channel, "ask", question=HARBOUR)
    messages = [result.response, *result.followups]
    assert all(fits(m.embeds, m.content) for m in messages)  # and simcord's backend accepted them
    embed = messages[0].embeds[0]
    sentence = " ".join(LONG_SENTENCE.split()[:40])
    assert embed.description.startswith(sentence[:150])  # the answer is a >1000-character sentence
    assert len(embed.description) <= bot_options["answer_chars"]
    assert embed.description.endswith("[1 · 2022-05-02]")  # the source's number and its article's date
    if bot_options["answer_chars"] < 1000:
        assert embed.description.endswith(f"{ELLIPSIS} [1 · 2022-05-02]")
        head = embed.description.removesuffix(f"{ELLIPSIS} [1 · 2022-05-02]").rstrip()
        assert LONG_SENTENCE.startswith(head) and LONG_SENTENCE[len(head)] == " "  # cut between words
    else:
        assert ELLIPSIS not in embed.description


# -- mention mode --------------------------------------------------------------------------------


@pytest.mark.simcord(approved_intents=discord.Intents.default())  # no privileged intent approved
async def test_mention_is_answered_as_a_reply_without_privileged_intents(simcord_env, world):
    _, channel, alice, _ = world
    bot = simcord_env.bot
    assert not bot.intents.message_content and bot.intents.guild_messages
    asked = await alice.send(channel, f"<@{bot.user.id}> {SHIPS}")
    reply = channel.last_message
    assert reply.author.id == bot.user.id
    assert reply.reference is not None and reply.reference.message_id == asked.id
    assert reply.embeds[0].description == "Ships will be inspected in Istanbul. [1 · 2022-07-22]"
    assert reply.components  # the buttons


@pytest.mark.parametrize("bot_options", [{"mention_replies_in_thread": True}])
async def test_mention_can_answer_in_a_thread(simcord_env, world, bot_options):
    _, channel, alice, _ = world
    await alice.send(channel, f"<@{simcord_env.bot.user.id}> {SHIPS}")
    [thread] = channel.threads
    assert thread.name == SHIPS
    assert thread.last_message.embeds[0].description == "Ships will be inspected in Istanbul. [1 · 2022-07-22]"


async def test_ignored_messages(simcord_env, world):
    guild, channel, alice, _ = world
    bot_id = simcord_env.bot.user.id
    robot = guild.add_member(simcord_env.create_user("otherbot", bot=True))
    await robot.send(channel, f"<@{bot_id}> {SHIPS}")  # other bots are ignored
    await alice.send(channel, SHIPS)  # no mention
    await alice.send(channel, f"@everyone {SHIPS}")  # @everyone is not a mention of the bot
    assert all(m.author.id != bot_id for m in channel.history())


@pytest.mark.parametrize("bot_options", [{"discord_channels": [1]}])
async def test_channels_outside_the_allowed_list(simcord_env, world, bot_options):
    _, channel, alice, _ = world
    await alice.send(channel, f"<@{simcord_env.bot.user.id}> {SHIPS}")
    assert channel.last_message.author.id == alice.id  # silently ignored
    result = await alice.slash(channel, "ask", question=SHIPS)
    assert result.ephemeral and result.response.content == "I answer questions in <#1>."


# -- /sources, /stats ----------------------------------------------------------------------------


async def test_sources_is_ephemeral_and_lists_the_top_passages(simcord_env, world):
    _, channel, alice, _ = world
    result = await alice.slash(channel, "sources", query="grain exports Istanbul")
    assert result.ephemeral
    embeds = all_embeds(result)
    assert embeds[0].title == "Top passages for “grain exports Istanbul”"
    names = [f.name for e in embeds for f in e.fields]
    assert names[0] == "1. Grain deal reached in Istanbul"
    assert len(names) == 5
    assert channel.last_message is None or channel.last_message.flags.ephemeral  # nothing public


async def test_stats(simcord_env, world):
    _, channel, alice, _ = world
    result = await alice.slash(channel, "stats")
    assert result.ephemeral
    fields = {f.name: f.value for f in result.response.embeds[0].fields}
    assert fields["Articles"] == "4"
    assert fields["Dates"] == "2022-03-04 … 2022-07-22"


# -- /reindex ------------------------------------------------------------------------------------


async def test_reindex_hidden_from_members_and_refused_if_shown_to_them(simcord_env, world):
    guild, channel, alice, admin = world
    assert "reindex" not in alice.available_commands(channel)
    assert "reindex" in admin.available_commands(channel)
    # a server that overrides the command's permissions still gets a polite refusal from the bot
    [command] = [c for c in await simcord_env.bot.tree.fetch_commands() if c.name == "reindex"]
    guild.set_command_permissions(command, {alice: True})
    result = await alice.slash(channel, "reindex")
    assert result.ephemeral
    assert "Only members with **Manage Server** or **Administrator**" in result.response.content
    assert [type(e) for e in simcord_env.errors] == [discord.app_commands.MissingPermissions]


async def test_reindex_by_admin_rebuilds_swaps_and_summarises(simcord_env, world, settings):
    _, channel, alice, admin = world
    before = await alice.slash(channel, "ask", question="Which river did the wolves return to?")
    assert before.response.embeds[0].title == "No answer in the articles"
    (settings.seeds_dir / "wolves.md").write_text(
        textwrap.dedent("""\
        ---
        title: Wolves return to the Oder valley
        date: 2023-01-10
        source: Valley News
        ---
        Wolves returned to the Oder valley for the first time in a century. Rangers filmed six wolves near the river.
        """),
        encoding="utf-8",
    )

    result = await admin.slash(channel, "reindex")

    assert result.ephemeral
    assert result.response.content.startswith("Index rebuilt: 5 articles (1 new, 0 changed, 0 removed, 4 unchanged)")
    after = await alice.slash(channel, "ask", question="Which river did the wolves return to?")
    assert after.response.embeds[0].fields[0].name == "Sources — [1] Wolves return to the Oder valley"


async def test_reindex_failure_is_reported_and_old_index_kept(simcord_env, world, settings):
    _, channel, alice, admin = world
    shutil.rmtree(settings.seeds_dir)
    result = await admin.slash(channel, "reindex")
    assert result.response.content.startswith("The rebuild failed:")
    assert "previous index is still in use" in result.response.content
    answer = await alice.slash(channel, "ask", question=SHIPS)
    assert answer.response.embeds[0].description == "Ships will be inspected in Istanbul. [1 · 2022-07-22]"


# -- cooldown and bad questions ------------------------------------------------------------------


@pytest.mark.parametrize("bot_options", [{"cooldown_questions": 2, "cooldown_seconds": 60}])
async def test_cooldown_per_user(simcord_env, world, bot_options):
    guild, channel, alice, _ = world
    bob = guild.add_member(simcord_env.create_user("bob"))
    for _ in range(2):
        assert not (await alice.slash(channel, "ask", question=SHIPS)).ephemeral
    limited = await alice.slash(channel, "ask", question=SHIPS)
    assert limited.ephemeral
    assert limited.response.content == "You're asking quickly: try again in 60 s (up to 2 questions every 60 s)."
    assert not (await bob.slash(channel, "ask", question=SHIPS)).ephemeral  # per user
    # mention mode shares the budget and warns only once per window
    before = {m.id for m in channel.history()}
    await alice.send(channel, f"<@{simcord_env.bot.user.id}> {SHIPS}")
    await alice.send(channel, f"<@{simcord_env.bot.user.id}> {SHIPS}")
    warnings = [m for m in channel.history() if m.id not in before and m.author.bot]
    assert len(warnings) == 1 and warnings[0].content.startswith("You're asking quickly")
    await simcord_env.advance_time(60)
    assert not (await alice.slash(channel, "ask", question=SHIPS)).ephemeral


async def test_bad_questions_are_refused_ephemerally(simcord_env, world):
    _, channel, alice, _ = world
    empty = await alice.slash(channel, "ask", question="   ")
    assert empty.ephemeral and empty.response.content.startswith("I can't ask that: the question is empty")
    spaced = await alice.slash(channel, "ask", question="ship  " * 50)  # 300 characters: Discord lets it through
    assert not spaced.ephemeral  # the bot collapses the spaces: 249 characters
    sources = await alice.slash(channel, "sources", query=" ")
    assert sources.ephemeral and "empty" in sources.response.content
    await alice.send(channel, f"<@{simcord_env.bot.user.id}>")
    assert "the question is empty" in channel.last_message.content
    await alice.send(channel, f"<@{simcord_env.bot.user.id}> " + "why " * 100)  # no client-side limit here
    assert channel.last_message.content == "I can't ask that: the question is 399 characters long; the limit is 300."
    assert [c["type"] for c in callbacks(simcord_env)].count(5) == 1  # only the answered question was deferred


# -- feedback buttons ----------------------------------------------------------------------------


async def test_feedback_buttons_store_votes_and_show_passages(simcord_env, world, feedback, tmp_path):
    guild, channel, alice, _ = world
    bob = guild.add_member(simcord_env.create_user("bob"))
    answer = await alice.slash(channel, "ask", question=SHIPS)
    message = answer.response.message

    shown = await bob.click(message, label="Show passages")
    assert shown.ephemeral
    passage = shown.response.embeds[0]
    assert passage.title == "[1] Grain deal reached in Istanbul"
    assert "Russia and Ukraine signed a deal" in passage.description  # the whole passage
    assert "**Ships will be inspected in Istanbul.**" in passage.description  # the cited sentence

    up = await alice.click(message, custom_id="newsdesk:vote:1:up")
    assert up.ephemeral and up.response.content.startswith("Thanks")
    await bob.click(message, custom_id="newsdesk:vote:1:up")
    await bob.click(message, custom_id="newsdesk:vote:1:down")  # changes bob's vote

    out = tmp_path / "votes.jsonl"
    with out.open("w", encoding="utf-8") as fh:
        assert feedback.export_jsonl(fh) == 2
    rows = {r["user_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows[alice.id]["vote"] == "up" and rows[bob.id]["vote"] == "down"
    assert rows[alice.id]["question"] == SHIPS
    assert rows[alice.id]["answer"] == "Ships will be inspected in Istanbul. [1]"
    assert rows[alice.id]["cited"][0]["title"] == "Grain deal reached in Istanbul"


async def test_buttons_still_work_after_a_restart(simcord_env, world, engine, settings, feedback):
    _, channel, alice, _ = world
    answer = await alice.slash(channel, "ask", question=SHIPS)
    await simcord_env.restart_bot(create_bot(engine, settings, feedback=feedback))
    shown = await alice.click(answer.response.message, label="Show passages")
    assert shown.ephemeral and shown.response.embeds[0].title == "[1] Grain deal reached in Istanbul"


# -- safety ----------------------------------------------------------------------------------------


async def test_nothing_the_bot_posts_can_ping(simcord_env, world):
    guild, channel, alice, _ = world
    mods = guild.create_role("Mods")
    bot_id = simcord_env.bot.user.id
    ping = f"@everyone @here <@&{mods.id}> <@{alice.id}>"
    await alice.send(channel, f"<@{bot_id}> {ping} {TURKEY}")
    await alice.send(channel, f"<@{bot_id}> {ping}")  # refused: empty question once the mention is gone?
    result = await alice.slash(channel, "ask", question=f"{ping} {TURKEY}")
    await alice.click(result.response.message, label="Show passages")  # the passage holds "@everyone"
    await alice.send(channel, f"<@{bot_id}> {ping} " + "x " * 200)  # too long: echoed numbers only

    payloads = message_payloads(simcord_env)
    assert len(payloads) >= 5
    for body in payloads:
        assert body.get("allowed_mentions", {}).get("parse") == [], body
        assert not body["allowed_mentions"].get("users") and not body["allowed_mentions"].get("roles")
        assert not body["allowed_mentions"].get("replied_user")
    for message in channel.history():
        if message.author.id == bot_id:
            assert not message.mention_everyone and not message.mentions and not message.role_mentions


# -- errors ----------------------------------------------------------------------------------------


async def test_engine_error_is_logged_and_apologised_for_and_the_bot_keeps_going(
    simcord_env, world, engine, monkeypatch, caplog
):
    _, channel, alice, _ = world
    real_ask = engine.ask

    def broken(*args, **kwargs):
        raise RuntimeError("faiss exploded")

    monkeypatch.setattr(engine, "ask", broken)
    with caplog.at_level(logging.ERROR, logger="bot.discord_bot"):
        result = await alice.slash(channel, "ask", question=SHIPS)
    assert result.response is None  # the public "thinking…" message is gone
    [apology] = result.followups
    assert apology.ephemeral and apology.content.startswith("Sorry, something went wrong")
    assert not [m for m in channel.history() if m.author.bot]  # nothing public is left
    [record] = [r for r in caplog.records if r.exc_info]
    assert "faiss exploded" in str(record.exc_info[1])

    await alice.send(channel, f"<@{simcord_env.bot.user.id}> {SHIPS}")
    assert channel.last_message.content.startswith("Sorry, something went wrong")

    monkeypatch.setattr(engine, "ask", real_ask)
    again = await alice.slash(channel, "ask", question=SHIPS)
    assert again.response.embeds[0].description == "Ships will be inspected in Istanbul. [1 · 2022-07-22]"


# -- one guard for every way of asking -------------------------------------------------------------


@pytest.mark.parametrize("bot_options", [{"discord_channels": [1]}])
async def test_sources_is_refused_outside_the_allowed_channels_like_ask(simcord_env, world, bot_options):
    _, channel, alice, _ = world
    result = await alice.slash(channel, "sources", query="grain exports Istanbul")
    assert result.ephemeral and result.response.content == "I answer questions in <#1>."
    assert not all_embeds(result)  # no passage was shown


@pytest.mark.parametrize("bot_options", [{"cooldown_questions": 3, "cooldown_seconds": 60}])
async def test_ask_sources_and_mentions_share_one_cooldown(simcord_env, world, bot_options):
    _, channel, alice, _ = world
    assert not (await alice.slash(channel, "ask", question=SHIPS)).ephemeral
    assert all_embeds(await alice.slash(channel, "sources", query="grain"))
    await alice.send(channel, f"<@{simcord_env.bot.user.id}> {SHIPS}")
    assert channel.last_message.embeds  # the third question is answered
    for command, option in (("ask", "question"), ("sources", "query")):
        limited = await alice.slash(channel, command, **{option: SHIPS})
        assert limited.ephemeral and limited.response.content.startswith("You're asking quickly: try again in")


# -- Sources list only what the visible answer cites -----------------------------------------------

DOCKS = {
    "rotterdam.md": (
        "Dock strike closes Rotterdam",
        "Dock workers in Rotterdam went on strike over pay on Monday, and the dock workers strike closed the "
        "container terminals of the port of Rotterdam for three whole days.",
    ),
    "ends.md": (
        "Rotterdam dock strike ends",
        "The dock workers strike in Rotterdam ended when the port of Rotterdam offered the dock workers a pay "
        "rise of six percent over two years, the unions said.",
    ),
    "antwerp.md": (
        "Antwerp joins dock strike",
        "Dock workers in Antwerp joined the dock workers strike in solidarity with Rotterdam, and the strike "
        "halted ship traffic in Antwerp and Rotterdam for a day.",
    ),
}


@pytest.fixture
def docks_engine(tmp_path):
    """A real engine over three articles whose answer quotes one ~160-character sentence from each."""
    from retrieval.config import AnswerConfig, ChunkingConfig
    from retrieval.engine import Engine
    from retrieval.index.store import IndexStore
    from tests.conftest import HashEmbedder

    seeds = tmp_path / "docks"
    seeds.mkdir()
    for name, (title, body) in DOCKS.items():
        (seeds / name).write_text(f"---\ntitle: {title}\ndate: 2023-02-01\nsource: Port Wire\n---\n{body}\n")
    engine = Engine(
        IndexStore(tmp_path / "docks-index"),
        HashEmbedder(),
        answer=AnswerConfig(min_confidence=0.2, max_question_chars=300, ranker=None, max_sentences=3),
        chunking=ChunkingConfig(max_tokens=200),
    )
    engine.build(seeds, full=True)
    return engine


@pytest.mark.parametrize("bot_options", [{"answer_chars": 200}])
async def test_sources_and_passages_list_only_what_the_cut_answer_cites(
    simcord_env, world, docks_engine, settings, feedback, bot_options
):
    _, channel, alice, _ = world
    question = "Why did the dock workers in Rotterdam strike?"
    assert len(docks_engine.ask(question).citations) == 3  # the engine's answer quotes three articles
    await simcord_env.restart_bot(create_bot(docks_engine, settings, feedback=feedback))

    result = await alice.slash(channel, "ask", question=question)

    [embed] = result.response.embeds
    assert embed.description == f"{DOCKS['rotterdam.md'][1]} [1 · 2023-02-01] {ELLIPSIS}"  # the text cites [1] only
    assert [f.name for f in embed.fields] == ["Sources — [1] Dock strike closes Rotterdam"]
    assert embed.footer.text.startswith("1 source ·")
    shown = await alice.click(result.response.message, label="Show passages")
    assert [e.title for e in shown.response.embeds] == ["[1] Dock strike closes Rotterdam"]


@pytest.mark.parametrize("bot_options", [{"answer_chars": 4096}])
async def test_sources_list_every_citation_when_the_whole_answer_fits(
    simcord_env, world, docks_engine, settings, feedback, bot_options
):
    _, channel, alice, _ = world
    await simcord_env.restart_bot(create_bot(docks_engine, settings, feedback=feedback))
    result = await alice.slash(channel, "ask", question="Why did the dock workers in Rotterdam strike?")
    [embed] = result.response.embeds
    assert [f.name.removeprefix("Sources — ")[:3] for f in embed.fields] == ["[1]", "[2]", "[3]"]
    assert embed.footer.text.startswith("3 sources ·")


# -- Discord stops an over-long question in the client ---------------------------------------------


async def test_question_options_carry_the_engines_length_limit(simcord_env, world, engine):
    _, channel, alice, _ = world
    commands = {c.name: c for c in await simcord_env.bot.tree.fetch_commands()}
    limits = {
        name: [o.max_length for o in commands[name].options if o.name == option]
        for name, option in (("ask", "question"), ("sources", "query"))
    }
    assert engine.max_question_chars == 300
    assert limits == {"ask": [300], "sources": [300]}
    with pytest.raises(OptionError, match="must be at most 300 characters, got 301"):
        await alice.slash(channel, "ask", question="x" * 301)
    with pytest.raises(OptionError, match="must be at most 300 characters"):
        await alice.slash(channel, "sources", query="x" * 301)
    assert not callbacks(simcord_env)  # the bot never saw them
    longest = f"{SHIPS} " + "x" * (299 - len(SHIPS))
    assert len(longest) == 300 and not (await alice.slash(channel, "ask", question=longest)).ephemeral
