"""The ``newsdesk`` command: parse the arguments, build the settings, run a subcommand, turn errors into one line."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.commands import ask, chat, discord_bot, evaluate, feedback, index, search, stats
from bot.context import Context
from retrieval.errors import BuildInterrupted, ModelLoadError, NewsdeskError, Remedy, SettingError

log = logging.getLogger(__name__)

SAMPLE_QUESTION = "Why won't Turkey sanction Russia?"
COMMANDS = (index, ask, chat, search, evaluate, stats, discord_bot, feedback)
"""Each module adds its subcommand(s) with ``register(sub, parents)``, in the order ``--help`` lists them."""


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
    filters.add_argument("--until", type=_iso_date, metavar="YYYY-MM-DD", help="only articles up to this date")

    parser = argparse.ArgumentParser(
        prog="newsdesk",
        description="Cited answers from a corpus of news articles, entirely offline.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = {"common": common, "filters": filters}
    for command in COMMANDS:
        command.register(sub, parents)
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


REMEDIES = {
    Remedy.BUILD: " — run `newsdesk index` to build it",
    Remedy.REBUILD: " — run `newsdesk index --full` to rebuild it",
    Remedy.WAIT: "; wait for it to finish",
}
"""How the command line words an engine error's remedy."""


def hint(exc: NewsdeskError) -> str:
    """What the command line adds to an engine error: the setting or command that fixes it."""
    if isinstance(exc, ModelLoadError):
        return " — set NEWSDESK_MODEL to a sentence-transformers model name or a local model directory"
    if exc.remedy is Remedy.FIX_SETTING and exc.setting:
        return f" — check NEWSDESK_{exc.setting.upper()}"
    return REMEDIES.get(exc.remedy, "") if exc.remedy is not None else ""


def _settings_error(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        name = "NEWSDESK_" + str(first["loc"][0]).upper() if first.get("loc") else "a setting"
        return f"bad setting {name}: {first['msg']}"
    return f"bad settings: {exc}"


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
        ctx.err.print(f"newsdesk: {exc}{hint(exc)}", markup=False, highlight=False, soft_wrap=True)
        return 2 if isinstance(exc, SettingError) else 1
    except BuildInterrupted as exc:
        if exc.live:
            ctx.err.print("newsdesk: interrupted after the new index went live (the seed cache was not saved)")
        else:
            ctx.err.print("newsdesk: interrupted; the previous index is untouched")
        return 130
    except KeyboardInterrupt:
        ctx.err.print("newsdesk: interrupted")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
