"""The references generated from the code: docs/cli.md (the argument parser) and docs/settings.md (the settings).

python -m bot.docs            write them
python -m bot.docs --check    exit 1 if either is stale (what the tests check)
"""

from __future__ import annotations

import argparse
import os
import sys
import typing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import SecretStr

from bot.cli import build_parser
from bot.settings import Setting, Settings, settings

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "python -m bot.docs"
HELP_WIDTH = 100
"""Columns the ``--help`` texts are wrapped to (argparse reads ``$COLUMNS``)."""


@contextmanager
def _columns(width: int) -> Iterator[None]:
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = before


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each subcommand, in the order ``--help`` lists them."""
    found: list[tuple[str, str, argparse.ArgumentParser]] = []
    for action in parser._actions:  # argparse keeps subparsers here and nowhere public
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    found.append((name, helps.get(name, ""), sub))
    return found


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    for name, about, sub in _subcommands(parser):
        full = f"{prefix} {name}".strip()
        yield full, about, sub
        yield from _commands(sub, full)


def cli_reference() -> str:
    """docs/cli.md: every command's ``--help``, as the parser in bot/cli.py prints it."""
    parser = build_parser()
    with _columns(HELP_WIDTH):
        lines = [
            "# Command-line reference",
            "",
            f"<!-- Generated from bot/cli.py by `{COMMAND}`; do not edit by hand. -->",
            "",
            "Every command prints this with `--help`. The guide is [usage.md](usage.md); settings are in",
            "[settings.md](settings.md).",
            "",
            "```text",
            parser.format_help().rstrip(),
            "```",
        ]
        for name, about, sub in _commands(parser):
            lines += ["", f"## newsdesk {name}", ""] + ([about[:1].upper() + about[1:] + ".", ""] if about else [])
            lines += ["```text", sub.format_help().rstrip(), "```"]
    return "\n".join(lines) + "\n"


def _bounds(annotation: Any) -> list[str]:
    found = []
    for meta in getattr(annotation, "__metadata__", ()):
        for kind, word in ((annotated_types.Ge, "≥"), (annotated_types.Gt, ">"), (annotated_types.Le, "≤")):
            if isinstance(meta, kind):
                found.append(f"{word} {getattr(meta, kind.__name__.lower())}")
        if isinstance(meta, annotated_types.Predicate):
            found.append(getattr(meta.func, "__name__", "checked").replace("_", " "))
    for arg in typing.get_args(annotation):  # Optional[Annotated[...]]
        if arg is not type(None) and typing.get_origin(arg) is typing.Annotated:
            found += _bounds(arg)
    return found


def _kind(annotation: Any) -> str:
    """What a setting takes, in a few words: ``int ≥ 1``, ``hybrid | dense | lexical``, ``path``…"""
    base = annotation
    while typing.get_origin(base) is typing.Annotated:
        base = typing.get_args(base)[0]
    args = [a for a in typing.get_args(base) if a is not type(None)]
    optional = len(args) < len(typing.get_args(base))
    if optional and len(args) == 1:
        base = args[0]
        while typing.get_origin(base) is typing.Annotated:
            base = typing.get_args(base)[0]
    origin = typing.get_origin(base)
    if origin is Literal:
        word = " \\| ".join(f"`{a}`" for a in typing.get_args(base))
    elif origin is dict:
        word = "JSON object"
    elif origin is list:
        word = "list of ids"
    else:
        word = {bool: "true/false", int: "whole number", float: "number", str: "text", Path: "path"}.get(
            base, "secret" if base is SecretStr else getattr(base, "__name__", str(base))
        )
    bounds = _bounds(annotation)
    return word + (f" ({', '.join(bounds)})" if bounds else "") + (", may be unset" if optional else "")


def _default(setting: Setting) -> str:
    value = setting.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value in ("", [], {}):
        return "empty"
    return f"`{value}`"


def _markdown(text: str) -> str:
    return " ".join(text.replace("``", "`").split()).replace("|", "\\|")


def settings_reference() -> str:
    """docs/settings.md: every setting, by section, with its default, what it takes and its docstring."""
    lines = [
        "# Settings reference",
        "",
        f"<!-- Generated from bot/settings.py and retrieval/config.py by `{COMMAND}`; do not edit by hand. -->",
        "",
        "newsdesk reads `NEWSDESK_*` environment variables, then a `.env` file in the current directory",
        "(the environment wins); `.env.example` lists them all with comments. A bad value stops any command",
        "with one line naming the variable, and exit status 2. A setting that may be unset is unset by an",
        "empty value, `none` or `off`. A `NEWSDESK_` variable that is no setting (a typo) is ignored with a",
        "warning naming the nearest setting. How a setting is declared and added:",
        "[development.md](development.md#settings).",
    ]
    for section, info in Settings.model_fields.items():
        owner = typing.cast(type, info.annotation)
        doc = (owner.__doc__ or "").strip().splitlines()[0]
        where = f"`{owner.__name__}` in `{owner.__module__.replace('.', '/')}.py`"
        lines += ["", f"## {section}", "", f"{_markdown(doc)} Declared by {where}; read as `settings.{section}`."]
        lines += ["", "| variable | default | takes | what it does |"]
        lines.append("|---|---|---|---|")
        for setting in (s for s in settings() if s.section == section):
            lines.append(
                f"| `{setting.env}` | {_default(setting)} | {_kind(setting.annotation)} | {_markdown(setting.doc)} |"
            )
    return "\n".join(lines) + "\n"


REFERENCES = {"docs/cli.md": cli_reference, "docs/settings.md": settings_reference}
"""Each generated file and the function that writes it."""


def stale(root: Path = ROOT) -> list[str]:
    """The generated files that differ from what the code gives now."""
    return [name for name, render in REFERENCES.items() if _read(root / name) != render()]


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Write the references, or with ``--check`` say which are stale."""
    parser = argparse.ArgumentParser(prog=COMMAND, description="Write docs/cli.md and docs/settings.md from the code.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a reference is stale")
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        for name in old:
            print(f"{name} is stale: run `{COMMAND}`", file=sys.stderr)
        return 1 if old else 0
    for name, render in REFERENCES.items():
        (ROOT / name).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / name).write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
