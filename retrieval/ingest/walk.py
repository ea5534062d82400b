"""The seed files under a directory: stable order, links followed, loops and special files skipped."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from retrieval.ingest.decode import FILE_KINDS
from retrieval.ingest.results import Collector


def file_suffix(path: Path) -> str:
    """The suffix that says how to read a file: ``.jsonl.gz`` for gzipped JSONL, else the last one."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes == [".jsonl", ".gz"]:
        return ".jsonl.gz"
    return path.suffix.lower()


def iter_seed_files(seeds_dir: Path, out: Collector | None = None) -> Iterator[Path]:
    """Every non-hidden regular file under ``seeds_dir``, in a stable order (sorted by path parts).

    Symbolic links are followed, to files and to directories; a link that leads nowhere (dangling),
    round in a loop or back to a directory already walked, and anything that is not a regular file
    or directory (a FIFO, a socket, a device) is recorded in ``out`` as skipped, never opened.
    """
    out = out if out is not None else Collector()
    seen: set[tuple[int, int]] = set()
    try:
        top = seeds_dir.stat()
    except OSError:
        return
    seen.add((top.st_dev, top.st_ino))
    yield from _walk(seeds_dir, seeds_dir, ((top.st_dev, top.st_ino),), seen, out)


def _walk(
    root: Path, directory: Path, above: tuple[tuple[int, int], ...], seen: set[tuple[int, int]], out: Collector
) -> Iterator[Path]:
    """The regular files under ``directory``; ``above``: it and the directories it is in."""
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError as exc:
        out.skip(directory.relative_to(root).as_posix() + "/", f"unreadable directory ({exc.strerror or exc})")
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        rel = path.relative_to(root).as_posix()
        try:
            info = os.stat(entry.path)  # follows a link
        except OSError as exc:
            out.skip(rel, _unreachable(entry, exc))
            continue
        if stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key in above:
                out.skip(rel + "/", "a symlink loop (a link back to a directory it is in)")
            elif key in seen:
                out.skip(rel + "/", "a link to a directory already read: not read twice")
            else:
                seen.add(key)
                yield from _walk(root, path, (*above, key), seen, out)
        elif stat.S_ISREG(info.st_mode):
            yield path
        else:
            out.skip(rel, f"not a regular file ({FILE_KINDS.get(stat.S_IFMT(info.st_mode), 'special file')})")


def _unreachable(entry: os.DirEntry[str], exc: OSError) -> str:
    """Why a directory entry cannot be reached: a dangling link, a link loop, or an error."""
    if entry.is_symlink():
        if exc.errno == errno.ELOOP:
            return "a symlink loop"
        if exc.errno == errno.ENOENT:
            with contextlib.suppress(OSError):
                return f"a broken symlink (to {os.readlink(entry.path)}, which does not exist)"
            return "a broken symlink"
    return f"unreadable ({exc.strerror or exc})"
