"""The one object the fronts hold: load once, answer many, rebuild and swap without a pause."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from retrieval.answer.abstention import staleness_note
from retrieval.answer.extractive import Answerer
from retrieval.answer.ranker import Ranker, default_ranker_dir
from retrieval.answer.reader import EntityTagger, Reader, ReaderModel, SpacyTagger, default_reader_dir
from retrieval.config import (
    AnswerConfig,
    ChunkingConfig,
    EmbeddingConfig,
    EngineConfig,
    IngestConfig,
    LLMConfig,
    SearchConfig,
)
from retrieval.embedding.base import Embedder, embedding_info
from retrieval.errors import BadQuestionError, BuildInterrupted, IndexMissingError, SeedsNotFoundError
from retrieval.index.indexer import BuildSummary, ProgressCallback, build_index, chunking_params
from retrieval.index.remote import POINTER_CHECK_SECONDS, MilvusCorpus, Published, RemoteIndex
from retrieval.index.store import Absence, IndexCheck, IndexData, IndexStore, Manifest
from retrieval.index.vectors.milvus import MilvusBackend
from retrieval.ingest.cache import IngestCache
from retrieval.ingest.files import load_articles
from retrieval.ingest.results import IngestResult, ReadProgressFn
from retrieval.ingest.textclean import has_letters_or_digits, scrub
from retrieval.search.followup import resolve as resolve_followup
from retrieval.search.retriever import Retriever
from retrieval.text import tokenize
from retrieval.types import Answer, DateRange, Hit

if TYPE_CHECKING:
    from retrieval.alerts.briefing import BriefConfig, Briefing
    from retrieval.alerts.matching import MatchConfig, TopicMatcher
    from retrieval.alerts.planner import TopicAlerts
    from retrieval.alerts.store import TopicStore
    from retrieval.answer.verify import SupportScorer
    from retrieval.answer.written import SentenceCallback, WrittenAnswerer

log = logging.getLogger(__name__)

SEED_CACHE = "seed-cache.pickle"
"""In the index directory: what each seed file gave when last read (see ``IngestCache``)."""
ABSTAIN_TEXT = "The indexed articles don't say. Nothing in them answers “{question}”."


@dataclass(frozen=True)
class Publication:
    """Where a process serving the whole index from Milvus reads it: the generation the pointer names."""

    uri: str
    pointer: str
    """The pointer collection (``<NEWSDESK_MILVUS_COLLECTION>_pointer``)."""
    generation: str
    published_at: str
    """When the builder published it (ISO 8601, UTC)."""


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
    published: Publication | None = None
    """The Milvus generation served, when the whole index lives in Milvus (then ``path`` names it)."""


def index_stats(store: IndexStore) -> IndexStats:
    """Stats of the live index without loading vectors or the model; every file the manifest lists is
    checked to be there with its size (a damaged index is an IndexCorruptError)."""
    return _stats(store.read_manifest(check_files=True), store.root)


def published_stats(corpus: MilvusCorpus) -> IndexStats:
    """Stats of the generation Milvus serves, from the pointer's manifest (no collection read, no model;
    VectorBackendError if nothing is published)."""
    pointer = corpus.current()
    at = dt.datetime.fromtimestamp(pointer.published, dt.UTC).isoformat(timespec="seconds")
    publication = Publication(corpus.uri, corpus.pointer_name, pointer.generation, at)
    return replace(_stats(pointer.manifest, Path(f"milvus:{pointer.generation}")), published=publication)


def _stats(manifest: Manifest, path: Path) -> IndexStats:
    return IndexStats(
        path=path,
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


def ranker_dir(setting: str) -> Path:
    """The ranker directory a setting names: ``default`` is the one shipped with newsdesk."""
    return default_ranker_dir() if setting == "default" else Path(setting).expanduser()


def reader_dir(setting: str) -> Path:
    """The reader directory a setting names: ``default`` is the one shipped with newsdesk."""
    return default_reader_dir() if setting == "default" else Path(setting).expanduser()


def clean_question(question: str, max_chars: int) -> str:
    """The question cleaned, or a BadQuestionError if it is empty or too long.

    Cleaned: bytes that were not UTF-8 (lone surrogates) become U+FFFD, escape sequences and other
    control characters go, whitespace collapses.
    """
    cleaned = " ".join(scrub(str(question), keep="").split())
    if not cleaned:
        raise BadQuestionError('the question is empty: ask something, e.g. "Why won\'t Turkey sanction Russia?"')
    if len(cleaned) > max_chars:
        raise BadQuestionError(f"the question is {len(cleaned)} characters long; the limit is {max_chars}")
    return cleaned


def require_content(question: str) -> str:
    """``question`` if it has something to search for, else a BadQuestionError.

    Nothing to search for: no letter or digit at all (the dense side), or no term left once BM25's
    tokenizer has dropped stop words and punctuation (the lexical side), as in "?!", "what is it?" or emoji.
    """
    if not has_letters_or_digits(question) or not tokenize([question])[0]:
        raise BadQuestionError(
            f"the question “{question}” has nothing to search for (only common words, punctuation or symbols): "
            'name who or what you mean, e.g. "Why won\'t Turkey sanction Russia?"'
        )
    return question


def check_question(question: str, max_chars: int) -> str:
    """The question cleaned, or a BadQuestionError saying what is wrong with it (see the two above)."""
    return require_content(clean_question(question, max_chars))


@dataclass(frozen=True)
class _Live:
    index: IndexData
    retriever: Retriever
    answerer: Answerer


class Engine:
    """Holds the embedder and the live index; ``ask`` and ``search`` are safe from many threads.

    The fronts use the engine through these methods only (``from_config``, ``stats``, ``describe``,
    ``check_question``, ``build``, ``ask``, ``search``; for topic alerts and briefings ``index_dir``,
    ``article_ids``, ``alerts_for``, ``brief``, ``replica``), never its store, index or embedder directly.
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
        ranker: Ranker | None = None,
        ingest: IngestConfig | None = None,
        llm: LLMConfig | None = None,
        tagger: EntityTagger | None = None,
    ) -> None:
        self.store = store
        self.ingest_config = ingest or IngestConfig()
        self._embedder = embedder
        self._embedding = embedding or EmbeddingConfig()
        self._embedder_lock = threading.RLock()
        self._ranker: Ranker | None = ranker
        self._tagger: EntityTagger = tagger or SpacyTagger()
        """The reader's entity tagger (spaCy's loads on the first question that needs it)."""
        self._reader: Reader | None = None  # one for the engine's life: it keeps span vectors
        self.search_config = search or SearchConfig()
        self.answer_config = answer or AnswerConfig()
        self.chunking = chunking or ChunkingConfig()
        self._live: _Live | None = None
        self._build_lock = threading.Lock()
        self._seeds: tuple[Path, IngestCache] | None = None
        self.llm_config = llm or LLMConfig()
        self._writer: WrittenAnswerer | None = None
        self._writer_lock = threading.Lock()
        self.support_scorer: Callable[[IndexData], SupportScorer] = _lexical_support
        """Makes the scorer written sentences are verified with, for the live index (swap in a reader's)."""
        self.corpus = _corpus(store)
        """Where the whole index is published when it lives in Milvus (``milvus_corpus``), else None."""
        self._pointer_read = 0.0
        """When the pointer was last read (monotonic seconds)."""

    @classmethod
    def from_config(cls, config: EngineConfig) -> Engine:
        """An engine for ``config``; the embedding model loads on first use (``stats`` never pays for it)."""
        return cls(
            IndexStore(config.index_dir, config.vectors),
            search=config.search,
            answer=config.answer,
            chunking=config.chunking,
            embedding=config.embedding,
            ingest=config.ingest,
            llm=config.llm,
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

    @property
    def ranker(self) -> Ranker | None:
        """The learned ranker (read on first use), or None when the configuration has none."""
        if self._ranker is None and self.answer_config.ranker is not None:
            with self._embedder_lock:
                if self._ranker is None:
                    self._ranker = Ranker.load(ranker_dir(self.answer_config.ranker))
        return self._ranker

    @property
    def reader(self) -> Reader | None:
        """The reader (its span model read on first use), or None when the configuration has none."""
        if self.answer_config.reader is None:
            return None
        if self._reader is None:
            with self._embedder_lock:
                if self._reader is None:
                    model = ReaderModel.load(reader_dir(self.answer_config.reader))
                    self._reader = Reader(self._tagger, model, self.embedder)
        return self._reader

    def load_model(self) -> None:
        """Load the embedding model, the ranker and the reader now (a service does this before it answers)."""
        _ = self.embedder, self.ranker
        if self.reader is not None and isinstance(self._tagger, SpacyTagger):
            self._tagger.load()

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
        """What is indexed, from the manifest alone (no model, no vectors): when the whole index lives in
        Milvus, the generation its pointer names (what questions are answered from)."""
        if self.corpus is not None:
            return published_stats(self.corpus)
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
        """(Re)load the live index from disk (or Milvus's current generation when the whole index lives
        there); raises if it is missing, damaged or mismatched."""
        if self.corpus is not None:
            self._pointer_read = time.monotonic()
            remote = self.corpus.open()  # opened fully before it replaces the one serving
            self.store.check(
                remote.manifest, self.embedder.name, chunking_params(self.chunking), embedding_info(self.embedder)
            )
            self._install(cast(IndexData, remote))
            return cast(IndexData, remote)
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
            Retriever(index, self.embedder, self.search_config, ranker=self.ranker),
            Answerer(index.lexical, self.answer_config, self.ranker, self.reader if self.ranker else None),
        )

    @property
    def index(self) -> IndexData:
        """The live index (loading it on first use)."""
        if self._live is None:
            self.load()
        assert self._live is not None
        return self._live.index

    @property
    def replica(self) -> bool:
        """True for a replica: a process serving the whole index from Milvus with no index directory of its
        own. It builds nothing, so it sees no article arrive: feeds and topic alerts belong to the builder."""
        return self.corpus is not None and not self.store.exists()

    def has_index(self) -> bool:
        """True if an index exists on disk (or is published in Milvus, when the whole index lives there)."""
        if self.corpus is not None:
            return self.corpus.generation() is not None
        return self.store.exists()

    def read_seeds(
        self, seeds_dir: Path, *, reread: bool = False, reading: ReadProgressFn | None = None
    ) -> IngestResult:
        """Ingest the seeds directory, refusing one that holds no article.

        Files unchanged since this engine last read the same directory are not read again, unless
        ``reread``. ``reading`` hears of each file as it is read.
        """
        where = Path(seeds_dir).resolve()
        if reread:
            self._seeds = (where, IngestCache(self.ingest_config))
        elif self._seeds is None or self._seeds[0] != where:
            self._seeds = (where, IngestCache.load(self.store.root / SEED_CACHE, where, self.ingest_config))
        result = load_articles(seeds_dir, self._seeds[1], self.ingest_config, reading)
        if not result.articles:
            raise SeedsNotFoundError(f"no readable article in {seeds_dir}")
        return result

    def build(
        self,
        seeds_dir: Path,
        *,
        full: bool = False,
        progress: ProgressCallback | None = None,
        reading: ReadProgressFn | None = None,
    ) -> tuple[BuildSummary, IngestResult]:
        """Ingest and index ``seeds_dir``, then swap the new index in for queries (``reading``: each
        file as it is read, ``progress``: the build's stages).

        The build lock is taken first (a second build is refused before any work), and held while the
        seed cache is saved. Ctrl-C is a ``BuildInterrupted`` that says whether the new index went live.
        """
        with self._build_lock, self.store.lock():
            before = self.store.live_generation()
            try:
                return self._build_locked(seeds_dir, full, progress, reading)
            except KeyboardInterrupt as exc:
                raise BuildInterrupted(live=self.store.live_generation() != before) from exc

    def _build_locked(
        self, seeds_dir: Path, full: bool, progress: ProgressCallback | None, reading: ReadProgressFn | None
    ) -> tuple[BuildSummary, IngestResult]:
        for leftover in self.store.root.glob(f".{SEED_CACHE}.*.tmp"):  # a save killed midway (we hold the lock)
            leftover.unlink(missing_ok=True)
        ingest = self.read_seeds(seeds_dir, reread=full, reading=reading)
        live = self._live.index if self._live is not None and not self._live.index.remote else None
        summary = build_index(
            ingest.articles, self.store, self.embedder, self.chunking, full=full, progress=progress, loaded=live
        )
        if self.corpus is not None:
            published = self._publish(summary.index)
            if published is not None:
                summary = replace(summary, published=published.describe())
        elif summary.index is not None:
            self._install(summary.index)
        elif self._live is not None and summary.path != self._live.index.path:
            self.load()  # (also when a question loaded the old index while this build ran)
        # With no index loaded yet (`newsdesk index`), the new one is read on the first question.
        cache = self._seeds[1] if self._seeds is not None else None
        if cache is not None and cache.worth_saving:
            cache.save(self.store.root / SEED_CACHE, seeds_dir)
        return summary, ingest

    # -- questions -------------------------------------------------------------------------

    def _publish(self, built: IndexData | None) -> Published | None:
        """Publish the index directory's live generation to Milvus (unless it is published already):
        what was written, or None."""
        assert self.corpus is not None
        local = built if built is not None else self.store.load()
        current = self.corpus.generation()
        published = None
        if current is None or self.corpus.current().manifest != local.manifest:
            published = self.corpus.publish(local)
        self.load()
        return published

    def _state(self) -> _Live:
        if self.corpus is not None:
            return self._remote_state()
        if self._live is None:
            if not self.store.exists():
                absence = self.store.absence()
                raise IndexMissingError(absence.message if absence else f"no index at {self.store.root}")
            self.load()
        assert self._live is not None
        return self._live

    def _remote_state(self) -> _Live:
        """The live generation in Milvus, read again when the pointer moved (checked every few seconds)."""
        assert self.corpus is not None
        live = self._live
        if live is None:
            self.load()
        elif time.monotonic() - self._pointer_read >= POINTER_CHECK_SECONDS:
            self._pointer_read = time.monotonic()
            if self.corpus.generation() != cast(RemoteIndex, live.index).generation:
                self.load()
        assert self._live is not None
        return self._live

    def search(
        self,
        question: str,
        *,
        k: int | None = None,
        dates: DateRange = DateRange(),
        as_of: dt.date | None = None,
    ) -> list[Hit]:
        """The top passages for a question, with scores and citations' raw material."""
        question = check_question(question, self.answer_config.max_question_chars)
        live = self._state()
        return live.retriever.search(live.retriever.query(question, dates, as_of), k)

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        dates: DateRange = DateRange(),
        as_of: dt.date | None = None,
        previous: str | None = None,
        answerer: str | None = None,
        on_sentence: SentenceCallback | None = None,
    ) -> Answer:
        """A short cited answer, or an abstention that lists the closest passages.

        ``as_of`` is the day the question is asked (articles dated after it are not searched; its
        time words count from it); ``previous`` the conversation's last question, against which a
        follow-up ("and what about Hungary?") is made explicit before it is searched. ``answerer``
        overrides the configured one (``extractive`` or ``llm``); with ``llm``, ``on_sentence`` gets
        each written sentence as soon as it is verified.
        """
        question = clean_question(question, self.answer_config.max_question_chars)
        searched = require_content(resolve_followup(question, previous))  # "why?" can follow a question
        live = self._state()
        started = time.perf_counter()
        query = live.retriever.query(searched, dates, as_of)
        embedded = time.perf_counter()
        hits = live.retriever.search(query, k)
        found = time.perf_counter()
        context = query.context()
        composed = live.answerer.compose(searched, hits, context)
        done = time.perf_counter()
        note = ""
        if composed.abstained:
            text = ABSTAIN_TEXT.format(question=question)
        else:
            text = " ".join(f"{s.text} [{s.citation}]" for s in composed.sentences)
            if composed.short_answer is not None:
                text = f"{composed.short_answer.text} — {text}"
            note = staleness_note(question, [c.date for c in composed.citations], as_of or dt.date.today())
        answer = Answer(
            question=question,
            text=text,
            sentences=composed.sentences,
            citations=composed.citations,
            hits=tuple(hits),
            abstained=composed.abstained,
            confidence=composed.confidence,
            timings={
                "embed_ms": (embedded - started) * 1000,
                "search_ms": (found - embedded) * 1000,
                "answer_ms": (done - found) * 1000,
                "total_ms": (done - started) * 1000,
            },
            searched=searched if searched != question else "",
            as_of=as_of,
            window=context.window,
            note=note,
            short_answer=composed.short_answer,
        )
        if (answerer or self.llm_config.answerer) == "llm":
            answer = self.write(answer, as_of=as_of, on_sentence=on_sentence)
        return answer

    # -- written answers (retrieval.answer.written) ---------------------------------------------

    def writer(self) -> WrittenAnswerer:
        """The written answerer and its language model (made on first use; LLMConfigError if none is set)."""
        if self._writer is None:
            with self._writer_lock:
                if self._writer is None:
                    from retrieval.answer.llm.factory import make_chat_model
                    from retrieval.answer.written import WrittenAnswerer

                    self._writer = WrittenAnswerer(make_chat_model(self.llm_config), self.llm_config)
        return self._writer

    def write(
        self, answer: Answer, *, as_of: dt.date | None = None, on_sentence: SentenceCallback | None = None
    ) -> Answer:
        """``answer`` (an extractive one) written by the language model, every sentence verified against
        its passage; ``answer`` itself with a one-line note when the model refuses, fails or is too slow."""
        writer = self.writer()
        return writer.answer(answer, self.support_scorer(self._state().index), as_of=as_of, on_sentence=on_sentence)

    # -- topics and briefings (retrieval.alerts) ------------------------------------------------

    @property
    def index_dir(self) -> Path:
        """The index directory (its followed topics are kept beside it, see ``retrieval.alerts.store``)."""
        return self.store.root

    def article_ids(self) -> list[str]:
        """The ids of every article in the live index."""
        return list(self._state().index.articles)

    def topic_matcher(self, config: MatchConfig | None = None) -> TopicMatcher:
        """Scores articles of the live index against followed topics (see ``retrieval.alerts.matching``)."""
        from retrieval.alerts.matching import TopicMatcher

        return TopicMatcher(self._state().index, self.embedder, config)

    def alerts_for(
        self, store: TopicStore, new_ids: Sequence[str], *, per_hour: int, match: MatchConfig | None = None
    ) -> list[TopicAlerts]:
        """The cards each topic followed in ``store`` gets for the articles ``new_ids``: one per story, at most
        ``per_hour`` per topic in any hour, the rest held for a summary (see ``retrieval.alerts.planner``)."""
        from retrieval.alerts.planner import plan_alerts

        return plan_alerts(store, self.topic_matcher(match), new_ids, per_hour=per_hour)

    def brief(
        self,
        *,
        since: dt.date,
        until: dt.date,
        topic: str | None = None,
        config: BriefConfig | None = None,
    ) -> Briefing:
        """The top stories published from ``since`` to ``until``, optionally on ``topic`` (see
        ``retrieval.alerts.briefing``)."""
        from retrieval.alerts.briefing import brief

        if topic is not None:
            topic = check_question(topic, self.answer_config.max_question_chars)
        return brief(self._state().index, self.embedder, since=since, until=until, topic=topic, config=config)


def _lexical_support(index: IndexData) -> SupportScorer:
    """The lexical support scorer, weighting words by the index's idf."""
    from retrieval.answer.verify import LexicalSupport

    return LexicalSupport(idfs=index.lexical.idfs)


def _corpus(store: IndexStore) -> MilvusCorpus | None:
    """The Milvus corpus of a store whose whole index lives in Milvus (``milvus_corpus``), else None."""
    backend = store.backend
    if not isinstance(backend, MilvusBackend) or not backend.config.milvus_corpus:
        return None
    return MilvusCorpus(lambda: backend.client, backend.config.milvus_collection, backend.uri)
