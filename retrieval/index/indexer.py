"""Build or update an index from articles, in steps: diff, chunk, plan, embed, assemble, write, open.

An update never rewrites what it does not change: added articles go to one new segment (and one new
vector part, or into the trained index), a removed or changed article is tombstoned in its segment
(a changed one is also added anew). Once more than ``COMPACT_DELETED_FRACTION`` of the stored
sentence vectors would be tombstones, the build compacts: one segment of the live rows, vectors
rebuilt. ``full`` builds everything from the articles.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from retrieval.config import ChunkingConfig
from retrieval.embedding.base import Embedder, embedding_info
from retrieval.errors import IndexCorruptError
from retrieval.index.chunking import Chunk, chunk_article
from retrieval.index.data import IndexData
from retrieval.index.lexical import LexicalIndex, TermSegment
from retrieval.index.manifest import Manifest, SegmentRecord
from retrieval.index.segment import SegmentTables
from retrieval.index.store import MAX_SEGMENTS, IndexStore, NewSegment, SegmentWrite, embed_text
from retrieval.index.vectors.base import Growth, VectorBackend, VectorStore
from retrieval.text import TOKENIZER
from retrieval.types import Article

log = logging.getLogger(__name__)

EMBED_TEMPLATE = "{title}\n{text}"
COMPACT_DELETED_FRACTION = 0.2
"""A build compacts (segments rewritten without tombstoned rows, vectors rebuilt) once more than
this share of the stored sentence vectors would be tombstones; below it, searches filter them."""


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
    """The new generation already open, when the caller held the old one (saves reading it back)."""
    compacted: bool = False
    published: str = ""
    """When the whole index lives in Milvus: what the publish wrote (rows appended or rewritten)."""

    @property
    def rate(self) -> float:
        """Sentences embedded per second."""
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


def chunking_params(config: ChunkingConfig) -> dict[str, object]:
    """The chunking parameters recorded in (and checked against) the manifest."""
    return {**asdict(config), "template": EMBED_TEMPLATE, "tokenizer": TOKENIZER}


# -- the steps --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Diff:
    """The articles against the live index: what to add (new and changed), what to tombstone."""

    fresh: list[Article]
    added: int
    changed: int
    removed: int
    unchanged: int
    dead: dict[int, np.ndarray]
    """Segment number -> article rows to tombstone now (changed and removed articles' old rows)."""

    @property
    def empty(self) -> bool:
        """Nothing to write."""
        return not self.fresh and not self.dead


def diff_articles(articles: Sequence[Article], base: IndexData | None) -> Diff:
    """Compare the articles with the live index's (content hashes; no text is read)."""
    if base is None:
        return Diff(list(articles), len(articles), 0, 0, 0, {})
    old: dict[str, tuple[int, int, str]] = {}
    for number, segment in enumerate(base.segments):
        tombstoned = segment.dead_articles
        hashes = segment.tables.hashes.tolist()
        for row, article_id in enumerate(segment.tables.ids.tolist()):
            if not tombstoned[row]:
                old[article_id] = (number, row, hashes[row])
    fresh = [a for a in articles if a.id not in old or old[a.id][2] != a.content_hash]
    added = sum(1 for a in fresh if a.id not in old)
    seen = {a.id for a in articles}
    gone = [where for article_id, where in old.items() if article_id not in seen]
    changed = [old[a.id] for a in fresh if a.id in old]
    dead: dict[int, list[int]] = {}
    for number, row, _ in gone + changed:
        dead.setdefault(number, []).append(row)
    return Diff(
        fresh=fresh,
        added=added,
        changed=len(changed),
        removed=len(gone),
        unchanged=len(articles) - len(fresh),
        dead={number: np.array(sorted(rows), dtype=np.int64) for number, rows in dead.items()},
    )


@dataclass(frozen=True)
class Fresh:
    """The new articles chunked: their segment tables, texts, and what to embed and BM25-index."""

    tables: SegmentTables
    texts: list[bytes]
    unit_texts: list[str]
    passage_texts: list[str]
    unit_articles: list[str]


def chunk(articles: Sequence[Article], config: ChunkingConfig, embedder: Embedder, report: ProgressCallback) -> Fresh:
    """Cut the new articles into passages; one unit (vector) per distinct sentence."""
    report(BuildProgress("chunking", 0, len(articles)))
    chunks: list[Chunk] = []
    for number, article in enumerate(articles, start=1):
        chunks.extend(chunk_article(article, config, embedder.count_tokens))
        report(BuildProgress("chunking", number, len(articles)))
    tables, texts, spans = SegmentTables.build(articles, chunks)
    return Fresh(
        tables=tables,
        texts=texts,
        unit_texts=[embed_text(EMBED_TEMPLATE, articles[row], articles[row].text[s:e]) for row, s, e in spans],
        passage_texts=[
            embed_text(EMBED_TEMPLATE, articles[int(row)], articles[int(row)].text[c.start : c.end])
            for row, c in zip(tables.p_article, chunks, strict=True)
        ],
        unit_articles=[articles[row].id for row, _, _ in spans],
    )


class Mode(enum.Enum):
    """What a build writes."""

    FULL = "full"
    """Everything from the articles (no index, or ``--full``)."""
    GROW = "grow"
    """Tombstones, and one new segment for the fresh articles; everything else linked."""
    COMPACT = "compact"
    """One segment of the live rows and the fresh articles; vectors rebuilt."""


@dataclass(frozen=True)
class Plan:
    """How this build changes the index."""

    mode: Mode
    dead: tuple[np.ndarray, ...] = ()
    """Per base segment: its tombstoned article rows after this build."""
    growth: Growth | None = None
    """GROW with fresh vectors: how the vector store takes them."""
    merge_from: int | None = None
    """GROW: base segments from this one on merge with the new segment into one."""


def plan_build(base: IndexData | None, diff: Diff, fresh_units: int, backend: VectorBackend) -> Plan:
    """Grow (tombstone + add) unless tombstones would pass the threshold, the backend keeps none, or
    its vectors are rebuilt anyway: then compact."""
    if base is None:
        return Plan(Mode.FULL)
    dead = tuple(
        np.union1d(segment.deleted, diff.dead.get(number, np.zeros(0, np.int64))).astype(np.int64)
        for number, segment in enumerate(base.segments)
    )
    dead_units = sum(
        int(np.count_nonzero(np.isin(s.tables.u_article, rows))) for s, rows in zip(base.segments, dead, strict=True)
    )
    total = base.vectors.size + fresh_units
    if dead_units and not backend.capabilities.tombstones:
        return Plan(Mode.COMPACT, dead)
    if dead_units > COMPACT_DELETED_FRACTION * total:
        log.info("compacting: %d of %d sentence vectors would be tombstones", dead_units, total)
        return Plan(Mode.COMPACT, dead)
    growth = backend.growth(base.vectors, fresh_units, total) if fresh_units else None
    if growth is Growth.REBUILD and dead_units:
        return Plan(Mode.COMPACT, dead)  # the vectors are rebuilt anyway: leave the tombstones behind
    return Plan(Mode.GROW, dead, growth, _merge_from([s.tables.n_passages for s in base.segments], bool(diff.fresh)))


def _merge_from(sizes: Sequence[int], adds: bool) -> int | None:
    """Past ``MAX_SEGMENTS`` segments, the later ones merge (all of them once they outgrow the first)."""
    if len(sizes) + adds <= MAX_SEGMENTS:
        return None
    return 1 if len(sizes) > 1 and sum(sizes[1:]) <= sizes[0] else 0


def embed(embedder: Embedder, texts: Sequence[str], report: ProgressCallback) -> np.ndarray:
    """The new units' vectors, reporting progress."""
    done = 0
    report(BuildProgress("embedding", 0, len(texts)))

    def advance(n: int) -> None:
        nonlocal done
        done += n
        report(BuildProgress("embedding", done, len(texts)))

    return embedder.encode(list(texts), progress=advance)


@dataclass(frozen=True)
class Assembled:
    """The new generation before it is written: its segments, vector store and tombstone counts."""

    segments: list[SegmentWrite]
    records: list[SegmentRecord]
    vectors: VectorStore


def assemble(
    plan: Plan, base: IndexData | None, fresh: Fresh, vectors: np.ndarray, backend: VectorBackend
) -> Assembled:
    """The new generation's segments and vector store, by the plan."""
    if plan.mode is Mode.FULL or base is None:
        terms = LexicalIndex.build(fresh.passage_texts).segments[0]
        days = fresh.tables.days[fresh.tables.u_article]
        segment = SegmentWrite(_segment_name(), NewSegment(fresh.tables, fresh.texts, terms), _no_rows())
        return Assembled([segment], [_record(segment, fresh.tables)], backend.build(vectors, days, fresh.unit_articles))
    if plan.mode is Mode.COMPACT:
        return _compact(plan, base, fresh, vectors, backend)
    return _grow(plan, base, fresh, vectors, backend)


def _compact(plan: Plan, base: IndexData, fresh: Fresh, vectors: np.ndarray, backend: VectorBackend) -> Assembled:
    """One segment: every live row of the base (copied, not re-chunked or re-embedded) and the fresh ones."""
    parts: list[SegmentTables] = []
    texts: list[bytes | memoryview] = []
    kept_passages: list[np.ndarray] = []
    kept_units: list[np.ndarray] = []
    kept_ids: list[str] = []
    passage_at = unit_at = 0
    for segment, dead in zip(base.segments, plan.dead, strict=True):
        t = segment.tables
        rows = np.setdiff1d(np.arange(t.n_articles), dead)
        parts.append(t.take(rows))
        texts.extend(segment.texts.raw(int(t.text_at[r]), int(t.text_at[r + 1])) for r in rows.tolist())
        kept_passages.append(passage_at + np.flatnonzero(np.isin(t.p_article, rows)))
        units = np.flatnonzero(np.isin(t.u_article, rows))
        kept_units.append(unit_at + units)
        names = t.ids.tolist()
        kept_ids.extend(names[int(r)] for r in t.u_article[units])
        passage_at, unit_at = passage_at + t.n_passages, unit_at + t.n_units
    tables = SegmentTables.concat([*parts, fresh.tables])
    grown = base.lexical.extend(fresh.passage_texts)
    new_pids = np.arange(base.lexical.n_docs, base.lexical.n_docs + len(fresh.passage_texts))
    terms = grown.select(np.concatenate([*kept_passages, new_pids]).tolist()).segments[0]
    old = base.vectors.vectors(np.concatenate(kept_units)) if unit_at else np.zeros((0, vectors.shape[1]), np.float32)
    everything = np.vstack([old, vectors]).astype(np.float32)
    days = tables.days[tables.u_article]
    write = SegmentWrite(_segment_name(), NewSegment(tables, [*texts, *fresh.texts], terms), _no_rows())
    log.info("compacted %d segments into one of %d articles", len(base.segments), tables.n_articles)
    stored = backend.build(everything, days, [*kept_ids, *fresh.unit_articles])
    return Assembled([write], [_record(write, tables)], stored)


def _grow(plan: Plan, base: IndexData, fresh: Fresh, vectors: np.ndarray, backend: VectorBackend) -> Assembled:
    """The base's segments as they are (new tombstones only), plus one for the fresh articles, the
    later segments merged into it past ``MAX_SEGMENTS``; the vectors as the backend's growth says."""
    segments = [SegmentWrite(s.name, None, dead) for s, dead in zip(base.segments, plan.dead, strict=True)]
    records = [_record(w, s.tables) for w, s in zip(segments, base.segments, strict=True)]
    if fresh.tables.n_articles:
        terms = base.lexical.new_segment(fresh.passage_texts)
        if plan.merge_from is None:
            new = SegmentWrite(_segment_name(), NewSegment(fresh.tables, fresh.texts, terms), _no_rows())
            segments.append(new)
            records.append(_record(new, fresh.tables))
        else:
            merged_write, tables = _merged(base, plan, fresh, terms)
            segments[plan.merge_from :] = [merged_write]
            records[plan.merge_from :] = [_record(merged_write, tables)]
    days = np.concatenate([base.unit_days, fresh.tables.days[fresh.tables.u_article]])
    if plan.growth is Growth.DELTA:
        stored = backend.extend(base.vectors, vectors, days, fresh.unit_articles)
    elif plan.growth is Growth.APPEND:
        stored = backend.append(base.vectors, vectors, days)
    elif plan.growth is Growth.REBUILD:
        everything = np.vstack([base.vectors.vectors(), vectors]).astype(np.float32)
        stored = backend.build(everything, days, [*base.unit_article_ids(), *fresh.unit_articles])
    else:
        stored = base.vectors  # only tombstones: every part is linked as it is
    return Assembled(segments, records, stored)


def _merged(base: IndexData, plan: Plan, fresh: Fresh, terms: TermSegment) -> tuple[SegmentWrite, SegmentTables]:
    """Base segments ``plan.merge_from``.. and the fresh one as one segment: rows keep their order (and
    so their ids), tombstones carry over."""
    start = plan.merge_from or 0
    tail = base.segments[start:]
    log.info("merging %d segments into one", len(tail) + 1)
    tables = SegmentTables.concat([*(s.tables for s in tail), fresh.tables])
    texts = [s.texts.raw(0, s.texts.size) for s in tail]
    width = len(base.lexical.terms) + len(terms.new_terms)
    merged_terms = TermSegment.concat([*(s.terms for s in tail), terms], width)
    dead, at = [], 0
    for segment, rows in zip(tail, plan.dead[start:], strict=True):
        dead.append(rows + at)
        at += segment.tables.n_articles
    deleted = np.concatenate(dead) if dead else _no_rows()
    write = SegmentWrite(_segment_name(), NewSegment(tables, [*texts, *fresh.texts], merged_terms), deleted)
    return write, tables


def _record(segment: SegmentWrite, tables: SegmentTables) -> SegmentRecord:
    dead = np.zeros(tables.n_articles, dtype=bool)
    dead[segment.deleted] = True
    return SegmentRecord(
        name=segment.name,
        articles=tables.n_articles,
        passages=tables.n_passages,
        units=tables.n_units,
        deleted_articles=int(dead.sum()),
        deleted_passages=int(dead[tables.p_article].sum()),
        deleted_units=int(dead[tables.u_article].sum()),
    )


def _segment_name() -> str:
    return f"seg-{uuid.uuid4().hex[:12]}"


def _no_rows() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _embedding_record(embedder: Embedder, before: dict[str, str] | None, kept: int, embedded: int) -> dict[str, str]:
    """How the index's vectors were computed, for the manifest: backend and precision.

    An incremental build by another backend keeps the old vectors; the record then says ``mixed``.
    """
    info = embedding_info(embedder)
    before = dict(before or {})
    if not kept or not before:
        return info
    if not embedded:
        return before
    if before.get("mixed") or {k: v for k, v in before.items() if k != "mixed"} != info:
        return {**info, "mixed": "true"}
    return info


def make_manifest(
    articles: Sequence[Article],
    embedder: Embedder,
    params: dict[str, object],
    assembled: Assembled,
    base: IndexData | None,
    embedded: int,
    backend: str,
) -> Manifest:
    """The new generation's manifest (the store adds the files and vector parts)."""
    dates = sorted(a.date for a in articles if a.date)
    kept = base.vectors.size if base is not None else 0
    return Manifest(
        model=embedder.name,
        dimension=embedder.dimension,
        chunking=dict(params),
        embed_template=EMBED_TEMPLATE,
        built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        segments=tuple(assembled.records),
        vector_index=assembled.vectors.kind,
        vector_params=dict(assembled.vectors.params),
        vector_backend=backend,
        date_range=(dates[0].isoformat() if dates else None, dates[-1].isoformat() if dates else None),
        embedding=_embedding_record(embedder, base.manifest.embedding if base else None, kept, embedded),
    )


def _base(
    store: IndexStore, loaded: IndexData | None, embedder: Embedder, params: dict[str, object]
) -> IndexData | None:
    """The live index to update: the caller's, if it is still the live one, else read (no texts)."""
    live = store.live_generation()
    if live is None:
        absence = store.absence()
        if absence is not None and absence.damaged:
            log.warning("%s: building it anew", absence.message)
        return None
    if loaded is not None and loaded.path == live:
        base = loaded
    else:
        try:
            base = store.load()
        except IndexCorruptError as exc:
            raise IndexCorruptError(f"{exc} (an incremental update needs a readable index)") from exc
    store.check(base.manifest, embedder.name, params, embedding_info(embedder))
    return base


# -- the build ---------------------------------------------------------------------------------


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

    ``loaded`` is the live index if the caller holds it in memory: it is the base of the update and
    the new generation is opened sharing its unchanged parts (``BuildSummary.index``).
    """
    started = time.perf_counter()
    report = progress or (lambda _p: None)
    params = chunking_params(chunking)
    with store.lock():
        store.clean()
        base = None if full else _base(store, loaded, embedder, params)
        diff = diff_articles(articles, base)
        if base is not None and diff.empty:
            log.info("index is up to date: nothing to write")
            return _summary(articles, diff, base.manifest.live_passages, 0, started, base.path, base)
        fresh = chunk(diff.fresh, chunking, embedder, report)
        plan = plan_build(base, diff, fresh.tables.n_units, store.backend)
        vectors = embed(embedder, fresh.unit_texts, report)
        report(BuildProgress("writing", 0, 1))
        assembled = assemble(plan, base, fresh, vectors, store.backend)
        embedded = len(fresh.unit_texts)
        manifest = make_manifest(articles, embedder, params, assembled, base, embedded, store.backend.name)
        path = store.write(manifest, assembled.segments, assembled.vectors, previous=base)
        index = store.open_generation(path, reuse=base) if loaded is not None else None
        report(BuildProgress("writing", 1, 1))
    passages = sum(r.live_passages for r in assembled.records)
    compacted = plan.mode is Mode.COMPACT
    return _summary(articles, diff, passages, len(fresh.unit_texts), started, path, base, index, compacted)


def _summary(
    articles: Sequence[Article],
    diff: Diff,
    passages: int,
    embedded: int,
    started: float,
    path: Path,
    base: IndexData | None,
    index: IndexData | None = None,
    compacted: bool = False,
) -> BuildSummary:
    """What the build did."""
    return BuildSummary(
        articles=len(articles),
        passages=passages,
        added=diff.added,
        changed=diff.changed,
        removed=diff.removed,
        unchanged=diff.unchanged,
        embedded=embedded,
        seconds=time.perf_counter() - started,
        full=base is None,
        path=path,
        index=index,
        compacted=compacted,
    )
