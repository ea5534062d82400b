#!/usr/bin/env python3
"""Distil all-MiniLM-L6-v2 into a k-layer student (a feasibility study, issue 19).

The student is the packaged all-MiniLM-L6-v2 with only some of its transformer layers kept (copied
from the teacher, e.g. 0,4,5), the same tokenizer, mean pooling and L2 normalisation: a
sentence-transformers model that newsdesk loads with ``NEWSDESK_MODEL=<dir>``. It is trained to
reproduce the teacher's normalised vectors (sentence-transformers' ``MSELoss``) on ``news_train_2024``
text only: the ``"{title}\\n{sentence}"`` units a newsdesk build embeds, plus the questions' texts.
Fixed seed; the student is written to the directory given, never into the repository.

Run from the repository root (see benchmarks/README.md, "A distilled k-layer embedder")::

    nice -n 19 .venv/bin/python benchmarks/distill_embedder.py --out /tmp/student \\
        --layers 0,4,5 --sentences 45000 --epochs 1

``--compare <student dir>`` instead times the teacher and the student as newsdesk's build runs them
(its PyTorch embedder: bf16 where the CPU has it, batches of 32, ``--threads`` torch threads) on
``--n`` seeded ``news_dev_2023h1`` units, interleaved over ``--rounds``, and prints sentences per
second and the mean and 1st-percentile student-to-teacher cosine on those held-out units.

``--probe`` instead prints, per candidate layer set, the untrained student's mean cosine to the
teacher on a few hundred train sentences (to pick the layers), and exits.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import logging
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from retrieval.embedding.base import resolve_model_path  # noqa: E402
from retrieval.index.indexer import EMBED_TEMPLATE  # noqa: E402
from retrieval.text import split_sentences  # noqa: E402

TRAIN = REPO.parent / "shared" / "bench" / "news_train_2024"
DEV = REPO.parent / "shared" / "bench" / "news_dev_2023h1"
TEACHER = "sentence-transformers/all-MiniLM-L6-v2"

log = logging.getLogger("distill")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="directory to write the student to (outside the repository)")
    parser.add_argument("--train", type=Path, default=TRAIN, help="news_train_2024 directory")
    parser.add_argument("--layers", default="0,4,5", help="teacher layers the student keeps (0-based)")
    parser.add_argument("--sentences", type=int, default=45000, help="train units sampled (plus all questions)")
    parser.add_argument("--per-article", type=int, default=12, help="at most this many units from one article")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--warmup", type=float, default=0.05, help="share of steps with a rising learning rate")
    parser.add_argument("--max-tokens", type=int, default=128, help="student and teacher truncation in training")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compare", type=Path, help="a student directory to time and compare on dev units")
    parser.add_argument("--dev", type=Path, default=DEV, help="news_dev_2023h1 directory (--compare)")
    parser.add_argument("--n", type=int, default=5000, help="dev units to encode (--compare)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds (--compare)")
    parser.add_argument("--probe", default="", help="layer sets to compare untrained, e.g. '1,3,5;0,2,4'")
    return parser.parse_args(argv)


def train_texts(train: Path, limit: int, seed: int, per_article: int) -> tuple[list[str], int]:
    """A seeded sample of distinct train units ("{title}\\n{sentence}"): articles in a seeded order, at most
    ``per_article`` random units of each, until ``limit``; then every train question. Also returns how
    many articles were read."""
    with gzip.open(train / "corpus.jsonl.gz", "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    rng = random.Random(seed)
    rng.shuffle(records)
    units: dict[str, None] = {}
    read = 0
    for record in records:
        if len(units) >= limit:
            break
        read += 1
        text, title = record.get("text") or "", record.get("title") or ""
        spans = split_sentences(text)
        for start, end in rng.sample(spans, min(per_article, len(spans))):
            units.setdefault(EMBED_TEMPLATE.format(title=title, text=text[start:end]))
    with (train / "questions.jsonl").open(encoding="utf-8") as lines:
        questions = sorted({json.loads(line)["question"] for line in lines if line.strip()})
    return list(units)[:limit] + questions, read


def load_teacher(threads: int) -> object:
    """The packaged teacher, float32 on CPU."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    return SentenceTransformer(resolve_model_path(TEACHER), device="cpu", local_files_only=True)


def make_student(teacher: object, layers: Sequence[int]) -> object:
    """A deep copy of the teacher keeping only ``layers`` of its encoder."""
    import torch

    student = copy.deepcopy(teacher)
    bert = student[0].auto_model  # type: ignore[index]
    bert.encoder.layer = torch.nn.ModuleList([bert.encoder.layer[i] for i in layers])
    bert.config.num_hidden_layers = len(layers)
    return student


def encode(model: object, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Normalised float32 vectors, bf16 autocast where it helps."""
    import torch

    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        vectors = model.encode(  # type: ignore[attr-defined]
            list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        )
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def probe(teacher: object, texts: Sequence[str], choices: str) -> None:
    """Untrained students' mean cosine to the teacher, per layer set."""
    target = encode(teacher, texts)
    for choice in choices.split(";"):
        layers = [int(x) for x in choice.split(",")]
        got = encode(make_student(teacher, layers), texts)
        log.info("layers %s: mean cosine %.4f", choice, float(np.mean(np.sum(got * target, axis=1))))


def batches(texts: Sequence[str], size: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches in a seeded random order (little padding, still shuffled)."""
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), rng.random()))
    groups = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(groups)
    return groups


def train(student: object, texts: Sequence[str], targets: np.ndarray, args: argparse.Namespace) -> float:
    """MSE of the student's normalised vectors to the teacher's; returns the last 100 steps' mean loss."""
    import torch
    from sentence_transformers.sentence_transformer.losses import MSELoss

    loss_fn = MSELoss(student)  # type: ignore[arg-type]
    optimizer = torch.optim.AdamW(student.parameters(), lr=args.lr)  # type: ignore[attr-defined]
    rng = random.Random(args.seed)
    plan = [batches(texts, args.batch_size, rng) for _ in range(args.epochs)]
    steps = sum(len(p) for p in plan)
    warm = max(1, int(steps * args.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))
    )
    student.train()  # type: ignore[attr-defined]
    recent: list[float] = []
    step, started = 0, time.monotonic()
    for epoch in plan:
        for group in epoch:
            features = student.preprocess([texts[i] for i in group])  # type: ignore[attr-defined]
            labels = torch.from_numpy(targets[group])
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = loss_fn([features], labels.float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            recent = (recent + [float(loss.detach())])[-100:]
            step += 1
            if step % 200 == 0 or step == steps:
                log.info("step %d/%d  loss %.3e  %.0f s", step, steps, np.mean(recent), time.monotonic() - started)
    student.eval()  # type: ignore[attr-defined]
    return float(np.mean(recent))


def compare(student_dir: Path, args: argparse.Namespace) -> dict[str, object]:
    """Teacher and student through newsdesk's PyTorch embedder on the same dev units: speed and cosine."""
    import torch

    from retrieval.config import EmbeddingConfig
    from retrieval.embedding.sentence_transformer import SentenceTransformerEmbedder

    torch.set_num_threads(args.threads)
    texts, articles = train_texts(args.dev, args.n, args.seed, args.per_article)
    texts = texts[: args.n]  # the dev questions are not embedded here
    models = {
        name: SentenceTransformerEmbedder(EmbeddingConfig(model=model, backend="torch"))
        for name, model in (("teacher", TEACHER), ("student", str(student_dir)))
    }
    rates: dict[str, list[float]] = {name: [] for name in models}
    cpu: dict[str, list[float]] = {name: [] for name in models}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.rounds):
        for name, embedder in models.items():
            wall, used = time.perf_counter(), time.process_time()
            vectors[name] = embedder.encode(texts)
            rates[name].append(len(texts) / (time.perf_counter() - wall))
            cpu[name].append(time.process_time() - used)
    cosines = np.sum(vectors["student"] * vectors["teacher"], axis=1)
    return {
        "dev_units": len(texts),
        "dev_articles_read": articles,
        "precision": models["teacher"].dtype,
        "sentences_per_s": {k: [round(r, 1) for r in v] for k, v in rates.items()},
        "cpu_s": {k: [round(c, 1) for c in v] for k, v in cpu.items()},
        "speedup_median": round(float(np.median(rates["student"]) / np.median(rates["teacher"])), 2),
        "cpu_ratio_median": round(float(np.median(cpu["teacher"]) / np.median(cpu["student"])), 2),
        "cosine_mean": round(float(np.mean(cosines)), 4),
        "cosine_p01": round(float(np.percentile(cosines, 1)), 4),
        "cosine_min": round(float(np.min(cosines)), 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Sample, encode with the teacher, train the student, save it."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.compare is not None:
        print(json.dumps(compare(args.compare, args), indent=2))  # noqa: T201
        return 0
    teacher = load_teacher(args.threads)
    teacher.max_seq_length = args.max_tokens  # type: ignore[attr-defined]
    began = time.monotonic()
    limit = args.sentences if not args.probe else 400
    texts, articles = train_texts(args.train, limit, args.seed, args.per_article)
    log.info("%d texts (train units from %d articles, plus questions)", len(texts), articles)
    if args.probe:
        probe(teacher, texts[:400], args.probe)
        return 0
    if args.out is None:
        log.error("--out is required")
        return 2
    cpu0 = time.process_time()
    targets = encode(teacher, texts)
    log.info("teacher encoded %d texts in %.0f s", len(texts), time.monotonic() - began)
    student = make_student(teacher, [int(x) for x in args.layers.split(",")])
    loss = train(student, texts, targets, args)
    student.max_seq_length = 256  # type: ignore[attr-defined]
    args.out.mkdir(parents=True, exist_ok=True)
    student.save(str(args.out))  # type: ignore[attr-defined]
    # The same mean pooling, in the teacher's (pre-6.0) config format: the file the teacher ships, byte for byte.
    teacher_pooling = Path(resolve_model_path(TEACHER)) / "1_Pooling" / "config.json"
    shutil.copyfile(teacher_pooling, args.out / "1_Pooling" / "config.json")
    summary = {
        "texts": len(texts),
        "train_articles_read": articles,
        "layers": args.layers,
        "epochs": args.epochs,
        "final_loss": loss,
        "wall_s": round(time.monotonic() - began, 1),
        "cpu_s": round(time.process_time() - cpu0, 1),
        "seed": args.seed,
    }
    (args.out / "distill.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    log.info("%s", json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
