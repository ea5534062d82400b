"""The shape of the code, checked mechanically: no import cycles, the engine apart from the fronts."""

from __future__ import annotations

import grimp
import pytest


def _cycles(package: str) -> list[list[str]]:
    """Every import cycle among ``package``'s modules (deferred imports included, TYPE_CHECKING ones not)."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    modules = sorted(graph.modules)
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.find_modules_directly_imported_by(module)):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in modules:
        if module not in state:
            visit(module, [module])
    return found


@pytest.mark.parametrize("package", ["retrieval", "bot"])
def test_no_import_cycles(package: str) -> None:
    cycles = _cycles(package)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_engine_imports_no_front() -> None:
    graph = grimp.build_graph("retrieval", "bot", "discord", "rich", "pydantic_settings")
    for front in ("bot", "discord", "rich", "pydantic_settings"):
        chains = graph.find_shortest_chains(importer="retrieval", imported=front)
        assert not chains, f"retrieval reaches {front}: {sorted(chains)[:3]}"
