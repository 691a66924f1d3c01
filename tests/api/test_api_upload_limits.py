"""One size rule for media, whichever door it comes through: a video that can be scanned
can be banked (``POST /v1/banks/{name}/entries``), and the other way round.

The limits are made small here (``max_bytes`` 10 kB, so the upload limit with its 64 KiB
of multipart slack is ~75 kB) and the video is a 2-second clip of pixel noise (~100 kB,
under ``video_max_bytes``), nothing of anyone.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import av
import numpy as np
import pytest
from api_helpers import TestClient, assert_problem, bearer, create_bank, jpeg

from jikimi.api.app import MULTIPART_SLACK, body_limit_for, create_app
from jikimi.api.scanning import LazyScanner
from jikimi.api.uploads import media_body_limit
from jikimi.config import Settings
from jikimi.services import TenantService
from jikimi.store import Store

IMAGE_LIMIT = 10_000
BANK = "VIDEOS"


def noise_mp4(seed: int, frames: int = 20, side: int = 96) -> bytes:
    """Random pixels in every frame (10 fps): hardly compressible, so large for its length."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = side, side, "yuv420p"
        for _ in range(frames):
            picture = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode(None))
    return buf.getvalue()


@pytest.fixture(scope="module")
def video() -> bytes:
    data = noise_mp4(1)
    assert len(data) > IMAGE_LIMIT + MULTIPART_SLACK  # over what other uploads may carry
    return data


def _client(settings: Settings, scanner: LazyScanner) -> Iterator[TestClient]:
    store = Store.from_settings(settings)
    _, key = TenantService(store).create("limits")
    store.close()
    with TestClient(create_app(settings, scanner=scanner)) as c:
        c.headers.update(bearer(key.secret))
        create_bank(c, {}, BANK, kind="takedown")
        yield c


@pytest.fixture
def roomy(
    sqlite_settings: Settings, shared_scanner: LazyScanner, video: bytes
) -> Iterator[TestClient]:
    """Images up to 10 kB, videos up to just the test video's size."""
    limits = {
        "max_bytes": IMAGE_LIMIT,
        "max_upload_bytes": IMAGE_LIMIT,
        "video_max_bytes": len(video),
    }
    yield from _client(sqlite_settings.model_copy(update=limits), shared_scanner)


@pytest.fixture
def tight(
    sqlite_settings: Settings, shared_scanner: LazyScanner, video: bytes
) -> Iterator[TestClient]:
    """The same, with videos one byte short of the test video."""
    limits = {
        "max_bytes": IMAGE_LIMIT,
        "max_upload_bytes": IMAGE_LIMIT,
        "video_max_bytes": len(video) - 1,
    }
    yield from _client(sqlite_settings.model_copy(update=limits), shared_scanner)


def test_a_video_a_scan_takes_can_be_banked(roomy: TestClient, video: bytes) -> None:
    r = roomy.post("/v1/scan", files={"file": ("clip.mp4", video)})
    assert r.status_code == 200, r.text
    assert r.json()["media"]["kind"] == "video"
    r = roomy.post(f"/v1/banks/{BANK}/entries", files={"file": ("clip.mp4", video)})
    assert r.status_code == 201, r.text
    assert r.json()["signal"] == "vpdq"


def test_a_video_over_video_max_bytes_is_refused_by_both(tight: TestClient, video: bytes) -> None:
    for url in ("/v1/scan", f"/v1/banks/{BANK}/entries"):
        problem = assert_problem(
            tight.post(url, files={"file": ("clip.mp4", video)}), 413, "media_too_large"
        )
        assert str(len(video) - 1) in problem["detail"].replace(",", ""), url


def test_an_image_is_held_to_max_bytes_by_both(roomy: TestClient) -> None:
    image = jpeg(1, size=1024)
    assert IMAGE_LIMIT < len(image) < IMAGE_LIMIT + MULTIPART_SLACK
    for url in ("/v1/scan", f"/v1/banks/{BANK}/entries"):
        problem = assert_problem(
            roomy.post(url, files={"file": ("big.jpg", image)}), 413, "media_too_large"
        )
        assert f"{IMAGE_LIMIT:,} bytes for images" in problem["detail"], url
    small = jpeg(2)
    assert len(small) < IMAGE_LIMIT
    r = roomy.post(f"/v1/banks/{BANK}/entries", files={"file": ("small.jpg", small)})
    assert r.status_code == 201, r.text


def test_both_doors_have_one_body_limit(sqlite_settings: Settings) -> None:
    """The middleware's cap for both paths comes from the one rule."""
    limits = {"max_bytes": 1_000, "max_upload_bytes": 1_000, "video_max_bytes": 9_000}
    settings = sqlite_settings.model_copy(update=limits)
    limit_for = body_limit_for(settings)

    def scope(path: str) -> dict[str, str]:
        return {"method": "POST", "path": path}

    want = media_body_limit(settings) + MULTIPART_SLACK
    assert want == 9_000 + MULTIPART_SLACK
    assert limit_for(scope("/v1/scan")) == limit_for(scope(f"/v1/banks/{BANK}/entries")) == want
