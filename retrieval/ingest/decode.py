"""Bytes from a seed file (regular files only, never waiting on a FIFO) and text from bytes (UTF-8/16/32)."""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path

_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
FILE_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def decode(raw: bytes, complete: bool = True) -> str:
    """Text from bytes: UTF-8, or UTF-8/16/32 with a byte order mark. ``complete``: false if ``raw``
    was cut short (a character split at the end is dropped, not an error)."""
    encoding, start = "utf-8", 0
    for bom, name in _BOMS:
        if raw.startswith(bom):
            encoding, start = name, len(bom)
            break
    else:
        if b"\x00" in raw[:8192]:
            raise ValueError("binary file")
    try:
        return codecs.getincrementaldecoder(encoding)().decode(raw[start:], final=complete)
    except UnicodeDecodeError as exc:
        label = encoding.upper().removesuffix("-LE").removesuffix("-BE")
        raise ValueError(f"not {label} text ({exc.reason} at byte {start + exc.start})") from exc


def read_bytes(path: Path, cap: int | None) -> tuple[bytes, int]:
    """The file's bytes (at most ``cap``) and its size. Opened without blocking and checked to be a
    regular file once open, so a FIFO put in a file's place is refused, never waited on."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            kind = FILE_KINDS.get(stat.S_IFMT(info.st_mode), "special file")
            raise ValueError(f"not a regular file ({kind})")
        return handle.read(-1 if cap is None else cap), info.st_size
