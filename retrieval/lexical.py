"""BM25 over passages with bm25s: stemmed English tokens, saved beside the vectors."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TOKENIZER = "bm25s/en_plus/snowball-english"
"""Recorded in the manifest: an index tokenized otherwise must be rebuilt."""


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed word tokens, as BM25 and the answerer see them."""
    import bm25s

    result = bm25s.tokenize(
        list(texts),
        stopwords="en_plus",
        stemmer=_stemmer(),
        return_ids=False,
        show_progress=False,
    )
    return [list(tokens) for tokens in result]


class LexicalIndex:
    """A BM25 index of passage texts plus the document frequencies the answerer weighs terms by."""

    def __init__(self, retriever: object, n_docs: int) -> None:
        self._bm25 = retriever
        self.n_docs = n_docs
        scores = retriever.scores  # type: ignore[attr-defined]
        indptr = np.asarray(scores["indptr"])
        self._df = np.diff(indptr)
        self._vocab: dict[str, int] = retriever.vocab_dict  # type: ignore[attr-defined]

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        """Index ``texts`` (one per passage, in passage-id order)."""
        import bm25s

        tokens = tokenize(texts)
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False, create_empty_token=True)
        return cls(retriever, len(texts))

    def save(self, directory: Path) -> None:
        """Write the index under ``directory``."""
        self._bm25.save(str(directory), show_progress=False)  # type: ignore[attr-defined]

    @classmethod
    def load(cls, directory: Path, n_docs: int) -> LexicalIndex:
        """Read an index written by :meth:`save`."""
        import bm25s

        retriever = bm25s.BM25.load(str(directory), show_progress=False, verbosity=0)
        return cls(retriever, n_docs)

    def idf(self, token: str) -> float:
        """Inverse document frequency of a (stemmed) token; unseen tokens weigh most."""
        index = self._vocab.get(token)
        df = int(self._df[index]) if index is not None and index < len(self._df) else 0
        return math.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5))

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (passage id, BM25 score) with a positive score, among passages the mask admits."""
        ids = [self._vocab[t] for t in tokenize([query])[0] if t in self._vocab]
        if not ids or self.n_docs == 0:
            return []
        weight = None if mask is None else mask.astype(np.float32)
        scores = self._bm25.get_scores(ids, weight_mask=weight)  # type: ignore[attr-defined]
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]
