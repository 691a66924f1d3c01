"""Face templates encrypted at rest: AES-256-GCM, bound to their tenant and person.

A template (128 float32 numbers) is biometric data: it identifies a person for
life and cannot be changed like a password. The database only ever holds it
sealed::

    sealed = nonce (12 random bytes) ‖ AES-256-GCM(key, nonce, float32 bytes,
                                                   aad = "jikimi.face/1|<tenant>|<person>")

The associated data binds each ciphertext to its tenant and person: a row
copied to another person (or tenant) fails to open instead of matching her.
``key_id`` (the first 16 hex digits of SHA-256 over the key) is stored beside
each template so that a wrong or rotated key is reported as such, not as
corrupt data.

Where the key comes from (:meth:`TemplateCipher.from_settings`):

- ``JIKIMI_FACE_KEY``: 32 bytes in base64, from the operator's secret store.
  Production should use this and keep the key off the database host's backups.
- otherwise ``<data_dir>/face.key``: created on first use with mode 0600
  (refused later if anyone but the owner may read it). Convenient for one box;
  whoever copies the data directory copies the key with it.
- ``JIKIMI_FACE_KEY_REQUIRED=1`` turns the fallback off: enrolment and matching
  refuse to start without ``JIKIMI_FACE_KEY``.

Templates never leave this module in the clear except as NumPy arrays handed
to the in-memory index; nothing here logs them.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from jikimi.config import Settings
from jikimi.crypto import Aead, SealOpenError
from jikimi.errors import ConfigError, TemplateKeyError

KEY_FILE: Final = "face.key"
_AAD_PREFIX: Final = b"jikimi.face/1"


class TemplateCipher:
    """Seals and opens templates with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigError("the face template key must be 32 bytes (AES-256)")
        self._aead = Aead(key)  # no magic prefix: rows already sealed open as before
        self.key_id = self._aead.key_id

    def __repr__(self) -> str:  # never show the key
        return f"TemplateCipher(key_id={self.key_id!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> TemplateCipher:
        """The configured key, else the data directory's key file (see module docstring)."""
        if settings.face_key is not None:
            text = settings.face_key.get_secret_value().strip()
            try:
                key = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise ConfigError("JIKIMI_FACE_KEY must be 32 bytes in base64") from None
            if len(key) != 32:
                raise ConfigError("JIKIMI_FACE_KEY must be 32 bytes in base64")
            return cls(key)
        if settings.face_key_required:
            raise ConfigError(
                "face templates need a key: set JIKIMI_FACE_KEY to 32 random bytes in base64 "
                "(e.g. the output of `openssl rand -base64 32`)"
            )
        return cls(_key_file(Path(settings.data_dir) / KEY_FILE))

    def seal(self, template: NDArray[np.float32], tenant_id: str, person_id: str) -> bytes:
        plain = np.ascontiguousarray(template, dtype="<f4").tobytes()
        return self._aead.seal(plain, _aad(tenant_id, person_id))

    def open(self, sealed: bytes, tenant_id: str, person_id: str) -> NDArray[np.float32]:
        try:
            plain = self._aead.open(sealed, _aad(tenant_id, person_id))
        except SealOpenError:
            raise TemplateKeyError(
                f"a face template cannot be opened with key {self.key_id} (wrong key, "
                "or the row was changed)"
            ) from None
        return np.frombuffer(plain, dtype="<f4").astype(np.float32)


def _aad(tenant_id: str, person_id: str) -> bytes:
    return b"|".join((_AAD_PREFIX, tenant_id.encode(), person_id.encode()))


def _key_file(path: Path) -> bytes:
    """Read the key file, or create it (0600, never overwritten) if absent."""
    try:
        info = path.stat()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = os.urandom(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # created by another process meanwhile: use theirs
            return _key_file(path)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64encode(key) + b"\n")
        return key
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"face key file {path} may be read by others (mode {stat.S_IMODE(info.st_mode):o}); "
            "chmod 600 it"
        )
    try:
        key = base64.b64decode(path.read_bytes().strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"face key file {path} does not hold a base64 key") from None
    if len(key) != 32:
        raise ConfigError(f"face key file {path} does not hold a 32-byte key")
    return key
