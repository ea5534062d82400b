"""Build or update an index from articles: chunk, embed only what changed, write, swap."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from retrieval.config import ChunkingConfig
from retrieval.embedding.base import Embedder, embedding_info
from retrieval.errors import IndexCorruptError, IndexMissingError
from retrieval.index.chunking import chunk_article
from retrieval.index.lexical import TOKENIZER, LexicalIndex
from retrieval.index.store import (
    MAX_SEGMENTS,
    IndexData,
    IndexHead,
    IndexStore,
    Manifest,
    embed_text,
    passage_tables,
)
from retrieval.index.vectors.base import VectorStore
from retrieval.index.vectors.faiss import FaissSegments
from retrieval.types import Article, Passage

log = logging.getLogger(__name__)

EMBED_TEMPLATE = "{title}\n{text}"


@dataclass(frozen=True)
class BuildProgress:
    """A progress report: which stage, how far, out of how many."""

    stage: str
    done: int
    total: int


ProgressCallback = Callable[[BuildProgress], None]


@dataclass(frozen=True)
class BuildSummary:
    """What a build did."""

    articles: int
    passages: int
    added: int
    changed: int
    removed: int
    unchanged: int
    embedded: int
    seconds: float
    full: bool
    path: Path
    index: IndexData | None = field(default=None, repr=False, compare=False)
    """The new generation already in memory, when the build could compose it (saves reading it back)."""

    @property
    def rate(self) -> float:
        """Sentences embedded per second."""
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


def chunking_params(config: ChunkingConfig) -> dict[str, object]:
    """The chunking parameters recorded in (and checked against) the manifest."""
    return {**asdict(config), "template": EMBED_TEMPLATE, "tokenizer": TOKENIZER}


def _embedding_record(embedder: Embedder, before: object, kept: int, embedded: int) -> dict[str, str]:
    """How the index's vectors were computed, for the manifest: backend and precision.

    An incremental build by another backend keeps the old vectors; the record then says ``mixed``.
    """
    info = embedding_info(embedder)
    before = dict(before) if isinstance(before, dict) else {}
    if not kept or not before:
        return info
    if not embedded:
        return before
    if before.get("mixed") or {k: v for k, v in before.items() if k != "mixed"} != info:
        return {**info, "mixed": "true"}
    return info


def build_index(
    articles: Sequence[Article],
    store: IndexStore,
    embedder: Embedder,
    chunking: ChunkingConfig,
    *,
    full: bool = False,
    progress: ProgressCallback | None = None,
    loaded: IndexData | None = None,
) -> BuildSummary:
    """Index ``articles`` into ``store``: incremental unless ``full``; the old index serves until the swap.

    ``loaded`` is the live index if the caller already holds it in memory (saves reading it back).
    """
    started = time.perf_counter()
    report = progress or (lambda _p: None)
    params = chunking_params(chunking)
    with store.lock():
        previous: IndexData | IndexHead | None = None
        manifest_before = None
        if not full:
            current = loaded is not None and store.exists() and store.current.resolve() == loaded.path
            if current:
                previous = loaded
                manifest_before = loaded.manifest if loaded is not None else None
            elif store.exists():
                manifest_before = store.read_manifest()
            if manifest_before is not None:
                store.check(manifest_before, embedder.name, params, embedding_info(embedder))
        old_hashes = manifest_before.articles if manifest_before is not None else {}
        new_ids = {a.id for a in articles}
        keep = [a for a in articles if old_hashes.get(a.id) == a.content_hash]
        fresh = [a for a in articles if old_hashes.get(a.id) != a.content_hash]
        added = sum(1 for a in fresh if a.id not in old_hashes)
        removed = sum(1 for article_id in old_hashes if article_id not in new_ids)
        only_added = manifest_before is not None and not removed and len(fresh) == added
        if manifest_before is not None and previous is None:
            # Not held in memory: adding articles needs only the index's head (no articles or passages),
            # as long as no segments merge; anything else reads it whole.
            if only_added and store.backend.name == "faiss" and len(manifest_before.segments) < MAX_SEGMENTS:
                previous = _previous(store, head=True)
            elif fresh or removed:
                previous = _previous(store)
        if manifest_before is not None and not fresh and not removed:
            log.info("index is up to date: nothing to write")
            return BuildSummary(
                articles=len(articles),
                passages=manifest_before.n_passages,
                added=0,
                changed=0,
                removed=0,
                unchanged=len(keep),
                embedded=0,
                seconds=time.perf_counter() - started,
                full=False,
                path=store.current.resolve(),
            )

        report(BuildProgress("chunking", 0, len(fresh)))
        fresh_passages: list[Passage] = []
        for number, article in enumerate(fresh, start=1):
            for chunk in chunk_article(article, chunking, embedder.count_tokens):
                text = article.text[chunk.start : chunk.end]
                fresh_passages.append(Passage(-1, article.id, chunk.start, chunk.end, text, chunk.sentences))
            report(BuildProgress("chunking", number, len(fresh)))
        by_id = {a.id: a for a in articles}
        if previous is not None and only_added:
            plan = _plan_addition(previous, fresh, fresh_passages, by_id)
        else:
            assert not isinstance(previous, IndexHead)
            plan = _plan_rewrite(previous, keep, fresh_passages, by_id)

        done = 0
        report(BuildProgress("embedding", 0, len(plan.texts)))

        def advance(n: int) -> None:
            nonlocal done
            done += n
            report(BuildProgress("embedding", done, len(plan.texts)))

        fresh_vectors = embedder.encode(plan.texts, progress=advance)
        report(BuildProgress("writing", 0, 1))
        stored, lexical, segments, delta = _assemble(plan, previous, fresh_vectors, store, by_id)
        dates = sorted(a.date for a in articles if a.date)
        manifest = Manifest(
            model=embedder.name,
            dimension=embedder.dimension,
            chunking=params,
            embed_template=EMBED_TEMPLATE,
            articles={a.id: a.content_hash for a in articles},
            n_passages=plan.n_passages,
            n_vectors=stored.size,
            built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            segments=tuple(segments),
            vector_index=stored.kind,
            vector_params=stored.params,
            date_range=(
                dates[0].isoformat() if dates else None,
                dates[-1].isoformat() if dates else None,
            ),
            extra={
                "embedding": _embedding_record(
                    embedder,
                    previous.manifest.extra.get("embedding") if previous is not None else None,
                    plan.kept_units,
                    len(plan.texts),
                )
            },
        )
        if delta:
            segment_articles, segment_passages = plan.segment_articles, plan.passages
            segment_units = plan.unit_days[plan.kept_units :]
        else:
            assert not isinstance(previous, IndexHead)
            segment_articles, segment_passages = plan.all_articles(previous, by_id), plan.all_passages(previous)
            segment_units = plan.unit_days
        path = store.write(
            manifest,
            segment_articles,
            segment_passages,
            stored,
            lexical,
            segment_units,
            previous=previous.path if previous is not None else None,
        )
        index = None
        if plan.appended and isinstance(previous, IndexData):
            index = _extended_index(previous, plan, manifest, lexical, stored, store, path, by_id)
        report(BuildProgress("writing", 1, 1))
    return BuildSummary(
        articles=len(articles),
        passages=plan.n_passages,
        added=added,
        changed=len(fresh) - added,
        removed=removed,
        unchanged=len(keep),
        embedded=len(plan.texts),
        seconds=time.perf_counter() - started,
        full=previous is None,
        path=path,
        index=index,
    )


@dataclass
class _Plan:
    """What a build writes: the passages (numbered), their units, and the texts to embed."""

    passages: list[Passage]
    """Appending: only the new passages (ids after the previous ones). Rewriting: all of them."""
    texts: list[str]
    """The new units' texts, in unit order after the kept ones."""
    unit_articles: list[str]
    """Article id of every unit in the new index."""
    unit_days: np.ndarray
    kept_units: int
    """Units whose vectors come from the previous index (ids 0..kept_units-1 in the new one)."""
    old_units: list[int]
    """Rewriting: the previous unit id of each kept unit."""
    old_passages: list[int]
    """Rewriting: the previous passage id of each kept passage (they come first)."""
    appended: bool
    segment_articles: list[Article]
    n_passages: int

    def all_articles(self, previous: IndexData | None, by_id: dict[str, Article]) -> list[Article]:
        """Every article of the new index, for a generation written as one segment."""
        if self.appended and previous is not None:
            return [*previous.articles.values(), *self.segment_articles]
        return list(by_id.values())

    def all_passages(self, previous: IndexData | None) -> list[Passage]:
        """Every passage of the new index, for a generation written as one segment."""
        if self.appended and previous is not None:
            return [*previous.passages, *self.passages]
        return self.passages


def _number_units(
    passages: list[Passage], by_id: dict[str, Article], first_passage: int, first_unit: int
) -> tuple[list[Passage], list[str], list[str]]:
    """Give new passages ids, and their distinct sentences unit ids (overlapping passages share them)."""
    unit_of: dict[tuple[str, int, int], int] = {}
    texts: list[str] = []
    unit_articles: list[str] = []
    numbered: list[Passage] = []
    for passage in passages:
        article = by_id[passage.article_id]
        units = []
        for start, end in passage.sentences:
            key = (article.id, start, end)
            if key not in unit_of:
                unit_of[key] = first_unit + len(unit_of)
                texts.append(embed_text(EMBED_TEMPLATE, article, article.text[start:end]))
                unit_articles.append(article.id)
            units.append(unit_of[key])
        numbered.append(replace(passage, id=first_passage + len(numbered), units=tuple(units)))
    return numbered, texts, unit_articles


def _day(article: Article) -> int:
    return article.date.toordinal() if article.date else 0


def _plan_addition(
    previous: IndexData | IndexHead, added: list[Article], fresh: list[Passage], by_id: dict[str, Article]
) -> _Plan:
    """Only articles added: the previous passages and units keep their ids, the new ones follow."""
    n_units = previous.vectors.size
    n_passages = previous.manifest.n_passages
    passages, texts, new_unit_articles = _number_units(fresh, by_id, n_passages, n_units)
    # Each unit's article id is for a backend that stores it (Milvus); FAISS, the only one a head
    # is opened for, does not need the old units' ids.
    unit_articles = (
        [previous.passages[holders[0]].article_id for holders in previous.unit_passages]
        if isinstance(previous, IndexData)
        else [""] * n_units
    )
    new_days = np.array([_day(by_id[a]) for a in new_unit_articles], dtype=np.int64)
    return _Plan(
        passages=passages,
        texts=texts,
        unit_articles=unit_articles + new_unit_articles,
        unit_days=np.concatenate([previous.unit_days, new_days]),
        kept_units=n_units,
        old_units=[],
        old_passages=[],
        appended=True,
        segment_articles=list(added),
        n_passages=n_passages + len(passages),
    )


def _plan_rewrite(
    previous: IndexData | None, keep: list[Article], fresh: list[Passage], by_id: dict[str, Article]
) -> _Plan:
    """Articles changed or removed (or no index yet): renumber everything, reusing kept sentence vectors."""
    kept: list[Passage] = []
    if previous is not None:
        keep_ids = {a.id for a in keep}
        kept = [p for p in previous.passages if p.article_id in keep_ids]
    unit_of: dict[tuple[str, int, int], int] = {}
    old_units: list[int] = []
    for passage in kept:
        for position, (start, end) in enumerate(passage.sentences):
            key = (passage.article_id, start, end)
            if key not in unit_of:
                unit_of[key] = len(unit_of)
                old_units.append(passage.units[position])
    renumbered = [
        replace(p, id=i, units=tuple(unit_of[(p.article_id, s, e)] for s, e in p.sentences)) for i, p in enumerate(kept)
    ]
    new_passages, texts, new_unit_articles = _number_units(fresh, by_id, len(kept), len(unit_of))
    unit_articles = [article_id for article_id, _, _ in unit_of] + new_unit_articles
    return _Plan(
        passages=renumbered + new_passages,
        texts=texts,
        unit_articles=unit_articles,
        unit_days=np.array([_day(by_id[a]) for a in unit_articles], dtype=np.int64),
        kept_units=len(old_units),
        old_units=old_units,
        old_passages=[p.id for p in kept],
        appended=False,
        segment_articles=list(by_id.values()),
        n_passages=len(kept) + len(new_passages),
    )


def _assemble(
    plan: _Plan,
    previous: IndexData | IndexHead | None,
    fresh_vectors: np.ndarray,
    store: IndexStore,
    by_id: dict[str, Article],
) -> tuple[VectorStore, LexicalIndex, list[dict[str, object]], bool]:
    """The new generation's vector store, BM25 index and segment list; True if it adds a segment."""
    backend = store.backend
    new_texts = [
        embed_text(EMBED_TEMPLATE, by_id[p.article_id], p.text)
        for p in (plan.passages if plan.appended else plan.passages[len(plan.old_passages) :])
    ]
    if plan.appended and previous is not None:
        stored = backend.extend(previous.vectors, fresh_vectors, plan.unit_days)
        if stored is None:
            stored = backend.append(previous.vectors, fresh_vectors, plan.unit_days)
        if stored is None:
            everything = np.vstack([previous.vectors.vectors(), fresh_vectors]).astype(np.float32)
            stored = backend.build(everything, plan.unit_days, plan.unit_articles)
        lexical = previous.lexical.extend(new_texts)
        old_segments = [dict(s) for s in previous.manifest.segments]
        if len(old_segments) < MAX_SEGMENTS:
            segment = {"name": _segment_name(), "articles": len(plan.segment_articles), "passages": len(plan.passages)}
            return stored, lexical, [*old_segments, segment], True
        assert isinstance(previous, IndexData), "segments merge only from a fully loaded index"
        log.info("merging %d segments into one", len(old_segments) + 1)
        lexical = lexical.select(range(plan.n_passages))
        segment = {"name": _segment_name(), "articles": len(by_id), "passages": plan.n_passages}
        return stored, lexical, [segment], False
    if previous is not None:
        assert isinstance(previous, IndexData)
        old_vectors = previous.vectors.vectors(np.array(plan.old_units, dtype=np.int64))
        lexical = previous.lexical.extend(new_texts).select(
            plan.old_passages + list(range(len(previous.passages), len(previous.passages) + len(new_texts)))
        )
    else:
        old_vectors = np.zeros((0, fresh_vectors.shape[1]), dtype=np.float32)
        lexical = LexicalIndex.build(new_texts)
    vectors = np.vstack([old_vectors, fresh_vectors]).astype(np.float32)
    del old_vectors
    stored = backend.build(vectors, plan.unit_days, plan.unit_articles)
    segment = {"name": _segment_name(), "articles": len(by_id), "passages": plan.n_passages}
    return stored, lexical, [segment], False


def _segment_name() -> str:
    return f"seg-{uuid.uuid4().hex[:12]}"


def _extended_index(
    previous: IndexData,
    plan: _Plan,
    manifest: Manifest,
    lexical: LexicalIndex,
    written: VectorStore,
    store: IndexStore,
    path: Path,
    by_id: dict[str, Article],
) -> IndexData:
    """The new generation in memory, from the previous one plus what was added (no reading back).

    If ``written`` (the vector store just written) is the previous one plus a delta part, it is used as
    it is (its other parts are already open); otherwise the vector store is opened from the new files
    (memory-mapped, where a merged part would otherwise sit in memory)."""
    articles = dict(previous.articles)
    articles.update((a.id, a) for a in plan.segment_articles)
    days, holders, unit_days = passage_tables(plan.passages, by_id, first_unit=previous.vectors.size)
    old = previous.vectors
    if (
        isinstance(written, FaissSegments)
        and isinstance(old, FaissSegments)
        and len(written.parts) == len(old.parts) + 1
        and all(a is b for a, b in zip(written.parts, old.parts, strict=False))
    ):  # the same files now live in ``path``: link them from there next time
        sources = [path] * len(written.parts)
        vectors: VectorStore = FaissSegments(written.parts, written.names, plan.unit_days, sources)
    else:
        vectors = store.backend.load(path, manifest.vector_index, manifest.vector_params, plan.unit_days)
    return IndexData(
        manifest=manifest,
        articles=articles,
        passages=[*previous.passages, *plan.passages],
        vectors=vectors,
        lexical=lexical,
        passage_days=np.concatenate([previous.passage_days, days]),
        unit_passages=[*previous.unit_passages, *holders],
        unit_days=np.concatenate([previous.unit_days, unit_days]),
        path=path,
    )


def _previous(store: IndexStore, *, head: bool = False) -> IndexData | IndexHead | None:
    """The live index to update (whole, or only its head), or None if there is none yet."""
    try:
        return store.load_head() if head else store.load()
    except IndexMissingError:
        return None
    except IndexCorruptError as exc:
        raise IndexCorruptError(f"{exc} (an incremental update needs a readable index)") from exc
