"""The vPDQ index: frame shares as Meta's vPDQ computes them, exactly to the threshold.

Synthetic videos are lists of random PDQ hashes (unrelated hashes are ~128 bits
apart, so only what a test plants is near); a brute-force transcription of the
reference matcher (python-threatexchange ``match_VPDQ_hash_brute``) checks the
index on clustered hashes, and the conformance videos check it on real frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matching_helpers import clustered_hashes, distance_matrix, flip, hexes, random_hashes

from jikimi.errors import InvalidHash, InvalidInput
from jikimi.matching.vpdq_index import VideoHit, VpdqIndex
from jikimi.signals.vpdq import FrameHash, parse_vpdq

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "vpdq"
QUERY_PCT, INDEX_PCT = 0.80, 0.0  # the reference defaults


def video(hashes: list[str], quality: int = 100) -> list[FrameHash]:
    """Frames one second apart, in order."""
    return [
        FrameHash(frame=30 * i, t_s=float(i), quality=quality, pdq=h) for i, h in enumerate(hashes)
    ]


def matches(hits: list[VideoHit]) -> list[int]:
    """Entry ids a bank with the default shares would report."""
    return [h.entry_id for h in hits if h.query_share >= QUERY_PCT and h.index_share >= INDEX_PCT]


def test_a_clip_of_a_banked_video_matches_it(rng: np.random.Generator) -> None:
    banked = hexes(random_hashes(rng, 30))
    index = VpdqIndex()
    index.add(7, video(banked))
    index.add(8, video(hexes(random_hashes(rng, 30))))
    (hit,) = index.query(video(banked[10:21]), threshold=31)
    assert hit == VideoHit(entry_id=7, query_share=1.0, index_share=11 / 30, distance=0)
    assert matches([hit]) == [7]
    # The whole video the other way round: all of the query, a third of it in the index.
    index.add(9, video(banked[:10]))
    hits = index.query(video(banked), threshold=31)
    assert [(h.entry_id, h.query_share, h.index_share) for h in hits] == [
        (7, 1.0, 1.0),
        (9, 10 / 30, 1.0),
    ]
    assert matches(hits) == [7]


def test_a_different_video_does_not_match(rng: np.random.Generator) -> None:
    index = VpdqIndex()
    index.add(1, video(hexes(random_hashes(rng, 40))))
    assert index.query(video(hexes(random_hashes(rng, 40))), threshold=31) == []


def test_a_video_sharing_too_few_frames_is_a_candidate_below_the_share(
    rng: np.random.Generator,
) -> None:
    banked = hexes(random_hashes(rng, 20))
    index = VpdqIndex()
    index.add(1, video(banked))
    # 7 of 10 query frames come from the banked video: 70 % < 80 %.
    query = banked[:7] + hexes(random_hashes(rng, 3))
    (hit,) = index.query(video(query), threshold=31)
    assert (hit.query_share, hit.index_share) == (0.7, 7 / 20)
    assert matches([hit]) == []


def test_re_encoded_frames_match_within_the_threshold_and_not_beyond(
    rng: np.random.Generator,
) -> None:
    rows = random_hashes(rng, 12)
    index = VpdqIndex()
    index.add(3, video(hexes(rows)))
    re_encoded = video(hexes(np.array([flip(rng, row, 9) for row in rows])))
    (hit,) = index.query(re_encoded, threshold=9)
    assert (hit.entry_id, hit.query_share, hit.index_share, hit.distance) == (3, 1.0, 1.0, 9)
    assert index.query(re_encoded, threshold=8) == []
    # Half the frames 9 bits away, half 20: at 10 bits only half the query matches.
    mixed = [flip(rng, row, 9 if i % 2 else 20) for i, row in enumerate(rows)]
    (hit,) = index.query(video(hexes(np.array(mixed))), threshold=10)
    assert (hit.query_share, hit.index_share, hit.distance) == (0.5, 0.5, 9)
    (hit,) = index.query(video(hexes(np.array(mixed))), threshold=20)
    assert (hit.query_share, hit.distance) == (1.0, 9)


def test_low_quality_frames_are_ignored_on_both_sides(rng: np.random.Generator) -> None:
    good, flat = hexes(random_hashes(rng, 8)), hexes(random_hashes(rng, 8))
    index = VpdqIndex()
    index.add(1, video(good) + video(flat, quality=49))
    index.add(2, video(flat, quality=10))  # nothing usable: held, never matched
    assert len(index) == 2 and 2 in index and index.frame_count == 8
    # Low-quality query frames count neither as matched nor in the denominator.
    (hit,) = index.query(video(good[:4]) + video(flat, quality=49), threshold=31)
    assert (hit.entry_id, hit.query_share, hit.index_share) == (1, 1.0, 0.5)
    assert index.query(video(flat, quality=100), threshold=31) == []
    assert index.query(video(good, quality=49), threshold=31) == []
    # Quality exactly at the minimum counts.
    (hit,) = index.query(video(good, quality=50), threshold=31)
    assert hit.query_share == 1.0
    strict = VpdqIndex(quality_min=0)
    strict.add(2, video(flat, quality=10))
    assert [h.entry_id for h in strict.query(video(flat, quality=0), threshold=0)] == [2]


def test_repeated_hashes_count_once(rng: np.random.Generator) -> None:
    """As the reference's ``dedupe``: a still scene held for a minute is one frame."""
    still, moving = hexes(random_hashes(rng, 1)), hexes(random_hashes(rng, 4))
    index = VpdqIndex()
    index.add(1, video(still * 60 + moving))
    assert index.frame_count == 5
    (hit,) = index.query(video(still * 3 + moving[:1]), threshold=31)
    assert (hit.query_share, hit.index_share) == (1.0, 2 / 5)
    # Case does not make a hash different.
    (hit,) = index.query(video([still[0].upper()]), threshold=0)
    assert hit.index_share == 1 / 5


def test_remove_and_replace(rng: np.random.Generator) -> None:
    first, second = hexes(random_hashes(rng, 10)), hexes(random_hashes(rng, 10))
    index = VpdqIndex()
    index.add_many([(1, video(first)), (2, video(first[:5]))])
    assert len(index) == 2 and 1 in index and 3 not in index and "1" not in index
    assert index.remove(1) is True
    assert index.remove(1) is False and index.remove(99) is False
    assert 1 not in index and len(index) == 1
    assert [h.entry_id for h in index.query(video(first), threshold=31)] == [2]
    # Re-adding an id replaces its frames: the old ones stop matching.
    index.add(2, video(second))
    assert index.query(video(first), threshold=31) == []
    assert [h.entry_id for h in index.query(video(second), threshold=31)] == [2]
    assert index.frame_count == 10
    # A repeated id in one bulk add keeps its last frames.
    index.add_many([(5, video(first)), (5, video(second[:2]))])
    (hit,) = [h for h in index.query(video(second), threshold=31) if h.entry_id == 5]
    assert hit.index_share == 1.0 and hit.query_share == 0.2
    assert index.query(video(first), threshold=31) == []


def test_bad_input_is_refused_and_changes_nothing(rng: np.random.Generator) -> None:
    index = VpdqIndex(max_threshold=20)
    good = video(hexes(random_hashes(rng, 3)))
    index.add(1, good)
    bad = [*good, FrameHash(frame=99, t_s=3.3, quality=90, pdq="xyz")]
    with pytest.raises(InvalidHash):
        index.add_many([(2, good), (1, bad)])
    assert 2 not in index and [h.entry_id for h in index.query(good, threshold=0)] == [1]
    for threshold in (21, -1):
        with pytest.raises(InvalidInput):
            index.query(good, threshold=threshold)
    with pytest.raises(InvalidInput):
        VpdqIndex().query(good, threshold=32)  # refused even when empty
    for entry_id in (True, 1.5, -1, 2**63, "3"):
        with pytest.raises(InvalidInput):
            index.add(entry_id, good)  # type: ignore[arg-type]
    for quality_min in (-1, 101, 50.0, True):
        with pytest.raises(InvalidInput):
            VpdqIndex(quality_min=quality_min)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        VpdqIndex(max_threshold=65)
    assert (index.max_threshold, index.quality_min) == (20, 50)


def _usable(frames: list[FrameHash]) -> np.ndarray:
    """The reference's ``quality_filter`` then ``dedupe``, as (n, 32) bytes."""
    kept = list(dict.fromkeys(f.pdq for f in frames if f.quality >= 50))
    return np.array([np.frombuffer(bytes.fromhex(h), dtype=np.uint8) for h in kept]).reshape(-1, 32)


def _brute(distances: np.ndarray, threshold: int) -> tuple[float, float, int] | None:
    """``match_VPDQ_hash_brute`` on a (query, banked) distance matrix of usable frames:
    the share of rows and of columns with an entry within the threshold, and the
    smallest distance; ``None`` when nothing is within it."""
    within = distances <= threshold
    if not within.any():
        return None
    return within.any(axis=1).mean(), within.any(axis=0).mean(), int(distances[within].min())


def test_shares_equal_the_reference_brute_force(rng: np.random.Generator) -> None:
    """Many videos cut from near-duplicate families, more frames than the PDQ index's
    delta holds (so its segment is searched too); every threshold agrees exactly."""
    pool = hexes(clustered_hashes(rng, centres=300, per_centre=40))  # 12,300 hashes
    videos: dict[int, list[FrameHash]] = {}
    for entry_id in range(400):
        picks = rng.choice(len(pool), size=int(rng.integers(1, 80)), replace=True)
        qualities = rng.choice([30, 60, 100], size=len(picks))
        videos[entry_id] = [
            FrameHash(frame=i, t_s=float(i), quality=int(qual), pdq=pool[p])
            for i, (p, qual) in enumerate(zip(picks, qualities, strict=True))
        ]
    index = VpdqIndex()
    index.add_many(videos.items())
    assert index.frame_count > 8192  # past the PDQ index's delta: its segment is searched
    for entry_id in range(0, 400, 7):  # a removal or two, then re-add some
        index.remove(entry_id)
    index.add_many((e, videos[e]) for e in range(0, 400, 14))
    live = {e: v for e, v in videos.items() if e % 7 or e % 14 == 0}
    assert len(index) == len(live)
    usable = {e: _usable(v) for e, v in live.items()}
    for _ in range(12):
        picks = rng.choice(len(pool), size=int(rng.integers(1, 40)), replace=False)
        query = [
            FrameHash(frame=i, t_s=float(i), quality=80, pdq=pool[p]) for i, p in enumerate(picks)
        ]
        q = _usable(query)
        pairs = {e: distance_matrix(b, q) for e, b in usable.items() if len(b)}
        for threshold in (0, 12, 31):
            got = {
                h.entry_id: (h.query_share, h.index_share, h.distance)
                for h in index.query(query, threshold)
            }
            expected = {}
            for entry_id, distances in pairs.items():
                result = _brute(distances, threshold)
                if result is not None:
                    expected[entry_id] = result
            assert got.keys() == expected.keys()
            for entry_id, (qs, ixs, d) in got.items():
                assert qs == pytest.approx(expected[entry_id][0], abs=1e-12)
                assert ixs == pytest.approx(expected[entry_id][1], abs=1e-12)
                assert d == expected[entry_id][2]


def test_hits_are_best_first(rng: np.random.Generator) -> None:
    frames = hexes(random_hashes(rng, 10))
    near = hexes(
        np.array(
            [flip(rng, np.frombuffer(bytes.fromhex(h), dtype=np.uint8), 3) for h in frames[:5]]
        )
    )
    index = VpdqIndex()
    index.add_many(
        [
            (1, video(frames[:2])),
            (3, video(frames)),
            (2, video(frames)),
            (6, video(near)),
            (4, video(frames[:5])),
        ]
    )
    hits = index.query(video(frames[:5]), threshold=31)
    # query share, then index share, then distance, then entry id
    assert [(h.entry_id, h.query_share, h.index_share, h.distance) for h in hits] == [
        (4, 1.0, 1.0, 0),
        (6, 1.0, 1.0, 3),
        (2, 1.0, 0.5, 0),
        (3, 1.0, 0.5, 0),
        (1, 0.4, 1.0, 0),
    ]


# --- real videos ----------------------------------------------------------------------

CHAIR = "chair-19-sd-bar"
OTHERS = ("doorknob-hd-no-bar", "pattern-sd-grey-bar")


def _reference(name: str) -> list[FrameHash]:
    """Meta's hashes of every frame of a conformance video."""
    path = CONFORMANCE / f"{name}.vpdq.txt"
    if not path.exists():
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    return parse_vpdq(path.read_text())


@pytest.fixture(scope="module")
def chair() -> list[FrameHash]:
    """Our one-a-second hashes of the chair video (19 s)."""
    from jikimi.media.video import VideoLimits, load_video
    from jikimi.signals.vpdq import hash_video

    path = CONFORMANCE / f"{CHAIR}.mp4"
    if not path.exists():
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    return list(hash_video(load_video(path.read_bytes(), VideoLimits())).frames)


def test_the_first_half_of_a_real_video_matches_it(chair: list[FrameHash]) -> None:
    index = VpdqIndex()
    index.add(1, chair)
    index.add_many((seq, _reference(name)) for seq, name in enumerate(OTHERS, start=2))
    assert len(chair) == 19 and all(f.quality >= 50 for f in chair)
    (hit,) = index.query(chair[: len(chair) // 2], threshold=31)
    # The 9 frames of the first half, and none of the second half within 31 bits of them.
    assert (hit.entry_id, hit.query_share, hit.index_share, hit.distance) == (1, 1.0, 9 / 19, 0)
    assert matches([hit]) == [1]
    (hit,) = index.query(chair[-5:], threshold=31)
    assert (hit.entry_id, hit.query_share, hit.index_share) == (1, 1.0, 5 / 19)


def test_the_reference_hashes_of_a_video_match_ours(chair: list[FrameHash]) -> None:
    """A bank filled from Meta's hash files matches our scan of the same video."""
    reference = _reference(CHAIR)
    index = VpdqIndex()
    index.add_many([(1, reference), *((seq, _reference(n)) for seq, n in enumerate(OTHERS, 2))])
    (hit,) = index.query(chair, threshold=31)
    # Every frame of ours is within 31 bits of the reference's; the reference hashed
    # every frame (30 a second), so only some of its frames are near our 19.
    assert (hit.entry_id, hit.query_share) == (1, 1.0) and 0 < hit.index_share < 1
    # The reference's frames at our frame numbers: the same frames both ways, and
    # nearly the same hashes (our PDQ is within 6 bits of the reference's on this video).
    ours = {f.frame for f in chair}
    sampled = VpdqIndex()
    sampled.add(1, [f for f in reference if f.frame in ours])
    (hit,) = sampled.query(chair, threshold=10)
    assert (hit.query_share, hit.index_share) == (1.0, 1.0) and hit.distance <= 6
