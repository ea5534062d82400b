"""Build or update an index from articles: chunk, embed only what changed, write, swap."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from retrieval.chunking import chunk_article
from retrieval.config import ChunkingConfig
from retrieval.embedding import Embedder, embedding_info
from retrieval.errors import IndexCorruptError, IndexMissingError
from retrieval.lexical import TOKENIZER, LexicalIndex
from retrieval.store import IndexData, IndexStore, Manifest, embed_text
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
        previous = None
        if not full:
            current = loaded is not None and store.exists() and store.current.resolve() == loaded.path
            previous = loaded if current else _previous(store)
            if previous is not None:
                store.check(previous.manifest, embedder.name, params, embedding_info(embedder))
        old_hashes = previous.manifest.articles if previous else {}
        new_ids = {a.id for a in articles}
        keep = [a for a in articles if old_hashes.get(a.id) == a.content_hash]
        fresh = [a for a in articles if old_hashes.get(a.id) != a.content_hash]
        added = sum(1 for a in fresh if a.id not in old_hashes)
        removed = sum(1 for article_id in old_hashes if article_id not in new_ids)
        if previous is not None and not fresh and not removed:
            log.info("index is up to date: nothing to write")
            return BuildSummary(
                articles=len(articles),
                passages=len(previous.passages),
                added=0,
                changed=0,
                removed=0,
                unchanged=len(keep),
                embedded=0,
                seconds=time.perf_counter() - started,
                full=False,
                path=previous.path,
            )

        # Passages of unchanged articles keep their sentence vectors; new and changed ones are chunked.
        kept_passages: list[Passage] = []
        if previous is not None:
            keep_ids = {a.id for a in keep}
            kept_passages = [p for p in previous.passages if p.article_id in keep_ids]
        report(BuildProgress("chunking", 0, len(fresh)))
        fresh_passages: list[Passage] = []
        for number, article in enumerate(fresh, start=1):
            for chunk in chunk_article(article, chunking, embedder.count_tokens):
                text = article.text[chunk.start : chunk.end]
                fresh_passages.append(Passage(-1, article.id, chunk.start, chunk.end, text, chunk.sentences))
            report(BuildProgress("chunking", number, len(fresh)))

        # One vector per distinct sentence (overlapping passages share them): old ones are reused.
        by_id = {a.id: a for a in articles}
        unit_of: dict[tuple[str, int, int], int] = {}
        old_units: list[int] = []
        new_texts: list[str] = []
        passages: list[Passage] = []
        for passage in kept_passages + fresh_passages:
            article = by_id[passage.article_id]
            units = []
            for position, (start, end) in enumerate(passage.sentences):
                key = (article.id, start, end)
                if key not in unit_of:
                    unit_of[key] = len(unit_of)
                    if passage.id >= 0:
                        old_units.append(passage.units[position])
                    else:
                        new_texts.append(embed_text(EMBED_TEMPLATE, article, article.text[start:end]))
                units.append(unit_of[key])
            passages.append(replace(passage, id=len(passages), units=tuple(units)))

        done = 0
        report(BuildProgress("embedding", 0, len(new_texts)))

        def advance(n: int) -> None:
            nonlocal done
            done += n
            report(BuildProgress("embedding", done, len(new_texts)))

        fresh_vectors = embedder.encode(new_texts, progress=advance)
        unit_articles = [article_id for article_id, _, _ in unit_of]
        day_of = {a.id: (a.date.toordinal() if a.date else 0) for a in articles}
        unit_days = np.array([day_of[a] for a in unit_articles], dtype=np.int64)

        report(BuildProgress("writing", 0, 1))
        stored = None
        # Only articles added: every old unit kept, as ids 0..n-1 in the same order. The new vectors can
        # then be appended to (a copy of) the previous vector index instead of training a new one.
        if (
            previous is not None
            and not removed
            and len(fresh) == added
            and len(old_units) == previous.vectors.size
            and old_units == list(range(len(old_units)))
        ):
            stored = store.backend.append(
                previous.path,
                previous.manifest.vector_index,
                dict(previous.manifest.vector_params),
                fresh_vectors,
                unit_days,
            )
        if stored is None:
            old_vectors = (
                previous.vectors.vectors(np.array(old_units, dtype=np.int64))
                if previous is not None
                else np.zeros((0, embedder.dimension), dtype=np.float32)
            )
            vectors = np.vstack([old_vectors, fresh_vectors]).astype(np.float32)
            del old_vectors
            stored = store.backend.build(vectors, unit_days, unit_articles)
        lexical = LexicalIndex.build(
            [embed_text(EMBED_TEMPLATE, by_id[p.article_id], p.text) for p in passages]
        )
        dates = sorted(a.date for a in articles if a.date)
        manifest = Manifest(
            model=embedder.name,
            dimension=embedder.dimension,
            chunking=params,
            embed_template=EMBED_TEMPLATE,
            articles={a.id: a.content_hash for a in articles},
            n_passages=len(passages),
            n_vectors=stored.size,
            built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
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
                    len(old_units),
                    len(new_texts),
                )
            },
        )
        path = store.write(manifest, list(articles), passages, stored, lexical)
        report(BuildProgress("writing", 1, 1))
    return BuildSummary(
        articles=len(articles),
        passages=len(passages),
        added=added,
        changed=len(fresh) - added,
        removed=removed,
        unchanged=len(keep),
        embedded=len(new_texts),
        seconds=time.perf_counter() - started,
        full=previous is None,
        path=path,
    )


def _previous(store: IndexStore) -> IndexData | None:
    """The live index to update, or None if there is none yet."""
    try:
        return store.load()
    except IndexMissingError:
        return None
    except IndexCorruptError as exc:
        raise IndexCorruptError(f"{exc} (an incremental update needs a readable index)") from exc
