"""MD5 and SHA-256 are taken over the bytes as received, never over pixels."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from skimage import data as skdata

from jikimi.signals import Md5Signal, Sha256Signal

Encode = Callable[..., bytes]


def test_published_test_vectors() -> None:
    # RFC 1321 and FIPS 180-2 examples.
    assert Md5Signal.hash_bytes(b"").value == "d41d8cd98f00b204e9800998ecf8427e"
    assert Md5Signal.hash_bytes(b"abc").value == "900150983cd24fb0d6963f7d28e17f72"
    assert (
        Sha256Signal.hash_bytes(b"abc").value
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_same_pixels_in_different_files_have_different_digests(encode: Encode) -> None:
    rgb = np.ascontiguousarray(skdata.coffee()[:64, :64])
    fast, small = encode(rgb, "PNG", compress_level=1), encode(rgb, "PNG", compress_level=9)
    assert fast != small
    for t in (Md5Signal, Sha256Signal):
        assert t.hash_bytes(fast).value != t.hash_bytes(small).value


def test_digests_carry_no_quality() -> None:
    assert Md5Signal.hash_bytes(b"x").quality is None
    assert Sha256Signal.hash_bytes(b"x").quality is None
