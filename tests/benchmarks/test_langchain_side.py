"""The LangChain side of bench_langchain.py reads the corpora as the benchmarks ship them."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path
from types import ModuleType

SIDE = Path(__file__).resolve().parents[2] / "benchmarks" / "_langchain_side.py"
RECORDS = [
    {"id": "a1", "title": "Ports", "text": "Ships wait off Odesa."},
    {"id": "a2", "title": "Ré", "text": "Café."},
]


def _side() -> ModuleType:
    """The script as a module (it imports LangChain only when run)."""
    spec = importlib.util.spec_from_file_location("_langchain_side", SIDE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _lines() -> str:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS) + "\n\n"


def test_a_plain_corpus_is_read_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text(_lines(), encoding="utf-8")
    assert _side().read_jsonl(path) == RECORDS


def test_a_gzipped_corpus_is_read_as_the_benchmarks_ship_it(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(_lines())
    assert _side().read_jsonl(path) == RECORDS
