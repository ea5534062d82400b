"""Reading numpy files safely from several threads at once.

numpy parses each ``.npy`` header with ``ast.literal_eval``, and CPython 3.11 can fail with
"SystemError: AST constructor recursion depth mismatch" when two threads do that at the same time
(CPython gh-106905). Index loads are rare and short, so they take turns here.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

_LOCK = threading.Lock()


@contextlib.contextmanager
def open_npz(path: Path) -> Iterator[Any]:
    """``np.load`` of a ``.npz`` (no pickles), its members read while the lock is held."""
    with _LOCK, np.load(path, allow_pickle=False) as data:
        yield data


def load_npy(path: Path, *, mmap: bool = False) -> np.ndarray:
    """``np.load`` of a ``.npy`` (no pickles), memory-mapped if asked."""
    with _LOCK:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
