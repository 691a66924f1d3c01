"""One decision of what a file is and how it is hashed, shared by scans, bank entries and the API.

The same bytes take the same route (still or video) whether they are scanned, added to
a bank as media or sized up by ``POST /v1/scan``; a scan reports the route's signals and
a bank entry holds the route's perceptual one, with the value the scan computed.
Videos are made per test with PyAV from random coloured blocks; the still is a bundled
sample photograph (not of a person).
"""

from __future__ import annotations

import io
from importlib import resources

import av
import numpy as np
import pytest
from PIL import Image

from jikimi.config import Settings
from jikimi.domain import SignalKind
from jikimi.errors import JikimiError, UnsupportedMedia
from jikimi.media import MediaLimits, sniff
from jikimi.media.video import VideoLimits
from jikimi.pipeline import Scanner
from jikimi.pipeline.hashing import (
    ENTRY_SIGNAL,
    SCAN_SIGNALS,
    Route,
    classify,
    route_of,
    still_signals,
    video_hash,
)
from jikimi.services.banks.hashing import hash_media
from jikimi.signals.vpdq import format_vpdq, parse_vpdq

FPS = 10
LIMITS = MediaLimits(max_bytes=50_000_000, max_pixels=50_000_000, max_dimension=20_000)


def _pictures(seed: int, seconds: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(seconds, 6, 8, 3), dtype=np.uint8)
    return [np.kron(b, np.ones((16, 16, 1), dtype=np.uint8)) for b in blocks]


def _mp4(seed: int = 1, seconds: int = 3) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for picture in _pictures(seed, seconds):
            for _ in range(FPS):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode(None))
    return buf.getvalue()


def _gif(frames: int) -> bytes:
    images = [Image.fromarray(p) for p in _pictures(7, frames)]
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:], duration=1000, loop=0)
    return buf.getvalue()


def _jpeg() -> bytes:
    return resources.files("jikimi.data").joinpath("samples/rocket.jpg").read_bytes()


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner.from_settings(Settings())


@pytest.mark.parametrize(
    ("make", "route", "decoded", "known_from_sniff"),
    [
        (_jpeg, Route.STILL, True, Route.STILL),
        (lambda: _gif(1), Route.STILL, True, None),
        (lambda: _gif(3), Route.VIDEO, True, None),
        (_mp4, Route.VIDEO, False, Route.VIDEO),
    ],
    ids=["jpeg", "still-gif", "animated-gif", "mp4"],
)
def test_each_file_takes_one_route(
    make: object, route: Route, decoded: bool, known_from_sniff: Route | None
) -> None:
    data = make()  # type: ignore[operator]
    found = classify(data, LIMITS)
    assert found.route is route
    assert (found.picture is not None) is decoded
    assert route_of(sniff(data)) is known_from_sniff


def test_text_is_not_media_on_any_route() -> None:
    with pytest.raises(JikimiError):
        classify(b"0,100," + b"f" * 64 + b",0.000\n", LIMITS)
    with pytest.raises(UnsupportedMedia, match="vpdq hash"):
        hash_media(b"0,100," + b"f" * 64 + b",0.000\n", None)


def test_a_still_scan_reports_its_route_signals_and_its_entry_holds_the_same_pdq(
    scanner: Scanner,
) -> None:
    data = _jpeg()
    verdict = scanner.scan(data)
    assert verdict.error is None
    assert tuple(s.type for s in verdict.signals) == SCAN_SIGNALS[Route.STILL]
    picture = classify(data, LIMITS).picture
    assert picture is not None
    assert still_signals(picture, data) == verdict.signals

    entry = hash_media(data, None)
    assert entry.signal is ENTRY_SIGNAL[Route.STILL] is SignalKind.PDQ
    scanned = {s.type: s.value for s in verdict.signals}
    assert entry.value == scanned[SignalKind.PDQ]
    assert entry.media_sha256 == scanned[SignalKind.SHA256]


def test_a_video_scan_reports_its_route_signals_and_its_entry_holds_the_same_frames(
    scanner: Scanner,
) -> None:
    data = _mp4()
    verdict = scanner.scan(data)
    assert verdict.error is None, verdict.error
    assert tuple(s.type for s in verdict.signals) == SCAN_SIGNALS[Route.VIDEO]
    scanned = {s.type: s.value for s in verdict.signals}

    entry = hash_media(data, None)
    assert entry.signal is ENTRY_SIGNAL[Route.VIDEO] is SignalKind.VPDQ
    assert entry.media_sha256 == scanned[SignalKind.SHA256]
    assert format_vpdq(entry.frames) == format_vpdq(parse_vpdq(scanned[SignalKind.VPDQ]))
    assert tuple(video_hash(data, VideoLimits()).frames) == tuple(
        parse_vpdq(scanned[SignalKind.VPDQ])
    )
