"""Find the passages that answer a question: dense + BM25, fused, re-ranked, de-duplicated."""
