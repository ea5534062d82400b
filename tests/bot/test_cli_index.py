"""The command line over the index directory: remedies worded by the front, bad vector settings,
``stats --check``, a damaged link said before rebuilding, Ctrl-C told truthfully (no model needed)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bot.cli import hint, main
from retrieval.errors import BuildInterrupted, IndexCorruptError, IndexMissingError, SettingError
from tests.conftest import HashEmbedder, make_engine


@pytest.fixture
def index_dir(tmp_path: Path, seeds_dir: Path) -> Path:
    """An index of the tiny articles (deterministic embedder)."""
    make_engine(tmp_path / "index", HashEmbedder()).build(seeds_dir)
    return tmp_path / "index"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_words_each_remedy() -> None:
    assert hint(IndexMissingError("no index at x")) == " — run `newsdesk index` to build it"
    assert hint(IndexCorruptError("the index at x is damaged: y")) == " — run `newsdesk index --full` to rebuild it"
    assert hint(SettingError("bad", "vector_params")) == " — check NEWSDESK_VECTOR_PARAMS"


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ('{"M": 0}', "'M' must be between 2 and 2048 (got 0)"),
        ('{"ef_search": -5}', "'ef_search' must be at least 1 (got -5)"),
        ('{"ef_search": 0.5}', "'ef_search' must be a whole number"),
        ('{"efSearch": 10}', "'efSearch' is not a parameter of the hnsw vector index"),
        ('{"nprobe": 8}', "'nprobe' is not a parameter of the hnsw vector index"),
    ],
)
def test_bad_vector_parameters_are_one_line_and_exit_2(
    index_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, params: str, words: str
) -> None:
    monkeypatch.setenv("NEWSDESK_VECTOR_PARAMS", params)
    monkeypatch.setenv("NEWSDESK_VECTOR_EXACT_MAX", "0")
    code, _, err = run(capsys, "stats", "--index", str(index_dir))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and words in lines[0] and "NEWSDESK_VECTOR_PARAMS" in lines[0], err


def test_stats_check_reads_every_file(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "stats", "--check", "--index", str(index_dir))
    assert code == 0 and "all sound" in out and not err
    (texts,) = (index_dir / "current").glob("seg-*/texts.bin")
    data = bytearray(texts.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit: same size, so a plain `stats` cannot see it
    texts.write_bytes(bytes(data))
    code, _, err = run(capsys, "stats", "--index", str(index_dir))
    assert code == 0
    code, out, err = run(capsys, "stats", "--check", "--json", "--index", str(index_dir))
    report = json.loads(out)
    assert (
        code == 1 and not report["ok"] and any("texts.bin does not match its checksum" in p for p in report["problems"])
    )
    assert "Traceback" not in err and "newsdesk index --full" in err


def test_stats_sees_a_truncated_file(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (terms,) = (index_dir / "current").glob("seg-*/terms.npz")
    terms.write_bytes(terms.read_bytes()[:100])
    code, _, err = run(capsys, "stats", "--index", str(index_dir))
    assert code == 1 and "terms.npz is 100 bytes" in err and "newsdesk index --full" in err
    assert len(err.strip().splitlines()) == 1


def test_a_damaged_link_is_said_before_rebuilding(
    index_dir: Path, seeds_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.context import CommandContext
    from bot.settings import Settings

    (index_dir / "current").unlink()
    args = argparse.Namespace(index=index_dir, seeds=seeds_dir)
    ctx = CommandContext(Settings(), args)
    ctx._engine = make_engine(index_dir, HashEmbedder())
    ctx.ready_engine()
    err = capsys.readouterr().err
    assert "damaged: `current` is missing (1 generation on disk); rebuilding it" in err
    assert ctx.engine.search("wolves valley")[0].article.id == "wildlife.html"


@pytest.mark.parametrize(("live", "words"), [(True, "new index went live"), (False, "previous index is untouched")])
def test_ctrl_c_during_a_build_says_where_the_index_stands(
    index_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, live: bool, words: str
) -> None:
    from bot.context import CommandContext

    def interrupted(self: CommandContext, full: bool) -> None:
        raise BuildInterrupted(live=live)

    monkeypatch.setattr(CommandContext, "build", interrupted)
    code, _, err = run(capsys, "index", "--index", str(index_dir))
    assert code == 130 and words in err


def test_milvus_unreachable_is_one_line(
    tmp_path: Path,
    seeds_dir: Path,
    milvus_uri: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from retrieval.config import VectorConfig

    config = VectorConfig(backend="milvus", milvus_uri=milvus_uri, milvus_collection="unreachable")
    make_engine(tmp_path / "index", HashEmbedder(), config).build(seeds_dir)
    monkeypatch.setenv("NEWSDESK_VECTOR_BACKEND", "milvus")
    monkeypatch.setenv("NEWSDESK_MILVUS_COLLECTION", "unreachable")
    monkeypatch.setenv("NEWSDESK_MILVUS_URI", "http://127.0.0.1:1")  # nothing listens there
    code, _, err = run(capsys, "ask", "Who won the election?", "--index", str(tmp_path / "index"))
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("newsdesk: Milvus at http://127.0.0.1:1 failed: ")


def _serve_from_milvus(monkeypatch: pytest.MonkeyPatch, uri: str, collection: str) -> None:
    """The environment of a process with the whole index in Milvus (``collection`` the prefix)."""
    monkeypatch.setenv("NEWSDESK_VECTOR_BACKEND", "milvus")
    monkeypatch.setenv("NEWSDESK_MILVUS_CORPUS", "1")
    monkeypatch.setenv("NEWSDESK_MILVUS_URI", uri)
    monkeypatch.setenv("NEWSDESK_MILVUS_COLLECTION", collection)


def test_a_replica_with_nothing_published_says_to_build(
    tmp_path: Path,
    seeds_dir: Path,
    milvus_uri: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uuid

    collection = f"empty{uuid.uuid4().hex[:8]}"
    _serve_from_milvus(monkeypatch, milvus_uri, collection)
    index = tmp_path / "index"
    for argv in (("ask", "Who won the election?"), ("search", "wolves")):
        code, out, err = run(capsys, *argv, "--index", str(index), "--seeds", str(seeds_dir))
        lines = [line for line in err.strip().splitlines() if line.strip()]
        assert code == 1 and len(lines) == 1 and not out and "Traceback" not in err, err
        assert "holds no published index" in lines[0] and "run `newsdesk index`" in lines[0]
    assert not (index / "current").exists()  # nothing was built from the seeds


def test_a_replica_states_the_published_generation_and_briefs(
    tmp_path: Path,
    seeds_dir: Path,
    milvus_uri: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uuid

    monkeypatch.setattr("retrieval.embedding.factory.make_embedder", lambda config: HashEmbedder())
    monkeypatch.setenv("NEWSDESK_RANKER", "off")
    _serve_from_milvus(monkeypatch, milvus_uri, f"st{uuid.uuid4().hex[:8]}")
    code, _, _ = run(capsys, "index", "--index", str(tmp_path / "builder"), "--seeds", str(seeds_dir))
    assert code == 0
    _, built, _ = run(capsys, "stats", "--json", "--index", str(tmp_path / "builder"))
    replica = str(tmp_path / "replica")  # no index directory there: everything comes from Milvus
    code, out, err = run(capsys, "stats", "--json", "--index", replica)
    stats = json.loads(out)
    assert code == 0 and not err and stats == json.loads(built)
    published = stats["published"]
    assert published["uri"] == milvus_uri and published["pointer"].endswith("_pointer")
    assert stats["path"] == f"milvus:{published['generation']}" and stats["articles"] == 5 and stats["vectors"] > 0
    code, out, err = run(capsys, "stats", "--index", replica)
    assert code == 0 and not err
    rows = dict(line.strip().split("  ", 1) for line in out.splitlines())
    assert rows["index"] == f"Milvus at {milvus_uri} ({published['pointer']})"
    assert rows["published"] == f"generation {published['generation']}, {published['published_at']}"
    assert rows["articles"] == "5" and "size" not in rows
    code, out, err = run(capsys, "stats", "--check", "--index", replica)
    assert code != 0 and not out and len(err.strip().splitlines()) == 1 and "run it where the index is built" in err
    argv = ("brief", "--as-of", "2023-08-01", "--since", "2023-05-01", "--json", "--index")
    code, out, err = run(capsys, *argv, replica)
    assert code == 0 and not err, err
    code, want, _ = run(capsys, *argv, str(tmp_path / "builder"))
    assert json.loads(out) == json.loads(want) and json.loads(out)["articles"] == 4
    assert not (tmp_path / "replica").exists()
