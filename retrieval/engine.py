"""The one object the fronts hold: load once, answer many, rebuild and swap without a pause."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from retrieval.answer.answerer import Answerer
from retrieval.config import AnswerConfig, ChunkingConfig, SearchConfig
from retrieval.embedding import Embedder, embedding_info
from retrieval.errors import BadQuestionError, IndexMissingError, SeedsNotFoundError
from retrieval.indexer import BuildSummary, ProgressCallback, build_index, chunking_params
from retrieval.ingest import IngestCache, IngestResult, load_articles
from retrieval.search import Retriever
from retrieval.store import IndexData, IndexStore, Manifest
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


def index_stats(store: IndexStore) -> IndexStats:
    """Stats of the live index without loading vectors or the model."""
    manifest: Manifest = store.read_manifest()
    return IndexStats(
        path=store.root,
        articles=len(manifest.articles),
        passages=manifest.n_passages,
        first_date=manifest.date_range[0],
        last_date=manifest.date_range[1],
        model=manifest.model,
        dimension=manifest.dimension,
        size_bytes=store.size_bytes(),
        built_at=manifest.built_at,
        format_version=manifest.format_version,
        vectors=manifest.n_vectors,
        vector_index=manifest.vector_index,
        vector_parts=len(manifest.vector_params.get("parts") or []) or 1,
        segments=len(manifest.segments),
    )


def check_question(question: str, max_chars: int) -> str:
    """The question stripped, or a BadQuestionError saying what is wrong with it."""
    cleaned = " ".join(str(question).split())
    if not cleaned:
        raise BadQuestionError(
            'the question is empty: ask something, e.g. "Why won\'t Turkey sanction Russia?"'
        )
    if len(cleaned) > max_chars:
        raise BadQuestionError(f"the question is {len(cleaned)} characters long; the limit is {max_chars}")
    return cleaned


@dataclass(frozen=True)
class _Live:
    index: IndexData
    retriever: Retriever
    answerer: Answerer


class Engine:
    """Holds the embedder and the live index; ``ask`` and ``search`` are safe from many threads."""

    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder,
        *,
        search: SearchConfig | None = None,
        answer: AnswerConfig | None = None,
        chunking: ChunkingConfig | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.search_config = search or SearchConfig()
        self.answer_config = answer or AnswerConfig()
        self.chunking = chunking or ChunkingConfig()
        self._live: _Live | None = None
        self._build_lock = threading.Lock()
        self._seeds: tuple[Path, IngestCache] | None = None

    # -- index lifecycle -------------------------------------------------------------------

    def load(self) -> IndexData:
        """(Re)load the live index from disk; raises if it is missing, damaged or mismatched."""
        index = self.store.load()
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
        """Ingest and index ``seeds_dir``, then swap the new index in for queries."""
        ingest = self.read_seeds(seeds_dir, reread=full)
        with self._build_lock:
            live = self._live.index if self._live is not None else None
            summary = build_index(
                ingest.articles,
                self.store,
                self.embedder,
                self.chunking,
                full=full,
                progress=progress,
                loaded=live,
            )
            if summary.index is not None:
                self._install(summary.index)
            elif self._live is not None and summary.path != self._live.index.path:
                self.load()  # (also when a question loaded the old index while this build ran)
            # With no index loaded yet (`newsdesk index`), the new one is read on the first question.
        cache = self._seeds[1] if self._seeds is not None else None
        if cache is not None and cache.worth_saving and self.store.root.is_dir():
            cache.save(self.store.root / SEED_CACHE, seeds_dir)
        return summary, ingest

    # -- questions -------------------------------------------------------------------------

    def _state(self) -> _Live:
        if self._live is None:
            if not self.store.exists():
                raise IndexMissingError(f"no index at {self.store.root}: run `newsdesk index` to build one")
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
