"""vPDQ: Meta's video hash, one PDQ hash per sampled frame, and its text file format.

Banks of known abusive videos are exchanged as vPDQ (ThreatExchange, HMA): a list
of ``frame_number,quality,pdq_hex,timestamp`` lines, one per hashed frame. To match
against them our hashes must come from the same frames and be close to the same
values. Both are ensured by construction:

* *the same frames*: :meth:`jikimi.media.video.Video.frames` selects frames and
  timestamps exactly as the reference does (frame ``n`` when
  ``n % int(seconds_per_hash * fps) == 0``; time ``n / fps``);
* *the same values*: each frame is hashed at full resolution, as the reference
  does (no 512-pixel resize, unlike still-image PDQ in :mod:`jikimi.signals.pdq`).

Measured against the reference hash files in ``/work/shared/conformance/vpdq``
(three videos, every frame): every frame of quality >= 80 is within 6 bits of the
reference; qualities are within 1. Frames the reference rates below 50 ("low
quality", nearly flat pictures such as a fade to black) may differ by up to 76
bits: their hash is decided by noise, which is why Meta's own regression test
ignores them. ``tests/signals/test_vpdq.py`` states the worst cases.

Hashing the decoder's luma plane
    The reference converts each frame to RGB24 (``sws_scale``, BT.601 whatever the
    video says) and PDQ turns that back into luma, ``0.299 R + 0.587 G + 0.114 B``.
    With BT.601 those two steps cancel: the luma is ``255/219 * (Y - 16)`` up to
    rounding, and the chroma drops out. So for 8-bit YUV frames we hash the Y plane
    the decoder already has (:func:`luma_pdq`), skipping the colour conversion: on
    the conformance videos it is as close to the reference as hashing RGB (worst
    6 bits either way at quality >= 80) and 0 bits from our RGB path at 1 hash/s on
    ``chair``. It is also closer than our RGB on BT.709 videos (most HD), which
    PyAV converts with the right matrix and the reference with BT.601. Frames in
    other formats (GIF's palette, 10-bit, RGB) are hashed from RGB (:func:`frame_pdq`).
    ``255/219`` only matters for the quality metric: PDQ's bits ignore scale and offset.

Why PDQ is computed here rather than through ``pdqhash``
    ``pdqhash.compute`` takes only RGB, builds the luma with float64 numpy arithmetic
    and filters the whole frame in C++: 10-30 ms for one 720p frame, as much as
    decoding it. PDQ only keeps 64 x 64 samples of the blurred luma, so we compute
    exactly those: the reference's two box-filter passes and decimation are one
    fixed linear map per image size (a few weights per output sample, cached),
    applied to the rows and columns the samples need. Then the same quality metric,
    16 x 16 DCT and median threshold. :func:`frame_pdq` gives the same quality and
    the same bits as ``pdqhash`` (tests compare them on photos and noise at sizes
    from 5 x 5 to 1920 x 1080) 4-8x faster; only on smooth pictures, whose DCT
    coefficients lie within float rounding of the median, may a bit differ (2 bits
    on a gradient of quality 44). :func:`luma_pdq` is 4x faster again (one channel).

The text format follows ``vpdqio.cpp``: lines ``frame,quality,hash,timestamp``,
timestamp with 3 decimals; :func:`parse_vpdq` accepts what it writes and names the
line and field of anything else.

ThreatExchange's JSON form
    python-threatexchange and HMA exchange a vPDQ signal as a JSON array of
    ``"pdq_hex,quality,timestamp"`` strings, one per frame and without frame numbers
    (``vpdq_util.vpdq_to_json`` / ``json_to_vpdq``). :func:`format_vpdq_json` writes
    it (timestamps with 3 decimals, where threatexchange writes 3 significant digits:
    its ``float()`` reads either), :func:`parse_vpdq_json` reads it, numbering the
    frames 0, 1, 2, ... by position, and :func:`parse_vpdq_value` takes either form
    (a value starting with ``[`` is JSON). So a video whose frame numbers were not
    its positions (hashed once a second from a 25 fps video: 0, 25, 50, ...) comes
    back from that form with other frame numbers: the same hashes, qualities and
    timestamps, and so the same :func:`video_identity` (which leaves frame numbers
    out), but another canonical text.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Final

import numpy as np
from numpy.typing import NDArray

from jikimi import jsontext
from jikimi.domain import FrameHash as FrameHash  # re-exported (it was defined here)
from jikimi.domain import Signal, SignalKind
from jikimi.errors import InvalidHash, InvalidInput
from jikimi.media.picture import RGB
from jikimi.signals.base import SignalType
from jikimi.signals.digests import Md5Signal
from jikimi.signals.pdq import PdqSignal

if TYPE_CHECKING:  # not imported at run time: importing signals must not load FFmpeg
    from jikimi.media.video import Video, VideoFrame

DEFAULT_SECONDS_PER_HASH: Final = 1.0
"""One hash a second, vPDQ's default and what banks exchange."""

_SIDE: Final = 64
"""PDQ's downsampled image is 64 x 64."""

_LUMA: Final = np.array([0.299, 0.587, 0.114], dtype=np.float32)
"""The reference's ``luma_from_{R,G,B}_coeff``."""

_FIELDS: Final = ("frame", "quality", "hash", "timestamp")
MAX_FRAME_NUMBER: Final = 2**31 - 1
"""Frame numbers are stored as 32-bit integers (``video_frames.frame``)."""
_TE_FORM: Final = "pdq_hex,quality,timestamp"
"""One element of ThreatExchange's JSON form (:func:`parse_vpdq_json`)."""


@dataclass(frozen=True, slots=True)
class VideoHash:
    """Every signal of one video: its frame hashes and its byte digests."""

    frames: tuple[FrameHash, ...]
    md5: str
    sha256: str

    def signals(self) -> tuple[Signal, ...]:
        """As Verdict signals: MD5, SHA-256 and the vPDQ text (one line per hashed frame)."""
        return (
            Signal(type=SignalKind.MD5, value=self.md5),
            Signal(type=SignalKind.SHA256, value=self.sha256),
            Signal(type=SignalKind.VPDQ, value=format_vpdq(self.frames)),
        )


class VpdqSignal(SignalType):
    """vPDQ: the value is a vPDQ text file (see :func:`format_vpdq`)."""

    @classmethod
    def get_name(cls) -> SignalKind:
        return SignalKind.VPDQ

    @classmethod
    def validate(cls, value: str) -> str:
        """The canonical text of a vPDQ file, given as lines or in ThreatExchange's JSON
        form (:func:`parse_vpdq_value`); :class:`InvalidHash` names a bad line or element."""
        try:
            return format_vpdq(parse_vpdq_value(value))
        except InvalidInput as exc:
            raise InvalidHash(f"not a valid vpdq hash file: {exc.message}") from exc


def hash_video(video: Video, seconds_per_hash: float = DEFAULT_SECONDS_PER_HASH) -> VideoHash:
    """Hash one frame every ``seconds_per_hash`` seconds (0: every frame), and the bytes.

    To hash and also run other analysers on the same frames with one decode, iterate
    ``video.frames()`` yourself and call :func:`hash_frame` on each frame.
    """
    frames = tuple(hash_frame(frame) for frame in video.frames(seconds_per_hash))
    return VideoHash(
        frames=frames,
        md5=Md5Signal.hash_bytes(video.data).value,
        sha256=video.media.sha256,  # load_video hashed the same bytes
    )


def hash_frame(frame: VideoFrame) -> FrameHash:
    """The vPDQ entry of one decoded frame (from its luma plane when it has one)."""
    if frame.luma is not None:
        pdq, quality = luma_pdq(frame.luma.pixels, full_range=frame.luma.full_range)
    else:
        pdq, quality = frame_pdq(frame.rgb)
    return FrameHash(frame=frame.number, t_s=frame.t_s, quality=quality, pdq=pdq)


# --- PDQ from pixels, computing only the 64 x 64 samples PDQ keeps ----------------------


def frame_pdq(rgb: RGB) -> tuple[str, int]:
    """PDQ hash (64 hex) and quality of an RGB image at full resolution.

    Same steps as the reference ``pdqHash256FromFloatLuma`` on the luma of ``rgb``:
    Jarosz filter (two box passes each way, window ``ceil(side / 128)``), decimation
    to 64 x 64, quality from the 64 x 64 gradients, 16 x 16 DCT, bits above the median.
    """
    height, width = rgb.shape[:2]
    rows = _blur_rows(rgb.reshape(height, width * 3)).reshape(_SIDE, width, 3)
    return _pdq_of_samples(_blur_columns(rows @ _LUMA))


def luma_pdq(luma: NDArray[np.uint8], *, full_range: bool) -> tuple[str, int]:
    """PDQ hash and quality from a decoder's 8-bit Y plane (see the module docstring).

    ``full_range=False`` (video's usual 16-235) rescales to the 0-255 luma the
    reference computes from RGB, which only matters for the quality.
    """
    samples = _blur_columns(_blur_rows(luma))
    if not full_range:
        samples = (samples - np.float32(16)) * np.float32(255 / 219)
    return _pdq_of_samples(samples)


def _pdq_of_samples(samples: NDArray[np.float32]) -> tuple[str, int]:
    """Quality, 16 x 16 DCT and median threshold of the 64 x 64 blurred luma."""
    quality = _quality(samples)
    dct = _dct_matrix()
    coefficients = (dct @ samples @ dct.T).ravel()
    median = np.partition(coefficients, 127)[127]  # Torben's median: the 128th smallest
    # Bit i*16+j is coefficient (i, j); the hex is the 256-bit number, bit 255 first.
    bits = (coefficients > median)[::-1]
    return np.packbits(bits).tobytes().hex(), quality


def _blur_rows(pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
    """The 64 filtered rows the reference samples: (height, n) -> (64, n)."""
    index, weight = _jarosz_weights(pixels.shape[0])
    rows = pixels[index].astype(np.float32)  # 64 x taps x n
    blurred: NDArray[np.float32] = np.matmul(weight[:, None, :], rows)[:, 0]
    return blurred


def _blur_columns(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    """The 64 filtered columns of the 64 rows: (64, width) -> (64, 64)."""
    index, weight = _jarosz_weights(rows.shape[1])
    samples: NDArray[np.float32] = np.einsum("jt,ijt->ij", weight, rows[:, index]).astype(
        np.float32
    )
    return samples


@lru_cache(maxsize=32)
def _jarosz_weights(n: int) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
    """For one axis of length ``n``: the inputs and weights of each of the 64 samples.

    Sample ``i`` is ``sum(weight[i, t] * x[index[i, t]])``: the reference's
    ``box1DFloat`` applied twice (a window of ``ceil(n / 128)`` centred as the
    reference centres it, averaging only the samples inside the image), then
    ``decimateFloat``'s pick of input ``int((i + 0.5) * n / 64)``.
    """
    window = (n + 2 * _SIDE - 1) // (2 * _SIDE)
    half = (window + 2) // 2
    positions = np.arange(n)
    lo = np.maximum(positions - (window - half), 0)
    hi = np.minimum(positions + (half - 1), n - 1)
    picks = ((np.arange(_SIDE) + 0.5) * n / _SIDE).astype(np.intp)
    dense = np.zeros((_SIDE, n))
    for i, c in enumerate(picks):
        for r in range(lo[c], hi[c] + 1):
            dense[i, lo[r] : hi[r] + 1] += 1.0 / ((hi[c] - lo[c] + 1) * (hi[r] - lo[r] + 1))
    first = lo[lo[picks]]
    last = hi[hi[picks]]
    taps = int((last - first).max()) + 1
    offsets = first[:, None] + np.arange(taps)
    index = np.minimum(offsets, n - 1)
    weight = np.take_along_axis(dense, index, axis=1)
    weight[offsets > last[:, None]] = 0.0  # past the edge: clamped index, no weight
    return index, weight.astype(np.float32)


def _quality(samples: NDArray[np.float32]) -> int:
    """The reference's ``pdqImageDomainQualityMetric``, in the same float32 steps."""
    scale, norm = np.float32(100), np.float32(255)
    down = np.trunc((samples[:-1] - samples[1:]) * scale / norm)
    across = np.trunc((samples[:, :-1] - samples[:, 1:]) * scale / norm)
    total = int(np.abs(down).sum(dtype=np.int64) + np.abs(across).sum(dtype=np.int64))
    return min(total // 90, 100)


@cache
def _dct_matrix() -> NDArray[np.float32]:
    """The reference's 16 x 64 DCT-II rows 1..16 (the DC row is left out)."""
    i = np.arange(1, 17)[:, None]
    j = np.arange(_SIDE)[None, :]
    scale = float(np.float32(math.sqrt(2.0 / _SIDE)))  # a float in the reference
    matrix: NDArray[np.float32] = (scale * np.cos(np.pi / 2.0 / _SIDE * i * (2 * j + 1))).astype(
        np.float32
    )
    return matrix


# --- the vPDQ text format ------------------------------------------------------------


def format_vpdq(hashes: Iterable[FrameHash]) -> str:
    """Lines ``frame,quality,hash,timestamp`` (3 decimals), each ending in a newline."""
    return "".join(f"{h.line()}\n" for h in hashes)


def parse_vpdq(text: str) -> list[FrameHash]:
    """Read a vPDQ file. Blank lines are skipped; anything else wrong raises.

    :class:`~jikimi.errors.InvalidHash` for a bad PDQ hash,
    :class:`~jikimi.errors.InvalidInput` for any other bad field or an empty file;
    messages name the line.
    """
    hashes = [
        _parse_line(line, number)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    if not hashes:
        raise InvalidInput("The vPDQ file has no frame hashes.")
    return hashes


def _parse_line(line: str, number: int) -> FrameHash:
    where = f"vPDQ line {number}"
    parts = [part.strip() for part in line.split(",")]
    if len(parts) != len(_FIELDS):
        raise InvalidInput(
            f"{where}: expected 4 fields ({','.join(_FIELDS)}), got {len(parts)}: {line[:120]!r}"
        )
    frame_text, quality_text, hash_text, time_text = parts
    return FrameHash(
        frame=_integer(frame_text, "frame number", where, 0, MAX_FRAME_NUMBER),
        quality=_integer(quality_text, "quality", where, 0, 100),
        pdq=_pdq(hash_text, where),
        t_s=_timestamp(time_text, where),
    )


def format_vpdq_json(hashes: Iterable[FrameHash]) -> str:
    """ThreatExchange's form: a JSON array of ``"pdq_hex,quality,timestamp"`` strings.

    What ``vpdq_util.vpdq_to_json`` writes (same separators), except that timestamps
    have 3 decimals, as in the line form. Frame numbers are not part of it.
    """
    return json.dumps([f"{h.pdq},{h.quality},{h.t_s:.3f}" for h in hashes])


def video_identity(hashes: Iterable[FrameHash]) -> str:
    """A video's identity in a bank: the SHA-256 of its frames in ThreatExchange's form
    (:func:`format_vpdq_json`, in frame order).

    Frame numbers are left out on purpose: that form has none, so the same video
    read from a vPDQ file (frames 0, 25, 50, ...), an upload, an HMA export or our
    own export (frames renumbered 0, 1, 2, ...) is one entry, and re-importing an
    export finds duplicates rather than adding every video again. Migration 0003
    moved earlier entries to this identity; it carries its own copy of this
    computation (a migration must keep meaning what it meant).
    """
    ordered = sorted(hashes, key=lambda h: h.frame)
    return hashlib.sha256(format_vpdq_json(ordered).encode("ascii")).hexdigest()


def parse_vpdq_json(text: str) -> list[FrameHash]:
    """Read ThreatExchange's JSON form (``vpdq_util.json_to_vpdq``); frames are numbered
    0, 1, 2, ... in array order.

    As strict as threatexchange's ``VpdqCompactFeature.from_str`` (64 hex digits,
    quality 0-100, timestamp >= 0), and errors are raised as by :func:`parse_vpdq`:
    :class:`~jikimi.errors.InvalidHash` for a bad PDQ hash,
    :class:`~jikimi.errors.InvalidInput` for anything else; messages name the element
    (counting from 1).
    """
    try:
        items = jsontext.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the vPDQ JSON is not valid JSON: {exc}") from None
    if not isinstance(items, list):
        raise InvalidInput(
            f'vPDQ JSON is an array of "{_TE_FORM}" strings, not {_json_kind(items)}'
        )
    if not items:
        raise InvalidInput("The vPDQ JSON array has no frame hashes.")
    return [_parse_element(item, number) for number, item in enumerate(items, start=1)]


def vpdq_file_text(data: bytes) -> str:
    """An uploaded vPDQ hash file as text (UTF-8, a byte-order mark ignored);
    :class:`InvalidHash` if it is not text. Every door that takes such a file reads it so."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidHash(f"not a valid vpdq hash file: not UTF-8 text ({exc.reason})") from None


def parse_vpdq_value(text: str) -> list[FrameHash]:
    """Either form of a vPDQ signal: ThreatExchange's JSON array (the text starts with
    ``[``, :func:`parse_vpdq_json`) or the line form (:func:`parse_vpdq`).

    A text starting with ``{`` goes to the JSON reader too, which says that it wants an
    array (rather than the line reader saying that line 1 has the wrong fields).
    """
    if text.lstrip()[:1] in ("[", "{"):
        return parse_vpdq_json(text)
    return parse_vpdq(text)


def _parse_element(item: object, number: int) -> FrameHash:
    where = f"vPDQ element {number}"
    if not isinstance(item, str):
        raise InvalidInput(f'{where}: expected a "{_TE_FORM}" string, got {_json_kind(item)}')
    parts = [part.strip() for part in item.split(",")]
    if len(parts) != 3:
        raise InvalidInput(
            f'{where}: expected 3 fields ("{_TE_FORM}"), got {len(parts)}: {item[:120]!r}'
        )
    hash_text, quality_text, time_text = parts
    return FrameHash(
        frame=number - 1,
        quality=_integer(quality_text, "quality", where, 0, 100),
        pdq=_pdq(hash_text, where),
        t_s=_timestamp(time_text, where),
    )


def _json_kind(value: object) -> str:
    """How a decoded JSON value is named in an error message."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return repr(value)[:40]


def _pdq(text: str, where: str) -> str:
    try:
        return PdqSignal.validate(text)
    except InvalidHash as exc:
        raise InvalidHash(f"{where}: {exc.message}") from exc


def _timestamp(text: str, where: str) -> float:
    try:
        t_s = float(text)
    except ValueError:
        t_s = math.nan
    if not math.isfinite(t_s) or t_s < 0:
        raise InvalidInput(
            f"{where}: the timestamp must be a number of seconds >= 0, got {text[:40]!r}"
        )
    return t_s + 0.0  # -0.0 as 0.0: "-0" would otherwise be another video than "0"


def _integer(text: str, name: str, where: str, low: int, high: int) -> int:
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(f"{where}: the {name} must be a whole number, got {text[:40]!r}")
    # Digits past the bound's length cannot be in range (and int() of thousands of
    # digits is refused by Python itself).
    digits = text.lstrip("0") or "0"
    value = int(digits) if len(digits) <= len(str(high)) else high + 1
    if not low <= value <= high:
        raise InvalidInput(f"{where}: the {name} must be {low}..{high}, got {text[:40]}")
    return value
