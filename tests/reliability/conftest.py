"""The reliability suite: the real CLI on a few dozen real news articles, and every kind of bad input.

The articles are written at test time from the dev benchmark's corpus (``shared/bench`` beside the
project; CI has it, and no article text is committed); tests skip with the reason when it is absent.
Where the model is not the point, the CLI runs with the tests' deterministic ``HashEmbedder`` (the
embedder factory replaced, in-process or in a subprocess through ``hash_cli.py``); tests that load
the real model are marked ``model``.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import REPO, HashEmbedder

BENCH_CORPUS = Path("shared/bench/news_dev_2023h1/corpus.jsonl.gz")
ARTICLES = 36
"""Real articles in the test corpus: 30 seed-format text files and 6 JSONL lines."""
HASH_CLI = Path(__file__).with_name("hash_cli.py")


def bench_corpus() -> Path | None:
    """The dev corpus: in ``$BENCH_DIR`` if set, else beside the project (``../shared/bench`` from
    /work/main, ``../../shared/bench`` from a worktree under /work/wt)."""
    if os.environ.get("BENCH_DIR"):
        corpus = Path(os.environ["BENCH_DIR"]) / BENCH_CORPUS.relative_to("shared/bench")
        return corpus if corpus.is_file() else None
    for parent in REPO.parents:
        if (parent / BENCH_CORPUS).is_file():
            return parent / BENCH_CORPUS
    return None


def write_news(directory: Path, count: int = ARTICLES) -> Path:
    """``count`` real news articles in ``directory``: seed-format ``.txt`` files, the last six as one ``.jsonl``."""
    corpus = bench_corpus()
    if corpus is None:
        pytest.skip(f"the news benchmark is not here ({BENCH_CORPUS} in no parent of {REPO}, no $BENCH_DIR)")
    directory.mkdir(parents=True, exist_ok=True)
    with gzip.open(corpus, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for _, line in zip(range(count), handle, strict=False)]
    as_text, as_jsonl = rows[: max(count - 6, 1)], rows[max(count - 6, 1) :]
    for number, row in enumerate(as_text):
        (directory / f"news-{number:02d}.txt").write_text(
            f"date {row['date']}\n{row['title']}\n\n{row['text']}\n", encoding="utf-8"
        )
    if as_jsonl:
        lines = [
            json.dumps({"id": r["id"], "title": r["title"], "date": r["date"], "text": r["text"]}) for r in as_jsonl
        ]
        (directory / "wire.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def news_text(chars: int) -> str:
    """At least ``chars`` characters of real article text (the corpus, repeated if need be)."""
    corpus = bench_corpus()
    if corpus is None:
        pytest.skip("the news benchmark is not here: no real articles")
    parts: list[str] = []
    total = 0
    with gzip.open(corpus, "rt", encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for _, line in zip(range(400), handle, strict=False)]
    while total < chars:
        for text in texts:
            parts.append(text)
            total += len(text) + 2
            if total >= chars:
                break
    return "\n\n".join(parts)


@pytest.fixture
def hash_embedder(monkeypatch: pytest.MonkeyPatch) -> HashEmbedder:
    """The CLI's engines embed with one deterministic HashEmbedder (the model is not the point here)."""
    embedder = HashEmbedder()
    monkeypatch.setattr("retrieval.embedding.factory.make_embedder", lambda config: embedder)
    monkeypatch.setenv("NEWSDESK_RANKER", "off")  # nor is the ranker (fitted on MiniLM scores)
    return embedder


@pytest.fixture(scope="module")
def news_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(seeds, index): the real articles indexed once through the CLI with the HashEmbedder."""
    root = tmp_path_factory.mktemp("news")
    seeds = write_news(root / "seeds")
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("NEWSDESK_")]:
            patch.delenv(name)
        patch.chdir(root)
        patch.setattr("retrieval.embedding.factory.make_embedder", lambda config: HashEmbedder())
        patch.setenv("NEWSDESK_RANKER", "off")
        assert main(["index", "--index", str(root / "index"), "--seeds", str(seeds)]) == 0
    yield seeds, root / "index"


def cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """``newsdesk argv…`` in this process: (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_cli(
    *argv: object,
    cwd: Path,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 180,
    hash_embedder: bool = True,
    stdout: int | object = subprocess.PIPE,
) -> subprocess.CompletedProcess[bytes]:
    """``newsdesk argv…`` as its own process (bytes in and out), with the HashEmbedder unless told not to."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    environment.update({"PYTHONPATH": str(REPO), "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"})
    environment.update(env or {})
    command = [sys.executable, str(HASH_CLI)] if hash_embedder else [sys.executable, "-m", "bot.cli"]
    return subprocess.run(
        [*command, *(str(a) for a in argv)],
        cwd=cwd,
        input=stdin,
        stdout=stdout,  # type: ignore[arg-type]
        stderr=subprocess.PIPE,
        env=environment,
        timeout=timeout,
        check=False,
    )


def lines(text: str | bytes) -> list[str]:
    """The non-blank lines of ``text``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.strip()]


def assert_one_line(err: str | bytes, *fragments: str) -> str:
    """``err`` is exactly one ``newsdesk: …`` line holding every fragment, and no traceback."""
    got = lines(err)
    joined = "\n".join(got)
    assert "Traceback" not in joined, joined
    assert len(got) == 1, joined
    assert got[0].startswith("newsdesk: "), joined
    for fragment in fragments:
        assert fragment in got[0], (fragment, got[0])
    return got[0]
