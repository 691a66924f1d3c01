"""Videos in banks: upload a video or a vPDQ hash file, frames kept beside the entry.

Videos are made per test with PyAV from random coloured blocks (a new picture each
second, so every hashed frame differs); nothing here is a real picture of anyone.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence

import av
import numpy as np
import pytest
from PIL import Image
from service_helpers import Side

from jikimi.domain import (
    BankCreate,
    BankKind,
    BankUpdate,
    Change,
    ChangeOp,
    EntryCreate,
    EntryMeta,
    Role,
    SignalKind,
)
from jikimi.errors import Conflict, Forbidden, InvalidHash, InvalidInput, UnsupportedMedia
from jikimi.media.video import VideoLimits, load_video
from jikimi.services import BankService
from jikimi.signals.vpdq import FrameHash, format_vpdq, hash_video, parse_vpdq
from jikimi.store import Store
from jikimi.store import video as video_repo

FPS = 10


def pictures(seed: int, seconds: int) -> list[np.ndarray]:
    """One random 8 x 8 block picture per second, upscaled to 128 x 96 (high PDQ quality)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(seconds, 6, 8, 3), dtype=np.uint8)
    return [np.kron(b, np.ones((16, 16, 1), dtype=np.uint8)) for b in blocks]


def mp4(seed: int, seconds: int = 4) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for picture in pictures(seed, seconds):
            for _ in range(FPS):
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def gif(seed: int, seconds: int = 3) -> bytes:
    """An animated GIF, one picture a second."""
    images = [Image.fromarray(p) for p in pictures(seed, seconds)]
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:], duration=1000, loop=0)
    return buf.getvalue()


def vpdq_of(data: bytes) -> list[FrameHash]:
    return list(hash_video(load_video(data, VideoLimits())).frames)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def identity_of(frames: Sequence[FrameHash]) -> str:
    """A video entry's value, written out: the SHA-256 of its frames in ThreatExchange's
    JSON form, in frame order, frame numbers left out."""
    ordered = sorted(frames, key=lambda f: f.frame)
    text = json.dumps([f"{f.pdq},{f.quality},{f.t_s:.3f}" for f in ordered])
    return hashlib.sha256(text.encode()).hexdigest()


class Heard:
    """A bank listener that records what it hears (what the matching service receives)."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def entries_changed(self, changes: Sequence[Change]) -> None:
        self.changes.extend(changes)

    def banks_changed(self, bank_ids: Sequence[str]) -> None:
        pass


def test_an_uploaded_video_becomes_a_vpdq_entry_with_its_frames(
    store: Store, banks: BankService, acme: Side
) -> None:
    curator = acme.as_[Role.CURATOR]
    heard = Heard()
    banks = BankService(store, settings=banks.settings, listener=heard)
    banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    data = mp4(seed=1)
    frames = vpdq_of(data)
    assert [f.frame for f in frames] == [0, 10, 20, 30]

    entry = banks.add_media_entry(curator, "VIDEOS", data, EntryMeta(note="upload"))
    canonical = format_vpdq(frames)
    assert entry.signal is SignalKind.VPDQ and entry.value == identity_of(frames)
    assert entry.media_sha256 == hashlib.sha256(data).hexdigest() and entry.note == "upload"
    assert not store.blobs.exists(entry.media_sha256)  # the bank keeps no evidence
    # The listener hears an ADD with the same value; the frames are there, by seq.
    (change,) = heard.changes
    assert (change.op, change.signal, change.value) == (ChangeOp.ADD, SignalKind.VPDQ, entry.value)
    with store.session() as s, s.begin():
        stored = video_repo.frames_of(s, [change.seq])[change.seq]
        assert [seq for seq, _ in video_repo.iter_video_frames(s)] == [change.seq]
    assert stored == parse_vpdq(canonical)  # timestamps to the millisecond, as the text
    assert format_vpdq(stored) == canonical
    assert banks.get(curator, "VIDEOS").entry_count == 1

    # The same video again, as media or as its hash file: the same entry.
    with pytest.raises(Conflict, match=entry.id):
        banks.add_media_entry(curator, "VIDEOS", data)
    with pytest.raises(Conflict, match=entry.id):
        banks.add_vpdq_entry(curator, "VIDEOS", canonical)
    assert banks.get(curator, "VIDEOS").entry_count == 1


def test_a_bank_that_keeps_evidence_keeps_the_video(
    store: Store, banks: BankService, acme: Side
) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="EVIDENCE", kind=BankKind.TAKEDOWN, keep_evidence=True))
    data = mp4(seed=2, seconds=2)
    entry = banks.add_media_entry(curator, "EVIDENCE", data)
    assert entry.media_sha256 is not None and store.blobs.read(entry.media_sha256) == data
    with pytest.raises(Forbidden):
        banks.add_media_entry(acme.as_[Role.REVIEWER], "EVIDENCE", mp4(seed=3, seconds=2))


def test_an_animated_gif_is_banked_as_a_video_like_a_scan_treats_it(
    banks: BankService, acme: Side
) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.WATCH))
    data = gif(seed=4)
    entry = banks.add_media_entry(curator, "VIDEOS", data)
    assert entry.signal is SignalKind.VPDQ
    assert entry.value == identity_of(vpdq_of(data))
    still = io.BytesIO()
    Image.fromarray(pictures(5, 1)[0]).save(still, "GIF")
    assert banks.add_media_entry(curator, "VIDEOS", still.getvalue()).signal is SignalKind.PDQ


def test_a_vpdq_hash_file_is_canonicalised(banks: BankService, acme: Side) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    rng = np.random.default_rng(6)
    hashes = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(3)]
    canonical = "".join(f"{30 * i},{90 + i},{h},{i:.3f}\n" for i, h in enumerate(hashes))
    # Out of order, upper case, spaces, CRLF, a blank line and extra timestamp digits.
    messy = (
        f" 60 , 92 , {hashes[2].upper()} , 2.0001\r\n\r\n"
        f"0,90,{hashes[0]},0\r\n"
        f"30,91,{hashes[1]},1.0000\r\n"
    )
    entry = banks.add_vpdq_entry(curator, "VIDEOS", messy, EntryMeta(source="TE exchange"))
    assert entry.value == identity_of(parse_vpdq(canonical)) and entry.source == "TE exchange"
    assert entry.media_sha256 is None
    with pytest.raises(Conflict):
        banks.add_vpdq_entry(curator, "VIDEOS", canonical)
    # The JSON form of the same thing: a vpdq hash whose value is the file.
    with pytest.raises(Conflict):
        banks.add_entry(curator, "VIDEOS", EntryCreate(signal=SignalKind.VPDQ, value=canonical))
    other = banks.add_entry(
        curator, "VIDEOS", EntryCreate(signal=SignalKind.VPDQ, value=canonical.replace("92", "93"))
    )
    assert other.signal is SignalKind.VPDQ and other.value != entry.value


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("", InvalidHash, "no frame hashes"),
        ("0,100,abc,0.0\n", InvalidHash, "line 1"),
        (f"0,100,{'a' * 64},0.0\n1,100,{'b' * 64}\n", InvalidHash, "line 2"),
        (f"0,100,{'a' * 64},0.0\n0,90,{'b' * 64},0.1\n", InvalidHash, "frame 0 is listed twice"),
        (f"0,49,{'a' * 64},0.0\n30,10,{'b' * 64},1.0\n", InvalidInput, "could never match"),
    ],
    ids=["empty", "bad-hash", "three-fields", "repeated-frame", "all-low-quality"],
)
def test_bad_vpdq_files_are_refused(
    banks: BankService, acme: Side, text: str, error: type[Exception], message: str
) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    with pytest.raises(error, match=message):
        banks.add_vpdq_entry(curator, "VIDEOS", text)
    assert banks.get(curator, "VIDEOS").entry_count == 0


def test_media_that_is_not_a_picture_is_refused(banks: BankService, acme: Side) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    text = f"0,100,{'a' * 64},0.000\n".encode()
    with pytest.raises(UnsupportedMedia, match="vPDQ hash file"):
        banks.add_media_entry(curator, "VIDEOS", text)
    black = io.BytesIO()
    with av.open(black, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for _ in range(2 * FPS):
            flat = np.zeros((96, 128, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(flat, format="rgb24")))
        container.mux(stream.encode(None))
    with pytest.raises(InvalidInput, match="could never match"):
        banks.add_media_entry(curator, "VIDEOS", black.getvalue())


def test_video_match_shares_are_bank_settings(banks: BankService, acme: Side) -> None:
    curator = acme.as_[Role.CURATOR]
    default = banks.create(curator, BankCreate(name="DEFAULTS", kind=BankKind.WATCH))
    assert (default.vpdq_query_pct, default.vpdq_index_pct) == (80, 0)
    strict = banks.create(
        curator,
        BankCreate(name="STRICT", kind=BankKind.WATCH, vpdq_query_pct=90, vpdq_index_pct=50),
    )
    assert (strict.vpdq_query_pct, strict.vpdq_index_pct) == (90, 50)
    updated = banks.update(curator, "STRICT", BankUpdate(vpdq_index_pct=0))
    assert (updated.vpdq_query_pct, updated.vpdq_index_pct) == (90, 0)
    assert banks.get(curator, "STRICT") == updated
    for bad in ({"vpdq_query_pct": 101}, {"vpdq_index_pct": -1}):
        with pytest.raises(InvalidInput, match="percentage"):
            banks.create(curator, BankCreate(name="BAD", kind=BankKind.WATCH, **bad))
        with pytest.raises(InvalidInput, match="percentage"):
            banks.update(curator, "STRICT", BankUpdate(**bad))
    assert banks.get(curator, "STRICT") == updated
