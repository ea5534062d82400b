"""`newsdesk eval`: the metrics are computed right, and a slice of the dev benchmark runs end to end."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from bot.cli import main
from retrieval.evaluation import (
    auroc,
    has_time_word,
    load_questions,
    normalize_answer,
    select_questions,
    slice_questions,
    token_f1,
)
from tests.conftest import REPO

BENCH = REPO / "benchmarks" / "data" / "squad_v2_dev"


def test_squad_normalisation_and_f1() -> None:
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("“An apple”, a pear") == "apple pear"
    assert token_f1("the Eiffel Tower in Paris", "Eiffel Tower") == pytest.approx(2 / 3)  # P 2/4, R 2/2
    assert token_f1("nothing here", "Eiffel Tower") == 0.0


def test_time_words_are_found() -> None:
    for question in (
        "What happened this week?",
        "Who resigned on Tuesday?",
        "What was recently approved?",
        "Who won in March?",
        "Which team won yesterday?",
    ):
        assert has_time_word(question), question
    assert not has_time_word("Which country hosted the 2023 summit of NATO?")


def test_auroc() -> None:
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auroc([0.1], [0.9]) == 0.0
    assert auroc([0.5, 0.5], [0.5]) == 0.5


def test_question_slice_keeps_both_kinds() -> None:
    questions = load_questions(BENCH / "questions.jsonl")
    assert len(questions) == 1300 and sum(q.answerable for q in questions) == 1000
    sliced = select_questions(questions, 30)
    assert sum(q.answerable for q in sliced) == 30 and sum(not q.answerable for q in sliced) == 10


def test_bad_questions_file_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "no id"}\n')
    code = main(["eval", "--corpus", str(BENCH / "corpus.jsonl"), "--questions", str(bad)])
    err = capsys.readouterr().err
    assert code == 1 and "not a question record" in err and "Traceback" not in err


@pytest.mark.model
def test_eval_on_a_slice_of_the_dev_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """30 answerable and 10 unanswerable questions over their own articles plus 80 distractors."""
    questions = select_questions(load_questions(BENCH / "questions.jsonl"), 30)
    records = [json.loads(line) for line in (BENCH / "questions.jsonl").read_text().splitlines()]
    wanted_ids = {q.id for q in questions}
    needed = {d for r in records if r["id"] in wanted_ids for d in r["gold_doc_ids"] + [r["meta"]["source_doc_id"]]}
    corpus_lines = (BENCH / "corpus.jsonl").read_text().splitlines()
    distractors = [line for line in corpus_lines if json.loads(line)["id"] not in needed][:80]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "\n".join([line for line in corpus_lines if json.loads(line)["id"] in needed] + distractors) + "\n"
    )
    slice_questions = tmp_path / "questions.jsonl"
    slice_questions.write_text("\n".join(json.dumps(r) for r in records if r["id"] in wanted_ids) + "\n")

    code = main(
        [
            "eval",
            "--corpus",
            str(corpus),
            "--questions",
            str(slice_questions),
            "--json",
            "--index",
            str(tmp_path / "index"),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (report["answerable"], report["unanswerable"]) == (30, 10)
    assert report["citations_verbatim"] == 1.0 and report["unsupported_answers"] == 0
    assert report["max_answer_sentences"] <= 4
    # Well below the full-benchmark figures (docs/answer-quality.md), so only a real regression fails this.
    assert report["hits@5"] >= 0.85 and report["mrr@10"] >= 0.7
    # Contains-gold was 0.600 on AVX-512 VNNI and 0.567 on AVX2 alone (the int8 kernels differ by
    # processor; benchmarks/README.md, "Set-up time and the tests on any x86-64 CPU"). Since the ranker
    # lost its age feature (which read SQuAD's undated paragraphs as published that very day and so
    # raised their confidence) it is 0.533 on AVX-512 (7 of 30 refused): the floor sits below both paths.
    assert report["answer_contains_gold"] >= 0.45
    assert report["abstained_on_answerable"] <= 0.3


NEWS_DEV = REPO.parent / "shared" / "bench" / "news_dev_2023h1"
needs_news = pytest.mark.skipif(not NEWS_DEV.is_dir(), reason="the news benchmarks (../shared/bench) are not here")


@needs_news
def test_news_questions_carry_the_day_they_were_asked() -> None:
    questions = load_questions(NEWS_DEV / "questions.jsonl")
    assert all(q.as_of is not None for q in questions)
    first = slice_questions(questions, 40, seed=3)
    assert first == slice_questions(questions, 40, seed=3) != slice_questions(questions, 40, seed=4)
    assert len(first) == 40 and 4 <= sum(not q.answerable for q in first) <= 8  # 51 of 347 unanswerable


@needs_news
@pytest.mark.model
def test_eval_on_a_slice_of_the_news_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Eight dev questions over their own articles and a few others, read from the gzipped corpus."""
    questions = [json.loads(line) for line in (NEWS_DEV / "questions.jsonl").read_text().splitlines()]
    picked = [q for q in questions if q["answerable"]][:6] + [q for q in questions if not q["answerable"]][:2]
    wanted = {d for q in picked for d in q["gold_doc_ids"]}
    with gzip.open(NEWS_DEV / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        lines = [line for line in handle]
    kept = [line for line in lines if json.loads(line)["id"] in wanted] + lines[:12]
    corpus = tmp_path / "news" / "corpus.jsonl.gz"
    corpus.parent.mkdir()
    corpus.write_bytes(gzip.compress("".join(kept).encode()))
    asked = tmp_path / "questions.jsonl"
    asked.write_text("".join(json.dumps(q) + "\n" for q in picked))
    dump = tmp_path / "results.jsonl"
    argv = ["eval", "--corpus", str(corpus), "--questions", str(asked), "--json", "--dump", str(dump)]
    code = main([*argv, "--index", str(tmp_path / "index")])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and (report["answerable"], report["unanswerable"]) == (6, 2)
    for key in ("first_sentence_contains_gold", "gold_in_top5_passages", "answer_words_median", "answer_words_p90"):
        assert key in report
    assert 0.0 <= report["short_answer_given"] <= 1.0 and report["asked_later_days"] == 0
    rows = [json.loads(line) for line in dump.read_text().splitlines()]
    for row in rows:  # a short answer is a verbatim span of the first sentence, which cites its article
        short = row["short_answer"]
        if short is not None and not row["abstained"]:
            assert short["text"] in row["sentences"][0]["text"]
            assert row["answer"].startswith(short["text"] + " — ")
    assert [r["id"] for r in rows] == [q["id"] for q in picked]
    assert all(r["as_of"] == q["meta"]["asked_on"] for r, q in zip(rows, picked, strict=True))
    later = main([*argv, "--index", str(tmp_path / "index"), "--asked-later", "730"])
    assert later == 0 and json.loads(capsys.readouterr().out)["asked_later_days"] == 730
    shifted = [json.loads(line) for line in dump.read_text().splitlines()]  # the dump of the later run
    assert all(
        dt.date.fromisoformat(r["as_of"]) == dt.date.fromisoformat(q["meta"]["asked_on"]) + dt.timedelta(days=730)
        for r, q in zip(shifted, picked, strict=True)
    )
    assert report["hits@5"] >= 0.5  # six questions over their own articles: only a real break fails this
