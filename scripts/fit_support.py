"""Fit the lexical support threshold of the written-answer verifier, on news_train_2024 only.

Never run this on the dev questions: the threshold is chosen here and measured on the dev set by
``benchmarks/bench_llm.py``.

The pairs are built from the training quiz questions, without a language model:

- *supported*: a sentence stating the gold answer, against the passage of a gold article that holds
  it. Two phrasings: the question restated with the answer in place of its wh-phrase ("He is a member
  of Buffalo Bills."), and the clause around the answer in the article (the words within eight of it,
  a close paraphrase).
- *fabricated*: the same sentences with a wrong choice of the quiz in place of the answer, against
  the same passage (when the passage does not hold that choice).
- *wrong passage*: the supported sentences against the passage of another article from the two weeks
  before the question that shares most words with them and does not hold the answer (a wrong [n]).
- *elsewhere*: sixteen words from a sentence of the same article outside the passage, against the
  passage (true of the story, but not what the passage says: the support score's hard case, since
  the names mostly match).

A pair is accepted when the passage holds the sentence's numbers, names and quotes and its lexical
support reaches the threshold. The threshold chosen accepts the most supported pairs less elsewhere
pairs (Youden's J) among those accepting at most ``--max-false`` of the fabricated and wrong-passage
pairs; the script prints the acceptance of each kind on a grid.

    .venv/bin/python scripts/fit_support.py --data /work/shared/bench/news_train_2024
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from retrieval.answer.prompt import NumberedPassage
from retrieval.answer.verify import LexicalSupport, PassageFacts, SupportScorer, facts
from retrieval.text import split_sentences, tokenize
from retrieval.types import Article, Hit, Passage

WINDOW_CHARS = 1200
SCORERS: dict[str, Callable[[dict[str, float]], SupportScorer]] = {
    "lexical": lambda idf: LexicalSupport(lambda t: idf.get(t, max(idf.values()))),
}
"""The scorers whose threshold this fits, each made from the pairs' idf (a reader's would ignore it)."""
CLAUSE_WORDS = 8
_WH = re.compile(r"\b(which|what|who|whom|where|when)\b(\s+of\s+the\s+following)?(\s+\w+)?", re.IGNORECASE)


@dataclass(frozen=True)
class Pair:
    kind: str
    """``supported``, ``fabricated`` or ``wrong passage``."""
    claim: str
    question: str
    passage: NumberedPassage


def load(data: Path) -> tuple[dict[str, Article], list[dict]]:
    """The articles by id and the answerable questions that have choices."""
    articles = {}
    with gzip.open(data / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            raw = json.loads(line)
            day = dt.date.fromisoformat(raw["date"][:10]) if raw.get("date") else None
            meta = raw.get("meta") or {}
            articles[raw["id"]] = Article(raw["id"], raw.get("title") or "", day, meta.get("source") or "", raw["text"])
    with (data / "questions.jsonl").open(encoding="utf-8") as handle:
        questions = [json.loads(line) for line in handle]
    return articles, [q for q in questions if q["answerable"] and q["meta"].get("choices") and q["answers"]]


def window(article: Article, around: int) -> NumberedPassage:
    """The passage of whole sentences (at most WINDOW_CHARS) centred on the sentence at offset ``around``."""
    spans = split_sentences(article.text)
    if not spans:
        spans = [(0, len(article.text))]
    centre = next((i for i, (s, e) in enumerate(spans) if s <= around < e), 0)
    lo = hi = centre
    while True:
        grown = False
        if hi + 1 < len(spans) and spans[hi + 1][1] - spans[lo][0] <= WINDOW_CHARS:
            hi, grown = hi + 1, True
        if lo > 0 and spans[hi][1] - spans[lo - 1][0] <= WINDOW_CHARS:
            lo, grown = lo - 1, True
        if not grown:
            break
    kept = tuple(spans[lo : hi + 1])
    passage = Passage(0, article.id, kept[0][0], kept[-1][1], article.text[kept[0][0] : kept[-1][1]], kept)
    return NumberedPassage(1, Hit(passage, article, 1.0), kept)


def restated(question: str, answer: str) -> str:
    """The question's last sentence with its wh-phrase replaced by the answer."""
    last = re.split(r"(?<=[.!?])\s+", question.strip())[-1]
    statement = _WH.sub(answer, last, count=1) if _WH.search(last) else f"{answer}: {last}"
    return statement.rstrip("?") + "."


def clause(text: str, start: int, end: int, replacement: str) -> str:
    """The words within CLAUSE_WORDS of ``text[start:end]``, with ``replacement`` in its place."""
    before = text[:start].split()[-CLAUSE_WORDS:]
    after = text[end:].split()[:CLAUSE_WORDS]
    return " ".join([*before, replacement, *after]).rstrip(",;:") + "."


def pairs(articles: dict[str, Article], questions: list[dict], seed: int) -> Iterator[Pair]:
    """Every supported, fabricated and wrong-passage pair the training questions give."""
    rng = random.Random(seed)
    ids = list(articles)
    terms = dict(zip(ids, (set(t) for t in tokenize([articles[i].text for i in ids])), strict=True))
    by_day: dict[dt.date, list[Article]] = {}
    for article in articles.values():
        if article.date:
            by_day.setdefault(article.date, []).append(article)
    for q in questions:
        answer = q["answers"][0]
        fake = rng.choice([c for c in q["meta"]["choices"] if c.lower() != answer.lower()])
        gold = [articles[i] for i in q["gold_doc_ids"] if i in articles]
        found = next(((a, a.text.lower().find(answer.lower())) for a in gold if answer.lower() in a.text.lower()), None)
        if found is None:
            continue
        article, at = found
        passage = window(article, at)
        claims = [
            (restated(q["question"], answer), restated(q["question"], fake)),
            (clause(article.text, at, at + len(answer), answer), clause(article.text, at, at + len(answer), fake)),
        ]
        asked = dt.date.fromisoformat(q["meta"]["asked_on"])
        nearby = [
            a
            for days in range(15)
            for a in by_day.get(asked - dt.timedelta(days=days), [])
            if a.id not in q["gold_doc_ids"] and answer.lower() not in a.text.lower()
        ]
        other = best_other(claims[0][0], nearby, terms)
        outside = [
            (s, e) for s, e in split_sentences(article.text) if e <= passage.spans[0][0] or s >= passage.spans[-1][1]
        ]
        for start, end in rng.sample(outside, min(2, len(outside))):
            words = article.text[start:end].split()
            middle = len(words) // 2
            elsewhere = " ".join(words[max(0, middle - CLAUSE_WORDS) : middle + CLAUSE_WORDS]).rstrip(",;:.") + "."
            yield Pair("elsewhere", elsewhere, q["question"], passage)
        for true, false in claims:
            yield Pair("supported", true, q["question"], passage)
            if fake.lower() not in passage.text.lower():
                yield Pair("fabricated", false, q["question"], passage)
            if other is not None:
                yield Pair("wrong passage", true, q["question"], other)


def best_other(claim: str, candidates: list[Article], terms: dict[str, set[str]]) -> NumberedPassage | None:
    """The window of the candidate article sharing the most of the claim's terms, around the first it has."""
    wanted = set(tokenize([claim])[0])
    if not candidates or not wanted:
        return None
    article = max(candidates, key=lambda a: len(wanted & terms[a.id]))
    shared = wanted & terms[article.id]
    lowered = article.text.lower()
    at = min((lowered.find(t) for t in shared if lowered.find(t) >= 0), default=0)
    return window(article, at)


def idf_of(passages: list[NumberedPassage]) -> dict[str, float]:
    """Lucene idf of each term over the pairs' passages (the index's idf, on this sample)."""
    df: Counter[str] = Counter()
    for tokens in tokenize([p.text for p in passages]):
        df.update(set(tokens))
    n = len(passages)
    return {t: math.log(1.0 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/work/shared/bench/news_train_2024"))
    parser.add_argument("--max-false", type=float, default=0.05, help="wrong-passage pairs accepted at most")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", type=Path, help="write the grid and the choice here")
    parser.add_argument("--scorer", choices=sorted(SCORERS), default="lexical")
    args = parser.parse_args()
    if "dev" in args.data.name:
        raise SystemExit("fit on news_train_2024 only: the dev questions measure, they never fit")
    articles, questions = load(args.data)
    made = list(pairs(articles, questions, args.seed))
    idf = idf_of(list({id(p.passage): p.passage for p in made}.values()))
    scorer = SCORERS[args.scorer](idf)
    rows = []
    for pair in made:
        missing = PassageFacts(pair.passage).missing(facts(pair.claim))
        score = scorer.support(pair.question, pair.claim, [pair.passage])[0].score
        rows.append((pair.kind, missing == "", score))
    kinds = ("supported", "fabricated", "wrong passage", "elsewhere")
    counts = {k: sum(r[0] == k for r in rows) for k in kinds}
    print(f"{len(questions)} training questions; pairs: " + ", ".join(f"{counts[k]} {k}" for k in kinds))
    print("facts check passes: " + ", ".join(f"{k} {_share(rows, k, 0.0, facts_only=True):.3f}" for k in kinds))
    grid = []
    print(f"{'threshold':>9}  " + "  ".join(f"{k:>13}" for k in kinds))
    for step in range(0, 21):
        t = step / 20
        accepted = {k: _share(rows, k, t) for k in kinds}
        grid.append({"threshold": t, **accepted})
        print(f"{t:>9.2f}  " + "  ".join(f"{accepted[k]:>13.3f}" for k in kinds))
    allowed = [g for g in grid if g["wrong passage"] <= args.max_false and g["fabricated"] <= args.max_false]
    pick = max(allowed, key=lambda g: (g["supported"] - g["elsewhere"], -g["threshold"]))
    chosen = pick["threshold"]
    print(
        f"chosen threshold {chosen:.2f} (most supported minus elsewhere pairs accepted): accepts "
        + ", ".join(f"{pick[k]:.3f} of {k}" for k in kinds)
    )
    if args.json:
        args.json.write_text(json.dumps({"counts": counts, "grid": grid, "chosen": chosen}, indent=2) + "\n")


def _share(rows: list[tuple[str, bool, float]], kind: str, threshold: float, *, facts_only: bool = False) -> float:
    mine = [r for r in rows if r[0] == kind]
    ok = [r for r in mine if r[1] and (facts_only or r[2] >= threshold)]
    return len(ok) / len(mine) if mine else 0.0


if __name__ == "__main__":
    main()
