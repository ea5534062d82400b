"""Reading numpy files fast and safely: ``.npz`` members memory-mapped and CRC-checked, headers parsed
one thread at a time.

``np.savez`` stores each array uncompressed in the zip, so a member's bytes lie contiguous in the file:
mapping the file and viewing each member in place costs no copy (``np.load`` copies every array in
256 KiB pieces), and checking each member's CRC-32 against the zip directory is one pass of zlib.
numpy parses each ``.npy`` header with ``ast.literal_eval``, and CPython 3.11 can fail with
"SystemError: AST constructor recursion depth mismatch" when two threads do that at once (CPython
gh-106905); index loads are rare and short, so they take turns.
"""

from __future__ import annotations

import io
import mmap
import struct
import threading
import zipfile
import zlib
from pathlib import Path

import numpy as np

_LOCK = threading.Lock()
_LOCAL_HEADER = 30
"""Bytes of a zip local file header before its name and extra field."""


def map_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` written by ``np.savez``, as read-only views of the mapped file, each
    member's CRC-32 checked (ValueError or zipfile.BadZipFile on damage)."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    view = memoryview(data)
    arrays: dict[str, np.ndarray] = {}
    for member in members:
        if member.compress_type != zipfile.ZIP_STORED or not member.filename.endswith(".npy"):
            raise ValueError(f"{path.name}: {member.filename} is not a stored .npy")
        at = member.header_offset
        if view[at : at + 4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"{path.name}: no local header for {member.filename}")
        name_length, extra_length = struct.unpack("<HH", view[at + 26 : at + _LOCAL_HEADER])
        start = at + _LOCAL_HEADER + name_length + extra_length
        body = view[start : start + member.file_size]
        if len(body) != member.file_size or zlib.crc32(body) != member.CRC:
            raise zipfile.BadZipFile(f"{path.name}: bad CRC-32 for {member.filename}")
        arrays[member.filename[: -len(".npy")]] = _npy_view(body)
    return arrays


def _npy_view(body: memoryview) -> np.ndarray:
    """The array an ``.npy`` image holds, viewed in place."""
    head = io.BytesIO(body[:65_536].tobytes())
    with _LOCK:
        version = np.lib.format.read_magic(head)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(head)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(head)
        else:
            raise ValueError(f"an .npy of version {version}")
    if dtype.hasobject:
        raise ValueError("an array of Python objects")
    count = int(np.prod(shape, dtype=np.int64))
    array = np.frombuffer(body, dtype=dtype, count=count, offset=head.tell())
    return array.reshape(shape, order="F" if fortran else "C")


def load_npy(path: Path, *, mmap: bool = False) -> np.ndarray:
    """``np.load`` of a ``.npy`` (no pickles), memory-mapped if asked."""
    with _LOCK:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
