"""The generated references (docs/cli.md, docs/settings.md) match the code, and the docs link up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import docs
from bot.settings import settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(docs.REFERENCES))
def test_the_generated_references_are_current(name: str) -> None:
    written = (ROOT / name).read_text(encoding="utf-8") if (ROOT / name).is_file() else ""
    assert written == docs.REFERENCES[name](), f"{name} is stale: run `.venv/bin/python -m bot.docs` and commit it"


def test_a_stale_reference_is_found_and_rewritten(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "cli.md").write_text("old\n", encoding="utf-8")
    assert docs.stale(tmp_path) == ["docs/cli.md", "docs/settings.md"]
    for name, render in docs.REFERENCES.items():
        (tmp_path / name).write_text(render(), encoding="utf-8")
    assert docs.stale(tmp_path) == []


def test_every_command_and_setting_is_in_the_references() -> None:
    cli, reference = docs.cli_reference(), docs.settings_reference()
    for command in ("index", "ask", "chat", "search", "eval", "stats", "feeds add", "update", "watch", "bot"):
        assert f"## newsdesk {command}\n" in cli
    assert "--as-of YYYY-MM-DD" in cli and "--full" in cli
    for setting in settings():
        assert f"| `{setting.env}` |" in reference


def test_the_readme_is_short_and_its_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme) <= 15_000, f"README.md is {len(readme)} characters; move detail to docs/"
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to a missing {target}"
