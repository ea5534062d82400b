"""The Discord client: built by ``create_bot(engine, settings)``, run by ``run_bot``."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot.discord_bot import alerts, briefs, buttons, commands, feeds, mentions
from bot.discord_bot.alerts import AlertDesk
from bot.discord_bot.conversations import Conversations
from bot.discord_bot.cooldown import Cooldown
from bot.discord_bot.embeds import cited_passages, shown_citations
from bot.discord_bot.feedback import FeedbackStore
from bot.discord_bot.freshness import FeedWatch
from bot.discord_bot.guard import QuestionGuard
from retrieval.errors import NewsdeskError
from retrieval.types import Answer, DateRange

if TYPE_CHECKING:
    from bot.settings import Settings
    from retrieval.answer.written import SentenceCallback
    from retrieval.engine import Engine

log = logging.getLogger(__name__)

T = TypeVar("T")

Extension = Callable[["NewsdeskBot"], None]
"""What adds commands, listeners or buttons to a bot: a module's ``setup(bot)``, called by ``create_bot``."""
EXTENSIONS: tuple[Extension, ...] = (
    commands.setup,
    feeds.setup,
    mentions.setup,
    buttons.setup,
    alerts.setup,
    briefs.setup,
)


class DiscordLoginError(NewsdeskError):
    """Discord refused the token, or could not be reached."""


def bot_intents(mentions: bool) -> discord.Intents:
    """Only what the bot needs: guilds, plus guild messages for mention mode. No privileged intent:
    Discord sends the content of messages that mention the bot without the Message Content intent."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = mentions
    return intents


class NewsdeskBot(discord.Client):
    """Answers questions from the engine in Discord; the engine runs on worker threads, never the loop.

    The client holds what the commands share (engine, settings, feedback store, the question guard,
    the worker threads); the commands, mention mode and buttons are extensions ``create_bot`` adds.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        feedback: FeedbackStore,
        seeds_dir: Path,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        super().__init__(
            intents=bot_intents(settings.discord.mentions),
            allowed_mentions=discord.AllowedMentions.none(),  # nothing the bot posts can ping anyone
        )
        self.engine = engine
        self.settings = settings
        self.feedback = feedback
        self.seeds_dir = seeds_dir
        """Where /reindex reads the articles: the directory the process was started with."""
        self.tree = app_commands.CommandTree(self)
        self.guard = QuestionGuard(
            engine,
            settings.discord.channels,
            Cooldown(settings.discord.cooldown_questions, settings.discord.cooldown_seconds),
        )
        self.executor = executor or ThreadPoolExecutor(
            max_workers=settings.discord.workers, thread_name_prefix="newsdesk-engine"
        )
        self.conversations = Conversations()
        """What follow-ups follow: the question behind each answer message and each thread's last."""
        self.feed_watch = FeedWatch(engine, settings, seeds_dir)
        """The feeds /feeds follows and the background watcher that indexes what they publish."""
        self.alerts = AlertDesk(self)
        """The topics /follow follows, and the cards posted when the index grows."""

    # -- lifecycle -------------------------------------------------------------------------------

    async def setup_hook(self) -> None:
        """Start the feed watcher if feeds are followed, and sync the commands (to one guild at once, if
        configured)."""
        await self.run_io(self.feed_watch.start)
        guild_id = self.settings.discord.guild_id
        if guild_id:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global commands (Discord may take a while to show them)", len(synced))

    async def on_ready(self) -> None:
        """Log that the bot is up."""
        user = self.user
        log.info("ready: logged in as %s (id %s) in %d servers", user, user.id if user else "?", len(self.guilds))

    async def close(self) -> None:
        """Stop the feed watcher (a cycle in flight finishes its requests; questions are still answered
        meanwhile), disconnect, then let the worker threads finish what they hold."""
        await asyncio.to_thread(self.feed_watch.stop)  # (before: once disconnected, asyncio.run cancels what waits)
        await asyncio.to_thread(self.alerts.close)
        await super().close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    # -- work off the event loop -----------------------------------------------------------------

    async def run_engine(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run an engine call on the engine's worker threads so the gateway heartbeat never stalls."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, partial(fn, *args, **kwargs))

    async def run_io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a short blocking call (SQLite, manifest reads) on the default executor."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, partial(fn, *args, **kwargs))

    async def answer(
        self,
        question: str,
        dates: DateRange,
        *,
        as_of: dt.date | None = None,
        previous: str | None = None,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        via: str,
        on_sentence: SentenceCallback | None = None,
    ) -> tuple[Answer, int]:
        """Ask the engine and record the answer; returns the answer and its stored id.

        ``as_of`` is the day the message was sent (later articles do not exist for it, "this week" counts
        from it); ``previous`` the question a follow-up follows (see ``Conversations``); ``on_sentence``
        hears each verified sentence of a written answer (llm answerer) on the worker thread."""

        def work() -> tuple[Answer, int]:
            answer = self.engine.ask(question, dates=dates, as_of=as_of, previous=previous, on_sentence=on_sentence)
            answer_id = self.feedback.record_answer(
                answer,
                cited_passages(answer, shown_citations(answer, self.settings.discord.answer_chars)),
                guild_id=guild_id,
                channel_id=channel_id,
                user_id=user_id,
                via=via,
            )
            return answer, answer_id

        return await self.run_engine(work)


def create_bot(
    engine: Engine,
    settings: Settings,
    *,
    feedback: FeedbackStore | None = None,
    seeds_dir: Path | None = None,
    executor: ThreadPoolExecutor | None = None,
) -> NewsdeskBot:
    """The bot for ``engine`` configured by ``settings`` (nothing global, nothing read from the env), with
    its slash commands, mention mode and buttons; /reindex reads ``seeds_dir`` (default: the setting)."""
    bot = NewsdeskBot(
        engine,
        settings,
        feedback=feedback or FeedbackStore(settings.discord.feedback_db),
        seeds_dir=(seeds_dir or settings.seeds_dir).resolve(),
        executor=executor,
    )
    for setup in EXTENSIONS:
        setup(bot)
    return bot


async def serve(bot: NewsdeskBot, token: str) -> None:
    """Log in and stay connected until the bot is closed; login errors become DiscordLoginError."""
    import aiohttp

    try:
        async with bot:
            await bot.start(token)
    except discord.LoginFailure:
        raise DiscordLoginError(
            "Discord rejected the token: copy a fresh one from the Developer Portal (Bot → Reset Token) "
            "into NEWSDESK_DISCORD_TOKEN"
        ) from None
    except discord.PrivilegedIntentsRequired:
        raise DiscordLoginError("Discord refused a privileged intent this bot asked for") from None
    except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise DiscordLoginError(f"cannot reach Discord ({reason}): check the network") from None


def run_bot(engine: Engine, settings: Settings, token: str, *, seeds_dir: Path) -> None:
    """Load the index once, log what was loaded, then serve Discord until interrupted (``seeds_dir``:
    what /reindex rebuilds from, the directory the command was given)."""
    log.info("loaded %s", engine.describe())
    bot = create_bot(engine, settings, seeds_dir=seeds_dir)
    log.info(
        "starting the Discord bot: mention mode %s, %s, cooldown %d questions / %.0f s, /reindex from %s",
        "on" if settings.discord.mentions else "off",
        f"channels {', '.join(map(str, settings.discord.channels))}" if settings.discord.channels else "all channels",
        settings.discord.cooldown_questions,
        settings.discord.cooldown_seconds,
        bot.seeds_dir,
    )
    try:
        asyncio.run(serve(bot, token))
    finally:
        bot.feed_watch.stop()  # (already stopped by close(), unless the loop ended another way)
