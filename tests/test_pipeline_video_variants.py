"""Videos: letterboxed and pillarboxed re-encodes match through their trimmed vPDQ frames."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime

import av
import numpy as np
import pytest
import skimage.data
from numpy.typing import NDArray
from PIL import Image

from jikimi.config import Settings
from jikimi.domain import Bank, BankKind, SignalKind, Variant
from jikimi.matching.bank_index import BankIndex
from jikimi.matching.bank_snapshot import BankSnapshot
from jikimi.pipeline import Scanner

W, H, FPS = 320, 240, 10
Array = NDArray[np.uint8]


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner.from_settings(Settings())


def mp4(frames: Sequence[Array]) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return buf.getvalue()


def scenes() -> list[Image.Image]:
    photos = (skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea())
    return [Image.fromarray(p).convert("RGB") for p in photos]


def plain() -> list[Array]:
    return [np.asarray(im.resize((W, H))) for im in scenes() for _ in range(FPS * 2)]


def boxed(size: tuple[int, int]) -> list[Array]:
    """Each scene shrunk to ``size`` in the middle of a black frame (bars)."""
    out = []
    for im in scenes():
        canvas = Image.new("RGB", (W, H))
        canvas.paste(im.resize(size), ((W - size[0]) // 2, (H - size[1]) // 2))
        out.extend([np.asarray(canvas)] * (FPS * 2))
    return out


def video_bank(scanner: Scanner, *, variants: bool) -> BankSnapshot:
    original = scanner.scan(mp4(plain()))
    vpdq = original.signal(SignalKind.VPDQ)
    assert vpdq is not None
    bank = Bank(
        id="bnk_v",
        tenant_id="ten_1",
        name="VIDEOS",
        kind=BankKind.TAKEDOWN,
        variants=variants,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    index = BankIndex(bank)
    index.add(SignalKind.VPDQ, [1], [vpdq.value], ["ent_video"])
    return BankSnapshot.of([index], "ten_1")


@pytest.mark.parametrize("size", [(W, 150), (200, H)], ids=["letterbox", "pillarbox"])
def test_a_boxed_re_encode_matches_through_its_trimmed_frames(
    scanner: Scanner, size: tuple[int, int]
) -> None:
    bank = video_bank(scanner, variants=True)
    verdict = scanner.with_matcher(bank).scan(mp4(boxed(size)))
    [match] = verdict.matches
    assert (match.entry, match.signal, match.via) == ("ent_video", SignalKind.VPDQ, Variant.TRIMMED)
    assert match.query_share is not None and match.query_share >= 0.8


def test_without_variants_a_boxed_re_encode_does_not_match(scanner: Scanner) -> None:
    bank = video_bank(scanner, variants=False)
    assert scanner.with_matcher(bank).scan(mp4(boxed((W, 150)))).matches == ()
    [match] = scanner.with_matcher(bank).scan(mp4(plain())).matches
    assert (match.entry, match.via) == ("ent_video", None)
