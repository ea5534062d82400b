#!/usr/bin/env python3
"""Benchmark written (LLM) answers against extractive ones on the news dev set.

For each question the extractive answer is composed, then each language model writes one from the
same passages (``Engine.write``, exactly what ``newsdesk ask --answerer llm`` does), with the
question's quiz date as "today". Reported per answerer: answer contains a gold answer (answerable
questions), mean answer length in words, abstained on unanswerable questions, the share of written
sentences verified, the share of answers that fell back to the quotes (and why), unsupported claims
that reached the user (a separate, plain re-check of every shown written sentence: each number,
capitalised word and quote must occur in the passage text the model was shown), latency p50/p95.

    OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 nice .venv/bin/python benchmarks/bench_llm.py \\
        --index /tmp/llm/idx-dev --limit 60 --gguf smollm2=PATH/SmolLM2-135M-Instruct.Q4_1.gguf --json out.json

The index must be the dev corpus built with default settings (``newsdesk eval`` makes one). Never
used to fit anything: thresholds come from news_train_2024 (scripts/fit_support.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from retrieval.answer.prompt import number_passages
from retrieval.answer.verify import Verdict
from retrieval.config import EngineConfig, LLMConfig
from retrieval.engine import Engine
from retrieval.evaluation import RETRIEVAL_K, load_questions, normalize_answer, select_questions, slice_questions
from retrieval.types import Answer

DEV = Path("/work/shared/bench/news_dev_2023h1")
_CAPITAL = re.compile(r"(?<![\w'’])[A-Z][\w]*")


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def shown_unsupported(answer: Answer, config: LLMConfig) -> int:
    """Shown written sentences with a number, capitalised word or quote absent from the passage shown."""
    if answer.answerer != "llm":
        return 0
    shown = {p.hit.passage.id: p for p in number_passages(answer.hits[: config.passages], config.passage_chars)}
    bad = 0
    for sentence in answer.sentences:
        passage = shown.get(sentence.passage_id) if sentence.passage_id is not None else None
        if config.mode in ("quote", "write"):  # the evidence is the one sentence quoted beside it
            quotes = [q.text for c in answer.citations if c.number == sentence.citation for q in c.quotes]
            seen = " ".join(quotes).lower()
        elif passage is None:
            bad += 1
            continue
        else:
            article = passage.hit.article
            seen = f"{article.title} {article.source} {article.date} {article.date:%B %-d %Y} {passage.text}".lower()
        seen = seen.replace(",", "").replace("’", "'")
        words = sentence.text.replace(",", "").replace("’", "'")
        needed = re.findall(r"\d+", words) + [w.lower() for w in _CAPITAL.findall(words)[1:]]
        needed += [q.lower() for q in re.findall(r"“([^”]+)”", words)]
        if any(n not in seen for n in needed):
            bad += 1
    return bad


def contains_gold(answer: Answer, golds: tuple[str, ...]) -> bool:
    """The answer's text holds a gold answer (SQuAD normalisation)."""
    body = normalize_answer(" ".join(s.text for s in answer.sentences))
    return not answer.abstained and any(normalize_answer(g) and normalize_answer(g) in body for g in golds)


def reason_kind(verdict: Verdict) -> str:
    """A dropped or mended verdict's reason, in a word."""
    reason = verdict.reason
    for key, words in (
        ("number", "the number"),
        ("name", "the name"),
        ("quote", "the quoted"),
        ("support", "support"),
        ("not given", "not given"),
        ("no citation", "no citation"),
        ("nothing to check", "nothing in it"),
    ):
        if reason.startswith(words) or words in reason.split(";")[0]:
            return key
    return reason or "ok"


def run_model(
    engine: Engine, label: str, config: LLMConfig, items: list[tuple], out: dict, records: TextIO | None = None
) -> None:
    """Every question through one language model; the summary goes into ``out[label]``."""
    if engine._writer is not None:
        engine._writer.model.close()
    engine.llm_config = config
    engine._writer = None  # a fresh model for each configuration
    writer = engine.writer()
    scorer_of = engine.support_scorer
    rows = []
    started = time.monotonic()
    for number, (question, as_of, extractive) in enumerate(items, start=1):
        verdicts: list[Verdict] = []
        t0 = time.perf_counter()
        answer = writer.answer(extractive, scorer_of(engine.index), as_of=as_of, on_verdict=verdicts.append)
        wrote_ms = (time.perf_counter() - t0) * 1000
        rows.append((question, extractive, answer, verdicts, extractive.timings["total_ms"] + wrote_ms))
        if records is not None:
            record = {
                "model": label,
                "id": question.id,
                "question": question.question,
                "gold": list(question.answers),
                "answerer": answer.answerer,
                "answer": answer.text,
                "note": answer.note,
                "ms": round(wrote_ms),
                "extractive": extractive.text,
                "shown": [
                    {
                        "text": s.text,
                        "evidence": [q.text for c in answer.citations if c.number == s.citation for q in c.quotes],
                    }
                    for s in answer.sentences
                ]
                if answer.answerer == "llm"
                else [],
                "verdicts": [
                    {
                        "text": v.text,
                        "cited": list(v.cited),
                        "verified": v.verified,
                        "reason": v.reason,
                        "support": round(v.support, 3),
                    }
                    for v in verdicts
                ],
            }
            records.write(json.dumps(record, ensure_ascii=False) + "\n")
            records.flush()
        if number % 10 == 0:
            print(f"  {label}: {number}/{len(items)} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    out[label] = summarise(rows, config)


def summarise(rows: list[tuple], config: LLMConfig) -> dict:
    """The numbers of one answerer over the questions."""
    answerable = [r for r in rows if r[0].answerable]
    unanswerable = [r for r in rows if not r[0].answerable]
    asked = [r for r in rows if not r[1].abstained]  # the model is only asked when the quotes do not abstain
    verdicts = [v for r in rows for v in r[3]]
    fell_back = [r for r in asked if r[2].answerer != "llm"]
    why: Counter[str] = Counter()
    for r in fell_back:
        note = r[2].note
        why[
            "refused"
            if "do not answer" in note
            else "timeout"
            if "longer than" in note
            else "nothing supported"
            if "no written sentence" in note
            else "wrote nothing"
            if "wrote nothing" in note
            else "error"
        ] += 1
    latencies = [r[4] for r in asked]
    firsts = [r[2].timings["first_token_ms"] for r in asked if "first_token_ms" in r[2].timings]
    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "asked_the_model": len(asked),
        "contains_gold": round(sum(contains_gold(r[2], r[0].answers) for r in answerable) / max(1, len(answerable)), 4),
        "contains_gold_written_only": round(
            sum(contains_gold(r[2], r[0].answers) for r in answerable if r[2].answerer == "llm")
            / max(1, sum(r[2].answerer == "llm" for r in answerable)),
            4,
        ),
        "answer_words": round(statistics.mean(len(r[2].text.split()) for r in answerable if not r[2].abstained), 1)
        if answerable
        else 0,
        "abstained_unanswerable": round(sum(r[2].abstained for r in unanswerable) / max(1, len(unanswerable)), 4),
        "written_sentences": len(verdicts),
        "verified_share": round(sum(v.verified for v in verdicts) / max(1, len(verdicts)), 4),
        "recited_share": round(sum(v.recited for v in verdicts) / max(1, len(verdicts)), 4),
        "verdicts": dict(Counter(reason_kind(v) if not v.verified else "verified" for v in verdicts)),
        "fell_back_share": round(len(fell_back) / max(1, len(asked)), 4),
        "fell_back_why": dict(why),
        "shown_written_sentences": sum(len(r[2].sentences) for r in rows if r[2].answerer == "llm"),
        "unsupported_shown": sum(shown_unsupported(r[2], config) for r in rows),
        "latency_p50_ms": round(quantile(latencies, 0.5), 1),
        "latency_p95_ms": round(quantile(latencies, 0.95), 1),
        "first_token_p50_ms": round(quantile(firsts, 0.5), 1),
    }


def summarise_extractive(items: list[tuple]) -> dict:
    """The extractive answerer's numbers on the same questions."""
    answerable = [(q, a) for q, _, a in items if q.answerable]
    unanswerable = [(q, a) for q, _, a in items if not q.answerable]
    latencies = [a.timings["total_ms"] for _, _, a in items]
    return {
        "questions": len(items),
        "answerable": len(answerable),
        "contains_gold": round(sum(contains_gold(a, q.answers) for q, a in answerable) / max(1, len(answerable)), 4),
        "answer_words": round(statistics.mean(len(a.text.split()) for q, a in answerable if not a.abstained), 1),
        "abstained_unanswerable": round(sum(a.abstained for _, a in unanswerable) / max(1, len(unanswerable)), 4),
        "latency_p50_ms": round(quantile(latencies, 0.5), 1),
        "latency_p95_ms": round(quantile(latencies, 0.95), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="the dev corpus's index (read only)")
    parser.add_argument("--questions", type=Path, default=DEV / "questions.jsonl")
    parser.add_argument("--limit", type=int, help="the first N answerable and N/3 unanswerable questions")
    parser.add_argument("--slice", type=int, help="a seeded random N of the questions (as newsdesk eval --slice)")
    parser.add_argument("--seed", type=int, default=0, help="the seed of --slice")
    parser.add_argument("--modes", default="quote", help="comma-separated: quote, write, passages (LLMConfig.mode)")
    parser.add_argument("--gguf", action="append", default=[], metavar="LABEL=PATH", help="a local GGUF model")
    parser.add_argument("--url", action="append", default=[], metavar="LABEL=URL[#MODEL]", help="a server")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--records", type=Path, help="write every question's written answer and verdicts here (JSONL)")
    args = parser.parse_args()
    if "train" in str(args.questions):
        raise SystemExit("this measures on the dev set; fitting is scripts/fit_support.py's, on train")
    questions = load_questions(args.questions)
    if args.slice:
        questions = slice_questions(questions, args.slice, args.seed)
    else:
        questions = select_questions(questions, args.limit)
    engine = Engine.from_config(EngineConfig(index_dir=args.index))
    items = []
    for question in questions:
        day = question.as_of or dt.date.today()
        items.append((question, day, engine.ask(question.question, k=RETRIEVAL_K, as_of=question.as_of)))
    results: dict[str, object] = {
        "slice": f"--slice {args.slice} --seed {args.seed}" if args.slice else f"--limit {args.limit}",
        "extractive": summarise_extractive(items),
    }
    base = LLMConfig(answerer="llm", threads=args.threads, timeout=args.timeout)
    records = args.records.open("w", encoding="utf-8") if args.records else None
    for mode in args.modes.split(","):
        for spec in args.gguf:
            label, path = spec.split("=", 1)
            run_model(engine, f"{label}:{mode}", replace(base, gguf=path, mode=mode), items, results, records)
            if args.json:
                args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        for spec in args.url:
            label, rest = spec.split("=", 1)
            url, _, model = rest.partition("#")
            run_model(
                engine, f"{label}:{mode}", replace(base, url=url, model=model, mode=mode), items, results, records
            )
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
