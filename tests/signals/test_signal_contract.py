"""Contract tests: the same checks for every signal type; each plugin lists its cases.

:class:`SignalTypeContract` holds the tests; a plugin's test class sets
``signal_type`` and its example values. Abilities (distance, picture or bytes
hashing) are tested when the type declares the mixin, and must be absent when it
does not (no ``hasattr``-style abilities); a final check makes sure every registered
type has a contract class here.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from jikimi.domain import Signal, SignalKind
from jikimi.errors import InvalidHash
from jikimi.media import Picture
from jikimi.signals import (
    BytesHasher,
    HammingDistance,
    Md5Signal,
    PdqSignal,
    PictureHasher,
    Sha256Signal,
    SignalType,
    VpdqSignal,
    signal_types,
)


class SignalTypeContract:
    """Inherit, set the class variables, and every test below runs for that type."""

    signal_type: ClassVar[type[SignalType]]
    name: ClassVar[SignalKind]
    valid: ClassVar[tuple[str, ...]]
    """Canonical values (lowercase)."""
    invalid: ClassVar[tuple[str, ...]]
    """Values ``validate`` must refuse."""

    def test_name_is_the_stable_kind(self) -> None:
        assert self.signal_type.get_name() is self.name

    def test_canonical_values_validate_unchanged(self) -> None:
        for value in self.valid:
            assert self.signal_type.validate(value) == value

    def test_validate_normalises_case_and_surrounding_space(self) -> None:
        for value in self.valid:
            assert self.signal_type.validate(f"  {value.upper()}\n") == value

    def test_invalid_values_raise_invalid_hash_with_the_type_name(self) -> None:
        for value in self.invalid:
            with pytest.raises(InvalidHash) as caught:
                self.signal_type.validate(value)
            assert caught.value.code == "invalid_hash"
            assert self.name.value in caught.value.message

    def test_distance_is_a_metric_in_bits(self) -> None:
        if not issubclass(self.signal_type, HammingDistance):
            assert not hasattr(self.signal_type, "distance")  # abilities come from mixins only
            return
        t = self.signal_type
        a, b = self.valid[0], self.valid[1]
        assert t.distance(a, a) == 0
        assert t.distance(a, b) == t.distance(b, a) > 0
        flipped = f"{int(a[0], 16) ^ 1:x}" + a[1:]
        assert t.distance(a, flipped) == 1
        inverse = f"{int(a, 16) ^ (1 << 4 * len(a)) - 1:0{len(a)}x}"
        assert t.distance(a, inverse) == 4 * len(a)
        assert 0 < t.default_threshold() < 4 * len(a)

    def test_picture_hash_is_a_valid_signal_of_this_type(self, astronaut: Picture) -> None:
        if not issubclass(self.signal_type, PictureHasher):
            assert not hasattr(self.signal_type, "hash_picture")
            return
        self._check(self.signal_type.hash_picture(astronaut))
        assert self.signal_type.hash_picture(astronaut) == self.signal_type.hash_picture(astronaut)

    def test_bytes_hash_is_a_valid_signal_of_this_type(self, astronaut_jpeg: bytes) -> None:
        if not issubclass(self.signal_type, BytesHasher):
            assert not hasattr(self.signal_type, "hash_bytes")
            return
        signal = self.signal_type.hash_bytes(astronaut_jpeg)
        self._check(signal)
        assert self.signal_type.hash_bytes(astronaut_jpeg[:-1]).value != signal.value

    def _check(self, signal: Signal) -> None:
        assert signal.type is self.name
        assert self.signal_type.validate(signal.value) == signal.value


_PDQ_A = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
_PDQ_B = "e4cc89d91c623842f8d1f1d9a398e78c9f199a3bf87925f2b7e11e0bf061b064"


class TestPdqContract(SignalTypeContract):
    signal_type = PdqSignal
    name = SignalKind.PDQ
    valid = (_PDQ_A, _PDQ_B, "0" * 64)
    invalid = ("", _PDQ_A[:-1], _PDQ_A + "0", "g" + _PDQ_A[1:], _PDQ_A[:32] + " " + _PDQ_A[33:])


class TestMd5Contract(SignalTypeContract):
    signal_type = Md5Signal
    name = SignalKind.MD5
    valid = ("d41d8cd98f00b204e9800998ecf8427e", "900150983cd24fb0d6963f7d28e17f72")
    invalid = ("", "d41d8cd98f00b204e9800998ecf8427", "x" * 32, _PDQ_A)


class TestSha256Contract(SignalTypeContract):
    signal_type = Sha256Signal
    name = SignalKind.SHA256
    valid = ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",)
    invalid = ("", "d41d8cd98f00b204e9800998ecf8427e", "z" * 64, "0x" + "0" * 62)


class TestVpdqContract(SignalTypeContract):
    signal_type = VpdqSignal
    name = SignalKind.VPDQ
    valid = (f"0,100,{_PDQ_A},0.000\n1,90,{_PDQ_B},1.000\n", f"0,49,{_PDQ_B},0.500\n")
    invalid = ("", f"0,100,{_PDQ_A[:-1]},0.000\n", "0,100,not-a-hash,0.000\n", _PDQ_A)


def test_every_registered_type_has_a_contract_class() -> None:
    covered = {c.signal_type for c in SignalTypeContract.__subclasses__()}
    assert set(signal_types()) <= covered
