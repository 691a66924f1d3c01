"""Snapshot files for the matching indexes: one format, atomic writes, checked reads.

Why this exists: an index is a cache of the database (the source of truth). A
snapshot on disk lets a process start in seconds instead of rebuilding from
millions of rows, but a cache must never serve wrong answers, so every way a
file can be wrong (missing, torn by a crash, written by something else, an older
format, flipped bits) is detected on load and raised as :class:`SnapshotError`;
the caller then rebuilds from the database.

Crash consistency::

    save:  write <path>.tmp-<pid> ─► fsync file ─► rename over <path> ─► fsync dir
    crash at any point ─► <path> is the old snapshot or the new one, never a mix
    load:  snapshot (watermark W) ─► caller replays database changes with id > W

The watermark is the caller's: the id of the last database change already
applied to the index when it was saved. Replaying from W is safe even if some
later changes were also applied before the save, because the index operations
are idempotent (add replaces, remove of an absent id does nothing).

File layout (little-endian)::

    offset size
         0    8  magic b"JKMIDX\\r\\n" (the CR LF catches text-mode mangling)
         8    4  format version (u32)
        12    4  reserved, zero
        16   16  kind tag: ASCII, NUL-padded ("pdq", "md5", "sha256")
        32    8  watermark (i64)
        40    8  manifest length M (u64)
        48    8  payload length P (u64)
        56   32  SHA-256 of manifest and payload
        88    M  manifest: UTF-8 JSON {"params": {...}, "arrays": [[name, dtype, shape], ...]}
      88+M    P  the arrays' bytes, C order, in manifest order

No pickle: loading a snapshot never runs code from the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from io import BufferedReader
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from jikimi.errors import JikimiError

MAGIC = b"JKMIDX\r\n"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sII16sqQQ32s")
_ALLOWED_DTYPES = frozenset({"|u1", "<u2", "<u4", "<u8", "<i8"})
_CHUNK = 1 << 24  # bytes hashed and copied per step; bounds the extra memory of a read

Params = Mapping[str, int | str]


class SnapshotProblem(StrEnum):
    """What is wrong with a snapshot file (each means: rebuild from the database)."""

    MISSING = "missing"
    TRUNCATED = "truncated"
    FOREIGN = "foreign"
    VERSION = "version"
    KIND = "kind"
    CHECKSUM = "checksum"
    MALFORMED = "malformed"


class SnapshotError(JikimiError):
    """A snapshot cannot be used; the caller rebuilds the index from the database."""

    code = "index_snapshot_invalid"

    def __init__(self, path: Path, problem: SnapshotProblem, detail: str) -> None:
        super().__init__(f"index snapshot {path} is unusable ({problem.value}): {detail}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class SnapshotContents:
    """What :func:`read_snapshot` found: the caller checks ``params`` and ``arrays``."""

    watermark: int
    params: Mapping[str, Any]
    arrays: Mapping[str, NDArray[Any]]


def write_snapshot(
    path: Path, kind: str, watermark: int, params: Params, arrays: Mapping[str, NDArray[Any]]
) -> None:
    """Write atomically: a crash leaves the previous file (or none), never a torn one."""
    path = Path(path)
    little = {name: _little_endian(array) for name, array in arrays.items()}
    manifest = json.dumps(
        {
            "params": dict(params),
            "arrays": [[name, a.dtype.str, list(a.shape)] for name, a in little.items()],
        },
        sort_keys=True,
    ).encode()
    digest = hashlib.sha256(manifest)
    for array in little.values():
        digest.update(_bytes_of(array))
    header = _HEADER.pack(
        MAGIC,
        FORMAT_VERSION,
        0,
        _kind_tag(kind),
        watermark,
        len(manifest),
        sum(a.nbytes for a in little.values()),
        digest.digest(),
    )
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as f:
            f.write(header)
            f.write(manifest)
            for array in little.values():
                f.write(_bytes_of(array))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def read_snapshot(path: Path, kind: str) -> SnapshotContents:
    """Read and verify a snapshot of ``kind``; :class:`SnapshotError` if unusable."""
    path = Path(path)
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise SnapshotError(path, SnapshotProblem.MISSING, "no such file") from None
    with f:
        magic, version, _, tag, watermark, m_len, p_len, expected = _read_header(path, f)
        if magic != MAGIC:
            raise SnapshotError(path, SnapshotProblem.FOREIGN, "not a jikimi index snapshot")
        if version != FORMAT_VERSION:
            raise SnapshotError(
                path,
                SnapshotProblem.VERSION,
                f"format version {version}, this jikimi reads {FORMAT_VERSION}",
            )
        if tag != _kind_tag(kind):
            found = tag.rstrip(b"\0").decode("ascii", "replace")
            raise SnapshotError(path, SnapshotProblem.KIND, f"holds {found!r}, not {kind!r}")
        digest = hashlib.sha256()
        manifest_bytes = _read_exact(path, f, m_len)
        digest.update(manifest_bytes)
        params, layout = _parse_manifest(path, manifest_bytes)
        if sum(_nbytes(dtype, shape) for _, dtype, shape in layout) != p_len:
            raise SnapshotError(path, SnapshotProblem.MALFORMED, "payload length disagrees")
        arrays = {name: _read_array(path, f, dtype, shape, digest) for name, dtype, shape in layout}
        if f.read(1):
            raise SnapshotError(path, SnapshotProblem.MALFORMED, "trailing bytes")
    if digest.digest() != expected:
        raise SnapshotError(path, SnapshotProblem.CHECKSUM, "checksum mismatch")
    return SnapshotContents(watermark=watermark, params=params, arrays=arrays)


def _read_header(path: Path, f: BufferedReader) -> tuple[Any, ...]:
    raw = f.read(_HEADER.size)
    if len(raw) < _HEADER.size:
        # A short file that does not even start with our magic was never ours.
        problem = SnapshotProblem.TRUNCATED if raw.startswith(MAGIC) else SnapshotProblem.FOREIGN
        raise SnapshotError(path, problem, f"{len(raw)} bytes, shorter than the header")
    return _HEADER.unpack(raw)


def _parse_manifest(
    path: Path, raw: bytes
) -> tuple[dict[str, Any], list[tuple[str, np.dtype[Any], tuple[int, ...]]]]:
    try:
        manifest = json.loads(raw)
        params = dict(manifest["params"])
        layout = []
        for name, dtype, shape in manifest["arrays"]:
            sizes_ok = all(isinstance(d, int) and d >= 0 for d in shape)
            if dtype not in _ALLOWED_DTYPES or not sizes_ok:
                raise ValueError(f"array {name!r}: dtype {dtype!r} shape {shape!r}")
            layout.append((str(name), np.dtype(dtype), tuple(shape)))
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(path, SnapshotProblem.MALFORMED, f"bad manifest: {exc}") from None
    return params, layout


def _read_array(
    path: Path, f: BufferedReader, dtype: np.dtype[Any], shape: tuple[int, ...], digest: Any
) -> NDArray[Any]:
    """Read straight into the final array, hashing as we go (no second copy)."""
    array = np.empty(shape, dtype=dtype)
    view = array.reshape(-1).view(np.uint8).data
    done = 0
    while done < len(view):
        step = f.readinto(view[done : done + _CHUNK])
        if not step:
            raise SnapshotError(path, SnapshotProblem.TRUNCATED, "file ends inside the payload")
        digest.update(view[done : done + step])
        done += step
    return array


def _read_exact(path: Path, f: BufferedReader, size: int) -> bytes:
    raw = f.read(size)
    if len(raw) != size:
        raise SnapshotError(path, SnapshotProblem.TRUNCATED, "file ends inside the manifest")
    return raw


def _nbytes(dtype: np.dtype[Any], shape: tuple[int, ...]) -> int:
    return int(dtype.itemsize * int(np.prod(shape, dtype=np.int64)))


def _kind_tag(kind: str) -> bytes:
    tag = kind.encode("ascii")
    if not 0 < len(tag) <= 16:
        raise ValueError(f"snapshot kind tag {kind!r} must be 1 to 16 ASCII characters")
    return tag.ljust(16, b"\0")


def _little_endian(array: NDArray[Any]) -> NDArray[Any]:
    """C-contiguous, little-endian (a no-op on the x86/ARM machines we run on)."""
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def _bytes_of(array: NDArray[Any]) -> memoryview:
    return array.reshape(-1).view(np.uint8).data


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); some filesystems refuse, which is fine."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
