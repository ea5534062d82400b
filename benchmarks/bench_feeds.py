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
import random
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


def cpu_seconds() -> float:
    """User + system CPU of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--items", type=int, default=50, help="items each feed lists (the newest)")
    parser.add_argument("--latency-rounds", type=int, default=5, help="freshness phase: rounds of one item per feed")
    parser.add_argument("--interval", type=float, default=10.0, help="freshness phase: the watcher's poll interval")
    parser.add_argument("--updates", type=int, default=100, help="growth phase: updates of one new item per feed")
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
    corpus = real_articles(2000, min_chars=800, max_chars=8000)
    print(f"{len(corpus)} real articles (cycled, each copy with its own lead line); work dir {work}", flush=True)
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
    updater.update()  # every feed polled once, empty
    published: dict[str, float] = {}
    lock = threading.Lock()
    counter = [0]

    def publish(feed: int) -> str:
        number = counter[0]
        counter[0] += 1
        record = corpus[number % len(corpus)]
        text = f"Loopback bulletin {number}.\n{record['text']}"
        story = Story(f"s{number}", f"{record['title']} ({number})", record["date"][:10], text)
        site.publish(f"f{feed}", story, keep=args.items)
        url = site.base + story.path
        with lock:
            published[url] = time.monotonic()
        return url

    # -- freshness: a watcher polls every interval while items are published at random times ----------------
    answerable: dict[str, float] = {}
    cycles: list[tuple[int, int, float]] = []
    pages_seen = [0]

    def on_event(event: WatchEvent) -> None:
        if event.kind == "update" and event.update is not None:
            now = time.monotonic()
            with lock:
                for article in event.update.articles:
                    answerable.setdefault(article.url, now)
            pages = sum(site.page_requests().values())
            cycles.append((len(event.update.feeds), pages - pages_seen[0], event.update.seconds))
            pages_seen[0] = pages
        elif event.kind == "error":
            print("  error:", event.message, flush=True)

    watcher = Watcher(engine, seeds, updater, on_event=on_event, watch_files=False, poll_seconds=1.0)
    watcher.start()
    rng = random.Random(7)
    total = args.latency_rounds * args.feeds
    moments = sorted(rng.uniform(0, args.latency_rounds * args.interval) for _ in range(total))
    started = time.monotonic()
    for number, moment in enumerate(moments):
        time.sleep(max(0.0, started + moment - time.monotonic()))
        publish(number % args.feeds)
    deadline = time.monotonic() + 10 * args.interval + 600
    while len(answerable) < total and time.monotonic() < deadline:
        time.sleep(0.5)
    watcher.stop(120)
    delays = [answerable[u] - published[u] for u in answerable if u in published]
    print(f"\nfreshness ({embedder.name}, dim {embedder.dimension}): {args.feeds} feeds, poll interval "
          f"{args.interval:g}s, {total} items published at random moments over {moments[-1]:.0f}s")  # fmt: skip
    print(f"  published → answerable: p50 {pct(delays, 50):.1f}s, p95 {pct(delays, 95):.1f}s, max {max(delays):.1f}s "
          f"({len(answerable)}/{total} answerable)")  # fmt: skip
    print(f"  {len(cycles)} polls of due feeds: feeds per poll mean {statistics.mean(c[0] for c in cycles):.1f}, "
          f"pages fetched per poll mean {statistics.mean(c[1] for c in cycles):.1f} (max {max(c[1] for c in cycles)}), "
          f"cycle p50 {pct([c[2] for c in cycles], 50):.2f}s p95 {pct([c[2] for c in cycles], 95):.2f}s")  # fmt: skip

    # -- growth: updates of one new item per feed, until 10k more articles -------------------------------------
    print(f"\ngrowth: {args.updates} updates × {args.feeds} new items", flush=True)
    rows = []
    trained_at: list[int] = []
    last_trained: object = None
    growth_cpu = 0.0
    growth_new = 0
    questions: list[tuple[str, str]] = []
    for number in range(1, args.updates + 1):
        urls = [publish(feed) for feed in range(args.feeds)]
        pages_before = sum(site.page_requests().values())
        cpu_before, site_before = cpu_seconds(), site.cpu_seconds
        t0 = time.monotonic()
        report = updater.update()
        seconds = time.monotonic() - t0
        growth_cpu += (cpu_seconds() - cpu_before) - (site.cpu_seconds - site_before)
        growth_new += report.new
        pages = sum(site.page_requests().values()) - pages_before
        manifest = engine.store.read_manifest()
        params = manifest.vector_params
        trained = (manifest.vector_index, params.get("trained"))
        if trained != last_trained:
            trained_at.append(number)
            last_trained = trained
        url = urls[number % len(urls)]
        story = site.stories[url.rsplit("/", 1)[-1][: -len(".html")]]
        paragraphs = [line for line in story.text.split("\n")[1:] if len(line) > 120] or [story.text]
        questions.append((" ".join(paragraphs[len(paragraphs) // 2].split()[:14]), url))
        if number % 10 == 0 or number == 1:
            latencies, hits = [], 0
            for question, wanted in questions[-20:]:
                q0 = time.perf_counter()
                engine.ask(question)
                latencies.append((time.perf_counter() - q0) * 1000)
                hits += any(h.article.url == wanted for h in engine.search(question, k=10))
            rows.append(
                (
                    number,
                    len(manifest.articles),
                    manifest.n_vectors,
                    manifest.vector_index,
                    pages,
                    seconds,
                    report.build.seconds if report.build else 0.0,
                    statistics.median(latencies),
                    pct(latencies, 95),
                    hits,
                    len(latencies),
                    rss_mib(),
                    len(params.get("parts") or []),
                    params.get("trained"),
                    params.get("appended"),
                )  # fmt: skip
            )
            r = rows[-1]
            print(f"  update {r[0]:3d}: {r[1]:,} articles, {r[2]:,} vectors ({r[3]}), {r[4]} pages fetched, "
                  f"update {r[5]:.1f}s (build {r[6]:.1f}s), ask p50 {r[7]:.0f} ms p95 {r[8]:.0f} ms, "
                  f"found {r[9]}/{r[10]}, RSS {r[11]:,.0f} MiB, parts {r[12]}, trained {r[13]}, appended {r[14]}",
                  flush=True)  # fmt: skip
    requests = site.page_requests()
    print(f"  pages fetched in all: {sum(requests.values()):,} for {len(requests):,} pages (most for one page: "
          f"{max(requests.values())})")  # fmt: skip
    print(f"  CPU seconds per new article: {growth_cpu / max(1, growth_new):.3f} ({growth_cpu:,.0f}s for "
          f"{growth_new:,} articles; the site's own CPU excluded)")  # fmt: skip
    print(f"  vector index built/retrained at update(s) {trained_at} ({len(trained_at)} of {args.updates})")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB; finished "
          f"{dt.datetime.now().isoformat(timespec='seconds')}")  # fmt: skip
    updater.close()
    site.stop()


if __name__ == "__main__":
    main()
