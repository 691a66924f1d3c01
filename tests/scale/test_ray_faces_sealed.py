"""The face index a Ray run ships to its actors is sealed with the run's key: what
the object store holds (and may spill to disk) is neither the templates nor
openable without the key, and the index that opens searches as the original."""

from __future__ import annotations

import os

import numpy as np
import pytest

from jikimi.crypto.aead import KEY_BYTES, SealOpenError
from jikimi.faces.index import TEMPLATE_DIM, FaceIndex
from jikimi.scale.ray_scan import FaceShipment, open_faces, seal_faces


def _unit(rows: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, TEMPLATE_DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_the_shipped_index_is_sealed_and_opens_to_the_same_search() -> None:
    her, other = _unit(3, 1), _unit(2, 2)
    index = FaceIndex.build({"per_her": her, "per_other": other})
    key = os.urandom(KEY_BYTES)
    sealed = seal_faces(index, key)
    assert sealed is not None
    for row in (*her, *other):  # no template, not even one row, in the clear
        assert row.tobytes() not in sealed
    opened = open_faces(sealed, key)
    queries = np.concatenate([her[:1], other[1:]])
    assert opened.search(queries, 0.5) == index.search(queries, 0.5)
    assert [h.person for h in opened.search(queries, 0.5)] == ["per_her", "per_other"]

    with pytest.raises(SealOpenError):
        open_faces(sealed, os.urandom(KEY_BYTES))
    with pytest.raises(SealOpenError):
        open_faces(sealed[:-1] + bytes([sealed[-1] ^ 1]), key)
    assert seal_faces(None, key) is None  # a face stage that matches nobody ships nothing


def test_a_shipment_never_shows_its_key() -> None:
    key = os.urandom(KEY_BYTES)
    shown = repr(FaceShipment(ref=None, key=key, threshold=0.5))
    assert key.hex() not in shown and repr(key) not in shown and "0.5" in shown
