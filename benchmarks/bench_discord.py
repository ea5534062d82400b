"""Event-loop lag and heartbeat gaps of the Discord bot under 20 concurrent /ask, with the real model.

The unmodified discord.py client logs in to the test suite's fake Discord on 127.0.0.1 (REST +
gateway), 20 /ask interactions arrive at once, and a probe measures how late a 10 ms sleep wakes up
on the bot's event loop while the engine answers on its worker threads. Loopback traffic only.

    .venv/bin/python benchmarks/bench_discord.py [--questions 20] [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUESTIONS = [
    "Why won't Turkey sanction Russia?",
    "What did NATO say about a no-fly zone?",
    "Who met in Antalya?",
    "What did Stoltenberg say about open war?",
    "What are the humanitarian corridors for?",
]


async def run(questions: int, workers: int) -> None:
    import discord
    import yarl

    from bot.cli import _offline_environment
    from bot.discord_bot.client import create_bot, serve
    from bot.settings import Settings
    from retrieval.embedding.sentence_transformer import SentenceTransformerEmbedder
    from retrieval.engine import Engine
    from retrieval.index.store import IndexStore
    from tests.bot.discord_bot.fake_discord import GOOD_TOKEN, FakeDiscord

    _offline_environment()
    settings = Settings(
        _env_file=None,
        discord_workers=workers,
        cooldown_questions=1000,  # type: ignore[call-arg]
        feedback_db=Path("/tmp/newsdesk-bench-feedback.sqlite3"),
    )
    engine = Engine(
        IndexStore(REPO / settings.index_dir),
        SentenceTransformerEmbedder(settings.embedding),
        search=settings.search,
        answer=settings.answer,
        chunking=settings.chunking,
    )
    engine.load()
    engine.ask(QUESTIONS[0])  # warm up
    print(f"engine: {engine.describe()}")

    fake = FakeDiscord(heartbeat_interval=0.25)
    await fake.start()
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    bot = create_bot(engine, settings)
    bot._connection.guild_ready_timeout = 0.2
    task = asyncio.create_task(serve(bot, GOOD_TOKEN))
    await asyncio.wait_for(bot.wait_until_ready(), 30)

    serial = time.perf_counter()
    for q in QUESTIONS:
        engine.ask(q)
    per_question = (time.perf_counter() - serial) / len(QUESTIONS)

    lags: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - start - 0.01)

    watcher = asyncio.create_task(probe())
    await asyncio.sleep(0.5)
    first_beat = len(fake.heartbeats)
    started = time.perf_counter()
    tokens = await asyncio.gather(
        *(fake.slash(fake.user(f"u{i}"), "ask", question=QUESTIONS[i % len(QUESTIONS)]) for i in range(questions))
    )
    await fake.wait_for(
        lambda rs: all(any(r.path.startswith(f"/webhooks/{fake.app_id}/{t}") for r in rs) for t in tokens), timeout=120
    )
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.5)
    stop.set()
    await watcher
    await bot.close()
    await asyncio.wait_for(task, 10)
    await fake.stop()

    beats = fake.heartbeats[max(first_beat - 1, 0) :]
    gaps = [b - a for a, b in zip(beats, beats[1:], strict=False)]
    lag = sorted(x * 1000 for x in lags)
    print(
        f"{questions} concurrent /ask answered in {elapsed:.2f} s on {workers} workers "
        f"(one question alone: {per_question * 1000:.0f} ms)"
    )
    print(
        f"event-loop lag: p50 {statistics.median(lag):.1f} ms, p99 {lag[int(len(lag) * 0.99)]:.1f} ms, "
        f"max {lag[-1]:.1f} ms ({len(lag)} samples of a 10 ms sleep)"
    )
    print(
        f"gateway heartbeat every {fake.heartbeat_interval * 1000:.0f} ms: max gap {max(gaps) * 1000:.0f} ms "
        f"over {len(gaps)} beats"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(run(args.questions, args.workers))


if __name__ == "__main__":
    main()
