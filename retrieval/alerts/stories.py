"""Articles grouped by story: the same wire copy carried by several outlets, or the same event reported
in their own words.

Two articles are one story when their texts share most word 5-grams (the near-duplicate test search
uses to fold syndicated copies, ``SearchConfig.duplicate_overlap``) or when their leads mean the same
(the cosine of their first sentences' mean vectors at or above STORY_SIMILARITY, fitted on
news_train_2024: ``benchmarks/bench_alerts.py fit``). Groups are the connected pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.alerts.matching import article_passages
from retrieval.index.data import IndexData
from retrieval.text import overlap, shingles
from retrieval.types import Article

STORY_SIMILARITY = 0.64
"""Leads at least this close (cosine of their mean sentence vectors) tell the same story (fitted on train)."""
COPY_OVERLAP = 0.6
"""Texts sharing this share of word 5-grams are copies of one story (search's ``duplicate_overlap``)."""
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


def lead_vectors(
    index: IndexData, article_ids: Sequence[str], sentences: int = LEAD_SENTENCES
) -> dict[str, np.ndarray]:
    """Each article's lead as one unit vector: the mean of its first ``sentences`` sentence vectors."""
    out = {}
    for article_id, pids in article_passages(index, article_ids).items():
        units = sorted({u for pid in pids for u in index.passages[pid].units})[:sentences]
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


def group_stories(
    index: IndexData,
    articles: Sequence[Article],
    *,
    similarity: float = STORY_SIMILARITY,
    copy_overlap: float = COPY_OVERLAP,
) -> list[Story]:
    """``articles`` grouped by story; each story keeps the articles' order and stories come in the order
    of their first article."""
    vectors = lead_vectors(index, [a.id for a in articles])
    grams = [shingles(a.text[:COMPARED_CHARS]) for a in articles]
    groups = _Groups(len(articles))
    for i in range(len(articles)):
        for j in range(i + 1, len(articles)):
            a, b = vectors.get(articles[i].id), vectors.get(articles[j].id)
            if (a is not None and b is not None and float(a @ b) >= similarity) or overlap(
                grams[i], grams[j]
            ) >= copy_overlap:
                groups.join(i, j)
    members: dict[int, list[Article]] = {}
    for i, article in enumerate(articles):
        members.setdefault(groups.find(i), []).append(article)
    return [Story(tuple(found)) for _, found in sorted(members.items())]
