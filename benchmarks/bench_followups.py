#!/usr/bin/env python3
"""How many conversation follow-ups newsdesk resolves right: the set in
``benchmarks/data/followups/conversations.jsonl`` (two- and three-turn conversations over the seed
articles and ``news_dev_2023h1`` articles: article ids and questions written for this set, no article
text), asked turn by turn as ``newsdesk chat`` does (each follow-up against the last question as
searched).

A follow-up is right when both hold:
- resolved: every content word of the expected resolved question (stop words aside, crudely stemmed)
  is in what the engine searched, and none of the turn's ``absent`` words is (the subject it replaced);
- cited: the answer does not abstain and cites one of the turn's articles.

Run from the repository root (indexes are built when missing; the dev one takes minutes)::

    .venv/bin/python benchmarks/bench_followups.py --dev-index /tmp/dev-index --seeds-index /tmp/seeds-index \
        [--json] [--dump FILE]

To measure another checkout's code on the same indexes (say main's, before a change), run the same
script with that checkout first on the path: ``PYTHONPATH=/path/to/main .venv/bin/python ...``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _split(words: str) -> list[str]:
    """The words of a space-separated list."""
    return words.split()


ROOT = Path(__file__).resolve().parent.parent
CONVERSATIONS = ROOT / "benchmarks" / "data" / "followups" / "conversations.jsonl"
DEV_CORPUS = ROOT.parent / "shared" / "bench" / "news_dev_2023h1" / "corpus.jsonl.gz"
SEEDS = ROOT / "seeds"
SEED_PREFIX = "seed:"
_WORD = re.compile(r"[\w'’$-]+")
_STOP = frozenset(
    _split("""a about after again all also an and any are as at be been before being but by can could did do
    does doing for from had has have having he her hers him his how i if in into is it its just me more
    most my no not now of on or our over she should so some such than that the their them then there
    these they this those to too very was we were what when where which while who whom why will with
    would you your said say says tell told against must""")
)


def stem(word: str) -> str:
    """A crude stem, the same for "sanction"/"sanctioning"/"sanctions", "price"/"pricing"."""
    word = word.lower().replace("’", "'").strip("'$-")
    word = word.removesuffix("'s")
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]  # "labelling" → "label"
    return word


def content_stems(text: str) -> set[str]:
    """The stems of ``text``'s words that are not stop words."""
    return {stem(w) for w in _WORD.findall(text) if w.lower() not in _STOP and stem(w)}


def resolved_right(searched: str, expected: str, absent: list[str]) -> bool:
    """``searched`` has every content word of ``expected`` and none of ``absent``."""
    have = {stem(w) for w in _WORD.findall(searched)}
    return content_stems(expected) <= have and not any(stem(a) in have for a in absent)


@dataclass
class Tally:
    """Counts over follow-up turns (the first turn of a conversation is not a follow-up)."""

    followups: int = 0
    resolved: int = 0
    cited: int = 0
    right: int = 0
    conversations: int = 0
    conversations_right: int = 0
    first_turns_cited: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "followups": self.followups,
            "resolved": self.resolved,
            "cited": self.cited,
            "right": self.right,
            "conversations_all_right": self.conversations_right,
            "first_turns_cited": self.first_turns_cited,
        }


def engine_for(index: Path, source: Path) -> Any:
    """An engine with the default settings over ``index``, built from ``source`` if it has none."""
    from bot.settings import Settings
    from retrieval.engine import Engine

    engine = Engine.from_config(Settings(_env_file=None).engine_config(index))  # type: ignore[call-arg]
    if not engine.has_index():
        print(f"building {index} from {source} ...", file=sys.stderr)
        engine.build(source, full=True)
    return engine


def article_id(wanted: str) -> str:
    """A conversation's article id as the index knows it (seed files by their name)."""
    return wanted.removeprefix(SEED_PREFIX)


def run(conversations: list[dict[str, Any]], engines: dict[str, Any]) -> Tally:
    """Ask every conversation turn by turn; count the follow-ups resolved and cited right."""
    from retrieval.errors import BadQuestionError

    tally = Tally()
    for conversation in conversations:
        turns = conversation["turns"]
        engine = engines["seeds" if turns[0]["cite"][0].startswith(SEED_PREFIX) else "dev"]
        as_of = dt.date.fromisoformat(conversation["as_of"])
        previous: str | None = None
        all_right = True
        for number, turn in enumerate(turns):
            try:
                answer = engine.ask(turn["question"], as_of=as_of, previous=previous)
            except BadQuestionError:  # refused ("nothing to search for"): wrong, and chat's previous stays
                searched, cited = turn["question"], set()
            else:
                searched = answer.searched or answer.question
                cited = {c.article_id for c in answer.citations} if not answer.abstained else set()
                previous = searched
            cites = bool(cited & {article_id(a) for a in turn["cite"]})
            if number == 0:
                tally.first_turns_cited += cites
                continue
            resolved = resolved_right(searched, turn["resolved"], turn.get("absent", []))
            tally.followups += 1
            tally.resolved += resolved
            tally.cited += cites
            tally.right += resolved and cites
            all_right = all_right and resolved and cites
            tally.rows.append(
                {
                    "conversation": conversation["id"],
                    "turn": number + 1,
                    "question": turn["question"],
                    "expected": turn["resolved"],
                    "searched": searched,
                    "resolved": resolved,
                    "cited": sorted(cited),
                    "cites_expected": cites,
                }
            )
        tally.conversations += 1
        tally.conversations_right += all_right
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--dev-index", type=Path, required=True, help="index of news_dev_2023h1 (built if missing)")
    parser.add_argument("--seeds-index", type=Path, required=True, help="index of seeds/ (built if missing)")
    parser.add_argument("--conversations", type=Path, default=CONVERSATIONS)
    parser.add_argument("--dev-corpus", type=Path, default=DEV_CORPUS)
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    parser.add_argument("--dump", type=Path, help="write every follow-up's outcome as JSON lines")
    args = parser.parse_args(argv)
    conversations = [json.loads(line) for line in args.conversations.read_text(encoding="utf-8").splitlines() if line]
    engines = {"seeds": engine_for(args.seeds_index, SEEDS), "dev": engine_for(args.dev_index, args.dev_corpus)}
    tally = run(conversations, engines)
    if args.dump:
        args.dump.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in tally.rows), encoding="utf-8")
    if args.json:
        print(json.dumps(tally.as_dict()))
    else:
        t = tally
        print(
            f"{t.conversations} conversations, {t.followups} follow-ups: resolved {t.resolved}, cited {t.cited}, "
            f"right (both) {t.right}; conversations with every follow-up right {t.conversations_right}; "
            f"first turns citing their article {t.first_turns_cited}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
