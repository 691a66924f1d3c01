"""DigestIndex: exact digest lookup with the PDQ index's verbs (add replaces, remove, snapshots)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from jikimi.errors import InvalidHash
from jikimi.matching import DigestIndex, DigestKind


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_add_query_replace_remove() -> None:
    index = DigestIndex(DigestKind.MD5)
    index.add_many([1, 2, 3], [_md5("a"), _md5("b"), _md5("a")])
    assert index.query(_md5("a")) == [1, 3]
    assert index.query(_md5("a").upper()) == [1, 3]
    assert index.query(_md5("c")) == []
    index.add(3, _md5("c"))  # replace
    assert (index.query(_md5("a")), index.query(_md5("c"))) == ([1], [3])
    assert index.remove(1) is True and index.remove(1) is False
    assert index.query(_md5("a")) == [] and 1 not in index and len(index) == 2
    assert index.remove_many([2, 3, 4]) == 2 and len(index) == 0


@pytest.mark.parametrize("kind", list(DigestKind))
def test_round_trip(kind: DigestKind, tmp_path: Path) -> None:
    digest = hashlib.new(kind.value)
    index = DigestIndex(kind)
    values = []
    for i in range(200):
        digest.update(str(i).encode())
        values.append(digest.hexdigest())
    index.add_many(range(200), values)
    index.add(500, values[0])
    index.remove(7)
    index.save(tmp_path / "d", watermark=9)
    loaded, watermark = DigestIndex.load(tmp_path / "d", kind)
    assert watermark == 9 and len(loaded) == len(index) == 200
    for value in values:
        assert loaded.query(value) == index.query(value)
    assert loaded.query(values[0]) == [0, 500] and loaded.query(values[7]) == []


@pytest.mark.parametrize(
    "bad", ["", "0" * 31, "0" * 33, "0" * 64, "z" * 32, " " + "0" * 31, "0" * 15 + " " + "0" * 16]
)
def test_bad_digest_is_invalid_hash(bad: str) -> None:
    index = DigestIndex(DigestKind.MD5)
    with pytest.raises(InvalidHash):
        index.add(1, bad)
    with pytest.raises(InvalidHash):
        index.query(bad)
    assert len(index) == 0
