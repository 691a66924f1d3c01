"""Hamming distance on hex strings agrees with counting bits of the integers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jikimi.signals import hamming_hex

_BITS = 256


@given(st.integers(0, 2**_BITS - 1), st.integers(0, 2**_BITS - 1))
def test_matches_bit_count_of_xor(a: int, b: int) -> None:
    ha, hb = f"{a:064x}", f"{b:064x}"
    assert hamming_hex(ha, hb) == bin(a ^ b).count("1")


@given(st.integers(0, 2**_BITS - 1))
def test_case_does_not_matter(a: int) -> None:
    assert hamming_hex(f"{a:064x}", f"{a:064X}") == 0


def test_different_lengths_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="length"):
        hamming_hex("00", "0000")
