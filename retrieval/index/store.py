"""The index directory on disk: generations swapped in atomically, a manifest, and a build lock.

Layout of ``DIR``::

    DIR/.lock                 held while a build runs (released by the OS if the builder dies)
    DIR/current -> gen-...    symlink to the live generation, replaced atomically
    DIR/gen-<stamp>/          manifest.json, vectors-<id>.faiss (+ .f16.npy) per vector part, and
        seg-<id>/             per segment: articles.jsonl, passages.jsonl, units.npy, terms.npz + terms.json (BM25)
    DIR/milvus.db/            Milvus Lite's data, when the vectors live in Milvus with no URI set
    DIR/tmp-<id>/             a build in progress; removed on failure or by the next build

A generation is immutable once swapped in. A build that only adds articles writes one new segment
(and one new vector part) and hard-links the files of the others from the live generation, so its
cost follows what was added, not the size of the index; other builds write one segment afresh.
With the Milvus backend a generation's vectors are a collection named in its manifest instead of
vector files; collections of generations no longer live are dropped after the next swap.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from retrieval import __version__
from retrieval.config import VectorConfig
from retrieval.errors import IndexBusyError, IndexCorruptError, IndexMismatchError, IndexMissingError
from retrieval.index.lexical import LexicalIndex
from retrieval.index.vectors.base import FLAT, VectorBackend, VectorStore
from retrieval.index.vectors.factory import make_backend
from retrieval.types import Article, Passage

log = logging.getLogger(__name__)

FORMAT_VERSION = 3
CURRENT = "current"
MANIFEST = "manifest.json"
ARTICLES = "articles.jsonl"
PASSAGES = "passages.jsonl"
UNITS = "units.npy"
"""Per segment: the article date of each of its units (sentence vectors), in unit order."""
MAX_SEGMENTS = 16
"""A build that would leave more segments than this merges all but the first into one."""
FIX = "run `newsdesk index --full` to rebuild it"


@dataclass(frozen=True)
class Manifest:
    """What an index was built from and with; checked before the index is used."""

    model: str
    dimension: int
    chunking: dict[str, object]
    embed_template: str
    articles: dict[str, str]
    """Article id -> content hash, for incremental builds."""
    n_passages: int
    n_vectors: int
    built_at: str
    embed_unit: str = "sentence"
    segments: tuple[dict[str, object], ...] = ()
    """The generation's segments in passage-id order: ``name``, ``articles``, ``passages``."""
    vector_index: str = FLAT
    vector_params: dict[str, object] = field(default_factory=dict)
    """The vector store's parameters (index type, M, ef_search…, or the Milvus collection)."""
    format_version: int = FORMAT_VERSION
    newsdesk_version: str = __version__
    date_range: tuple[str | None, str | None] = (None, None)
    extra: dict[str, object] = field(default_factory=dict)

    def segment_names(self) -> list[str]:
        """The segments' directory names in passage-id order; ValueError if there are none."""
        names = [str(segment["name"]) for segment in self.segments]
        if not names:
            raise ValueError("the manifest lists no segments")
        return names

    def to_json(self) -> str:
        """Serialise for manifest.json."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}  # asdict deep-copies: slow at 100k articles
        # One line: indenting runs json's pure-Python encoder, ~5x slower with 100k article hashes.
        return json.dumps(data, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse manifest.json; raises ValueError/KeyError/TypeError on a bad file."""
        data = json.loads(text)
        data["date_range"] = tuple(data.get("date_range") or (None, None))
        data["segments"] = tuple(dict(s) for s in data.get("segments") or ())
        return cls(**data)


@dataclass(frozen=True)
class IndexHead:
    """What adding articles needs of the live index: no articles or passages, so it opens in a fraction
    of a full load (manifest, BM25 postings, memory-mapped vector parts, each unit's date)."""

    manifest: Manifest
    vectors: VectorStore
    lexical: LexicalIndex
    unit_days: np.ndarray
    path: Path


@dataclass(frozen=True)
class IndexData:
    """A loaded index: everything search and answering need, held in memory."""

    manifest: Manifest
    articles: dict[str, Article]
    passages: list[Passage]
    vectors: VectorStore
    lexical: LexicalIndex
    passage_days: np.ndarray
    """Publication date of each passage's article as a proleptic ordinal (0 when undated)."""
    unit_passages: list[tuple[int, ...]]
    """For each vector (a sentence), the passages that contain it."""
    unit_days: np.ndarray
    """Publication date of each vector's article, like ``passage_days``."""
    path: Path

    def passage_text(self, passage: Passage) -> str:
        """The passage as it stands in its article."""
        return self.articles[passage.article_id].text[passage.start : passage.end]


def describe_embedding(info: dict[str, object]) -> str:
    """``onnx/int8``, ``torch/bfloat16``...: how an index's vectors were computed."""
    return "/".join(str(info.get(key, "?")) for key in ("backend", "precision"))


def embed_text(template: str, article: Article, passage_text: str) -> str:
    """The text that is embedded and BM25-indexed for a passage: title as context, then the passage."""
    return template.format(title=article.title, text=passage_text)


def _article_to_json(article: Article) -> str:
    data = {f.name: getattr(article, f.name) for f in fields(article)}  # flat: asdict's deep copy is slow
    data["date"] = article.date.isoformat() if article.date else None
    return json.dumps(data, ensure_ascii=False)


def _article_from_json(line: str) -> Article:
    data = json.loads(line)
    data["date"] = dt.date.fromisoformat(data["date"]) if data.get("date") else None
    return Article(**data)


def _passage_to_json(passage: Passage) -> str:
    return json.dumps(
        [passage.id, passage.article_id, passage.start, passage.end, passage.sentences, passage.units],
        ensure_ascii=False,
    )


def _passage_from_json(line: str, articles: dict[str, Article]) -> Passage:
    pid, article_id, start, end, sentences, units = json.loads(line)
    text = articles[article_id].text[start:end]
    return Passage(pid, article_id, start, end, text, tuple((s, e) for s, e in sentences), tuple(units))


class IndexStore:
    """One index directory: read the live generation, or build a new one and swap it in."""

    def __init__(self, root: Path, vectors: VectorConfig | None = None) -> None:
        self.root = Path(root)
        self.backend: VectorBackend = make_backend(vectors or VectorConfig(), self.root)

    @property
    def current(self) -> Path:
        """The live generation's path (through the symlink)."""
        return self.root / CURRENT

    def exists(self) -> bool:
        """True if a generation has been swapped in."""
        return (self.current / MANIFEST).is_file()

    def read_manifest(self) -> Manifest:
        """The live manifest only: cheap, no vectors loaded."""
        if not self.exists():
            raise IndexMissingError(f"no index at {self.root}: run `newsdesk index` to build one")
        try:
            text = (self.current / MANIFEST).read_text(encoding="utf-8")
            version = json.loads(text).get("format_version")
        except (OSError, ValueError, AttributeError) as exc:
            raise IndexCorruptError(f"the index at {self.root} has an unreadable manifest; {FIX}") from exc
        if version != FORMAT_VERSION:
            raise IndexMismatchError(
                f"the index at {self.root} has format {version}, this newsdesk reads format {FORMAT_VERSION}; {FIX}"
            )
        try:
            return Manifest.from_json(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"the index at {self.root} has an unreadable manifest; {FIX}") from exc

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
                f"but the configured model is '{model}'; {FIX}"
            )
        if chunking is not None and manifest.chunking != chunking:
            raise IndexMismatchError(f"the index at {self.root} was built with other chunking settings; {FIX}")
        built = manifest.extra.get("embedding")
        if embedding and isinstance(built, dict) and built and built != embedding:
            log.info(
                "the index at %s was embedded with %s, this process embeds with %s: same model, "
                "compatible vectors (cosine ~0.99); `newsdesk index --full` re-embeds everything",
                self.root,
                describe_embedding(built),
                describe_embedding(embedding),
            )

    def load_head(self) -> IndexHead:
        """Open only what adding articles needs; damaged files are clear errors."""
        manifest = self.read_manifest()
        gen = self.current.resolve()
        try:
            names = manifest.segment_names()
            unit_days = np.concatenate([np.load(gen / name / UNITS) for name in names]).astype(np.int64)
            vectors = self.backend.load(gen, manifest.vector_index, manifest.vector_params, unit_days)
            lexical = LexicalIndex.load([gen / name for name in names])
        except Exception as exc:  # numpy, faiss (RuntimeError), json, KeyError...: all mean damage
            raise IndexCorruptError(f"the index at {self.root} is damaged ({type(exc).__name__}); {FIX}") from exc
        if vectors.size != manifest.n_vectors or lexical.n_docs != manifest.n_passages:
            raise IndexCorruptError(
                f"the index at {self.root} is inconsistent ({vectors.size} vectors, {lexical.n_docs} passages); {FIX}"
            )
        return IndexHead(manifest, vectors, lexical, unit_days, gen)

    def load(self, model: str | None = None) -> IndexData:
        """Read the live generation fully; mismatched or damaged files are clear errors."""
        manifest = self.read_manifest()
        if model is not None:
            self.check(manifest, model)
        gen = self.current.resolve()
        try:
            articles: dict[str, Article] = {}
            passages: list[Passage] = []
            names = manifest.segment_names()
            for name in names:
                with (gen / name / ARTICLES).open(encoding="utf-8") as handle:
                    for line in handle:
                        article = _article_from_json(line)
                        articles[article.id] = article
                with (gen / name / PASSAGES).open(encoding="utf-8") as handle:
                    passages.extend(_passage_from_json(line, articles) for line in handle)
            if any(passage.id != number for number, passage in enumerate(passages)):
                raise ValueError("passage ids out of order")
            days, holders, unit_days = passage_tables(passages, articles)
            vectors = self.backend.load(gen, manifest.vector_index, manifest.vector_params, unit_days)
            lexical = LexicalIndex.load([gen / name for name in names])
        except Exception as exc:  # json, faiss (RuntimeError), numpy, KeyError, Milvus...: all mean damage
            raise IndexCorruptError(f"the index at {self.root} is damaged ({type(exc).__name__}); {FIX}") from exc
        n_units = len(holders)
        if (
            vectors.size != manifest.n_vectors
            or n_units != manifest.n_vectors
            or len(passages) != manifest.n_passages
            or lexical.n_docs != len(passages)
        ):
            raise IndexCorruptError(
                f"the index at {self.root} is inconsistent ({vectors.size} vectors, {len(passages)} passages); {FIX}"
            )
        if vectors.size and vectors.dimension != manifest.dimension:
            raise IndexCorruptError(f"the index at {self.root} has vectors of the wrong size; {FIX}")
        log.info("loaded index %s: %d articles, %d passages", gen.name, len(articles), len(passages))
        return IndexData(manifest, articles, passages, vectors, lexical, days, holders, unit_days, gen)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the build lock, or fail at once if another build holds it."""
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / ".lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout as exc:
            raise IndexBusyError(
                f"another build of the index at {self.root} is running; wait for it to finish"
            ) from exc
        try:
            yield
        finally:
            lock.release()

    def write(
        self,
        manifest: Manifest,
        articles: Sequence[Article],
        passages: Sequence[Passage],
        vectors: VectorStore,
        lexical: LexicalIndex,
        unit_days: np.ndarray,
        previous: Path | None = None,
    ) -> Path:
        """Write a new generation beside the live one and swap it in; call while holding the lock.

        ``articles``, ``passages`` and ``unit_days`` are the last segment's; the manifest's other segments are linked
        from the ``previous`` generation, as are vector parts already on disk. ``lexical`` has one
        segment per manifest segment.
        """
        names = manifest.segment_names()
        if len(lexical.segments) != len(names):
            raise ValueError(f"{len(lexical.segments)} BM25 segments for {len(names)} segments")
        self._remove_stale(keep=manifest.vector_params)
        tmp = self.root / f"tmp-{uuid.uuid4().hex[:12]}"
        tmp.mkdir(parents=True)
        try:
            for name in names[:-1]:
                if previous is None:
                    raise ValueError(f"segment {name} has no generation to be linked from")
                (tmp / name).mkdir()
                for file in (previous / name).iterdir():
                    os.link(file, tmp / name / file.name)
            segment = tmp / names[-1]
            segment.mkdir()
            with (segment / ARTICLES).open("w", encoding="utf-8") as handle:
                handle.writelines(_article_to_json(article) + "\n" for article in articles)
            with (segment / PASSAGES).open("w", encoding="utf-8") as handle:
                handle.writelines(_passage_to_json(passage) + "\n" for passage in passages)
            lexical.save_segment(len(names) - 1, segment)
            np.save(segment / UNITS, np.asarray(unit_days, dtype=np.int64))
            before = {f.name for f in tmp.iterdir()}
            vectors.save(tmp)
            (tmp / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
            # Linked files were made durable by the build that wrote them; sync what is new.
            _fsync_tree(segment)
            _fsync_files(f for f in tmp.iterdir() if f.is_file() and f.name not in before and f.stat().st_nlink == 1)
            for name in names[:-1]:
                _fsync_dir(tmp / name)
            _fsync_dir(tmp)
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
            gen = self.root / f"gen-{stamp}"
            os.rename(tmp, gen)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._swap(gen, manifest.vector_params)
        return gen

    def _swap(self, gen: Path, params: dict[str, object]) -> None:
        link = self.root / f".current-{uuid.uuid4().hex[:8]}"
        os.symlink(gen.name, link)
        os.replace(link, self.current)  # atomic: readers see the old or the new, never neither
        _fsync_dir(self.root)
        replaced = [params]
        for old in self.root.glob("gen-*"):
            if old.name != gen.name:
                replaced.append(_vector_params(old))
                shutil.rmtree(old, ignore_errors=True)
        # Remote vectors of the replaced generation stay until the next build: readers may still use them.
        self.backend.retire(replaced)
        log.info("index %s is live", gen.name)

    def _remove_stale(self, keep: dict[str, object]) -> None:
        """Clear what a killed build left behind, keeping the live vectors and ``keep`` (under the lock)."""
        live = self.current.resolve().name if self.current.exists() else None
        self.backend.retire([keep, _vector_params(self.current)])
        for leftover in self.root.glob("tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for old in self.root.glob("gen-*"):
            if old.name != live:
                shutil.rmtree(old, ignore_errors=True)
        for link in self.root.glob(".current-*"):
            link.unlink(missing_ok=True)

    def size_bytes(self) -> int:
        """Bytes on disk of the live generation."""
        if not self.exists():
            return 0
        return sum(p.stat().st_size for p in self.current.resolve().rglob("*") if p.is_file())


def _vector_params(gen: Path) -> dict[str, object]:
    """The vector params a generation's manifest records ({} if unreadable)."""
    try:
        params = json.loads((gen / MANIFEST).read_text(encoding="utf-8")).get("vector_params") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return dict(params)


def passage_tables(
    passages: Sequence[Passage], articles: dict[str, Article], first_unit: int = 0
) -> tuple[np.ndarray, list[tuple[int, ...]], np.ndarray]:
    """Each passage's article date, and for each unit from ``first_unit`` on: its passages and date."""
    day_of = {a.id: (a.date.toordinal() if a.date else 0) for a in articles.values()}
    days = np.array([day_of[p.article_id] for p in passages], dtype=np.int64)
    n_units = 1 + max((u for p in passages for u in p.units), default=first_unit - 1) - first_unit
    holders: list[list[int]] = [[] for _ in range(max(0, n_units))]
    unit_days = np.zeros(max(0, n_units), dtype=np.int64)
    for passage, day in zip(passages, days, strict=True):
        for unit in passage.units:
            holders[unit - first_unit].append(passage.id)
            unit_days[unit - first_unit] = day
    return days, [tuple(h) for h in holders], unit_days


def _fsync_files(files: Iterable[Path]) -> None:
    for file in files:
        fd = os.open(file, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(path: Path) -> None:
    _fsync_files(f for f in path.rglob("*") if f.is_file())
    _fsync_dir(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
