"""Content-addressed blob stores: media and evidence beside the database, never in it.

A blob's name is the SHA-256 of its bytes; the database only keeps the hash.
Every store has the same small interface (:class:`Blobs`): ``put`` (idempotent,
atomic: a reader sees nothing or the whole blob; storing bytes already there
makes that blob young again), ``read``, ``exists``, ``delete``, ``check`` (for
``/readyz``), ``list_blobs`` and ``modified_at`` (for ``jikimi blobs gc``) and
``scoped`` (a separate area, e.g. ``jobs`` for uploads waiting
to be scanned, so that deleting those never touches a bank's evidence).

Two implementations:

- :class:`BlobStore`, the filesystem of one box, at ``<root>/ab/cd/<sha256>``
  (two directory levels keep directories small): bytes go to a temporary file
  in the same directory, are fsynced, then renamed over the final name.
- :class:`jikimi.store.s3blobs.S3BlobStore`, an S3-compatible bucket that every
  API replica reaches (``JIKIMI_BLOB_STORE=s3://bucket/prefix``), so that
  several processes on different machines need no shared disk.

:func:`open_blobs` picks one from the settings.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from jikimi.config import Settings
from jikimi.errors import ConfigError, InvalidHash, NotFound

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_SCOPE_RE = re.compile(r"^[a-z][a-z0-9_-]{2,31}$")  # 3+: never a two-hex-digit level
_LEVEL_RE = re.compile(r"^[0-9a-f]{2}$")


def check_name(sha256: str) -> str:
    """``sha256`` if it is a blob name (64 lowercase hex digits), else InvalidHash.

    Also what keeps a crafted name from escaping a root (``../..``) or a prefix.
    """
    if not _SHA256_RE.match(sha256):
        raise InvalidHash("a blob name is 64 lowercase hex digits (its SHA-256)")
    return sha256


def check_scope(name: str) -> str:
    if not _SCOPE_RE.match(name):
        raise ValueError(f"not a blob scope name: {name!r}")
    return name


@dataclass(frozen=True)
class StoredBlob:
    """A blob as the store lists it: its name and when it was last written."""

    sha256: str
    modified_at: datetime


class Blobs(Protocol):
    """What services need of a blob store (filesystem or S3-compatible)."""

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its SHA-256 hex. Storing existing bytes does nothing."""
        ...

    def read(self, sha256: str) -> bytes:
        """The blob's bytes; NotFound if there is none."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> bool:
        """Remove the blob; ``False`` if it was not there."""
        ...

    def scoped(self, name: str) -> Blobs:
        """A separate area of the same store (``jobs``: uploads waiting to be scanned)."""
        ...

    @property
    def location(self) -> str:
        """Where the blobs are, for logs and ``/readyz`` (no credentials)."""
        ...

    def check(self) -> None:
        """Raise if the store cannot take blobs now (``/readyz``): a folder that is
        not writable, a bucket that does not answer."""
        ...

    def list_blobs(self) -> Iterator[StoredBlob]:
        """Every blob of this area (not of its scoped areas), for ``jikimi blobs gc``."""
        ...

    def modified_at(self, sha256: str) -> datetime:
        """When the blob was last written (or ``put`` again); NotFound if there is none."""
        ...


class BlobStore:
    """Blobs under one directory (usually ``<data_dir>/blobs``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def location(self) -> str:
        return str(self.root)

    def scoped(self, name: str) -> BlobStore:
        return BlobStore(self.root / check_scope(name))

    def path(self, sha256: str) -> Path:
        """Where the blob named ``sha256`` lives (whether or not it exists)."""
        check_name(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its SHA-256 hex. Storing existing bytes does nothing."""
        sha256 = hashlib.sha256(data).hexdigest()
        final = self.path(sha256)
        try:
            os.utime(final)  # there already: now young again, so gc leaves it alone
            return sha256
        except FileNotFoundError:
            pass
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=final.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)
        return sha256

    def read(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no blob {sha256}") from None

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> bool:
        """Remove the blob; ``False`` if it was not there."""
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def check(self) -> None:
        """The folder exists (or can be made) and a file can be written in it."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".ready-", dir=self.root)
        os.close(fd)
        Path(name).unlink()

    def modified_at(self, sha256: str) -> datetime:
        try:
            return datetime.fromtimestamp(self.path(sha256).stat().st_mtime, UTC)
        except FileNotFoundError:
            raise NotFound(f"no blob {sha256}") from None

    def list_blobs(self) -> Iterator[StoredBlob]:
        for first in _hex_dirs(self.root):
            for second in _hex_dirs(first):
                with os.scandir(second) as names:
                    for entry in names:
                        if _SHA256_RE.match(entry.name) and entry.is_file(follow_symlinks=False):
                            at = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
                            yield StoredBlob(entry.name, at)


def _hex_dirs(parent: Path) -> list[Path]:
    """The two-hex-digit folders of one level (a scoped area's folder is not one)."""
    try:
        with os.scandir(parent) as entries:
            return sorted(Path(e.path) for e in entries if _LEVEL_RE.match(e.name) and e.is_dir())
    except FileNotFoundError:
        return []


def open_blobs(settings: Settings) -> Blobs:
    """The blob store the settings name (``blob_store``): by default ``<data_dir>/blobs``.

    ``file:///srv/blobs`` or a plain path: a directory; ``s3://bucket/prefix``: an
    S3-compatible bucket (``blob_s3_*`` settings; the ``s3`` extra installs boto3).
    """
    spec = settings.blob_store.strip()
    if not spec:
        return BlobStore(Path(settings.data_dir) / "blobs")
    if spec.startswith("s3://"):
        from jikimi.store.s3blobs import S3BlobStore  # boto3 only when asked for

        return S3BlobStore.from_settings(settings)
    if spec.startswith("file://"):
        spec = spec.removeprefix("file://")
    if "://" in spec:
        raise ConfigError(f"unsupported blob store {spec!r}: use a directory or s3://bucket")
    return BlobStore(Path(spec))


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
