"""Templates sealed at rest: AES-256-GCM bound to tenant and person; the key's sources."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from jikimi.config import Settings
from jikimi.errors import ConfigError, TemplateKeyError
from jikimi.faces import TemplateCipher
from jikimi.faces.crypto import KEY_FILE


def _template() -> np.ndarray:
    x = np.random.default_rng(5).standard_normal(128).astype(np.float32)
    return x / np.linalg.norm(x)


def test_seal_and_open() -> None:
    cipher = TemplateCipher(os.urandom(32))
    template = _template()
    sealed = cipher.seal(template, "ten_a", "per_a")
    assert template.tobytes() not in sealed
    assert len(sealed) == 12 + 512 + 16
    assert np.array_equal(cipher.open(sealed, "ten_a", "per_a"), template)
    assert cipher.seal(template, "ten_a", "per_a") != sealed  # fresh nonce each time


@pytest.mark.parametrize(("tenant", "person"), [("ten_b", "per_a"), ("ten_a", "per_b")])
def test_a_template_moved_to_another_person_does_not_open(tenant: str, person: str) -> None:
    cipher = TemplateCipher(os.urandom(32))
    sealed = cipher.seal(_template(), "ten_a", "per_a")
    with pytest.raises(TemplateKeyError):
        cipher.open(sealed, tenant, person)


def test_wrong_key_and_tampering_do_not_open() -> None:
    sealed = TemplateCipher(os.urandom(32)).seal(_template(), "t", "p")
    with pytest.raises(TemplateKeyError):
        TemplateCipher(os.urandom(32)).open(sealed, "t", "p")


def test_key_from_settings() -> None:
    key = os.urandom(32)
    settings = Settings(face_key=SecretStr(base64.b64encode(key).decode()))
    cipher = TemplateCipher.from_settings(settings)
    assert cipher.key_id == TemplateCipher(key).key_id
    assert base64.b64encode(key).decode() not in repr(cipher)


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_bad_key_setting_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="JIKIMI_FACE_KEY"):
        TemplateCipher.from_settings(Settings(face_key=SecretStr(bad)))


def test_required_key_missing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JIKIMI_FACE_KEY"):
        TemplateCipher.from_settings(Settings(data_dir=tmp_path, face_key_required=True))
    assert not (tmp_path / KEY_FILE).exists()


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = TemplateCipher.from_settings(settings)
    path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert TemplateCipher.from_settings(settings).key_id == first.key_id


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    TemplateCipher.from_settings(settings)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        TemplateCipher.from_settings(settings)
