"""Feed following at scale on the loopback news site: published → answerable, pages per poll, CPU per article,
and steady growth (ask latency, memory, vector-index retraining) as 10k articles arrive in 100 updates.

    nice -n 10 .venv/bin/python benchmarks/bench_feeds.py               # 100 feeds × 50 items, 100 rounds
    nice -n 10 .venv/bin/python benchmarks/bench_feeds.py --real        # the real embedding model (slow)

Articles are real news text from ../shared/bench/news_dev_2023h1 (read now), cycled with a unique lead
sentence when more are needed than the corpus holds. The site runs in this process; the CPU its request
threads use is measured and subtracted. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def rss_mib() -> float:
    """Resident memory now, MiB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:  # noqa: PLR0915 — a script
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--items", type=int, default=50, help="items each feed lists (the newest)")
    parser.add_argument("--rounds", type=int, default=100, help="rounds; each publishes one item per feed")
    parser.add_argument("--round-seconds", type=float, default=6.0, help="a round's items are spread over this")
    parser.add_argument("--interval", type=float, default=6.0, help="feed poll interval (NEWSDESK_FEEDS_INTERVAL)")
    parser.add_argument("--real", action="store_true", help="the real embedding model instead of the hash embedder")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    args = parser.parse_args()

    from bot.cli import _offline_environment

    _offline_environment()
    from retrieval.config import ChunkingConfig, EmbeddingConfig
    from retrieval.engine import Engine
    from retrieval.feeds.config import FeedsConfig
    from retrieval.feeds.state import FeedStore
    from retrieval.feeds.updater import FeedUpdater
    from retrieval.feeds.watcher import Watcher, WatchEvent
    from retrieval.index.store import IndexStore
    from tests.conftest import HashEmbedder
    from tests.retrieval.feeds.newssite import NewsSite, Story, real_articles

    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-feeds-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    total = args.feeds * args.rounds
    corpus = real_articles(2000, min_chars=800, max_chars=8000)
    print(f"{len(corpus)} real articles, {total} items to publish; work dir {work}", flush=True)

    if args.real:
        from retrieval.embedding.factory import make_embedder

        embedder = make_embedder(EmbeddingConfig())
        engine = Engine(IndexStore(work / "index"), embedder)
    else:
        embedder = HashEmbedder(dimension=384)
        engine = Engine(IndexStore(work / "index"), embedder, chunking=ChunkingConfig())
    seeds = work / "seeds"
    seeds.mkdir(exist_ok=True)
    (seeds / "start.md").write_text("---\ntitle: Start\ndate: 2023-01-01\n---\nThe benchmark started.\n")
    engine.build(seeds)

    site = NewsSite().start()
    kinds = ["rss", "atom", "json", "rdf"]
    feed_urls = [site.add_feed(f"f{n}", kinds[n % 4], f"Feed {n}") for n in range(args.feeds)]
    config = FeedsConfig(interval=args.interval, host_delay=0.0, host_connections=4, workers=4, max_backoff=60)
    updater = FeedUpdater(FeedStore(work / "feeds.sqlite3"), seeds, config, engine=engine)
    for n, url in enumerate(feed_urls):
        updater.add_unchecked(url, f"Feed {n}")

    published: dict[str, float] = {}
    answerable: dict[str, float] = {}
    cycles: list[dict[str, float]] = []
    retrains: list[int] = []
    last_trained: list[object] = [None]
    lock = threading.Lock()
    pages_before = [0]

    def on_event(event: WatchEvent) -> None:
        now = time.monotonic()
        if event.kind == "update" and event.update is not None:
            report = event.update
            with lock:
                for article in report.articles:
                    answerable.setdefault(article.url, now)
            pages = sum(site.page_requests().values())
            params = engine.store.read_manifest().vector_params if engine.has_index() else {}
            trained = params.get("trained")
            if trained != last_trained[0]:
                retrains.append(len(cycles))
                last_trained[0] = trained
            cycles.append(
                {
                    "feeds": len(report.feeds),
                    "new": report.new,
                    "pages": pages - pages_before[0],
                    "requests": report.requests,
                    "seconds": report.seconds,
                    "build_seconds": report.build.seconds if report.build else 0.0,
                }
            )
            pages_before[0] = pages
        elif event.kind == "error":
            print("  error:", event.message, flush=True)

    def publisher() -> None:
        start = time.monotonic()
        spacing = args.round_seconds / args.feeds
        for number in range(total):
            round_, feed = divmod(number, args.feeds)
            due = start + number * spacing
            time.sleep(max(0.0, due - time.monotonic()))
            record = corpus[number % len(corpus)]
            text = f"Loopback bulletin {round_}-{feed}.\n{record['text']}"
            story = Story(f"r{round_}f{feed}", f"{record['title']} ({round_}-{feed})", record["date"][:10], text)
            site.publish(f"f{feed}", story, keep=args.items)
            with lock:
                published[site.base + story.path] = time.monotonic()

    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    wall_start = time.monotonic()
    watcher = Watcher(engine, seeds, updater, on_event=on_event, watch_files=False, poll_seconds=1.0)
    pub = threading.Thread(target=publisher, daemon=True)
    pub.start()
    watcher.start()
    checkpoints = []
    questions: list[str] = []
    next_check = 10
    while pub.is_alive() or len(answerable) < len(published):
        time.sleep(1.0)
        if time.monotonic() - wall_start > 3 * 3600:
            print("giving up after 3 hours", flush=True)
            break
        if len(cycles) >= next_check:
            next_check += 10
            with lock:
                done = [u for u in answerable]
            for url in done[-5:]:
                story = site.stories[url.rsplit("/", 1)[-1][: -len(".html")]]
                questions.append(" ".join(story.text.split("\n")[1].split()[:14]))
            latencies = []
            for question in questions[-20:]:
                t0 = time.perf_counter()
                engine.ask(question)
                latencies.append((time.perf_counter() - t0) * 1000)
            manifest = engine.store.read_manifest()
            checkpoints.append(
                (
                    len(cycles),
                    len(manifest.articles),
                    manifest.n_vectors,
                    manifest.vector_index,
                    statistics.median(latencies),
                    pct(latencies, 95),
                    rss_mib(),
                )  # fmt: skip
            )
            print(
                f"  after {len(cycles)} updates: {len(manifest.articles):,} articles, {manifest.n_vectors:,} vectors "
                f"({manifest.vector_index}), ask p50 {checkpoints[-1][4]:.1f} ms p95 {checkpoints[-1][5]:.1f} ms, "
                f"RSS {checkpoints[-1][6]:,.0f} MiB",
                flush=True,
            )
    watcher.stop(120)
    wall = time.monotonic() - wall_start
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_end.ru_utime + cpu_end.ru_stime) - (cpu_start.ru_utime + cpu_start.ru_stime) - site.cpu_seconds
    delays = [answerable[u] - published[u] for u in answerable if u in published]
    productive = [c for c in cycles if c["new"]]
    manifest = engine.store.read_manifest()
    print()
    print(f"embedder: {embedder.name} (dim {embedder.dimension}); {args.feeds} feeds × {args.items} items listed, "
          f"{args.rounds} rounds over {args.round_seconds:g}s each, poll interval {args.interval:g}s")  # fmt: skip
    print(f"articles published {len(published):,}, answerable {len(answerable):,}; wall {wall:,.0f}s")
    print(f"published → answerable: p50 {pct(delays, 50):.1f}s, p95 {pct(delays, 95):.1f}s, max {max(delays):.1f}s")
    print(
        f"update cycles {len(cycles)} ({len(productive)} with new articles): pages fetched per poll "
        f"mean {statistics.mean(c['pages'] for c in cycles):.1f}, max {max(c['pages'] for c in cycles):.0f}; "
        f"requests per poll mean {statistics.mean(c['requests'] for c in cycles):.1f}; "
        f"pages fetched in all {sum(site.page_requests().values()):,} for {len(site.page_requests()):,} pages "
        f"(max per page {max(site.page_requests().values())})"
    )
    cycle_s = [c["seconds"] for c in productive]
    build_s = [c["build_seconds"] for c in productive]
    print(
        f"cycle seconds p50 {pct(cycle_s, 50):.1f}, p95 {pct(cycle_s, 95):.1f} "
        f"(index build p50 {pct(build_s, 50):.2f}s, p95 {pct(build_s, 95):.2f}s)"
    )
    print(f"CPU seconds per new article: {cpu / max(1, len(answerable)):.3f} (newsdesk's share: {cpu:,.0f}s in all, "
          f"site {site.cpu_seconds:,.0f}s excluded)")  # fmt: skip
    params = manifest.vector_params
    print(
        f"final index: {len(manifest.articles):,} articles, {manifest.n_passages:,} passages, {manifest.n_vectors:,} "
        f"vectors, {manifest.vector_index}, {len(manifest.segments)} segments, vector params "
        f"{ {k: v for k, v in params.items() if k in ('trained', 'appended', 'appends')} }, "
        f"parts {len(params.get('parts') or [])}"
    )
    print(f"vector index (re)trained at update(s) {retrains} — {len(retrains)} times in {len(cycles)} updates")
    print("growth (updates, articles, vectors, index, ask p50 ms, ask p95 ms, RSS MiB):")
    for row in checkpoints:
        print("  ", row)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB; finished "
          f"{dt.datetime.now().isoformat(timespec='seconds')}")  # fmt: skip
    updater.close()
    site.stop()


if __name__ == "__main__":
    main()
