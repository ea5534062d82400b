"""Chunking: whole sentences, within the token budget, overlapping, with exact offsets."""

from __future__ import annotations

import datetime as dt

from retrieval.config import ChunkingConfig
from retrieval.index.chunking import approximate_token_counts, chunk_article
from retrieval.text import split_sentences
from retrieval.types import Article

TEXT = (
    "Mr. Smith went to Washington on Jan. 5. He said “no.” Then he left.\n\n"
    "The second paragraph starts here. It has two sentences."
)


def _article(text: str) -> Article:
    return Article("a", "Title", dt.date(2024, 1, 1), "src", text)


def test_sentences_have_exact_trimmed_offsets() -> None:
    spans = split_sentences(TEXT)
    sentences = [TEXT[s:e] for s, e in spans]
    assert sentences == [
        "Mr. Smith went to Washington on Jan. 5.",
        "He said “no.”",
        "Then he left.",
        "The second paragraph starts here.",
        "It has two sentences.",
    ]


def test_chunks_respect_budget_and_overlap() -> None:
    text = " ".join(f"Sentence number {i} is about the harbour and ships." for i in range(30))
    config = ChunkingConfig(max_tokens=40, overlap_sentences=1)
    chunks = chunk_article(_article(text), config)
    assert len(chunks) > 3
    for chunk in chunks:
        assert sum(approximate_token_counts([text[s:e] for s, e in chunk.sentences])) <= 40
        assert text[chunk.start : chunk.end].startswith("Sentence number")
        assert (chunk.start, chunk.end) == (chunk.sentences[0][0], chunk.sentences[-1][1])
    for first, second in zip(chunks, chunks[1:], strict=False):
        assert second.sentences[0] == first.sentences[-1]  # one sentence of overlap
    covered = {span for chunk in chunks for span in chunk.sentences}
    assert covered == set(split_sentences(text))


def test_overlong_sentence_is_split_on_words() -> None:
    text = "word " * 300 + "end."
    chunks = chunk_article(_article(text.strip()), ChunkingConfig(max_tokens=50, overlap_sentences=0))
    assert len(chunks) >= 6
    for chunk in chunks:
        piece = text[chunk.start : chunk.end]
        assert not piece.startswith(" ") and not piece.endswith(" ")
        assert approximate_token_counts([piece])[0] <= 50


def test_empty_article_has_no_chunks() -> None:
    assert chunk_article(_article("   "), ChunkingConfig()) == []
