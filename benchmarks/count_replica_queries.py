"""Queries a replica sends each corpus collection per question, counted through ``_Lookup._query``
(the single entry point of its reads; the real query runs). Runs a ``newsdesk`` command, e.g.

    NEWSDESK_VECTOR_BACKEND=milvus NEWSDESK_MILVUS_CORPUS=1 NEWSDESK_MILVUS_URI=... \\
      .venv/bin/python benchmarks/count_replica_queries.py eval --corpus ... --questions ... --slice 60

and prints, per collection, the most and the mean queries of one ``Engine.ask`` to stderr.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import retrieval.engine
from retrieval.index.remote import _Lookup

KINDS = {"p": "passages", "a": "articles", "t": "terms", "u": "units"}


def main() -> int:
    counts: Counter[str] = Counter()
    per_question: list[Counter[str]] = []
    query, ask = _Lookup._query, retrieval.engine.Engine.ask

    def counted(self: _Lookup, **kwargs: Any) -> list[dict[str, Any]]:
        counts[KINDS.get(self.collection.rsplit("_", 1)[-1][:1], "other")] += 1  # <prefix>_<kind letter><gen>
        return query(self, **kwargs)

    def asked(self: retrieval.engine.Engine, question: str, **kwargs: Any) -> Any:
        counts.clear()
        answer = ask(self, question, **kwargs)
        per_question.append(Counter(counts))
        return answer

    _Lookup._query = counted  # type: ignore[method-assign]
    retrieval.engine.Engine.ask = asked  # type: ignore[method-assign]
    from bot.cli import main as newsdesk

    try:
        return newsdesk()
    finally:
        for name in KINDS.values():
            seen = [c[name] for c in per_question] or [0]
            mean = sum(seen) / len(seen)
            print(f"{name}: max {max(seen)}, mean {mean:.2f} over {len(per_question)} questions", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
