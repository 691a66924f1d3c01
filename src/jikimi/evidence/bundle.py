"""Sealed evidence bundles: a zip anyone can check offline.

``bundle.zip`` holds the captured bytes (``content.bin``), ``manifest.json`` (what
was captured, from where, when, its hashes and Verdict, and the SHA-256 of every
other file in the zip) and ``signature.json`` (an Ed25519 signature over the exact
bytes of ``manifest.json``, with the signing key's public half and fingerprint).
:func:`verify_bundle` needs nothing but the zip (and, to rule out a bundle re-signed
by someone else, the instance's published key) and names each thing that changed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from jikimi.evidence.keys import InstanceKey, public_key_id

SCHEMA = "jikimi.evidence/1"
CONTENT = "content.bin"
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"


def build_bundle(content: bytes, manifest: Mapping[str, Any], key: InstanceKey) -> bytes:
    """The zip of one item's evidence, signed by ``key``."""
    body = dict(manifest)
    body["schema"] = SCHEMA
    body["files"] = {
        CONTENT: {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
    }
    manifest_bytes = json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False).encode()
    signature = {
        "algorithm": "ed25519",
        "key_id": key.key_id,
        "public_key": key.public_b64(),
        "signature": base64.b64encode(key.sign(manifest_bytes)).decode(),
        "signed": MANIFEST,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(CONTENT, content)
        zf.writestr(MANIFEST, manifest_bytes)
        zf.writestr(SIGNATURE, json.dumps(signature, indent=2))
    return out.getvalue()


@dataclass(frozen=True)
class BundleReport:
    """What :func:`verify_bundle` found."""

    ok: bool
    problems: tuple[str, ...] = ()
    key_id: str | None = None
    manifest: Mapping[str, Any] = field(default_factory=dict)


def verify_bundle(data: bytes, trusted_key: str | None = None) -> BundleReport:
    """Check a bundle; ``trusted_key`` is the expected public key (base64) or key id."""
    problems: list[str] = []
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return BundleReport(False, ("the file is not a zip archive",))
    with zf:
        names = set(zf.namelist())
        for required in (MANIFEST, SIGNATURE):
            if required not in names:
                problems.append(f"{required} is missing")
        if problems:
            return BundleReport(False, tuple(problems))
        manifest_bytes = zf.read(MANIFEST)
        try:
            signature = json.loads(zf.read(SIGNATURE))
            public_raw = base64.b64decode(signature["public_key"], validate=True)
            sig = base64.b64decode(signature["signature"], validate=True)
            public = Ed25519PublicKey.from_public_bytes(public_raw)
        except (ValueError, KeyError, TypeError):
            return BundleReport(False, ("signature.json is unreadable",))
        key_id = public_key_id(public)
        if trusted_key is not None and trusted_key not in (key_id, signature["public_key"]):
            problems.append(
                f"signed by key {key_id}, not by the trusted key {trusted_key[:16]}: "
                "the bundle was re-signed by someone else"
            )
        try:
            public.verify(sig, manifest_bytes)
        except InvalidSignature:
            problems.append(
                "manifest.json was altered after signing (the signature does not match)"
            )
        try:
            manifest = json.loads(manifest_bytes)
            files = dict(manifest.get("files", {}))
        except (ValueError, AttributeError, TypeError):
            return BundleReport(False, (*problems, "manifest.json is not valid JSON"), key_id)
        for name, expected in sorted(files.items()):
            if name not in names:
                problems.append(f"{name} is missing")
                continue
            actual = hashlib.sha256(zf.read(name)).hexdigest()
            if actual != expected.get("sha256"):
                problems.append(
                    f"{name} was altered (SHA-256 {actual[:16]}…, manifest says "
                    f"{str(expected.get('sha256'))[:16]}…)"
                )
        for extra in sorted(names - set(files) - {MANIFEST, SIGNATURE}):
            problems.append(f"{extra} was added; it is not in the manifest")
    return BundleReport(not problems, tuple(problems), key_id, manifest)
