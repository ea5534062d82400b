"""The ``newsdesk`` command: parse the arguments, build the settings, run a subcommand, turn errors into one line."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from bot.commands import ask, brief, chat, discord_bot, evaluate, feedback, feeds, follow, index, search, stats
from bot.context import (
    EXIT_ERROR,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_IO,
    EXIT_OK,
    EXIT_USAGE,
    CommandContext,
)
from bot.render import printable
from retrieval.errors import BuildInterrupted, NewsdeskError, Remedy, SettingError, UnknownFeedError, UnknownTopicError
from retrieval.ingest.textclean import scrub

log = logging.getLogger(__name__)

SAMPLE_QUESTION = "Why won't Turkey sanction Russia?"
COMMANDS = (index, ask, chat, search, evaluate, stats, feeds, follow, brief, discord_bot, feedback)
"""Each module adds its subcommand(s) with ``register(sub, parents)``, in the order ``--help`` lists them."""


def _iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date; use YYYY-MM-DD") from None


def _path(value: str) -> Path:
    if not value.strip():
        raise argparse.ArgumentTypeError("an empty path (it would mean the current directory)")
    return Path(value)


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
    common.add_argument("--index", type=_path, metavar="DIR", help="index directory (NEWSDESK_INDEX_DIR)")
    common.add_argument("--seeds", type=_path, metavar="DIR", help="articles directory (NEWSDESK_SEEDS_DIR)")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")

    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--k", type=_positive, help="how many passages to retrieve")
    filters.add_argument("--since", type=_iso_date, metavar="YYYY-MM-DD", help="only articles from this date")
    filters.add_argument("--until", type=_iso_date, metavar="YYYY-MM-DD", help="only articles up to this date")
    filters.add_argument(
        "--as-of",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="answer as of this day: later articles do not exist, 'this week' counts from it (default: today)",
    )

    parser = argparse.ArgumentParser(
        prog="newsdesk",
        description="Cited answers from a corpus of news articles, entirely offline.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = {"common": common, "filters": filters}
    for command in COMMANDS:
        command.register(sub, parents)
    return parser


NOISY_LOGGERS = ("faiss.loader", "httpx", "sentence_transformers", "bm25s", "urllib3")
"""Libraries whose INFO chatter is not newsdesk's: shown from WARNING up."""
QUIET_LOGGERS = (
    "trafilatura",
    "htmldate",
    "courlan",
    "justext",
    "readability",
    "pymilvus.client.iterator.query_iterator",
)
"""HTML extraction libraries, whose warnings ("discarding data: None") repeat what newsdesk says
about the file in its own words, and pymilvus's query iterator, which warns on every paged query to
Milvus Lite (it has no server-side snapshot time, "failed to get mvccTs ... use client-side ts"): shown
only at -vv."""
QUIET_WARNINGS = (r"tzname .* identified but not understood",)
"""Python warnings from the libraries that read dates (dateutil's UnknownTimezoneWarning for "EDT"): the
date is still read, without its zone; shown only at -vv."""


class _PrintableFormatter(logging.Formatter):
    """Log lines with escape sequences and control characters removed (file names, questions...)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record formatted, then made safe for a terminal (newlines of a traceback kept)."""
        return scrub(super().format(record), keep="\n")


def _silenced(record: logging.LogRecord) -> bool:
    return False


_SILENCED = _silenced
"""The filter that keeps a quiet logger quiet (one object, so adding it again adds nothing)."""


def _configure_logging(verbosity: int, level_name: str) -> None:
    level = logging.getLevelName(level_name.upper())
    if not isinstance(level, int):
        level = logging.WARNING
    if verbosity:
        level = logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)  # bm25s sets its own logger to DEBUG at import; filter here
        handler.setFormatter(_PrintableFormatter("%(levelname)s: %(message)s"))
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    for quiet in QUIET_LOGGERS:
        logging.getLogger(quiet).setLevel(logging.DEBUG if verbosity >= 2 else logging.CRITICAL)
        if verbosity >= 2:
            logging.getLogger(quiet).removeFilter(_SILENCED)
        else:  # (a filter also outlives pymilvus's logging set-up at its import, which resets levels)
            logging.getLogger(quiet).addFilter(_SILENCED)
    for message in QUIET_WARNINGS:
        warnings.filterwarnings("default" if verbosity >= 2 else "ignore", message=message)


def _warn_unknown_variables() -> None:
    """A mistyped NEWSDESK_ variable, in the environment or ./.env, is a warning rather than ignored."""
    from dotenv import dotenv_values

    from bot.settings import unknown_variables

    found = {**dotenv_values(".env"), **os.environ} if Path(".env").is_file() else dict(os.environ)
    for line in unknown_variables(found):
        log.warning(line)


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


SETTING_HINTS = {
    "model": " — set NEWSDESK_MODEL to a sentence-transformers model name or a local model directory",
    "ranker": " — set NEWSDESK_RANKER to a directory holding ranker.json, or to off",
    "reader": " — set NEWSDESK_READER to a directory holding reader.json, or to off",
    "embed_backend": " — set NEWSDESK_EMBED_BACKEND=torch",
    "quantize": " — set NEWSDESK_QUANTIZE to int8 or none",
    "llm_url": " — set NEWSDESK_LLM_URL (an OpenAI-compatible server) or NEWSDESK_LLM_GGUF (a local .gguf file)",
    "llm_gguf": " — set NEWSDESK_LLM_GGUF to a .gguf file",
    "llm_model": " — set NEWSDESK_LLM_MODEL",
}
"""What the command line adds to an engine error that names the setting to change (``exc.setting``)."""


def hint(exc: NewsdeskError) -> str:
    """What the command line adds to an engine error: the setting or command that fixes it."""
    if isinstance(exc, UnknownFeedError):
        return " (see `newsdesk feeds list`)"
    if isinstance(exc, UnknownTopicError):
        return " (see `newsdesk follow list`)"
    if exc.setting in SETTING_HINTS:
        return SETTING_HINTS[exc.setting]
    if exc.remedy is Remedy.FIX_SETTING and exc.setting:
        return f" — check NEWSDESK_{exc.setting.upper()}"
    return REMEDIES.get(exc.remedy, "") if exc.remedy is not None else ""


def _settings_error(exc: Exception) -> str:
    from pydantic import ValidationError

    from bot.settings import explain

    if isinstance(exc, ValidationError) and exc.errors():
        return printable(explain(exc))
    return printable(f"bad settings: {type(exc).__name__}: {exc}")


def _command(args: argparse.Namespace) -> str:
    words = [str(w) for w in (args.command, getattr(args, "feedback_command", None)) if w]
    words += [str(w) for w in (getattr(args, "follow_command", None),) if w]
    return "`" + " ".join(["newsdesk", *words]) + "`"


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null, so flushing it at exit fails no more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


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
        return EXIT_USAGE
    _configure_logging(args.verbose, settings.general.log_level)
    _warn_unknown_variables()
    ctx = CommandContext(settings, args)
    what = _command(args)
    try:
        return int(args.handler(ctx) or EXIT_OK)
    except NewsdeskError as exc:
        ctx.fail(f"{exc}{hint(exc)}")
        return EXIT_USAGE if isinstance(exc, SettingError) else EXIT_ERROR
    except BuildInterrupted as exc:
        if exc.live:
            ctx.fail("interrupted after the new index went live (the seed cache was not saved)")
        else:
            ctx.fail("interrupted; the previous index is untouched")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        ctx.fail("interrupted" + ("; the previous index is untouched" if ctx.building else ""))
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`newsdesk ask … | head -1`): not an error
        _quiet_stdout()
        return EXIT_OK
    except OSError as exc:  # the machine's refusal, not newsdesk's: a full disk, a permission, a vanished file
        ctx.fail(ctx.io_error(exc, what))
        return EXIT_IO
    except Exception as exc:  # the last line of defence: one line, the traceback logged
        ctx.fail(ctx.internal_error(exc, what))
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
