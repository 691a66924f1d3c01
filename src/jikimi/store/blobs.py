"""Content-addressed blob store: media and evidence on disk, never in the database.

A blob's name is the SHA-256 of its bytes, stored at ``<root>/ab/cd/<sha256>``
(two directory levels keep directories small). Writing is atomic and
idempotent: bytes go to a temporary file in the same directory, are fsynced,
then renamed over the final name, so a reader sees either nothing or the
whole blob, and storing the same bytes twice is a no-op. The database only
keeps the hash.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from jikimi.errors import InvalidHash, NotFound

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class BlobStore:
    """Blobs under one directory (usually ``<data_dir>/blobs``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        """Where the blob named ``sha256`` lives (whether or not it exists)."""
        if not _SHA256_RE.match(sha256):
            # Also what keeps a crafted name from escaping the root ("../..").
            raise InvalidHash("a blob name is 64 lowercase hex digits (its SHA-256)")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its SHA-256 hex. Storing existing bytes does nothing."""
        sha256 = hashlib.sha256(data).hexdigest()
        final = self.path(sha256)
        if final.exists():
            return sha256
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
