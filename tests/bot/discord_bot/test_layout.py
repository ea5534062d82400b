"""The Discord front's shape, checked mechanically: commands, mentions and buttons are extensions that
never import the client at run time, and the engine is used only through its façade."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

import bot.discord_bot

PACKAGE = Path(bot.discord_bot.__file__).parent
FACADE = {"ask", "search", "build", "stats", "describe", "model_name", "max_question_chars", "check_question"}
FACADE |= {"index_dir", "article_ids", "alerts_for", "brief", "missing_index"}  # topic alerts and briefings
FACADE |= {"replica"}  # a replica leaves feeds, follows and rebuilds to the builder
"""``Engine``'s methods for the fronts (retrieval/engine.py)."""


def test_nothing_but_the_package_entry_imports_the_client_at_run_time():
    graph = grimp.build_graph("bot", exclude_type_checking_imports=True)
    importers = graph.find_modules_that_directly_import("bot.discord_bot.client")
    assert {m for m in importers if m.startswith("bot.discord_bot.")} == set(), importers
    extensions = ("commands", "mentions", "buttons", "guard", "embeds", "feedback", "cooldown")
    for name in extensions:
        chain = graph.find_shortest_chain(importer=f"bot.discord_bot.{name}", imported="bot.discord_bot.client")
        assert chain is None, chain


def _engine_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, attribute) for every ``<…>.engine.X``, ``engine.X`` or ``_engine.X`` in ``tree``."""
    uses = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        holder = node.value
        name = holder.attr if isinstance(holder, ast.Attribute) else getattr(holder, "id", None)
        if name in ("engine", "_engine"):
            uses.append((node.lineno, node.attr))
    return uses


def test_the_front_uses_only_the_engines_facade():
    seen = set()
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, attribute in _engine_uses(tree):
            seen.add(attribute)
            assert attribute in FACADE, f"{path.name}:{line} uses engine.{attribute}, not the façade"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "retrieval.engine":
                names = {alias.name for alias in node.names}
                assert names <= {"Engine", "IndexStats"}, f"{path.name}:{node.lineno} imports {names} from the engine"
    assert {"ask", "search", "build", "stats", "check_question", "max_question_chars"} <= seen  # the check looks
