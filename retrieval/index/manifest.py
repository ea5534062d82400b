"""The manifest of an index generation: a typed, checksummed record of what it holds and how it was built.

``manifest.json`` is one JSON object: the fields of :class:`Manifest` plus ``checksum``, the SHA-256
of the rest (canonical JSON), so a damaged manifest is never mistaken for a valid one. msgspec
checks every field against its type (strictly: no "3" for 3), in well under a millisecond. It lists every
file of the generation with its size and SHA-256 (:class:`FileRecord`): sizes are checked on every
load, contents of small files too, and all of them by ``verify`` (``newsdesk stats --check``).
A manifest of another ``format_version`` is refused before anything else is read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval import __version__

FORMAT_VERSION = 4
"""4: segments hold column tables (numpy) and a text block, per-segment article tables and
tombstones, typed manifest with file sizes and checksums. 3 and older must be rebuilt."""
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class FileRecord:
    """One file of a generation: its path inside the generation directory, size and SHA-256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class SegmentRecord:
    """One segment: its directory name and row counts (tombstoned rows included in the totals)."""

    name: str
    articles: int
    passages: int
    units: int
    deleted_articles: int = 0
    deleted_passages: int = 0
    deleted_units: int = 0

    @property
    def live_articles(self) -> int:
        """Articles not tombstoned."""
        return self.articles - self.deleted_articles

    @property
    def live_passages(self) -> int:
        """Passages not tombstoned."""
        return self.passages - self.deleted_passages


@dataclass(frozen=True)
class VectorPart:
    """One vector part of a backend that keeps files (FAISS): name, index kind, size and parameters."""

    name: str
    kind: str
    size: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """What a generation was built from and with; checked before the index is used."""

    model: str
    dimension: int
    chunking: dict[str, Any]
    embed_template: str
    built_at: str
    segments: tuple[SegmentRecord, ...]
    """In passage-id (and unit-id) order."""
    vector_index: str
    """The main vector index's kind (``flat-ip``, ``hnsw-sq8-ip``, ``milvus-hnsw``…)."""
    vector_params: dict[str, Any]
    """The backend's parameters of the main index (type, M, ef_search…, or the Milvus collection)."""
    vector_parts: tuple[VectorPart, ...] = ()
    vector_backend: str = "faiss"
    """Which backend holds the vectors (``faiss``, ``milvus``)."""
    files: tuple[FileRecord, ...] = ()
    date_range: tuple[str | None, str | None] = (None, None)
    embedding: dict[str, str] = field(default_factory=dict)
    """How the vectors were computed (backend, precision; ``mixed`` after an incremental build by another)."""
    embed_unit: str = "sentence"
    format_version: int = FORMAT_VERSION
    newsdesk_version: str = __version__

    @property
    def n_articles(self) -> int:
        """Live articles."""
        return sum(s.live_articles for s in self.segments)

    @property
    def n_passages(self) -> int:
        """Passage rows (ids 0..n-1), tombstoned ones included."""
        return sum(s.passages for s in self.segments)

    @property
    def live_passages(self) -> int:
        """Passages not tombstoned."""
        return sum(s.live_passages for s in self.segments)

    @property
    def n_vectors(self) -> int:
        """Sentence vectors stored (unit ids 0..n-1), tombstoned ones included."""
        return sum(s.units for s in self.segments)

    @property
    def deleted_units(self) -> int:
        """Tombstoned sentence vectors, still stored until the next compaction."""
        return sum(s.deleted_units for s in self.segments)

    @property
    def size_bytes(self) -> int:
        """Bytes of the generation's files."""
        return sum(f.size for f in self.files)

    def file(self, path: str) -> FileRecord | None:
        """The record of ``path`` (relative to the generation), if listed."""
        return next((f for f in self.files if f.path == path), None)

    def to_json(self) -> str:
        """``manifest.json``: the fields plus their checksum, one line."""
        import msgspec

        data = msgspec.to_builtins(self)
        return json.dumps({**data, "checksum": _checksum(data)}, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse ``manifest.json``; ValueError says what is wrong (checksum, format, a field)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise FormatError(version)
        claimed = data.pop("checksum", None)
        if claimed != _checksum(data):
            raise ValueError("its checksum does not match its contents")
        import msgspec

        try:
            return msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            raise ValueError(f"a field is wrong: {exc}") from None


class FormatError(ValueError):
    """A manifest of another format version."""

    def __init__(self, version: object) -> None:
        super().__init__(f"format {version}, this newsdesk reads format {FORMAT_VERSION}")
        self.version = version


def _checksum(data: dict[str, Any]) -> str:
    body = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file's contents (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def record_files(
    generation: Path, paths: Iterable[str], previous: Manifest | None, previous_dir: Path | None
) -> tuple[FileRecord, ...]:
    """Records of ``paths`` in ``generation``: a file hard-linked from ``previous_dir`` keeps its
    recorded checksum (it is the same inode), a new one is hashed."""
    records = []
    for path in sorted(paths):
        file = generation / path
        stat = file.stat()
        old = previous.file(path) if previous is not None else None
        if old is not None and previous_dir is not None and old.size == stat.st_size:
            try:
                same = (previous_dir / path).stat().st_ino == stat.st_ino
            except OSError:
                same = False
            if same:
                records.append(old)
                continue
        records.append(FileRecord(path, stat.st_size, sha256_file(file)))
    return tuple(records)
