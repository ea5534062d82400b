"""The shape of the code, checked mechanically: no import cycles, the engine apart from the fronts."""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp
import pytest

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


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


def _layer_contracts() -> list[dict[str, object]]:
    """The ``layers`` contracts of pyproject's import-linter config (the one place the layers are listed)."""
    contracts = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    return [c for c in contracts if c["type"] == "layers"]


def test_the_engine_has_a_layers_contract() -> None:
    containers = [c.get("containers") for c in _layer_contracts()]
    assert ["retrieval"] in containers, "pyproject.toml lost the layers contract of retrieval/"


@pytest.mark.parametrize("contract", _layer_contracts(), ids=lambda c: str(c["name"])[:40])
def test_no_import_climbs_a_layer(contract: dict[str, object]) -> None:
    layers = [grimp.Layer(*(part.strip() for part in str(line).split("|"))) for line in contract["layers"]]  # type: ignore[attr-defined]
    containers = set(contract.get("containers", []))  # type: ignore[call-overload]
    graph = grimp.build_graph("retrieval", "bot", exclude_type_checking_imports=True)
    illegal = graph.find_illegal_dependencies_for_layers(layers=layers, containers=containers or None)
    found = sorted(f"{d.importer} -> {d.imported}" for d in illegal)
    assert not found, "imports climbing a layer (see `lint-imports` for the lines): " + "; ".join(found)


def test_every_engine_module_has_a_layer() -> None:
    (contract,) = [c for c in _layer_contracts() if c.get("containers") == ["retrieval"]]
    placed = {part.strip() for line in contract["layers"] for part in str(line).split("|")}  # type: ignore[attr-defined]
    graph = grimp.build_graph("retrieval")
    children = {m.split(".")[1] for m in graph.modules if m.count(".") >= 1}
    unplaced = sorted(children - placed)
    assert not unplaced, f"retrieval/{unplaced[0]} is in no layer: add it to the retrieval layers in pyproject.toml"
