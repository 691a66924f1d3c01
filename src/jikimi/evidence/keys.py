"""The keys an instance holds: one to sign with, one to encrypt evidence at rest.

Both live under ``<data_dir>/keys`` with owner-only permissions and are made on
first use; an operator who keeps them elsewhere points the settings at them, or
gives them as values (``JIKIMI_EVIDENCE_KEY``, ``JIKIMI_INSTANCE_KEY``) from a
secret store, which is what API replicas on several machines must do: they all
need the same keys, and none of them may make its own. The signing key's public
half is what a regulator pins when verifying bundles (``key_id`` is its short
fingerprint).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from jikimi.errors import ConfigError


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never overwrite a key another process just made
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create_secret(path: Path, size: int = 32) -> bytes:
    """A random secret kept in ``path`` (base64), made on first use."""
    if not path.exists():
        _write_private(path, base64.b64encode(secrets.token_bytes(size)) + b"\n")
    try:
        raw = base64.b64decode(path.read_bytes().strip(), validate=True)
    except ValueError as exc:
        raise ConfigError(f"{path} is not a base64 key") from exc
    if len(raw) != size:
        raise ConfigError(f"{path} holds a {len(raw)}-byte key; expected {size}")
    return raw


def parse_secret(text: str, size: int = 32, *, what: str = "the key") -> bytes:
    """A secret given as base64 text (a setting's value)."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise ConfigError(f"{what} is not base64") from None
    if len(raw) != size:
        raise ConfigError(f"{what} holds {len(raw)} bytes; expected {size}")
    return raw


def secret_id(secret: bytes) -> str:
    """A short fingerprint of a secret key (16 hex digits of SHA-256 over a label and it):
    safe to store and compare, useless for decrypting."""
    return hashlib.sha256(b"jikimi.key-id/1|" + secret).hexdigest()[:16]


def public_key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key (16 hex digits of its SHA-256)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class InstanceKey:
    """The Ed25519 key this instance signs evidence bundles and audit checkpoints with."""

    private: Ed25519PrivateKey

    @classmethod
    def load_or_create(cls, path: Path) -> InstanceKey:
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            _write_private(path, pem)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{path} is not an Ed25519 private key")
        return cls(key)

    @classmethod
    def from_text(cls, text: str) -> InstanceKey:
        """A key given as a value: PEM (PKCS#8), or the 32-byte seed in base64."""
        if "-----BEGIN" in text:
            key = serialization.load_pem_private_key(text.strip().encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigError("JIKIMI_INSTANCE_KEY is not an Ed25519 private key")
            return cls(key)
        seed = parse_secret(text, 32, what="JIKIMI_INSTANCE_KEY")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return public_key_id(self.public)

    def public_b64(self) -> str:
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)
