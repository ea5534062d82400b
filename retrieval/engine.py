"""The one object the fronts hold: load once, answer many, rebuild and swap without a pause."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from retrieval.answer.extractive import Answerer
from retrieval.config import AnswerConfig, ChunkingConfig, EmbeddingConfig, EngineConfig, SearchConfig
from retrieval.embedding.base import Embedder, embedding_info
from retrieval.errors import BadQuestionError, BuildInterrupted, IndexMissingError, SeedsNotFoundError
from retrieval.index.indexer import BuildSummary, ProgressCallback, build_index, chunking_params
from retrieval.index.store import Absence, IndexCheck, IndexData, IndexStore, Manifest
from retrieval.ingest.files import IngestCache, IngestResult, load_articles
from retrieval.search.retriever import Retriever
from retrieval.types import Answer, DateRange, Hit

log = logging.getLogger(__name__)

SEED_CACHE = "seed-cache.pickle"
"""In the index directory: what each seed file gave when last read (see ``IngestCache``)."""
ABSTAIN_TEXT = "The indexed articles don't say. Nothing in them answers “{question}”."


@dataclass(frozen=True)
class IndexStats:
    """What is indexed, read from the manifest alone (no model needed)."""

    path: Path
    articles: int
    passages: int
    first_date: str | None
    last_date: str | None
    model: str
    dimension: int
    size_bytes: int
    built_at: str
    format_version: int
    vectors: int = 0
    vector_index: str = ""
    vector_parts: int = 0
    segments: int = 0
    tombstones: int = 0
    """Sentence vectors of removed or changed articles, still stored until the next compaction."""


def index_stats(store: IndexStore) -> IndexStats:
    """Stats of the live index without loading vectors or the model; every file the manifest lists is
    checked to be there with its size (a damaged index is an IndexCorruptError)."""
    manifest: Manifest = store.read_manifest(check_files=True)
    return IndexStats(
        path=store.root,
        articles=manifest.n_articles,
        passages=manifest.live_passages,
        first_date=manifest.date_range[0],
        last_date=manifest.date_range[1],
        model=manifest.model,
        dimension=manifest.dimension,
        size_bytes=manifest.size_bytes,
        built_at=manifest.built_at,
        format_version=manifest.format_version,
        vectors=manifest.n_vectors - manifest.deleted_units,
        vector_index=manifest.vector_index,
        vector_parts=len(manifest.vector_parts) or 1,
        segments=len(manifest.segments),
        tombstones=manifest.deleted_units,
    )


def check_question(question: str, max_chars: int) -> str:
    """The question stripped, or a BadQuestionError saying what is wrong with it."""
    cleaned = " ".join(str(question).split())
    if not cleaned:
        raise BadQuestionError('the question is empty: ask something, e.g. "Why won\'t Turkey sanction Russia?"')
    if len(cleaned) > max_chars:
        raise BadQuestionError(f"the question is {len(cleaned)} characters long; the limit is {max_chars}")
    return cleaned


@dataclass(frozen=True)
class _Live:
    index: IndexData
    retriever: Retriever
    answerer: Answerer


class Engine:
    """Holds the embedder and the live index; ``ask`` and ``search`` are safe from many threads.

    The fronts use the engine through these methods only (``from_config``, ``stats``, ``describe``,
    ``check_question``, ``build``, ``ask``, ``search``), never its store, index or embedder directly.
    """

    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder | None = None,
        *,
        search: SearchConfig | None = None,
        answer: AnswerConfig | None = None,
        chunking: ChunkingConfig | None = None,
        embedding: EmbeddingConfig | None = None,
    ) -> None:
        self.store = store
        self._embedder = embedder
        self._embedding = embedding or EmbeddingConfig()
        self._embedder_lock = threading.Lock()
        self.search_config = search or SearchConfig()
        self.answer_config = answer or AnswerConfig()
        self.chunking = chunking or ChunkingConfig()
        self._live: _Live | None = None
        self._build_lock = threading.Lock()
        self._seeds: tuple[Path, IngestCache] | None = None

    @classmethod
    def from_config(cls, config: EngineConfig) -> Engine:
        """An engine for ``config``; the embedding model loads on first use (``stats`` never pays for it)."""
        return cls(
            IndexStore(config.index_dir, config.vectors),
            search=config.search,
            answer=config.answer,
            chunking=config.chunking,
            embedding=config.embedding,
        )

    @property
    def embedder(self) -> Embedder:
        """The embedding model (loaded on first use; ModelLoadError if it cannot be)."""
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    from retrieval.embedding.factory import make_embedder

                    self._embedder = make_embedder(self._embedding)
        return self._embedder

    def load_model(self) -> None:
        """Load the embedding model now (a service does this before it starts answering)."""
        _ = self.embedder

    @property
    def model_name(self) -> str:
        """The embedding model's name (the configured one, when it is not loaded yet)."""
        return self._embedder.name if self._embedder is not None else self._embedding.model

    @property
    def max_question_chars(self) -> int:
        """The longest question accepted."""
        return self.answer_config.max_question_chars

    def check_question(self, question: str) -> str:
        """The question cleaned, or BadQuestionError saying what is wrong with it (no model needed)."""
        return check_question(question, self.max_question_chars)

    def stats(self) -> IndexStats:
        """What is indexed, from the manifest alone (no model, no vectors)."""
        return index_stats(self.store)

    def check_index(self) -> IndexCheck:
        """Every file of the live index against its checksum, its structure, every article text (no model)."""
        return self.store.verify()

    def missing_index(self) -> Absence | None:
        """Why there is no usable index — none built yet, or what is broken — or None if there is one."""
        return self.store.absence()

    def describe(self) -> str:
        """One line on what is loaded, for a service's startup log."""
        index = self.index
        embedder = self.embedder
        return (
            f"{len(index.articles):,} articles, {index.n_live_passages:,} passages, "
            f"model {embedder.name} (dim {embedder.dimension}), index {index.path}"
        )

    # -- index lifecycle -------------------------------------------------------------------

    def load(self) -> IndexData:
        """(Re)load the live index from disk; raises if it is missing, damaged or mismatched."""
        index = self.store.load(reuse=self._live.index if self._live is not None else None)
        self.store.check(
            index.manifest, self.embedder.name, chunking_params(self.chunking), embedding_info(self.embedder)
        )
        self._install(index)
        return index

    def _install(self, index: IndexData) -> None:
        """Make ``index`` the one questions are answered from (one atomic assignment)."""
        self._live = _Live(
            index,
            Retriever(index, self.embedder, self.search_config),
            Answerer(index.lexical, self.answer_config),
        )

    @property
    def index(self) -> IndexData:
        """The live index (loading it on first use)."""
        if self._live is None:
            self.load()
        assert self._live is not None
        return self._live.index

    def has_index(self) -> bool:
        """True if an index exists on disk."""
        return self.store.exists()

    def read_seeds(self, seeds_dir: Path, *, reread: bool = False) -> IngestResult:
        """Ingest the seeds directory, refusing one that holds no article.

        Files unchanged since this engine last read the same directory are not read again, unless
        ``reread``.
        """
        where = Path(seeds_dir).resolve()
        if reread:
            self._seeds = (where, IngestCache())
        elif self._seeds is None or self._seeds[0] != where:
            self._seeds = (where, IngestCache.load(self.store.root / SEED_CACHE, where))
        result = load_articles(seeds_dir, self._seeds[1])
        if not result.articles:
            raise SeedsNotFoundError(f"no readable article in {seeds_dir}")
        return result

    def build(
        self,
        seeds_dir: Path,
        *,
        full: bool = False,
        progress: ProgressCallback | None = None,
    ) -> tuple[BuildSummary, IngestResult]:
        """Ingest and index ``seeds_dir``, then swap the new index in for queries.

        The build lock is taken first (a second build is refused before any work), and held while the
        seed cache is saved. Ctrl-C is a ``BuildInterrupted`` that says whether the new index went live.
        """
        with self._build_lock, self.store.lock():
            before = self.store.live_generation()
            try:
                return self._build_locked(seeds_dir, full, progress)
            except KeyboardInterrupt as exc:
                raise BuildInterrupted(live=self.store.live_generation() != before) from exc

    def _build_locked(
        self, seeds_dir: Path, full: bool, progress: ProgressCallback | None
    ) -> tuple[BuildSummary, IngestResult]:
        for leftover in self.store.root.glob(f".{SEED_CACHE}.*.tmp"):  # a save killed midway (we hold the lock)
            leftover.unlink(missing_ok=True)
        ingest = self.read_seeds(seeds_dir, reread=full)
        live = self._live.index if self._live is not None else None
        summary = build_index(
            ingest.articles, self.store, self.embedder, self.chunking, full=full, progress=progress, loaded=live
        )
        if summary.index is not None:
            self._install(summary.index)
        elif self._live is not None and summary.path != self._live.index.path:
            self.load()  # (also when a question loaded the old index while this build ran)
        # With no index loaded yet (`newsdesk index`), the new one is read on the first question.
        cache = self._seeds[1] if self._seeds is not None else None
        if cache is not None and cache.worth_saving:
            cache.save(self.store.root / SEED_CACHE, seeds_dir)
        return summary, ingest

    # -- questions -------------------------------------------------------------------------

    def _state(self) -> _Live:
        if self._live is None:
            if not self.store.exists():
                absence = self.store.absence()
                raise IndexMissingError(absence.message if absence else f"no index at {self.store.root}")
            self.load()
        assert self._live is not None
        return self._live

    def search(self, question: str, *, k: int | None = None, dates: DateRange = DateRange()) -> list[Hit]:
        """The top passages for a question, with scores and citations' raw material."""
        question = check_question(question, self.answer_config.max_question_chars)
        live = self._state()
        return live.retriever.search(live.retriever.query(question, dates), k)

    def ask(self, question: str, *, k: int | None = None, dates: DateRange = DateRange()) -> Answer:
        """A short cited answer, or an abstention that lists the closest passages."""
        question = check_question(question, self.answer_config.max_question_chars)
        live = self._state()
        started = time.perf_counter()
        query = live.retriever.query(question, dates)
        embedded = time.perf_counter()
        hits = live.retriever.search(query, k)
        searched = time.perf_counter()
        composed = live.answerer.compose(question, hits)
        done = time.perf_counter()
        if composed.abstained:
            text = ABSTAIN_TEXT.format(question=question)
        else:
            text = " ".join(f"{s.text} [{s.citation}]" for s in composed.sentences)
        return Answer(
            question=question,
            text=text,
            sentences=composed.sentences,
            citations=composed.citations,
            hits=tuple(hits),
            abstained=composed.abstained,
            confidence=composed.confidence,
            timings={
                "embed_ms": (embedded - started) * 1000,
                "search_ms": (searched - embedded) * 1000,
                "answer_ms": (done - searched) * 1000,
                "total_ms": (done - started) * 1000,
            },
        )
