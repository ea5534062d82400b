"""The ``newsdesk`` command: index, ask, chat, search, stats (and the fronts built on them)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from retrieval.errors import ModelLoadError, NewsdeskError

if TYPE_CHECKING:
    from bot.settings import Settings
    from retrieval.engine import Engine
    from retrieval.indexer import BuildProgress

log = logging.getLogger(__name__)

SAMPLE_QUESTION = "Why won't Turkey sanction Russia?"
HISTORY_FILE = Path.home() / ".newsdesk_history"


class CommandError(NewsdeskError):
    """A command-line problem the user can fix (bad option, bad input line)."""


def _iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date; use YYYY-MM-DD") from None


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number") from None
    if not 1 <= number <= 50:
        raise argparse.ArgumentTypeError("must be between 1 and 50")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each subcommand takes --index and --seeds."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", type=Path, metavar="DIR", help="index directory (NEWSDESK_INDEX_DIR)")
    common.add_argument("--seeds", type=Path, metavar="DIR", help="articles directory (NEWSDESK_SEEDS_DIR)")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")

    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--k", type=_positive, help="how many passages to retrieve")
    filters.add_argument("--since", type=_iso_date, metavar="YYYY-MM-DD", help="only articles from this date")
    filters.add_argument(
        "--until", type=_iso_date, metavar="YYYY-MM-DD", help="only articles up to this date"
    )

    parser = argparse.ArgumentParser(
        prog="newsdesk",
        description="Cited answers from a corpus of news articles, entirely offline.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", parents=[common], help="build or update the index from the seeds")
    p.add_argument("--full", action="store_true", help="rebuild from scratch instead of updating")
    p.set_defaults(handler=cmd_index)

    p = sub.add_parser("ask", parents=[common, filters], help="answer a question with citations")
    p.add_argument("question", nargs="?", help="the question (omit with --jsonl)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--jsonl", action="store_true", help="read {id, question} lines on stdin, write answers")
    p.set_defaults(handler=cmd_ask)

    p = sub.add_parser("chat", parents=[common, filters], help="ask questions interactively (Ctrl-D quits)")
    p.set_defaults(handler=cmd_chat)

    p = sub.add_parser("search", parents=[common, filters], help="show the top passages and their scores")
    p.add_argument("query")
    p.add_argument("--json", action="store_true", help="print the passages as JSON")
    p.set_defaults(handler=cmd_search)

    p = sub.add_parser("eval", parents=[common], help="measure answer quality on a QA benchmark")
    p.add_argument("--corpus", type=Path, required=True, help="articles as JSONL (id, title, date, text)")
    p.add_argument("--questions", type=Path, required=True, help="questions as JSONL (see README)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N answerable and N/3 unanswerable")
    p.add_argument("--mode", choices=("hybrid", "dense", "lexical"), help="search mode to measure")
    p.add_argument("--full", action="store_true", help="rebuild the eval index from scratch")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=cmd_eval)

    p = sub.add_parser("stats", parents=[common], help="what is indexed")
    p.add_argument("--json", action="store_true", help="print the stats as JSON")
    p.set_defaults(handler=cmd_stats)

    p = sub.add_parser("bot", parents=[common], help="run the Discord bot (NEWSDESK_DISCORD_TOKEN)")
    p.set_defaults(handler=cmd_bot)

    p = sub.add_parser("feedback", help="the Discord bot's 👍/👎 feedback")
    feedback = p.add_subparsers(dest="feedback_command", required=True, metavar="ACTION")
    p = feedback.add_parser("export", parents=[common], help="write the votes as JSONL")
    p.add_argument("--out", type=Path, metavar="FILE", help="output file (default: standard output)")
    p.set_defaults(handler=cmd_feedback_export)

    return parser


def _configure_logging(verbosity: int, level_name: str) -> None:
    level = logging.getLevelName(level_name.upper())
    if not isinstance(level, int):
        level = logging.WARNING
    if verbosity:
        level = logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)  # bm25s sets its own logger to DEBUG at import; filter here
    for noisy in ("faiss.loader", "httpx", "sentence_transformers", "bm25s", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _offline_environment() -> None:
    """Set before torch or transformers load: no hub, quiet threads, no tokenizer forks."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")


class Context:
    """What a command needs: settings, consoles, and the engine (loaded on first use, once)."""

    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.settings = settings
        self.args = args
        self.index_dir: Path = args.index or settings.index_dir
        self.seeds_dir: Path = args.seeds or settings.seeds_dir
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False)
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """The engine with its model loaded (lazily: ``stats`` never pays for it)."""
        if self._engine is None:
            from retrieval.embedding import make_embedder
            from retrieval.engine import Engine
            from retrieval.store import IndexStore

            try:
                embedder = make_embedder(self.settings.embedding())
            except ModelLoadError as exc:
                raise ModelLoadError(
                    f"{exc} — set NEWSDESK_MODEL to a sentence-transformers model name or a local model directory"
                ) from exc
            self._engine = Engine(
                IndexStore(self.index_dir, self.settings.vectors()),
                embedder,
                search=self.settings.search(),
                answer=self.settings.answer(),
                chunking=self.settings.chunking(),
            )
        return self._engine

    def build(self, full: bool) -> None:
        """Index the seeds with a progress display and print a one-line summary."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
        )
        tasks: dict[str, int] = {}

        def on_progress(event: BuildProgress) -> None:
            task = tasks.get(event.stage)
            if task is None:
                task = tasks[event.stage] = progress.add_task(event.stage, total=event.total or None, rate="")
            elapsed = progress.tasks[task].elapsed or 0.0
            rate = f"{event.done / elapsed:,.0f}/s" if elapsed > 0.5 and event.done else ""
            progress.update(task, completed=event.done, total=event.total or None, rate=rate)

        with progress:
            summary, ingest = self.engine.build(self.seeds_dir, full=full, progress=on_progress)
        skipped = len(ingest.skipped)
        self.err.print(
            f"Indexed {summary.articles} articles ({summary.added} new, {summary.changed} changed, "
            f"{summary.removed} removed, {summary.unchanged} unchanged) into {summary.passages} passages; "
            f"embedded {summary.embedded} sentences in {summary.seconds:.1f}s ({summary.rate:.1f}/s); "
            f"skipped {skipped} file{'s' if skipped != 1 else ''}, {ingest.duplicates} duplicate"
            f"{'s' if ingest.duplicates != 1 else ''}; index at {self.index_dir}"
        )

    def ready_engine(self) -> Engine:
        """The engine with an index: built from the seeds first if there is none yet."""
        engine = self.engine
        if not engine.has_index():
            self.err.print(f"No index at {self.index_dir} yet: building it from {self.seeds_dir} first.")
            self.build(full=True)
        return engine

    def dates(self) -> object:
        """The --since/--until filter."""
        from retrieval.types import DateRange

        since, until = getattr(self.args, "since", None), getattr(self.args, "until", None)
        if since and until and since > until:
            raise CommandError(f"--since {since} is after --until {until}")
        return DateRange(since, until)


def cmd_index(ctx: Context) -> int:
    """newsdesk index [--full]"""
    ctx.build(full=ctx.args.full)
    return 0


def _print_json(ctx: Context, data: object) -> None:
    ctx.out.print_json(json.dumps(data, ensure_ascii=False)) if ctx.out.is_terminal else print(
        json.dumps(data, ensure_ascii=False, indent=2)
    )


def cmd_ask(ctx: Context) -> int:
    """newsdesk ask "question" [--json] | newsdesk ask --jsonl < questions.jsonl"""
    from bot.render import answer_to_dict, print_answer

    args = ctx.args
    if args.jsonl:
        if args.question:
            raise CommandError("give the question on stdin with --jsonl, not as an argument")
        return _ask_jsonl(ctx)
    if args.question is None:
        raise CommandError('what is the question? e.g. newsdesk ask "Why won\'t Turkey sanction Russia?"')
    from retrieval.engine import check_question

    question = check_question(args.question, ctx.settings.max_question_chars)  # fail before loading
    answer = ctx.ready_engine().ask(question, k=args.k, dates=ctx.dates())
    if args.json:
        _print_json(ctx, answer_to_dict(answer))
    else:
        print_answer(ctx.out, answer)
    return 0


def _ask_jsonl(ctx: Context) -> int:
    from bot.render import answer_to_dict

    engine = ctx.ready_engine()
    dates = ctx.dates()
    failures = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        record_id: object = None
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("question"), str):
                raise CommandError('each line must be a JSON object with a "question" string')
            record_id = record.get("id", number)
            answer = engine.ask(record["question"], k=ctx.args.k, dates=dates)
            out = {"id": record_id, **answer_to_dict(answer)}
        except (json.JSONDecodeError, NewsdeskError) as exc:
            failures += 1
            reason = f"not valid JSON ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else str(exc)
            ctx.err.print(f"newsdesk: line {number}: {reason}", markup=False)
            out = {"id": record_id if record_id is not None else number, "error": reason}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 1 if failures else 0


def cmd_chat(ctx: Context) -> int:
    """An interactive loop: one question a line, history kept, Ctrl-D to quit."""
    from bot.render import print_answer

    engine = ctx.ready_engine()
    dates = ctx.dates()
    try:
        import readline

        HISTORY_FILE.touch(exist_ok=True)
        readline.read_history_file(HISTORY_FILE)
        readline.set_history_length(1000)
    except (ImportError, OSError):
        readline = None  # type: ignore[assignment]
    index = engine.index
    ctx.err.print(
        f"newsdesk: {len(index.articles)} articles, {len(index.passages)} passages. "
        "Ask a question; Ctrl-D to quit."
    )
    try:
        while True:
            try:
                question = input("newsdesk> ")
            except KeyboardInterrupt:
                print()
                continue
            if not question.strip():
                continue
            if question.strip().lower() in {"exit", "quit", ":q"}:
                break
            try:
                print_answer(ctx.out, engine.ask(question, k=ctx.args.k, dates=dates))
            except NewsdeskError as exc:
                ctx.err.print(f"newsdesk: {exc}", markup=False)
            print()
    except EOFError:
        print()
    finally:
        if readline is not None:
            with contextlib.suppress(OSError):
                readline.write_history_file(HISTORY_FILE)
    return 0


def cmd_search(ctx: Context) -> int:
    """newsdesk search "query": passages only, with scores."""
    from bot.render import hit_to_dict, print_hits
    from retrieval.engine import check_question

    query = check_question(ctx.args.query, ctx.settings.max_question_chars)
    hits = ctx.ready_engine().search(query, k=ctx.args.k, dates=ctx.dates())
    if ctx.args.json:
        _print_json(ctx, [hit_to_dict(h) for h in hits])
    else:
        print_hits(ctx.out, hits)
    return 0


def cmd_stats(ctx: Context) -> int:
    """newsdesk stats: read from the manifest, no model loaded."""
    from bot.render import print_stats, stats_to_dict
    from retrieval.engine import index_stats
    from retrieval.store import IndexStore

    stats = index_stats(IndexStore(ctx.index_dir))
    if ctx.args.json:
        _print_json(ctx, stats_to_dict(stats))
    else:
        print_stats(ctx.out, stats)
    return 0


def cmd_eval(ctx: Context) -> int:
    """newsdesk eval --corpus C --questions Q: index C separately, answer Q, print the metrics."""
    from bot.render import print_eval
    from retrieval.evaluation import evaluate, load_questions, select_questions

    args = ctx.args
    if not args.corpus.is_file():
        raise CommandError(f"corpus file not found: {args.corpus}")
    questions = select_questions(load_questions(args.questions), args.limit)
    if args.index is None:
        ctx.index_dir = ctx.settings.index_dir.parent / "eval-index" / args.corpus.stem
    if args.mode:
        ctx.settings = ctx.settings.model_copy(update={"search_mode": args.mode})
    ctx.seeds_dir = args.corpus
    started = time.perf_counter()
    ctx.build(full=args.full)
    build_seconds = time.perf_counter() - started
    from rich.progress import Progress

    with Progress(console=ctx.err, transient=True) as progress:
        task = progress.add_task("asking", total=len(questions))
        report = evaluate(
            ctx.engine,
            questions,
            build_seconds=build_seconds,
            progress=lambda done, _total: progress.update(task, completed=done),
        )
    if args.json:
        _print_json(ctx, report.as_dict())
    else:
        print_eval(ctx.out, report)
    return 0


def _settings_error(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        name = "NEWSDESK_" + str(first["loc"][0]).upper() if first.get("loc") else "a setting"
        return f"bad setting {name}: {first['msg']}"
    return f"bad settings: {exc}"


def cmd_bot(ctx: Context) -> int:
    """newsdesk bot: load the model and index once, then answer on Discord until interrupted."""
    token = ctx.settings.discord_token
    if token is None or not token.get_secret_value().strip():
        raise CommandError(
            "no Discord token: set NEWSDESK_DISCORD_TOKEN in the environment or .env (see .env.example)"
        )
    from bot.discord_bot.client import run_bot

    if not ctx.args.verbose:  # a service logs what it loaded and when it is ready
        for handler in logging.getLogger().handlers:
            handler.setLevel(min(handler.level, logging.INFO))
        logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    engine = ctx.ready_engine()
    try:
        run_bot(engine, ctx.settings, token.get_secret_value().strip())
    except KeyboardInterrupt:
        log.info("stopped")
    return 0


def cmd_feedback_export(ctx: Context) -> int:
    """newsdesk feedback export [--out FILE]: the votes with their questions, answers and cited ids."""
    from bot.discord_bot.feedback import FeedbackStore

    store = FeedbackStore(ctx.settings.feedback_db)
    if ctx.args.out is None:
        count = store.export_jsonl(sys.stdout)
    else:
        try:
            with ctx.args.out.open("w", encoding="utf-8") as out:
                count = store.export_jsonl(out)
        except OSError as exc:
            raise CommandError(f"cannot write {ctx.args.out}: {exc.strerror or exc}") from exc
    ctx.err.print(f"Exported {count} vote{'s' if count != 1 else ''} from {ctx.settings.feedback_db}.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``newsdesk`` console script."""
    _offline_environment()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from bot.settings import Settings

        settings = Settings()
    except Exception as exc:  # pydantic ValidationError, or a bad .env
        print(f"newsdesk: {_settings_error(exc)}", file=sys.stderr)
        return 2
    _configure_logging(args.verbose, settings.log_level)
    ctx = Context(settings, args)
    try:
        return int(args.handler(ctx) or 0)
    except NewsdeskError as exc:
        ctx.err.print(f"newsdesk: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        ctx.err.print("newsdesk: interrupted; the previous index is untouched")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
