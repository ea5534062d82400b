"""``newsdesk`` as a process, embedding with the tests' deterministic HashEmbedder (the model is not the point).

Run as ``python tests/reliability/hash_cli.py ARGS…`` with the project on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import sys

import bot.commands.stats
from bot.cli import main
from retrieval.embedding import factory
from tests.conftest import HashEmbedder

factory.make_embedder = lambda config: HashEmbedder()
os.environ.setdefault("NEWSDESK_RANKER", "off")  # nor is the ranker (fitted on MiniLM scores)


def _crash(ctx: object) -> int:
    raise RuntimeError("a stand-in for a bug")


if os.environ.get("RELIABILITY_CRASH_STATS"):  # `newsdesk stats` fails as a bug would
    bot.commands.stats.cmd_stats = _crash

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
