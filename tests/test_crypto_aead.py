"""One AES-256-GCM sealer for evidence and face templates; what was sealed before opens.

The blobs and rows written before the sealer was shared were made with
``cryptography``'s AESGCM directly (evidence: ``JKE1`` ‖ nonce ‖ ciphertext, bound to
the plaintext's digest; templates: nonce ‖ ciphertext, bound to tenant and person).
They are made the same way here and must open; what the shared sealer writes must
open the old way too; and a changed byte, another key or another binding must not.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jikimi.crypto import Aead, SealOpenError
from jikimi.errors import TemplateKeyError
from jikimi.evidence.sealing import MAGIC, SealBroken, Sealer
from jikimi.faces.crypto import TemplateCipher

KEY = bytes(range(32))


def _old_evidence(plain: bytes, digest: str) -> bytes:
    nonce = os.urandom(12)
    return MAGIC + nonce + AESGCM(KEY).encrypt(nonce, plain, digest.encode())


def _old_template(plain: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(KEY).encrypt(nonce, plain, aad)


def test_evidence_sealed_before_opens_and_new_seals_open_the_old_way() -> None:
    sealer = Sealer(KEY)
    assert sealer.open(_old_evidence(b"evidence bytes", "abc"), "abc") == b"evidence bytes"
    new = sealer.seal(b"more evidence", "def")
    assert new.startswith(MAGIC)
    assert AESGCM(KEY).decrypt(new[4:16], new[16:], b"def") == b"more evidence"
    with pytest.raises(SealBroken, match="altered"):
        sealer.open(new, "other digest")
    with pytest.raises(SealBroken, match="not a sealed"):
        sealer.open(new[4:], "def")
    with pytest.raises(SealBroken, match="altered"):
        Sealer(bytes(32)).open(new, "def")


def test_templates_sealed_before_open_and_new_seals_open_the_old_way() -> None:
    cipher = TemplateCipher(KEY)
    template = np.arange(128, dtype=np.float32) / 7
    aad = b"jikimi.face/1|ten_1|per_1"
    old = _old_template(template.astype("<f4").tobytes(), aad)
    assert np.array_equal(cipher.open(old, "ten_1", "per_1"), template)
    new = cipher.seal(template, "ten_1", "per_1")
    assert not new.startswith(MAGIC) and len(new) == 12 + 128 * 4 + 16
    opened = AESGCM(KEY).decrypt(new[:12], new[12:], aad)
    assert np.array_equal(np.frombuffer(opened, dtype="<f4"), template)
    with pytest.raises(TemplateKeyError):
        cipher.open(new, "ten_1", "per_2")  # another person's row
    with pytest.raises(TemplateKeyError):
        cipher.open(new[:-1] + bytes([new[-1] ^ 1]), "ten_1", "per_1")
    assert cipher.key_id == Aead(KEY).key_id


def test_the_shared_sealer_refuses_what_is_not_its_format() -> None:
    aead = Aead(KEY, magic=b"XY")
    sealed = aead.seal(b"p", b"a")
    assert aead.open(sealed, b"a") == b"p"
    for broken in (sealed[2:], sealed[:20], b""):
        with pytest.raises(SealOpenError):
            aead.open(broken, b"a")
    with pytest.raises(ValueError, match="32 bytes"):
        Aead(b"short")
    assert "000102" not in repr(aead)
