"""Every blob store keeps the same contract: filesystem (one box) and S3 (replicas).

The S3 store runs against a real S3-compatible server on 127.0.0.1 (moto's).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jikimi.config import Settings
from jikimi.errors import ConfigError, InvalidHash, NotFound
from jikimi.store import Blobs, BlobStore, open_blobs
from jikimi.store.s3blobs import S3BlobStore
from s3_server import S3Server, running_s3


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        server.make_bucket("jikimi-blobs")
        yield server


def _s3_settings(s3: S3Server, tmp_path: Path, prefix: str) -> Settings:
    env = s3.env("jikimi-blobs", prefix)
    return Settings(
        data_dir=tmp_path,
        blob_store=env["JIKIMI_BLOB_STORE"],
        blob_s3_endpoint=env["JIKIMI_BLOB_S3_ENDPOINT"],
        blob_s3_access_key=env["JIKIMI_BLOB_S3_ACCESS_KEY"],
        blob_s3_secret_key=env["JIKIMI_BLOB_S3_SECRET_KEY"],
    )


@pytest.fixture(params=["filesystem", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Blobs:
    if request.param == "filesystem":
        return open_blobs(Settings(data_dir=tmp_path))
    s3: S3Server = request.getfixturevalue("s3")
    return open_blobs(_s3_settings(s3, tmp_path, f"t-{tmp_path.name[-12:].lower()}"))


def test_put_read_exists_delete(blobs: Blobs) -> None:
    data = b"evidence bytes \x00\xff" * 1000
    sha = blobs.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert blobs.exists(sha)
    assert blobs.read(sha) == data
    assert blobs.put(data) == sha  # idempotent
    assert blobs.delete(sha) is True
    assert not blobs.exists(sha)
    assert blobs.delete(sha) is False
    with pytest.raises(NotFound):
        blobs.read(sha)


def test_scopes_are_separate(blobs: Blobs) -> None:
    jobs = blobs.scoped("jobs")
    sha = jobs.put(b"an upload waiting for its job")
    assert jobs.exists(sha)
    assert not blobs.exists(sha)  # deleting uploads never touches evidence, and back
    kept = blobs.put(b"an upload waiting for its job")
    assert jobs.delete(sha) is True
    assert blobs.exists(kept) and blobs.read(kept) == b"an upload waiting for its job"
    with pytest.raises(ValueError):
        blobs.scoped("../escape")


@pytest.mark.parametrize("name", ["../" * 3 + "etc/passwd", "A" * 64, "ab", "g" * 64])
def test_names_other_than_a_sha256_are_refused(blobs: Blobs, name: str) -> None:
    with pytest.raises(InvalidHash):
        blobs.read(name)
    with pytest.raises(InvalidHash):
        blobs.exists(name)


def test_the_settings_pick_the_store(tmp_path: Path, s3: S3Server) -> None:
    assert isinstance(open_blobs(Settings(data_dir=tmp_path)), BlobStore)
    assert open_blobs(Settings(data_dir=tmp_path)).location == str(tmp_path / "blobs")
    there = open_blobs(Settings(data_dir=tmp_path, blob_store=f"file://{tmp_path}/elsewhere"))
    assert there.location == f"{tmp_path}/elsewhere"
    s3_store = open_blobs(_s3_settings(s3, tmp_path, "pre/fix"))
    assert isinstance(s3_store, S3BlobStore)
    assert s3_store.location == "s3://jikimi-blobs/pre/fix"
    with pytest.raises(ConfigError):
        open_blobs(Settings(data_dir=tmp_path, blob_store="ftp://host/x"))


def test_two_s3_stores_on_one_bucket_see_each_others_blobs(tmp_path: Path, s3: S3Server) -> None:
    """What two replicas rely on: a blob one puts, the other reads and may delete."""
    first = open_blobs(_s3_settings(s3, tmp_path / "a", "shared"))
    second = open_blobs(_s3_settings(s3, tmp_path / "b", "shared"))
    sha = first.put(b"written by replica A")
    assert second.read(sha) == b"written by replica A"
    assert second.delete(sha) is True
    assert not first.exists(sha)
    # and the key layout is the filesystem's, under the prefix
    key = f"shared/{sha[:2]}/{sha[2:4]}/{sha}"
    assert isinstance(first, S3BlobStore) and first.key(sha) == key


def test_listing_gives_this_areas_blobs_only_with_their_times(blobs: Blobs) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    here = {blobs.put(b"one"), blobs.put(b"two")}
    blobs.scoped("jobs").put(b"an upload in another area")
    listed = {b.sha256: b.modified_at for b in blobs.list_blobs()}
    assert set(listed) == here
    assert all(at >= before for at in listed.values())
    assert {b.sha256 for b in blobs.scoped("jobs").list_blobs()} == {
        hashlib.sha256(b"an upload in another area").hexdigest()
    }
    sha = next(iter(here))
    assert blobs.modified_at(sha) == listed[sha]
    blobs.delete(sha)
    with pytest.raises(NotFound):
        blobs.modified_at(sha)


def test_a_usable_store_passes_its_check(blobs: Blobs) -> None:
    blobs.check()


def test_a_folder_that_cannot_be_written_fails_the_check(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file where the blob folder should be")
    with pytest.raises(OSError):
        BlobStore(tmp_path / "file" / "blobs").check()


def test_a_bucket_that_does_not_answer_fails_the_check(s3: S3Server, tmp_path: Path) -> None:
    settings = _s3_settings(s3, tmp_path, "x").model_copy(update={"blob_store": "s3://no-such"})
    with pytest.raises(Exception) as caught:
        open_blobs(settings).check()
    assert "404" in str(caught.value)


def test_a_scope_is_never_a_two_hex_digit_level() -> None:
    with pytest.raises(ValueError):
        BlobStore(Path("/nowhere")).scoped("ab")
