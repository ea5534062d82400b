"""The index directory on disk: generations swapped in atomically, a checksummed manifest, a build lock.

Layout of ``DIR``::

    DIR/.lock                 held while a build runs (released by the OS if the builder dies)
    DIR/current -> gen-...    symlink to the live generation, replaced atomically
    DIR/gen-<stamp>/          manifest.json, vectors-<id>.faiss (+ .f16.npy) per vector part, and
        seg-<id>/             per segment: tables.npz, texts.bin, terms.npz (+ deleted.npy), see segment.py
    DIR/milvus.db/            Milvus Lite's data, when the vectors live in Milvus with no URI set
    DIR/tmp-<id>/             a build in progress; removed on failure or by the next build

A generation is immutable once swapped in. A build that adds articles writes one new segment (and
one new vector part) and hard-links the files of the others from the live generation; a removal or a
change tombstones the old rows (a new ``deleted.npy`` for that segment, nothing else rewritten). So
a build costs what it adds, not the size of the index.

Readers take no lock and write nothing: a reader resolves ``current`` once and reads everything from
that generation. A replaced generation is deleted only by a build at least ``GENERATION_GRACE_SECONDS``
after it was replaced, so a reader that resolved it just before the swap finishes opening it; one
slower than that finds files gone, sees that ``current`` moved on, and reads the new generation
instead (``READ_ATTEMPTS``). No reader lease: readers need no write access (a read-only copy of an
index serves), leave nothing behind when killed, and depend on no file-locking semantics.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.config import VectorConfig
from retrieval.errors import (
    IndexBusyError,
    IndexCorruptError,
    IndexLocationError,
    IndexMismatchError,
    IndexMissingError,
    IndexWriteError,
    NewsdeskError,
)
from retrieval.index.data import IndexData
from retrieval.index.lexical import LexicalIndex, TermSegment
from retrieval.index.manifest import MANIFEST, FileRecord, FormatError, Manifest, record_files, sha256_file
from retrieval.index.segment import DELETED, SEGMENT_FILES, TABLES, TEXTS, Segment, SegmentTables, write_texts
from retrieval.index.vectors.base import VectorBackend, VectorStore
from retrieval.index.vectors.factory import make_backend
from retrieval.types import Article

__all__ = ["IndexData", "IndexStore", "Manifest"]

log = logging.getLogger(__name__)

CURRENT = "current"
MAX_SEGMENTS = 16
"""A build that would leave more segments than this merges the later ones (see the indexer)."""
GENERATION_GRACE_SECONDS = 60.0
"""A replaced generation stays this long (until a build after that) for readers still opening it."""
READ_ATTEMPTS = 4
"""A reader whose generation vanished while it read tries the new one, up to this many times in all."""
HASH_ON_LOAD_MAX = 1 << 20
"""Files up to this size are checked against their SHA-256 on every load; larger ones by size (and
the CRC-32s of the tables and postings, which numpy checks as it reads them; each article text's
CRC-32 when it is read). ``verify`` (``newsdesk stats --check``) hashes every file."""


def describe_embedding(info: Mapping[str, object]) -> str:
    """``onnx/int8``, ``torch/bfloat16``...: how an index's vectors were computed."""
    return "/".join(str(info.get(key, "?")) for key in ("backend", "precision"))


def embed_text(template: str, article: Article, passage_text: str) -> str:
    """The text that is embedded and BM25-indexed for a passage: title as context, then the passage."""
    return template.format(title=article.title, text=passage_text)


@dataclass(frozen=True)
class NewSegment:
    """A segment a build writes: its tables, its article texts (blocks of bytes) and its postings."""

    tables: SegmentTables
    texts: Sequence[bytes | memoryview]
    terms: TermSegment


@dataclass(frozen=True)
class SegmentWrite:
    """One segment of the generation being written: new, or linked from the previous generation
    (``new`` None); ``deleted`` are its tombstoned article rows (sorted)."""

    name: str
    new: NewSegment | None
    deleted: np.ndarray


@dataclass(frozen=True)
class IndexCheck:
    """What ``verify`` found: files and bytes checked, and every problem (none: the index is sound)."""

    path: Path
    files: int
    bytes: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True if nothing is wrong."""
        return not self.problems


@dataclass(frozen=True)
class Absence:
    """Why there is no usable index: ``damaged`` if one was built (a link or manifest is broken)."""

    message: str
    damaged: bool


class _Damage(Exception):
    """Internal: what is wrong with a generation, in a few words."""


class IndexStore:
    """One index directory: read the live generation, or build a new one and swap it in."""

    def __init__(self, root: Path, vectors: VectorConfig | None = None) -> None:
        self.root = Path(root)
        self.backend: VectorBackend = make_backend(vectors or VectorConfig(), self.root)
        self._lock: Any = None

    # -- where the live generation is ------------------------------------------------------

    @property
    def current(self) -> Path:
        """The ``current`` link (resolve it once: see :meth:`live_generation`)."""
        return self.root / CURRENT

    def live_generation(self) -> Path | None:
        """The live generation's directory, resolved once (None if there is none)."""
        try:
            gen = self.current.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        return gen if (gen / MANIFEST).is_file() else None

    def exists(self) -> bool:
        """True if a generation has been swapped in (and has its manifest)."""
        return self.live_generation() is not None

    def absence(self) -> Absence | None:
        """Why there is no usable index (None if there is one): nothing built yet, or what is broken."""
        link = self.current
        damaged = f"the index at {self.root} is damaged:"
        if link.is_symlink():
            target = os.readlink(link)
            gen = (self.root / target) if not os.path.isabs(target) else Path(target)
            if not gen.is_dir():
                return Absence(f"{damaged} `current` points to {target}, which does not exist", True)
            if not (gen / MANIFEST).is_file():
                return Absence(f"{damaged} {gen.name} has no manifest", True)
            return None
        if link.is_dir():
            return None if (link / MANIFEST).is_file() else Absence(f"{damaged} it has no manifest", True)
        if link.exists():
            return Absence(f"{damaged} `current` is a file, not a link", True)
        gens = self._glob("gen-*")
        if gens:
            count = f"{len(gens)} generation{'s' * (len(gens) != 1)} on disk"
            return Absence(f"{damaged} `current` is missing ({count})", True)
        return Absence(f"no index at {self.root}", False)

    def _resolve(self) -> Path:
        gen = self.live_generation()
        if gen is None:
            raise IndexMissingError(_absent(self))
        return gen

    # -- reading ---------------------------------------------------------------------------

    def read_manifest(self, *, check_files: bool = False) -> Manifest:
        """The live manifest only (no vectors loaded); ``check_files``: also that every file it lists is
        there with its recorded size (cheap: no file is read)."""
        gen = self._resolve()
        manifest = self._manifest_at(gen)
        if check_files:
            self._verify_files(gen, manifest, hash_max=-1)
        return manifest

    def _manifest_at(self, gen: Path) -> Manifest:
        try:
            text = (gen / MANIFEST).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise IndexMissingError(_absent(self)) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise IndexCorruptError(f"the index at {self.root} has an unreadable manifest ({_reason(exc)})") from exc
        try:
            return Manifest.from_json(text)
        except FormatError as exc:
            raise IndexMismatchError(f"the index at {self.root} has {exc}") from exc
        except ValueError as exc:
            raise IndexCorruptError(f"the index at {self.root} has a damaged manifest ({_reason(exc)})") from exc

    def check(
        self,
        manifest: Manifest,
        model: str,
        chunking: dict[str, object] | None = None,
        embedding: dict[str, str] | None = None,
    ) -> None:
        """Refuse an index from another model or chunking (the format is checked on reading).

        An index embedded by another backend or precision of the same model (``embedding``, e.g.
        ``{"backend": "onnx", "precision": "int8"}``) is accepted and logged: their vectors agree to a
        cosine of about 0.99 and retrieval quality was measured equal (benchmarks/README.md).
        """
        if manifest.model != model:
            raise IndexMismatchError(
                f"the index at {self.root} was built with model '{manifest.model}', "
                f"but the configured model is '{model}'"
            )
        if chunking is not None and manifest.chunking != chunking:
            differ = sorted(k for k in {*manifest.chunking, *chunking} if manifest.chunking.get(k) != chunking.get(k))
            raise IndexMismatchError(
                f"the index at {self.root} was built with other chunking settings ({', '.join(differ)})"
            )
        built = manifest.embedding
        if embedding and built and built != embedding:
            log.info(
                "the index at %s was embedded with %s, this process embeds with %s: same model, "
                "compatible vectors (cosine ~0.99); a full rebuild re-embeds everything",
                self.root,
                describe_embedding(dict(built)),
                describe_embedding(embedding),
            )

    def load(self, model: str | None = None, *, reuse: IndexData | None = None) -> IndexData:
        """Read the live generation (mismatched or damaged files are clear errors); ``reuse``: an index
        already in memory whose unchanged segments and vector parts are shared, not read again.

        ``current`` is resolved once; if that generation vanishes while it is read (a build replaced
        and removed it), the new live one is read instead.
        """
        for attempt in range(READ_ATTEMPTS):
            # Resolving is inside the retry too: ``current`` may name a generation that a build removes
            # before its manifest is checked (the window is the grace period; tests set it to 0).
            gen = self.live_generation()
            try:
                if gen is None:
                    raise IndexMissingError(_absent(self))
                index = self.open_generation(gen, reuse=reuse)
                break
            except (IndexCorruptError, IndexMissingError):
                if attempt + 1 == READ_ATTEMPTS or self.live_generation() in (None, gen):
                    raise
                log.info("the index moved on from %s while it was read: reading the new generation", gen)
        if model is not None:
            self.check(index.manifest, model)
        return index

    def open_generation(
        self, gen: Path, *, reuse: IndexData | None = None, hash_max: int = HASH_ON_LOAD_MAX
    ) -> IndexData:
        """Open generation ``gen`` (checked: sizes of every file, contents of small ones, structure)."""
        manifest = self._manifest_at(gen)
        self._verify_files(gen, manifest, hash_max=hash_max)
        try:
            index = self._compose(gen, manifest, reuse)
        except NewsdeskError:
            raise
        except _Damage as exc:
            raise IndexCorruptError(f"the index at {self.root} is damaged: {exc}") from exc
        except FileNotFoundError as exc:
            raise IndexCorruptError(
                f"the index at {self.root} is damaged: {Path(exc.filename or '?').name} is missing"
            ) from exc
        except Exception as exc:  # numpy, zipfile, faiss (RuntimeError), Milvus lookups...: all mean damage
            raise IndexCorruptError(
                f"the index at {self.root} is damaged ({type(exc).__name__}: {_reason(exc)})"
            ) from exc
        log.info("loaded index %s: %d articles, %d passages", gen.name, manifest.n_articles, manifest.live_passages)
        return index

    def _compose(self, gen: Path, manifest: Manifest, reuse: IndexData | None) -> IndexData:
        if manifest.vector_backend != self.backend.name:
            raise IndexMismatchError(
                f"the index at {self.root} keeps its vectors in {manifest.vector_backend}, "
                f"but the configured vector backend is {self.backend.name}"
            )
        segments = []
        for record in manifest.segments:
            segment = Segment.load(gen / record.name, reuse=_reusable(record.name, manifest, reuse))
            counts = (segment.tables.n_articles, segment.tables.n_passages, segment.tables.n_units)
            dead = (len(segment.deleted), int(segment.dead_passages.sum()), int(segment.dead_units.sum()))
            if counts != (record.articles, record.passages, record.units) or dead != (
                record.deleted_articles,
                record.deleted_passages,
                record.deleted_units,
            ):
                raise _Damage(f"segment {record.name} does not hold what the manifest says")
            segments.append(segment)
        if not segments:
            raise _Damage("the manifest lists no segments")
        lexical = LexicalIndex([s.terms for s in segments], [s.dead_passages for s in segments])
        unit_days = np.concatenate([s.tables.days[s.tables.u_article] for s in segments]).astype(np.int64)
        live = ~np.concatenate([s.dead_units for s in segments])
        vectors = self.backend.load(
            gen,
            manifest.vector_index,
            dict(manifest.vector_params),
            manifest.vector_parts,
            unit_days,
            live=live,
            reuse=reuse.vectors if reuse is not None and self.backend.capabilities.reopen else None,
        )
        if vectors.size != manifest.n_vectors or lexical.n_docs != manifest.n_passages:
            raise _Damage(f"it is inconsistent ({vectors.size} vectors, {lexical.n_docs} passages)")
        if vectors.size and vectors.dimension != manifest.dimension:
            raise _Damage("its vectors have the wrong dimension")
        return IndexData(manifest, tuple(segments), vectors, lexical, gen)

    def _verify_files(self, gen: Path, manifest: Manifest, *, hash_max: int) -> tuple[int, int]:
        """Every listed file is there with its size, and (up to ``hash_max`` bytes) its SHA-256; the
        segments' files are all listed. Returns (files, bytes hashed)."""
        listed = {f.path for f in manifest.files}
        for record in manifest.segments:
            needed = [f"{record.name}/{name}" for name in SEGMENT_FILES]
            if record.deleted_articles:
                needed.append(f"{record.name}/{DELETED}")
            missing = [path for path in needed if path not in listed]
            if missing:
                raise IndexCorruptError(
                    f"the index at {self.root} has a damaged manifest (it does not list {missing[0]})"
                )
        hashed = 0
        for file in manifest.files:
            problem = _file_problem(gen, file, hash_max)
            if problem:
                raise IndexCorruptError(f"the index at {self.root} is damaged: {problem}")
            hashed += file.size if file.size <= hash_max else 0
        return len(manifest.files), hashed

    def verify(self) -> IndexCheck:
        """Check the live generation through and through: every file's SHA-256, the structure, every
        article text's checksum. Never raises for damage: it is listed in ``problems``."""
        gen = self.live_generation()
        if gen is None:
            return IndexCheck(self.root, 0, 0, (_absent(self),))
        try:
            manifest = self._manifest_at(gen)
        except NewsdeskError as exc:
            return IndexCheck(self.root, 0, 0, (str(exc),))
        problems = [p for p in (_file_problem(gen, f, hash_max=1 << 62) for f in manifest.files) if p]
        if not problems:
            try:
                index = self.open_generation(gen, hash_max=-1)
                for segment in index.segments:
                    segment.check_texts()
            except NewsdeskError as exc:
                problems.append(str(exc))
            except Exception as exc:  # an article text's checksum, its length
                problems.append(f"the index at {self.root} is damaged: {_reason(exc)}")
        return IndexCheck(self.root, len(manifest.files), manifest.size_bytes, tuple(problems))

    def size_bytes(self) -> int:
        """Bytes of the live generation's files (from its manifest)."""
        try:
            return self.read_manifest().size_bytes
        except NewsdeskError:
            return 0

    # -- the build lock and leftovers ------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the build lock (re-entrant in this process), or fail at once if another build holds it."""
        from filelock import FileLock, Timeout

        self._prepare_root()
        if self._lock is None:
            self._lock = FileLock(str(self.root / ".lock"), timeout=0)
        try:
            self._lock.acquire()
        except Timeout as exc:
            raise IndexBusyError(f"another build of the index at {self.root} is running") from exc
        except OSError as exc:
            raise IndexLocationError(f"cannot write to the index directory {self.root}: {_reason(exc)}") from exc
        try:
            yield
        finally:
            self._lock.release()

    def _prepare_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except FileExistsError as exc:
            raise IndexLocationError(f"the index directory {self.root} is a file, not a directory") from exc
        except NotADirectoryError as exc:
            above = next((p for p in self.root.parents if p.exists() and not p.is_dir()), None)
            raise IndexLocationError(f"the index directory {self.root} lies under a file ({above})") from exc
        except OSError as exc:
            raise IndexLocationError(f"cannot create the index directory {self.root}: {_reason(exc)}") from exc
        if not self.root.is_dir():
            raise IndexLocationError(f"the index directory {self.root} is a file, not a directory")

    def clean(self) -> None:
        """Clear what earlier builds left (``tmp-*``, stray links, generations past their grace period)
        and adopt a ``current`` that is a directory; call while holding the lock."""
        self._adopt_current()
        for leftover in self._glob("tmp-*"):
            log.info("removing %s, left by a build that did not finish", leftover.name)
            shutil.rmtree(leftover, ignore_errors=True)
        for link in self._glob(".current-*"):
            link.unlink(missing_ok=True)
        self._retire_generations()

    def _glob(self, pattern: str) -> list[Path]:
        try:
            return list(self.root.glob(pattern))
        except OSError:
            return []

    def _adopt_current(self) -> None:
        """A ``current`` that is a directory (a copy restored with ``cp -rL``) becomes a generation; a
        ``current`` that is a file is moved aside. Either is said."""
        link = self.current
        if link.is_symlink() or not link.exists():
            return
        if link.is_dir():
            name = f"gen-{_stamp()}"
            os.rename(link, self.root / name)
            self._point_current(name)
            log.warning("the index's `current` at %s was a directory, not a link: kept it as %s", self.root, name)
        else:
            aside = self.root / f"current.broken-{_stamp()}"
            os.rename(link, aside)
            log.warning("the index's `current` at %s was a file: moved it to %s", self.root, aside.name)

    def _retire_generations(self) -> None:
        """Remove generations no reader can still be opening: never-live ones newer than the live one,
        and replaced ones whose successor went live ``GENERATION_GRACE_SECONDS`` ago; then retire the
        remote vectors (Milvus collections) of generations no longer on disk."""
        live = self.live_generation()
        live_name = live.name if live is not None and live.parent == self.root.resolve() else None
        names = sorted(p.name for p in self._glob("gen-*") if p.is_dir())
        now = time.time()
        for number, name in enumerate(names):
            if name == live_name:
                continue
            newer = live_name is not None and name > live_name
            successor = names[number + 1] if number + 1 < len(names) else None
            replaced_at = _stamp_time(successor) if successor else None
            if newer or (replaced_at is not None and now - replaced_at >= GENERATION_GRACE_SECONDS):
                shutil.rmtree(self.root / name, ignore_errors=True)
        keep = [_vector_params(p) for p in self._glob("gen-*")]
        if live is not None:
            keep.append(_vector_params(live))
        self.backend.retire(keep)

    # -- writing ---------------------------------------------------------------------------

    def write(
        self,
        manifest: Manifest,
        segments: Sequence[SegmentWrite],
        vectors: VectorStore,
        previous: IndexData | None = None,
    ) -> Path:
        """Write a new generation beside the live one and swap it in; call while holding the lock.

        New segments are written, the others linked from ``previous`` (as are vector parts already on
        disk); the manifest gets the file records (sizes, checksums) and the vector parts. A failure
        (disk full, read-only) leaves the live generation as it was and is one IndexWriteError.
        """
        tmp = self.root / f"tmp-{uuid.uuid4().hex[:12]}"
        try:
            tmp.mkdir()
            for segment in segments:
                _write_segment(tmp, segment, previous)
            vectors.save(tmp)
            paths = [str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()]
            old_dir = previous.path if previous is not None else None
            files = record_files(tmp, paths, previous.manifest if previous is not None else None, old_dir)
            final = replace(manifest, files=files, vector_parts=vectors.part_records())
            (tmp / MANIFEST).write_text(final.to_json(), encoding="utf-8")
            _sync_new(tmp)
            gen = self.root / f"gen-{_stamp()}"
            os.rename(tmp, gen)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            error = self._write_error(exc)
            if error is exc:
                raise
            raise error from exc
        try:
            self._point_current(gen.name)
        except OSError as exc:  # the link could not be made (or synced)
            if self.live_generation() != gen.resolve():  # it never went live
                shutil.rmtree(gen, ignore_errors=True)
            raise IndexWriteError(f"{_write_problem(exc)} while writing the index at {self.root}") from exc
        log.info("index %s is live", gen.name)
        self._retire_generations()
        return gen.resolve()

    def _write_error(self, exc: BaseException) -> BaseException:
        """The one-line IndexWriteError for a failed write (disk full, read-only...), else ``exc`` itself."""
        problem = _write_problem(exc)
        if problem is None:
            return exc
        serving = "the previous index is still serving" if self.exists() else "no index was written"
        return IndexWriteError(f"{problem} while writing the index at {self.root}; {serving}")

    def _point_current(self, name: str) -> None:
        link = self.root / f".current-{uuid.uuid4().hex[:8]}"
        os.symlink(name, link)
        os.replace(link, self.current)  # atomic: readers see the old or the new, never neither
        _fsync_dir(self.root)


def _reusable(name: str, manifest: Manifest, reuse: IndexData | None) -> Segment | None:
    """The segment ``name`` of an index already open, if its tables are the same file's."""
    if reuse is None:
        return None
    old = next((s for s in reuse.segments if s.name == name), None)
    tables = f"{name}/{TABLES}"
    if old is None or manifest.file(tables) is None or manifest.file(tables) != reuse.manifest.file(tables):
        return None
    return old


def _absent(store: IndexStore) -> str:
    absence = store.absence()
    return absence.message if absence is not None else f"no index at {store.root}"


def _write_segment(tmp: Path, segment: SegmentWrite, previous: IndexData | None) -> None:
    """Write (or link) one segment's directory in the generation being built."""
    directory = tmp / segment.name
    directory.mkdir()
    old = next((s for s in previous.segments if s.name == segment.name), None) if previous is not None else None
    if segment.new is not None:
        segment.new.tables.save(directory)
        write_texts(directory / TEXTS, segment.new.texts)
        segment.new.terms.save(directory)
    else:
        if old is None or previous is None:
            raise ValueError(f"segment {segment.name} has no generation to be linked from")
        for name in SEGMENT_FILES:
            os.link(previous.path / segment.name / name, directory / name)
    if not len(segment.deleted):
        return
    if old is not None and previous is not None and np.array_equal(old.deleted, segment.deleted):
        os.link(previous.path / segment.name / DELETED, directory / DELETED)
    else:
        np.save(directory / DELETED, np.asarray(segment.deleted, dtype=np.int64))


def _file_problem(gen: Path, record: FileRecord, hash_max: int) -> str | None:
    """What is wrong with one listed file (None: nothing)."""
    path = gen / record.path
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"{record.path} is missing"
    except OSError as exc:
        return f"{record.path} cannot be read ({_reason(exc)})"
    if size != record.size:
        return f"{record.path} is {size:,} bytes, the manifest says {record.size:,}"
    if record.size <= hash_max:
        try:
            if sha256_file(path) != record.sha256:
                return f"{record.path} does not match its checksum"
        except OSError as exc:
            return f"{record.path} cannot be read ({_reason(exc)})"
    return None


def _write_problem(exc: BaseException) -> str | None:
    """A failed write's cause in a few words, if it is the disk's or the directory's (else None)."""
    code = exc.errno if isinstance(exc, OSError) else None
    text = str(exc)
    if code in (errno.ENOSPC, errno.EDQUOT) or "No space left" in text:
        return "no space left on the device"
    if code == errno.EROFS or "Read-only file system" in text:
        return "the file system is read-only"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if isinstance(exc, OSError):
        return _reason(exc)
    return None


def _reason(exc: BaseException) -> str:
    """An exception's message on one short line."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")


def _stamp_time(name: str) -> float | None:
    """When the generation ``gen-<stamp>`` was written (seconds since the epoch), if its name says."""
    try:
        return (
            dt.datetime.strptime(name.removeprefix("gen-")[:22], "%Y%m%dT%H%M%S%f").replace(tzinfo=dt.UTC).timestamp()
        )
    except ValueError:
        return None


def _vector_params(gen: Path) -> dict[str, Any]:
    """The vector params a generation's manifest records ({} if unreadable)."""
    try:
        return dict(Manifest.from_json((gen / MANIFEST).read_text(encoding="utf-8")).vector_params)
    except (OSError, ValueError):
        return {}


def _sync_new(tmp: Path) -> None:
    """fsync the files written for this generation (linked ones were made durable by the build that
    wrote them) and every directory."""
    for path in tmp.rglob("*"):
        if path.is_file() and path.stat().st_nlink == 1:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        elif path.is_dir():
            _fsync_dir(path)
    _fsync_dir(tmp)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
