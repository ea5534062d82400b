"""A kill mid-way through the first ONNX export no longer leaves ~200 MB in the cache forever: every start
removes the temporary directories of exports that are not running, and never one that is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

HOLD_AN_EXPORT = """
import sys, time
from pathlib import Path
from retrieval.embedding.onnx_embedder import _export_lock
tmp = Path(sys.argv[1])
with _export_lock(tmp):
    tmp.mkdir()
    (tmp / "model.onnx").write_bytes(b"x" * 100_000)
    print("exporting", flush=True)
    time.sleep(600)
"""


def _start_export(tmp: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_AN_EXPORT, str(tmp)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "exporting"
    return process


def test_a_running_export_is_kept_and_a_killed_one_removed(tmp_path: Path) -> None:
    from retrieval.embedding.onnx_embedder import clean_stale_exports

    cache = tmp_path / "onnx"
    cache.mkdir()
    done = cache / "all-MiniLM-L6-v2-int8-0123456789abcdef"  # a finished export: never touched
    done.mkdir()
    (done / "model.onnx").write_bytes(b"done")
    running = cache / ".tmp-all-MiniLM-L6-v2-int8-0123456789abcdef-aaaaaaaa"
    process = _start_export(running)
    try:
        assert clean_stale_exports(cache) == 0  # another process's export in progress
        assert (running / "model.onnx").is_file()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert running.is_dir()  # what the kill leaves
        assert clean_stale_exports(cache) == 100_000
        assert sorted(p.name for p in cache.iterdir()) == [done.name]
    finally:
        process.kill()
        process.wait(timeout=30)


def test_leftovers_of_an_older_newsdesk_go_once_they_are_old(tmp_path: Path) -> None:
    from retrieval.embedding.onnx_embedder import UNLOCKED_GRACE_SECONDS, clean_stale_exports

    cache = tmp_path / "onnx"
    old = cache / ".tmp-all-MiniLM-L6-v2-int8-0123456789abcdef-bbbbbbbb"  # no lock file: made before the lock
    (old / "work").mkdir(parents=True)
    (old / "work" / "float32.onnx").write_bytes(b"y" * 5000)
    (cache / ".tmp-gone-cccccccc.lock").write_bytes(b"")  # a lock file whose directory is gone
    assert clean_stale_exports(cache) == 0 and old.is_dir()  # it could be an older export still running
    assert not (cache / ".tmp-gone-cccccccc.lock").exists()
    past = time.time() - UNLOCKED_GRACE_SECONDS - 60
    for path in (old, old / "work", old / "work" / "float32.onnx"):
        os.utime(path, (past, past))
    assert clean_stale_exports(cache) == 5000 and not old.exists()
    assert clean_stale_exports(tmp_path / "no-such-cache") == 0


@pytest.mark.model
def test_a_kill_during_the_first_export_is_cleaned_at_the_next_start(tmp_path: Path) -> None:
    from retrieval.config import EmbeddingConfig
    from retrieval.embedding.onnx_embedder import OnnxEmbedder

    cache = tmp_path / "onnx"
    script = (
        "import sys; from retrieval.config import EmbeddingConfig; "
        "from retrieval.embedding.onnx_embedder import OnnxEmbedder; "
        "OnnxEmbedder(EmbeddingConfig(backend='onnx', onnx_cache=sys.argv[1]))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-c", script, str(cache)], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 300
        while not list(cache.glob(".tmp-*/work/float32.onnx*")):  # mid-export: the float32 graph is being written
            assert process.poll() is None and time.monotonic() < deadline, "the export never started"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    (leftover,) = [p for p in cache.iterdir() if p.is_dir()]
    assert leftover.name.startswith(".tmp-")

    embedder = OnnxEmbedder(EmbeddingConfig(backend="onnx", onnx_cache=str(cache)))  # the next start
    assert not leftover.exists()
    assert [p.name for p in cache.iterdir()] == [embedder.export_path.name]
