"""Evidence bundles verify offline and name what was altered; blobs seal and open."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import pytest

from jikimi.evidence import InstanceKey, Sealer, build_bundle, load_or_create_secret, verify_bundle
from jikimi.evidence.sealing import SealBroken


@pytest.fixture
def key(tmp_path: Path) -> InstanceKey:
    return InstanceKey.load_or_create(tmp_path / "keys" / "instance.pem")


def _rewrite(data: bytes, name: str, new: bytes | None) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for item in src.namelist():
            if item == name:
                if new is not None:
                    zf.writestr(item, new)
            else:
                zf.writestr(item, src.read(item))
        if name not in src.namelist() and new is not None:
            zf.writestr(name, new)
    return out.getvalue()


def test_a_bundle_verifies_and_carries_its_manifest(key: InstanceKey) -> None:
    data = build_bundle(b"\xff\xd8image", {"url": "https://h.example/1.jpg", "item": "item_1"}, key)
    report = verify_bundle(data, trusted_key=key.key_id)
    assert report.ok, report.problems
    assert report.manifest["url"] == "https://h.example/1.jpg"
    assert report.key_id == key.key_id


def test_altered_content_is_named(key: InstanceKey) -> None:
    data = build_bundle(b"original", {"item": "item_1"}, key)
    report = verify_bundle(_rewrite(data, "content.bin", b"changed"))
    assert not report.ok
    assert any("content.bin was altered" in p for p in report.problems)


def test_altered_manifest_is_named(key: InstanceKey) -> None:
    data = build_bundle(b"x", {"url": "https://a.example/"}, key)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    manifest["url"] = "https://b.example/"
    report = verify_bundle(_rewrite(data, "manifest.json", json.dumps(manifest).encode()))
    assert not report.ok
    assert any("manifest.json was altered" in p for p in report.problems)


def test_missing_and_added_files_are_named(key: InstanceKey) -> None:
    data = build_bundle(b"x", {}, key)
    assert any(
        "content.bin is missing" in p
        for p in verify_bundle(_rewrite(data, "content.bin", None)).problems
    )
    assert any(
        "extra.txt was added" in p
        for p in verify_bundle(_rewrite(data, "extra.txt", b"!")).problems
    )
    assert not verify_bundle(_rewrite(data, "signature.json", None)).ok
    assert verify_bundle(b"not a zip").problems == ("the file is not a zip archive",)


def test_a_bundle_resigned_by_another_key_fails_against_the_trusted_key(
    key: InstanceKey, tmp_path: Path
) -> None:
    other = InstanceKey.load_or_create(tmp_path / "other.pem")
    data = build_bundle(b"x", {}, other)
    assert verify_bundle(data).ok  # self-consistent...
    report = verify_bundle(data, trusted_key=key.public_b64())
    assert not report.ok and "re-signed" in report.problems[0]


def test_keys_are_private_files_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "instance.pem"
    a = InstanceKey.load_or_create(path)
    b = InstanceKey.load_or_create(path)
    assert a.key_id == b.key_id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = load_or_create_secret(tmp_path / "keys" / "evidence.key")
    assert secret == load_or_create_secret(tmp_path / "keys" / "evidence.key")
    assert len(secret) == 32


def test_sealed_blobs_open_only_unchanged_and_with_their_digest() -> None:
    sealer = Sealer(b"k" * 32)
    sealed = sealer.seal(b"evidence bytes", "d1")
    assert b"evidence bytes" not in sealed
    assert sealer.open(sealed, "d1") == b"evidence bytes"
    with pytest.raises(SealBroken):
        sealer.open(sealed, "d2")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealBroken):
        sealer.open(tampered, "d1")
    with pytest.raises(SealBroken):
        Sealer(b"j" * 32).open(sealed, "d1")
