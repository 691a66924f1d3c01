"""One item's exception stays that item's: a poisoned item among good ones in ``scan_many``.

The poison is real where we have it (PNGs of extreme aspect ratio, which once
made the grade letterbox ask ``cv2.resize`` for a 0-px side) and injected where
we don't: a grade model, a synthetic checker, a matcher, a loader and a video
path that raise a plain ``RuntimeError`` for one specific item. Every good item
must get exactly the Verdict it gets when scanned alone; the poisoned one an
``internal_error`` Verdict, logged once with its traceback.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from jikimi.config import Settings
from jikimi.detectors.grade.model import GradeDetector
from jikimi.domain import BankKind, GradeLabel, Match, Region, Signal, SignalKind, Verdict
from jikimi.media import Picture
from jikimi.pipeline import INTERNAL_ERROR, Item, Scanner, hashing

SAMPLES = Path(str(resources.files("jikimi.data").joinpath("samples")))
EXTREME_SIZES = [(1, 1281), (2000, 2), (1, 30000), (30000, 1)]
"""(width, height) of PNGs inside the default limits whose short side scales below 1 px."""


def png(width: int, height: int, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (width, height)).save(buf, "PNG")
    return buf.getvalue()


def good_items() -> list[Item]:
    names = ["astronaut.jpg", "coffee.jpg", "rocket.jpg"]
    return [Item((SAMPLES / n).read_bytes(), {"path": n}) for n in names]


def comparable(v: Verdict) -> dict[str, Any]:
    """A Verdict without its random id."""
    out = v.to_json_dict()
    out.pop("id")
    return out


def unexpected_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info is not None and r.levelno >= logging.ERROR]


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner.from_settings(Settings())


@pytest.fixture(scope="module")
def alone(scanner: Scanner) -> dict[str, dict[str, Any]]:
    """Each good item's Verdict when scanned on its own."""
    return {str(i.source["path"]): comparable(scanner.scan(i.data, i.source)) for i in good_items()}


def assert_good(out: Sequence[Verdict], alone: Mapping[str, dict[str, Any]]) -> None:
    for v in out:
        if "path" in v.source:
            assert v.error is None, v.error
            assert comparable(v) == alone[v.source["path"]]


@pytest.mark.parametrize(("width", "height"), EXTREME_SIZES)
def test_extreme_aspect_ratios_are_graded(scanner: Scanner, width: int, height: int) -> None:
    v = scanner.scan(png(width, height), {"filename": "t.png"})
    assert v.error is None, v.error
    assert v.media is not None and (v.media.width, v.media.height) == (width, height)
    assert v.grade is not None and v.grade.label is GradeLabel.NORMAL
    assert v.decision is not None and v.signal(SignalKind.PDQ) is not None


def test_extreme_aspect_ratios_in_one_batch_with_good_photos(
    scanner: Scanner, alone: dict[str, dict[str, Any]]
) -> None:
    extreme = [Item(png(w, h, "RGB"), {"size": f"{w}x{h}"}) for w, h in EXTREME_SIZES]
    good = good_items()
    items = [good[0], *extreme[:2], good[1], *extreme[2:], good[2]]
    out = scanner.scan_many(items)
    assert [v.source for v in out] == [i.source for i in items]
    assert all(v.error is None for v in out), [v.error for v in out]
    assert_good(out, alone)


def test_a_grade_model_error_on_one_picture_fails_only_that_picture(
    scanner: Scanner,
    alone: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    poison = png(40, 30, "RGB")
    real = GradeDetector.detect
    batches: list[int] = []

    def detect(self: GradeDetector, pictures: Sequence[Picture]) -> list[tuple[Region, ...]]:
        batches.append(len(pictures))
        if any(p.media.width == 40 and p.media.height == 30 for p in pictures):
            raise RuntimeError("model bug on this picture")
        return real(self, pictures)

    monkeypatch.setattr(GradeDetector, "detect", detect)
    good = good_items()
    items = [good[0], Item(poison, {"n": "poison"}), good[1], good[2]]
    with caplog.at_level(logging.WARNING):
        out = scanner.scan_many(items)
    assert batches[0] == 4  # tried batched first, then one by one
    assert sorted(batches[1:]) == [1, 1, 1, 1]
    assert [v.source for v in out] == [i.source for i in items]
    assert out[1].error is not None and out[1].error.code == INTERNAL_ERROR
    assert "RuntimeError" in out[1].error.message
    assert "model bug" not in out[1].error.message  # the exception's text stays in the log
    assert_good(out, alone)
    logged = unexpected_logs(caplog)
    assert len(logged) == 1 and "poison" in logged[0].getMessage()
    assert logged[0].exc_info is not None and logged[0].exc_info[0] is RuntimeError


def test_a_checker_error_fails_only_its_item(
    scanner: Scanner,
    alone: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real = scanner.synthetic.inspect

    def inspect(picture: Picture) -> Any:
        if picture.media.width == 41:
            raise KeyError("checker bug")
        return real(picture)

    monkeypatch.setattr(scanner.synthetic, "inspect", inspect)
    good = good_items()
    items = [good[0], Item(png(41, 30), {"n": "poison"}), good[1]]
    with caplog.at_level(logging.WARNING):
        out = scanner.scan_many(items)
    assert out[1].error is not None and out[1].error.code == INTERNAL_ERROR
    assert_good(out, alone)
    assert len(unexpected_logs(caplog)) == 1


def test_a_loader_error_fails_only_its_item(
    scanner: Scanner,
    alone: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    poison = png(42, 30)
    real = hashing.load  # the one place that decodes a file for hashing

    def load(data: bytes, limits: Any) -> Picture:
        if data == poison:
            raise ValueError("decoder bug")
        return real(data, limits)

    monkeypatch.setattr(hashing, "load", load)
    good = good_items()
    with caplog.at_level(logging.WARNING):
        out = scanner.scan_many([Item(poison, {"n": "poison"}), *good])
    assert out[0].error is not None and out[0].error.code == INTERNAL_ERROR
    assert len(out) == 4
    assert_good(out, alone)
    assert len(unexpected_logs(caplog)) == 1


class _PoisonedMatcher:
    """Raises for one image's SHA-256, matches nothing otherwise."""

    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256

    def match(
        self,
        signals: Sequence[Signal],
        dihedral: Callable[[], Sequence[str]],
        variants: Callable[[], Sequence[object]] = tuple,
    ) -> tuple[Match, ...]:
        if any(s.type is SignalKind.SHA256 and s.value == self.sha256 for s in signals):
            raise AttributeError("matcher bug")
        return ()

    def bank_kinds(self) -> Mapping[str, BankKind]:
        return {}


def test_a_matcher_error_fails_only_its_item(
    scanner: Scanner, alone: dict[str, dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    import hashlib

    poison = png(43, 30)
    matched = scanner.with_matcher(_PoisonedMatcher(hashlib.sha256(poison).hexdigest()))
    good = good_items()
    with caplog.at_level(logging.WARNING):
        out = matched.scan_many([good[0], Item(poison, {"n": "poison"}), good[1]])
    assert out[1].error is not None and out[1].error.code == INTERNAL_ERROR
    assert_good(out, alone)
    assert len(unexpected_logs(caplog)) == 1


def small_video(frames: int = 10) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            rgb = np.full((48, 64, 3), i * 20 % 256, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return buf.getvalue()


def test_a_video_path_error_fails_only_that_video(
    scanner: Scanner,
    alone: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clip = small_video()
    good = good_items()

    def grade_frames(self: Any, frames: Sequence[Any]) -> Any:
        raise ZeroDivisionError("timeline bug")

    monkeypatch.setattr(type(scanner.video), "_grade", grade_frames)
    with caplog.at_level(logging.WARNING):
        out = scanner.scan_many([good[0], Item(clip, {"n": "video"}), good[1]])
    assert out[1].error is not None and out[1].error.code == INTERNAL_ERROR
    assert_good(out, alone)
    assert len(unexpected_logs(caplog)) == 1


class _Stop(Exception):
    pass


def test_what_progress_raises_is_the_callers_and_propagates(scanner: Scanner) -> None:
    """A scan job stops a video this way (shutdown, lost lease): it must not become a Verdict."""

    def progress(source: Mapping[str, Any], done: int, total: int) -> None:
        raise _Stop

    with pytest.raises(_Stop):
        scanner.scan_many([*good_items(), Item(small_video(), {"n": "video"})], progress)
