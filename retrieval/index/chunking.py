"""Cut articles into passages of whole sentences that fit the model, keeping character offsets."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrieval.config import ChunkingConfig
from retrieval.text import WORD_OR_MARK, Span, split_sentences
from retrieval.types import Article

TokenCounter = Callable[[Sequence[str]], list[int]]


def approximate_token_counts(texts: Sequence[str]) -> list[int]:
    """Token counts without a tokenizer: words and punctuation marks, a close over-estimate."""
    return [len(WORD_OR_MARK.findall(text)) for text in texts]


def _split_long(text: str, span: Span, count: int, budget: int) -> list[Span]:
    """Cut a sentence longer than the budget into word-boundary windows."""
    start, end = span
    words = [(start + m.start(), start + m.end()) for m in re.finditer(r"\S+", text[start:end])]
    per_window = max(1, int(len(words) * budget / max(count, 1)))
    return [(words[i][0], words[min(i + per_window, len(words)) - 1][1]) for i in range(0, len(words), per_window)]


@dataclass(frozen=True)
class Chunk:
    """A passage before it has an index id: offsets into its article and its sentence spans."""

    article_id: str
    start: int
    end: int
    sentences: tuple[Span, ...]


def chunk_article(
    article: Article,
    config: ChunkingConfig,
    count_tokens: TokenCounter = approximate_token_counts,
) -> list[Chunk]:
    """Greedy packing of whole sentences up to ``max_tokens``, overlapping by a few sentences."""
    text = article.text
    spans = split_sentences(text, config.language)
    if not spans:
        return []
    counts = count_tokens([text[s:e] for s, e in spans])
    sentences: list[Span] = []
    sizes: list[int] = []
    for span, count in zip(spans, counts, strict=True):
        if count > config.max_tokens:
            pieces = _split_long(text, span, count, config.max_tokens)
            sentences.extend(pieces)
            sizes.extend(count_tokens([text[s:e] for s, e in pieces]))
        else:
            sentences.append(span)
            sizes.append(count)

    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        last = first
        used = sizes[first]
        while last + 1 < len(sentences) and used + sizes[last + 1] <= config.max_tokens:
            last += 1
            used += sizes[last]
        members = tuple(sentences[first : last + 1])
        chunks.append(Chunk(article.id, members[0][0], members[-1][1], members))
        if last + 1 >= len(sentences):
            break
        first = max(first + 1, last + 1 - config.overlap_sentences)
    return chunks
