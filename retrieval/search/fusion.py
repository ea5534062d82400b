"""Fuse the dense and BM25 rankings into one score per passage."""

from __future__ import annotations

from retrieval.config import SearchConfig


def fuse(dense: dict[int, float], lexical: dict[int, float], config: SearchConfig) -> dict[int, float]:
    """Combine the two rankings: a convex mix of normalised scores (default) or reciprocal rank fusion."""
    if not dense or not lexical:
        return dict(dense or lexical)
    if config.fusion == "rrf":
        fused: dict[int, float] = {}
        for ranking in (dense, lexical):
            for rank, pid in enumerate(sorted(ranking, key=lambda p: -ranking[p])):
                fused[pid] = fused.get(pid, 0.0) + 1.0 / (config.rrf_k + rank + 1)
        return fused
    low, high = min(dense.values()), max(dense.values())
    top = max(lexical.values())
    alpha = config.dense_weight
    return {
        pid: alpha * (dense.get(pid, low) - low) / (high - low + 1e-9) + (1 - alpha) * lexical.get(pid, 0.0) / top
        for pid in dense.keys() | lexical.keys()
    }
