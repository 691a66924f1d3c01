"""Snapshots: a round trip restores the same answers; every kind of bad file is refused."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from matching_helpers import flip, hexes, random_hashes

from jikimi.matching import (
    DigestIndex,
    DigestKind,
    PdqIndex,
    SnapshotError,
    SnapshotProblem,
)
from jikimi.matching.snapshot import FORMAT_VERSION, read_snapshot, write_snapshot


@pytest.fixture
def rows(rng: np.random.Generator) -> np.ndarray:
    return random_hashes(rng, 1000)


@pytest.fixture
def index(rows: np.ndarray, rng: np.random.Generator) -> PdqIndex:
    """A segment, a delta, replacements and tombstones: everything a snapshot must carry."""
    built = PdqIndex.build(np.arange(0, 3000, 3), rows)
    built.compact()  # into the segment
    built.add_many([1, 2, 3, 9999], random_hashes(rng, 4))  # 3 replaces a segment entry
    built.remove_many([6, 9, 2])
    assert built._dead_count == 3 and len(built._delta) == 3
    return built


@pytest.fixture
def saved(index: PdqIndex, tmp_path: Path) -> Path:
    path = tmp_path / "pdq.idx"
    index.save(path, watermark=41)
    return path


def test_round_trip_answers_the_same(
    index: PdqIndex, rows: np.ndarray, saved: Path, rng: np.random.Generator
) -> None:
    loaded, watermark = PdqIndex.load(saved)
    assert watermark == 41
    assert len(loaded) == len(index) == 1000 - 2 + 2
    assert (loaded._dead_count, len(loaded._delta)) == (3, 3)  # saved as it was
    assert (index._dead_count, len(index._delta)) == (3, 3)  # and saving changed nothing
    queries = np.concatenate([rows[::7], random_hashes(rng, 20)])
    near = np.array([flip(rng, q, 12) for q in queries])
    for t in (0, 12, 31):
        expected = index.query_many(near, t)
        assert loaded.query_many(near, t) == expected
        assert t < 12 or sum(map(len, expected)) > 100
    assert 6 not in loaded and 3 in loaded and 9999 in loaded
    loaded.add(6, hexes(near[:1])[0])  # a loaded index keeps changing
    assert loaded.query(hexes(near[:1])[0], 0)[0].entry_id == 6


def test_save_replaces_atomically_and_leaves_no_temp(index: PdqIndex, saved: Path) -> None:
    index.remove(9999)
    index.save(saved, watermark=42)
    loaded, watermark = PdqIndex.load(saved)
    assert (watermark, 9999 in loaded) == (42, False)
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_empty_index_round_trip(tmp_path: Path) -> None:
    PdqIndex(max_threshold=10).save(tmp_path / "e", watermark=0)
    loaded, watermark = PdqIndex.load(tmp_path / "e")
    assert (len(loaded), loaded.max_threshold, watermark) == (0, 10, 0)
    assert loaded.query("0" * 64) == []


def _problem(path: Path) -> SnapshotProblem:
    with pytest.raises(SnapshotError) as caught:
        PdqIndex.load(path)
    assert caught.value.code == "index_snapshot_invalid"
    assert str(path) in caught.value.message
    return caught.value.problem


@pytest.mark.parametrize("keep", [0.0, 0.001, 0.5, 0.999])
def test_torn_file_is_detected(saved: Path, keep: float) -> None:
    data = saved.read_bytes()
    saved.write_bytes(data[: int(len(data) * keep)] if keep else data[:40])
    assert _problem(saved) is SnapshotProblem.TRUNCATED


def test_flipped_bit_fails_the_checksum(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    data[len(data) // 2] ^= 0x10
    saved.write_bytes(bytes(data))
    assert _problem(saved) is SnapshotProblem.CHECKSUM


def test_trailing_bytes_are_refused(saved: Path) -> None:
    saved.write_bytes(saved.read_bytes() + b"x")
    assert _problem(saved) is SnapshotProblem.MALFORMED


def test_other_version_is_refused(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    data[8:12] = struct.pack("<I", FORMAT_VERSION + 1)
    saved.write_bytes(bytes(data))
    assert _problem(saved) is SnapshotProblem.VERSION


@pytest.mark.parametrize("content", [b"", b"hello", b"\x89PNG\r\n\x1a\n" + bytes(200)])
def test_foreign_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x"
    path.write_bytes(content)
    assert _problem(path) is SnapshotProblem.FOREIGN


def test_missing_file_is_reported(tmp_path: Path) -> None:
    assert _problem(tmp_path / "nope") is SnapshotProblem.MISSING


def test_digest_snapshot_is_not_a_pdq_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "md5.idx"
    DigestIndex(DigestKind.MD5).save(path, watermark=1)
    assert _problem(path) is SnapshotProblem.KIND
    with pytest.raises(SnapshotError) as caught:
        DigestIndex.load(path, DigestKind.SHA256)
    assert caught.value.problem is SnapshotProblem.KIND


def test_well_formed_but_inconsistent_arrays_are_refused(tmp_path: Path) -> None:
    """A file with a valid checksum whose arrays do not fit together (a bug, not a crash)."""
    path = tmp_path / "odd"
    params = {"max_threshold": 31, "tables": 11, "key_bits": 8, "block_bits": 6}
    write_snapshot(path, "pdq", 5, params, {"ids": np.arange(3, dtype=np.int64)})
    assert _problem(path) is SnapshotProblem.MALFORMED


def test_snapshot_arrays_round_trip_exactly(tmp_path: Path, rng: np.random.Generator) -> None:
    arrays = {
        "a": rng.integers(0, 2**63, size=(5, 4), dtype=np.int64).astype(np.uint64),
        "b": np.arange(7, dtype=np.int64) - 3,
        "c": np.zeros((0, 3), dtype=np.uint8),
        "d": np.array([1, 65535], dtype=np.uint16),
    }
    write_snapshot(tmp_path / "s", "x", -7, {"p": 1, "q": "text"}, arrays)
    contents = read_snapshot(tmp_path / "s", "x")
    assert contents.watermark == -7 and contents.params == {"p": 1, "q": "text"}
    assert contents.arrays.keys() == arrays.keys()
    for name, array in arrays.items():
        assert contents.arrays[name].dtype == array.dtype
        assert np.array_equal(contents.arrays[name], array)
