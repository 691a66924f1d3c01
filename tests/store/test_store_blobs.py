"""The content-addressed blob store: layout, idempotence, atomic writes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from jikimi.errors import InvalidHash, NotFound
from jikimi.store import BlobStore


def test_put_read_exists_delete(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    data = b"evidence bytes"
    sha = blobs.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert blobs.path(sha) == tmp_path / "blobs" / sha[:2] / sha[2:4] / sha
    assert blobs.exists(sha)
    assert blobs.read(sha) == data
    assert blobs.delete(sha) is True
    assert not blobs.exists(sha)
    assert blobs.delete(sha) is False
    with pytest.raises(NotFound):
        blobs.read(sha)


def test_put_is_idempotent_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    first = blobs.put(b"same")
    before = blobs.path(first).stat()
    assert blobs.put(b"same") == first
    after = blobs.path(first).stat()
    assert after.st_ino == before.st_ino  # not rewritten ...
    assert after.st_mtime_ns >= before.st_mtime_ns  # ... but young again (see blobs gc)
    assert [p.name for p in blobs.path(first).parent.iterdir()] == [first]


def test_a_failed_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = BlobStore(tmp_path)

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        blobs.put(b"half written")
    sha = hashlib.sha256(b"half written").hexdigest()
    assert not blobs.exists(sha)
    assert list(blobs.path(sha).parent.iterdir()) == []  # the temporary file is gone too


@pytest.mark.parametrize("name", ["../../etc/passwd", "AB" * 32, "a" * 63, ""])
def test_names_that_are_not_sha256_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidHash):
        BlobStore(tmp_path).path(name)
