"""A truncated copy of a known file still matches, says it is truncated, and is held.

``head -c -2 banked.jpg`` used to be refused as ``corrupt_media`` with no hashes,
so a platform letting corrupt files through published known content. Now the
pipeline decodes what arrived, hashes and grades it, sets ``media.truncated``,
and the bundled ``truncated`` rule holds it when nothing decides more.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from jikimi.config import Settings
from jikimi.domain import Action, BankKind, Match, Signal, SignalKind, Verdict
from jikimi.pipeline import Item, Scanner
from jikimi.signals import PdqSignal
from jikimi.signals.vpdq import parse_vpdq

SAMPLES = Path(str(resources.files("jikimi.data").joinpath("samples")))
CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner.from_settings(Settings())


class Bank:
    """One banked PDQ hash (the Matcher seam), in a bank of the given kind."""

    def __init__(self, pdq: str, kind: BankKind) -> None:
        self.pdq, self.kind = pdq, kind

    def match(
        self,
        signals: Sequence[Signal],
        dihedral: Callable[[], Sequence[str]],
        variants: Callable[[], Sequence[object]] = tuple,
    ) -> tuple[Match, ...]:
        found = [s.value for s in signals if s.type is SignalKind.PDQ]
        best = min((PdqSignal.distance(h, self.pdq) for h in found), default=256)
        if best > 31:
            return ()
        match = Match(
            bank="B", bank_kind=self.kind, signal=SignalKind.PDQ, distance=best, entry="e"
        )
        return (match,)


def pdq_of(v: Verdict) -> str:
    signal = v.signal(SignalKind.PDQ)
    assert signal is not None
    return signal.value


@pytest.mark.parametrize("at", [2, 100, 0.75, 0.5])
def test_cut_jpeg_gives_a_verdict_marked_truncated(scanner: Scanner, at: int | float) -> None:
    data = (SAMPLES / "astronaut.jpg").read_bytes()
    whole = scanner.scan(data)
    cut = data[:-at] if isinstance(at, int) else data[: int(len(data) * at)]
    v = scanner.scan(cut, {"path": "cut.jpg"})
    assert v.error is None and v.media is not None and v.grade is not None
    assert v.media.truncated and not (whole.media and whole.media.truncated)
    assert v.to_json_dict()["media"]["truncated"] is True
    assert v.signal(SignalKind.SHA256) != whole.signal(SignalKind.SHA256)
    distance = PdqSignal.distance(pdq_of(v), pdq_of(whole))
    if isinstance(at, int):  # the whole picture is there: it matches
        assert distance <= 31
    assert v.decision is not None and v.decision.action is Action.HOLD
    assert any("truncated" in r for r in v.decision.reasons)


def test_whole_file_is_not_held_for_truncation(scanner: Scanner) -> None:
    v = scanner.scan((SAMPLES / "coffee.jpg").read_bytes())
    assert v.media is not None and not v.media.truncated
    assert v.decision is not None and v.decision.action is Action.ALLOW


def test_cut_copy_of_a_banked_image_is_removed(scanner: Scanner) -> None:
    data = (SAMPLES / "rocket.jpg").read_bytes()
    banked = scanner.with_matcher(Bank(pdq_of(scanner.scan(data)), BankKind.TAKEDOWN))
    for cut in (data[:-2], data[:-100]):
        v = banked.scan(cut)
        assert v.matches and v.matches[0].bank == "B"
        assert v.decision is not None and v.decision.action is Action.REMOVE


def test_known_safe_truncated_copy_is_not_held(scanner: Scanner) -> None:
    """A suppression match silences the truncation rule like the classifier rules."""
    data = (SAMPLES / "coffee.jpg").read_bytes()
    safe = scanner.with_matcher(Bank(pdq_of(scanner.scan(data)), BankKind.SUPPRESSION))
    v = safe.scan(data[:-2])
    assert v.media is not None and v.media.truncated
    assert v.decision is not None and v.decision.action is Action.ALLOW


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_other_formats_cut_give_a_verdict_or_corrupt_media(scanner: Scanner, fmt: str) -> None:
    buf = io.BytesIO()
    Image.open(SAMPLES / "coffee.jpg").save(buf, fmt)
    data = buf.getvalue()
    cuts = [data[:n] for n in (len(data) - 2, len(data) - 100, len(data) * 3 // 4, 40)]
    for v in scanner.scan_many([Item(c, {}) for c in cuts]):
        if v.error is not None:
            assert v.error.code == "corrupt_media"
        else:
            assert v.media is not None and v.media.truncated and v.signal(SignalKind.PDQ)


def _mp4_moov_first() -> bytes:
    """A 4 s, 10 fps H.264 MP4 whose index comes first (fragmented), frames differing."""
    buf = io.BytesIO()
    options = {"movflags": "frag_keyframe+empty_moov"}
    yy, xx = np.mgrid[0:96, 0:128]
    with av.open(buf, "w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for i in range(40):
            rgb = np.dstack([(xx + 7 * i) % 256, (yy * (1 + i % 7)) % 256, xx * 0 + 9 * i])
            frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def _vpdq(v: Verdict) -> list[tuple[int, str]]:
    signal = v.signal(SignalKind.VPDQ)
    assert signal is not None
    return [(f.frame, f.pdq) for f in parse_vpdq(signal.value)]


@pytest.mark.parametrize("source", ["made", "conformance"])
def test_cut_mp4_keeps_the_vpdq_frames_before_the_cut(scanner: Scanner, source: str) -> None:
    if source == "made":
        data = _mp4_moov_first()
    else:
        path = CONFORMANCE / "vpdq" / "chair-19-sd-bar.mp4"  # moov first
        if not path.exists():
            pytest.skip(f"conformance video not found at {path}")
        data = path.read_bytes()
    whole = scanner.scan(data)
    assert whole.media is not None and not whole.media.truncated
    full = _vpdq(whole)
    for keep in (len(data) - 1, len(data) * 3 // 4, len(data) // 2):
        v = scanner.scan(data[:keep])
        assert v.error is None and v.media is not None and v.media.truncated
        kept = _vpdq(v)
        assert kept and kept == full[: len(kept)]
        assert v.decision is not None and v.decision.action is Action.HOLD
