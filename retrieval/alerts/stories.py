"""Articles grouped by story: the same wire copy carried by several outlets, or the same event reported
in their own words.

Two articles are one story when their texts share most word 5-grams (the near-duplicate test search
uses to fold syndicated copies, ``SearchConfig.duplicate_overlap``) or when their leads mean the same
(the cosine of their first sentences' mean vectors at or above STORY_SIMILARITY, fitted on
news_train_2024: ``benchmarks/bench_alerts.py fit``). Groups are the connected pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.index.data import IndexData
from retrieval.text import shingles
from retrieval.types import Article, Passage

STORY_SIMILARITY = 0.64
"""Leads at least this close (cosine of their mean sentence vectors) tell the same story (fitted on train)."""
COPY_OVERLAP = 0.6
"""Texts sharing this share of word 5-grams are copies of one story (search's ``duplicate_overlap``)."""
BOILERPLATE = 50
"""A word 5-gram found in more texts than this is not counted (a site's furniture, not a story's words)."""
LEAD_SENTENCES = 5
"""How many first sentences stand for an article's story."""
COMPARED_CHARS = 3000
"""How much of each text the copy test compares (a wire copy shows in its first paragraphs)."""


@dataclass(frozen=True)
class Story:
    """Articles telling one story, the first one leading (the caller's order is kept)."""

    articles: tuple[Article, ...]

    @property
    def outlets(self) -> tuple[str, ...]:
        """The distinct outlets that carried it, in the articles' order."""
        return tuple(dict.fromkeys(a.source for a in self.articles if a.source))

    @property
    def lead(self) -> Article:
        """The article that stands for the story."""
        return self.articles[0]


def known_passages(
    index: IndexData, article_ids: Sequence[str], known: Mapping[str, list[Passage]] | None
) -> dict[str, list[Passage]]:
    """``index.article_passages(article_ids)``, or the same taken from ``known`` (read before for more
    articles, in the index's order) without asking the index again."""
    if known is None:
        return index.article_passages(article_ids)
    wanted = set(article_ids)
    return {article_id: passages for article_id, passages in known.items() if article_id in wanted}


def lead_vectors(
    index: IndexData,
    article_ids: Sequence[str],
    sentences: int = LEAD_SENTENCES,
    known: Mapping[str, list[Passage]] | None = None,
) -> dict[str, np.ndarray]:
    """Each article's lead as one unit vector: the mean of its first ``sentences`` sentence vectors
    (``known``: the articles' passages, if already read)."""
    out = {}
    for article_id, passages in known_passages(index, article_ids, known).items():
        units = sorted({u for passage in passages for u in passage.units})[:sentences]
        if not units:
            continue
        mean = index.vectors.vectors(np.asarray(units, dtype=np.int64)).astype(np.float32).mean(axis=0)
        norm = float(np.linalg.norm(mean))
        if norm > 0:
            out[article_id] = mean / norm
    return out


class _Groups:
    """Union-find over positions."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)  # the earlier position leads


def _close_leads(
    index: IndexData, articles: Sequence[Article], similarity: float, known: Mapping[str, list[Passage]] | None
) -> set[tuple[int, int]]:
    """The pairs of positions whose leads are at least ``similarity`` apart (one matrix product)."""
    vectors = lead_vectors(index, [a.id for a in articles], known=known)
    have = [i for i, a in enumerate(articles) if a.id in vectors]
    if len(have) < 2:
        return set()
    matrix = np.stack([vectors[articles[i].id] for i in have])
    close = np.argwhere(np.triu(matrix @ matrix.T >= similarity, k=1))
    return {(have[a], have[b]) for a, b in close.tolist()}


def _copies(articles: Sequence[Article], copy_overlap: float) -> set[tuple[int, int]]:
    """The pairs of positions whose texts are copies (``retrieval.text.overlap`` at least ``copy_overlap``),
    counted through the 5-grams they share; a 5-gram in more than BOILERPLATE texts is a site's furniture."""
    grams = [shingles(a.text[:COMPARED_CHARS]) for a in articles]
    holders: dict[tuple[str, ...], list[int]] = {}
    for i, found in enumerate(grams):
        for gram in found:
            holders.setdefault(gram, []).append(i)
    shared: dict[tuple[int, int], int] = {}
    for positions in holders.values():
        if len(positions) > BOILERPLATE:
            continue
        for x in range(len(positions)):
            for y in range(x + 1, len(positions)):
                pair = (positions[x], positions[y])
                shared[pair] = shared.get(pair, 0) + 1
    return {
        (i, j) for (i, j), count in shared.items() if count / max(1, min(len(grams[i]), len(grams[j]))) >= copy_overlap
    }


def group_stories(
    index: IndexData,
    articles: Sequence[Article],
    *,
    similarity: float = STORY_SIMILARITY,
    copy_overlap: float = COPY_OVERLAP,
    known: Mapping[str, list[Passage]] | None = None,
) -> list[Story]:
    """``articles`` grouped by story; each story keeps the articles' order and stories come in the order
    of their first article (``known``: their passages, if already read)."""
    groups = _Groups(len(articles))
    for i, j in _close_leads(index, articles, similarity, known) | _copies(articles, copy_overlap):
        groups.join(i, j)
    members: dict[int, list[Article]] = {}
    for i, article in enumerate(articles):
        members.setdefault(groups.find(i), []).append(article)
    return [Story(tuple(found)) for _, found in sorted(members.items())]
