"""Contract tests of the index interface: the same cases for every registered kind.

Each kind's index (``jikimi.matching.kinds``) must add, replace, remove, query,
refuse malformed values and survive a snapshot in the same way; a kind added to
the registry without example values here fails the last test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jikimi.domain import SignalKind
from jikimi.errors import InvalidHash
from jikimi.matching import SnapshotError
from jikimi.matching.indexes import QueryOptions
from jikimi.matching.kinds import KindSpec, kind_specs

_PDQ_A = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
_PDQ_B = "e4cc89d91c623842f8d1f1d9a398e78c9f199a3bf87925f2b7e11e0bf061b064"
_PDQ_C = "0" * 64

EXAMPLES: dict[SignalKind, tuple[str, str, str]] = {
    # two values that do not match each other, and one malformed value
    SignalKind.PDQ: (_PDQ_A, _PDQ_B, _PDQ_A[:-1]),
    SignalKind.MD5: ("d41d8cd98f00b204e9800998ecf8427e", "900150983cd24fb0d6963f7d28e17f72", "x"),
    SignalKind.SHA256: (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "z" * 64,
    ),
    SignalKind.VPDQ: (
        f"0,100,{_PDQ_A},0.000\n1,100,{_PDQ_C},1.000\n",
        f"0,100,{_PDQ_B},0.000\n",
        "0,100,not-a-hash,0.000\n",
    ),
}
OPTIONS = QueryOptions(threshold=31, query_share=0.8, index_share=0.0)

SPECS = [pytest.param(spec, id=spec.kind.value) for spec in kind_specs()]


@pytest.mark.parametrize("spec", SPECS)
def test_an_empty_index_finds_nothing_but_refuses_bad_values(spec: KindSpec) -> None:
    a, _, bad = EXAMPLES[spec.kind]
    index = spec.new_index(31)
    assert len(index) == 0
    assert index.query([a], OPTIONS) == [[]]
    with pytest.raises(InvalidHash):
        index.query([bad], OPTIONS)


@pytest.mark.parametrize("spec", SPECS)
def test_values_find_their_entries_at_distance_zero(spec: KindSpec) -> None:
    a, b, _ = EXAMPLES[spec.kind]
    index = spec.new_index(31)
    index.add([1, 2], [a, b])
    assert len(index) == 2
    [hits_a, hits_b] = index.query([a, b], OPTIONS)
    assert [(h.entry_id, h.distance) for h in hits_a] == [(1, 0)]
    assert [(h.entry_id, h.distance) for h in hits_b] == [(2, 0)]


@pytest.mark.parametrize("spec", SPECS)
def test_adding_an_id_again_replaces_its_value(spec: KindSpec) -> None:
    a, b, _ = EXAMPLES[spec.kind]
    index = spec.new_index(31)
    index.add([1], [a])
    index.add([1], [b])
    assert len(index) == 1
    assert index.query([a], OPTIONS) == [[]]
    assert [h.entry_id for h in index.query([b], OPTIONS)[0]] == [1]


@pytest.mark.parametrize("spec", SPECS)
def test_removal_is_immediate_and_idempotent(spec: KindSpec) -> None:
    a, b, _ = EXAMPLES[spec.kind]
    index = spec.new_index(31)
    index.add([1, 2], [a, b])
    index.remove([1])
    index.remove([1, 99])
    assert len(index) == 1
    assert index.query([a], OPTIONS) == [[]]
    assert [h.entry_id for h in index.query([b], OPTIONS)[0]] == [2]


@pytest.mark.parametrize("spec", SPECS)
def test_a_bad_value_is_refused_on_add(spec: KindSpec) -> None:
    _, _, bad = EXAMPLES[spec.kind]
    index = spec.new_index(31)
    with pytest.raises(InvalidHash):
        index.add([1], [bad])


@pytest.mark.parametrize("spec", SPECS)
def test_a_snapshot_keeps_the_answers_and_the_watermark(spec: KindSpec, tmp_path: Path) -> None:
    a, b, _ = EXAMPLES[spec.kind]
    index = spec.new_index(31)
    index.add([1, 2, 3], [a, b, a])
    index.remove([3])
    path = tmp_path / "x.snap"
    index.save(path, 77)
    loaded, mark = spec.index.load(path)
    assert mark == 77 and len(loaded) == 2
    assert loaded.query([a, b], OPTIONS) == index.query([a, b], OPTIONS)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError):
        spec.index.load(path)


@pytest.mark.parametrize("spec", SPECS)
def test_an_empty_index_survives_a_snapshot(spec: KindSpec, tmp_path: Path) -> None:
    a, _, _ = EXAMPLES[spec.kind]
    spec.new_index(31).save(tmp_path / "empty.snap", 5)
    loaded, mark = spec.index.load(tmp_path / "empty.snap")
    assert (len(loaded), mark) == (0, 5)
    assert loaded.query([a], OPTIONS) == [[]]


@pytest.mark.parametrize("spec", SPECS)
def test_the_spec_validates_through_its_signal_type(spec: KindSpec) -> None:
    a, _, bad = EXAMPLES[spec.kind]
    assert spec.validate(a) == a
    assert spec.signal.get_name() is spec.kind is spec.index.kind
    with pytest.raises(InvalidHash):
        spec.validate(bad)
    assert len(spec.scan_key(a)) <= 64


def test_every_registered_kind_has_examples_here() -> None:
    assert {spec.kind for spec in kind_specs()} == set(EXAMPLES)
