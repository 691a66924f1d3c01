"""Turn untrusted video bytes into a :class:`Video`: limits, container check, sampled frames.

Videos are decoded with PyAV, whose wheel carries its own FFmpeg, so nothing has to
be installed on the host. Supported: MP4, MOV, WebM, MKV and AVI (any codec the
bundled FFmpeg decodes: H.264, HEVC, VP8, VP9, AV1, MPEG-4 ...), animated GIF
through FFmpeg, and animated WebP through Pillow (FFmpeg cannot decode animated
WebP). Audio is never decoded.

Lifecycle of one upload::

    bytes ─► size ─► sniff ─► open container (demuxer chosen by the sniffed format)
          ─► first video stream ─► dimensions, declared duration ─► demux every packet
          ─► frame count, truncation, real duration ─► Video
                                                         │ frames(every_s=1.0)
         plan (which packets to decode) ─► decode ─► wanted frames: Y plane now, RGB on demand

Which frames: the same as Meta's vPDQ
    ``frames(every_s)`` yields frame ``n`` (counted from 0 in presentation order)
    when ``n % int(every_s * fps) == 0``, with ``fps`` the stream's average frame
    rate, and reports its time as ``n / fps``: exactly the selection and timestamps
    of the reference ``vpdq`` (``cpp/vpdq/cpp/hashing/filehasher.cpp``), so that our
    per-second hashes line up with any vPDQ hash file frame for frame. ``every_s=0``
    yields every frame.

Why it is fast: decode only what the wanted frames need
    Demuxing is cheap; decoding is the cost. Before decoding, every packet is given
    its frame number (its rank by presentation time) and one of three fates:

    * *wanted*: decoded;
    * *skippable*: decoded only if other frames refer to it (FFmpeg's
      ``skip_frame=NONREF``): a B-frame nobody refers to is never decoded;
    * *dropped*: never sent to the decoder. For codecs whose key frames reset the
      decoder (H.264 and HEVC IDR pictures, VP8, VP9), the packets after the last
      wanted frame of a group of pictures are only referred to by each other, since
      the next key frame starts afresh.

    On the conformance videos (H.264 with B-frames, a key frame every 2 s, one wanted
    frame a second) 511 of 890 packets reach the decoder, which decodes 322 of them:
    about 60% of the CPU time of a full decode, for the same pixels (tests compare
    both paths frame by frame). When timestamps cannot number the frames (missing or
    repeated) we decode every packet and count frames as the reference does. Frame
    threads (``thread_type="AUTO"``) use every core.

Hostile input
    Every limit of :class:`VideoLimits` is checked before the work it bounds: bytes
    before opening, width x height and the declared duration before demuxing, the
    packet count while demuxing, the real duration before decoding. Time spent
    demuxing and decoding is checked after every packet against
    ``decode_timeout_s`` (once for ``load_video``, once per ``frames()`` pass; time
    the caller spends with a yielded frame does not count), so a pathological stream
    ends in :class:`~jikimi.errors.ScanTimeout` instead of holding a worker. Every
    FFmpeg or Pillow error becomes a typed :class:`~jikimi.errors.MediaError`.

Truncated files
    Players show a cut-off video up to the cut, so jikimi hashes and grades it up
    to there: a video whose container framing says bytes are missing, whose
    header lists more frames than it holds, or whose demuxing fails part-way,
    keeps the packets read before the cut, and a decoding error on its last
    (cut) packets ends the frames instead of failing the scan. Its
    ``Media.truncated`` is true. One with no frame before the cut (an MP4 whose
    index, ``moov``, was at the end) is refused as corrupt.

Frames keep the decoder's 8-bit luma plane (:class:`Luma`, no copy) and convert to
RGB only when an analyser asks (``frame.picture.rgb()``): hashing needs only luma
(see :mod:`jikimi.signals.vpdq`), so a hash-only scan never converts colour.

Orientation: like the reference, frames are as coded; a rotation tag (phone videos)
is not applied.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Final, Protocol, TypeAlias

import av
import av.error
import numpy as np
from av.stream import Disposition
from numpy.typing import NDArray
from PIL import Image, WebPImagePlugin

from jikimi.domain import Media, MediaKind
from jikimi.errors import (
    CorruptMedia,
    EmptyMedia,
    InvalidInput,
    MediaError,
    MediaTooLarge,
    ScanTimeout,
    UnsupportedMedia,
)
from jikimi.media.picture import RGB, Metadata, Picture
from jikimi.media.sniff import FileFormat, Sniffed, sniff

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.packet import Packet
    from av.video.codeccontext import VideoCodecContext
    from av.video.frame import VideoFrame as AvFrame
    from av.video.stream import VideoStream

    from jikimi.config import Settings

    VideoPacket: TypeAlias = Packet[VideoStream]

_DEMUXERS: Final[dict[FileFormat, str]] = {
    FileFormat.MP4: "mov",
    FileFormat.MOV: "mov",
    FileFormat.WEBM: "matroska",
    FileFormat.MKV: "matroska",
    FileFormat.AVI: "avi",
    FileFormat.GIF: "gif",
}
"""FFmpeg demuxer per sniffed format: FFmpeg never guesses among all its demuxers."""

SUPPORTED_VIDEOS: Final[tuple[FileFormat, ...]] = (*_DEMUXERS, FileFormat.WEBP)
"""The formats :func:`load_video` decodes (GIF and WebP: animated or not)."""

_NAMES: Final[dict[FileFormat, str]] = {
    FileFormat.MP4: "MP4",
    FileFormat.MOV: "MOV",
    FileFormat.WEBM: "WebM",
    FileFormat.MKV: "MKV",
    FileFormat.AVI: "AVI",
    FileFormat.GIF: "GIF",
    FileFormat.WEBP: "WebP",
}

_SUPPORTED_TEXT = "MP4, MOV, WebM, MKV, AVI, animated GIF and animated WebP"

_AUDIO_FORMATS: Final = frozenset(
    {FileFormat.MP3, FileFormat.M4A, FileFormat.WAV, FileFormat.FLAC, FileFormat.OGG}
)

_KEYFRAME_RESETS: Final = frozenset({"h264", "hevc", "vp8", "vp9"})
"""Codecs whose key frames (IDR pictures for H.264/HEVC) no later frame looks behind."""

MIN_SIDE: Final = 5
"""vPDQ refuses to hash frames smaller than this (``MIN_HASHABLE_DIM``); so do we."""


# --- limits -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """The largest video jikimi decodes, and the time it may take.

    ``max_bytes``: the encoded file; ``max_duration_s``: playing time;
    ``max_frames``: frames in the stream (guards garbage streams of tiny frames);
    ``max_pixels`` and ``max_dimension``: one frame's width x height and either side;
    ``decode_timeout_s``: wall-clock time spent demuxing and decoding one video;
    ``max_threads``: decoder threads (0: one per core; set 1 in a process pool
    that already keeps every core busy).
    """

    max_bytes: int = 64 * 1024 * 1024
    max_duration_s: float = 600.0
    max_frames: int = 150_000
    max_pixels: int = 3840 * 2160
    max_dimension: int = 8192
    decode_timeout_s: float = 120.0
    max_threads: int = 0

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if value < 0 or (value == 0 and name != "max_threads"):
                raise InvalidInput(f"Video limit {name} must be a positive number, not {value}.")

    @classmethod
    def from_settings(cls, settings: Settings) -> VideoLimits:
        """Read the ``video_*`` settings."""
        return cls(
            max_bytes=settings.video_max_bytes,
            max_duration_s=settings.video_max_duration_s,
            max_frames=settings.video_max_frames,
            max_pixels=settings.video_max_pixels,
            max_dimension=settings.video_max_dimension,
            decode_timeout_s=settings.video_decode_timeout_s,
            max_threads=settings.video_decode_threads,
        )


def _check_bytes(n_bytes: int, limits: VideoLimits) -> None:
    if n_bytes == 0:
        raise EmptyMedia("The file is empty (0 bytes).")
    if n_bytes > limits.max_bytes:
        raise MediaTooLarge(
            f"The video is {n_bytes:,} bytes, over the limit of {limits.max_bytes:,} bytes."
        )


def _check_frame_size(width: int, height: int, limits: VideoLimits) -> None:
    if width <= 0 or height <= 0:
        raise CorruptMedia(f"The video declares an impossible frame size of {width} x {height}.")
    if max(width, height) > limits.max_dimension:
        raise MediaTooLarge(
            f"The video is {width:,} x {height:,} pixels; its width and height may be at "
            f"most {limits.max_dimension:,} pixels."
        )
    if width * height > limits.max_pixels:
        raise MediaTooLarge(
            f"The video is {width:,} x {height:,} = {width * height:,} pixels a frame, "
            f"over the limit of {limits.max_pixels:,}."
        )
    if min(width, height) < MIN_SIDE:
        raise UnsupportedMedia(
            f"The video is {width} x {height} pixels, too small to analyse "
            f"(each side must be at least {MIN_SIDE} pixels)."
        )


def _check_duration(seconds: float, limits: VideoLimits, what: str = "lasts") -> None:
    if seconds > limits.max_duration_s:
        raise MediaTooLarge(
            f"The video {what} {seconds:,.1f} s, over the limit of {limits.max_duration_s:,.0f} s."
        )


def _check_frame_count(count: int, limits: VideoLimits) -> None:
    if count > limits.max_frames:
        raise MediaTooLarge(
            f"The video has more than {limits.max_frames:,} frames, the most jikimi decodes."
        )


class _Clock:
    """Time spent working on one video, paused while the caller holds a frame."""

    def __init__(self, limit_s: float) -> None:
        self._limit = limit_s
        self._spent = 0.0
        self._since: float | None = time.monotonic()

    def pause(self) -> None:
        if self._since is not None:
            self._spent += time.monotonic() - self._since
            self._since = None

    def resume(self) -> None:
        if self._since is None:
            self._since = time.monotonic()

    def check(self) -> None:
        spent = self._spent
        if self._since is not None:
            spent += time.monotonic() - self._since
        if spent > self._limit:
            raise ScanTimeout(
                f"Decoding the video took longer than the limit of {self._limit:g} s."
            )


# --- the public types ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Luma:
    """A decoder's 8-bit luma (Y) plane, as decoded: no colour conversion.

    ``pixels``: height x width, uint8 (a view into the decoder's frame);
    ``full_range``: values span 0-255 (``yuvj*`` formats, or tagged full range)
    rather than 16-235.
    """

    pixels: NDArray[np.uint8]
    full_range: bool


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One decoded frame: its number (from 0, presentation order), time and pixels.

    ``t_s`` is vPDQ's timestamp, ``number / fps``. ``picture`` is ready for every
    still-image analyser (its ``media`` is the video's); its RGB conversion runs on
    first use, so a caller that only hashes never pays for it. ``luma`` is the
    decoder's own Y plane when the frame has one (8-bit YUV), else ``None``.
    """

    number: int
    t_s: float
    picture: Picture
    luma: Luma | None = None

    @property
    def rgb(self) -> RGB:
        return self.picture.rgb()


@dataclass(frozen=True, slots=True)
class _Decoded:
    """What a source hands over for one wanted frame (RGB deferred)."""

    number: int
    width: int
    height: int
    rgb: Callable[[], RGB]
    luma: Luma | None


class _Source(Protocol):
    """A way of decoding the frames of one video (PyAV, or Pillow for animated WebP)."""

    def decode(self, step: int, clock: _Clock) -> Iterator[_Decoded]:
        """Every frame whose number is a multiple of ``step``, in order."""
        ...


class Video:
    """A checked video whose frames are decoded on demand. Build it with :func:`load_video`."""

    __slots__ = ("_limits", "_source", "data", "fps", "media")

    def __init__(
        self, media: Media, data: bytes, fps: float, source: _Source, limits: VideoLimits
    ) -> None:
        self.media = media
        self.data = data
        self.fps = fps
        self._source = source
        self._limits = limits

    def frame_step(self, every_s: float) -> int:
        """vPDQ's sampling interval in frames: ``int(every_s * fps)``, at least 1."""
        if every_s < 0:
            raise InvalidInput(f"The sampling interval must be 0 or more seconds, not {every_s}.")
        return max(int(every_s * self.fps), 1)

    def timestamp(self, number: int) -> float:
        """vPDQ's time of frame ``number``: ``number / fps`` in single precision."""
        return float(np.float32(number) / np.float32(self.fps))

    def frames(self, every_s: float = 1.0) -> Iterator[VideoFrame]:
        """Decode and yield one frame every ``every_s`` seconds (0: every frame).

        The selection is vPDQ's (see the module docstring). Raises
        :class:`~jikimi.errors.CorruptMedia` on undecodable data and
        :class:`~jikimi.errors.ScanTimeout` past ``decode_timeout_s``.
        """
        step = self.frame_step(every_s)
        clock = _Clock(self._limits.decode_timeout_s)
        count = 0
        for decoded in self._source.decode(step, clock):
            count += 1
            clock.pause()
            number = decoded.number
            yield VideoFrame(number, self.timestamp(number), self._picture(decoded), decoded.luma)
            clock.resume()
        if count == 0:
            raise CorruptMedia("The video has no decodable frames.")

    def _picture(self, decoded: _Decoded) -> Picture:
        media = self.media
        if (decoded.width, decoded.height) != (media.width, media.height):  # size changed
            media = media.model_copy(update={"width": decoded.width, "height": decoded.height})
        return Picture(
            media,
            self.data,
            "application/octet-stream",
            Metadata(),
            _read_only(decoded.rgb),
            lambda _min_side: 1,  # one decode, whatever size is asked for
        )


def _read_only(convert: Callable[[], RGB]) -> Callable[[int], RGB]:
    """A Picture decoder: pixels are shared between analysers, so none may write them."""

    def decode(_min_side: int) -> RGB:
        rgb = convert().view()
        rgb.flags.writeable = False
        return rgb

    return decode


def load_video(data: bytes, limits: VideoLimits) -> Video:
    """Check a video and read its structure, without decoding a frame.

    Raises :class:`~jikimi.errors.EmptyMedia`, :class:`~jikimi.errors.MediaTooLarge`
    (a limit of ``limits``), :class:`~jikimi.errors.UnsupportedMedia` (not a
    supported video, or audio without video), :class:`~jikimi.errors.CorruptMedia`
    (truncated, unreadable, no frames) or :class:`~jikimi.errors.ScanTimeout`.
    """
    _check_bytes(len(data), limits)
    sniffed = sniff(data)
    truncated = _truncation(data, sniffed.format) is not None
    if sniffed.format is FileFormat.WEBP:
        return _load_webp(data, sniffed, limits, truncated)
    demuxer = _DEMUXERS.get(sniffed.format)
    if demuxer is None:
        raise UnsupportedMedia(_unsupported_message(sniffed, data))
    return _load_av(data, sniffed, demuxer, limits, truncated)


def _unsupported_message(sniffed: Sniffed, data: bytes) -> str:
    if sniffed.format in _AUDIO_FORMATS:
        return f"This is {sniffed.description}: it has sound but no pictures to analyse."
    if sniffed.kind is MediaKind.VIDEO:
        return (
            f"This is {sniffed.description}, which jikimi does not decode; "
            f"supported videos are {_SUPPORTED_TEXT}."
        )
    if sniffed.kind is MediaKind.IMAGE:
        return f"This is {sniffed.description}, a still image, not a video."
    if sniffed.format is FileFormat.UNKNOWN:
        return (
            "This is not a recognised video format "
            f"(the file starts with bytes {data[:8].hex(' ')})."
        )
    return f"This is {sniffed.description}, not a video."


def _media(
    sniffed: Sniffed,
    data: bytes,
    size: tuple[int, int],
    frames: int,
    duration: float,
    truncated: bool,
) -> Media:
    width, height = size
    return Media(
        kind=MediaKind.VIDEO,
        format=sniffed.format.value,
        width=width,
        height=height,
        frames=frames,
        duration_s=round(duration, 3),
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        truncated=truncated,
    )


# --- PyAV ---------------------------------------------------------------------


@contextmanager
def _ffmpeg_errors(name: str) -> Iterator[None]:
    """Run FFmpeg on untrusted bytes: every failure becomes a typed MediaError."""
    try:
        yield
    except MediaError:
        raise
    except ScanTimeout:
        raise
    except MemoryError as exc:
        raise MediaTooLarge(f"The {name} video needs more memory than is available.") from exc
    except (av.error.FFmpegError, ValueError, OSError, EOFError, UnicodeError) as exc:
        detail = str(exc) or type(exc).__name__
        raise CorruptMedia(f"The {name} video is truncated or corrupt ({detail[:200]}).") from exc


@dataclass(slots=True)
class _Demuxed:
    """An opened container, its video stream and every packet of that stream."""

    container: InputContainer
    stream: VideoStream
    packets: list[VideoPacket]
    cut: bool = False
    """Demuxing failed part-way (tolerant mode only): ``packets`` are those before."""


class _AvSource:
    """Frames through PyAV. The first ``decode`` reuses the packets ``load_video`` read."""

    def __init__(
        self,
        data: bytes,
        demuxer: str,
        name: str,
        limits: VideoLimits,
        first: _Demuxed,
        tolerant: bool,
    ) -> None:
        self._data = data
        self._demuxer = demuxer
        self._name = name
        self._limits = limits
        self._ready: _Demuxed | None = first
        self._tolerant = tolerant

    def decode(self, step: int, clock: _Clock) -> Iterator[_Decoded]:
        with _ffmpeg_errors(self._name):
            demuxed, self._ready = self._ready, None
            if demuxed is None:
                demuxed = _demux(
                    self._data, self._demuxer, self._name, self._limits, clock, self._tolerant
                )
            try:
                yield from self._decode(demuxed, step, clock)
            except _DECODE_ERRORS:
                if not self._tolerant:
                    raise
                # A truncated video: its last packets are cut or missing. The frames
                # decoded before the error are kept (Video.frames refuses none at all).
            finally:
                demuxed.container.close()

    def _decode(self, demuxed: _Demuxed, step: int, clock: _Clock) -> Iterator[_Decoded]:
        ctx = demuxed.stream.codec_context
        ctx.thread_type = "AUTO"
        ctx.thread_count = self._limits.max_threads
        packets = demuxed.packets
        plan = plan_packets(packets, step, ctx.name, ctx.extradata)
        frames = (
            _decode_planned(ctx, packets, plan, clock)
            if plan is not None
            else _decode_all(ctx, packets, clock)
        )
        for number, frame in frames:
            if number % step == 0:
                _check_frame_size(frame.width, frame.height, self._limits)
                yield _Decoded(
                    number, frame.width, frame.height, functools.partial(_rgb, frame), _luma(frame)
                )


_DECODE_ERRORS: Final = (av.error.FFmpegError, ValueError, OSError, EOFError)
"""What FFmpeg raises on bad data (see :func:`_ffmpeg_errors`)."""


def _rgb(frame: AvFrame) -> RGB:
    """The frame as RGB24, converted by FFmpeg's ``sws_scale`` (as the reference does)."""
    return np.ascontiguousarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)


_LUMA_FORMATS: Final = frozenset(
    {"yuv420p", "yuv422p", "yuv444p", "yuv440p", "yuv411p", "yuv410p", "nv12", "nv21"}
)
"""8-bit YUV formats whose first plane is the luma; ``yuvj*`` are their full-range twins."""

_FULL_RANGE: Final = 2
"""FFmpeg's ``AVCOL_RANGE_JPEG``: luma spans 0-255."""


def _luma(frame: AvFrame) -> Luma | None:
    """A view of the frame's Y plane, without copying or converting it."""
    name = frame.format.name
    # FFmpeg once signalled full range with ``yuvj*`` formats, now with color_range.
    full_range = name.startswith("yuvj") or frame.color_range == _FULL_RANGE
    if name.replace("yuvj", "yuv", 1) not in _LUMA_FORMATS:
        return None
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
    return Luma(rows[: plane.height, : plane.width], full_range)


def _open(data: bytes, demuxer: str) -> InputContainer:
    return av.open(io.BytesIO(data), "r", format=demuxer, metadata_errors="replace")


def _video_stream(container: InputContainer, name: str) -> VideoStream:
    """The first video stream that is not cover art; a typed error if there is none."""
    for stream in container.streams.video:
        if stream.disposition & Disposition.attached_pic:
            continue
        if stream.codec_context is None:  # FFmpeg has no decoder for it
            raise UnsupportedMedia(f"This {name} video uses a codec jikimi cannot decode.")
        return stream
    audio = len(container.streams.audio)
    if audio:
        raise UnsupportedMedia(
            f"This {name} file has sound ({audio} audio stream{'s' * (audio > 1)}) but no "
            "video stream: there are no pictures to analyse."
        )
    if not container.streams:  # FFmpeg leaves out tracks without a single frame
        raise CorruptMedia(f"The {name} file has no frames: it is empty, truncated or corrupt.")
    raise UnsupportedMedia(f"This {name} file has no video stream.")


def _demux(
    data: bytes, demuxer: str, name: str, limits: VideoLimits, clock: _Clock, tolerant: bool
) -> _Demuxed:
    """Open the container and read every packet of its video stream.

    ``tolerant`` (a truncated file, or one found unreadable part-way on an
    earlier pass): a demuxing error after the first packet ends the stream
    there instead of failing; the result says so (``cut``).
    """
    container = _open(data, demuxer)
    try:
        stream = _video_stream(container, name)
        stream.discard = av.stream.Discard.default
        for other in container.streams:
            if other.index != stream.index:
                other.discard = av.stream.Discard.all  # never read audio
        ctx = stream.codec_context
        _check_frame_size(ctx.width, ctx.height, limits)
        if container.duration is not None and container.duration > 0:
            _check_duration(container.duration / av.time_base, limits, what="declares")
        packets: list[VideoPacket] = []
        cut = False
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # the end-of-stream marker
                    continue
                packets.append(packet)
                _check_frame_count(len(packets), limits)
                clock.check()
        except _DECODE_ERRORS:
            if not (tolerant and packets):
                raise
            cut = True
    except BaseException:
        container.close()
        raise
    return _Demuxed(container, stream, packets, cut)


def _load_av(
    data: bytes, sniffed: Sniffed, demuxer: str, limits: VideoLimits, truncated: bool
) -> Video:
    """Demux once (kept for the first decode). A file cut short, by its container's
    framing, its header's frame count or a demuxing error part-way, keeps the
    frames before the cut and is marked ``truncated``."""
    name = _NAMES[sniffed.format]
    clock = _Clock(limits.decode_timeout_s)
    with _ffmpeg_errors(name):
        demuxed = _demux(data, demuxer, name, limits, clock, tolerant=True)
        try:
            stream = demuxed.stream
            frames = sum(1 for p in demuxed.packets if not p.is_discard)
            if frames == 0:
                raise CorruptMedia(f"The {name} video has no decodable frames.")
            if demuxer in ("mov", "avi") and stream.frames > len(demuxed.packets):
                truncated = True  # the header lists frames that are not there
            truncated = truncated or demuxed.cut
            fps = _frame_rate(stream, demuxed.packets, frames)
            duration = _duration(stream, demuxed.packets, frames, fps)
            _check_duration(duration, limits)
        except BaseException:
            demuxed.container.close()
            raise
    ctx = stream.codec_context
    media = _media(sniffed, data, (ctx.width, ctx.height), frames, duration, truncated)
    source = _AvSource(data, demuxer, name, limits, demuxed, tolerant=truncated)
    return Video(media, data, fps, source, limits)


def _truncation(data: bytes, fmt: FileFormat) -> str | None:
    """Why the container's own framing says bytes are missing, or ``None``.

    FFmpeg decodes what is there without complaint, so a cut-off upload would
    otherwise pass for a whole, shorter video; it is scanned as far as it goes
    and marked ``Media.truncated``. MP4/MOV and AVI are also checked against the
    frame count of their headers after demuxing.
    """
    if fmt in (FileFormat.MP4, FileFormat.MOV):
        end = _iso_boxes_end(data)
        if end > len(data):
            return f"the file has {len(data):,} of its {end:,} bytes"
    elif fmt in (FileFormat.AVI, FileFormat.WEBP):
        declared = int.from_bytes(data[4:8], "little") + 8
        if len(data) < declared:
            return f"the file has {len(data):,} of its {declared:,} bytes"
    elif fmt in (FileFormat.MKV, FileFormat.WEBM):
        declared_size = _matroska_segment_end(data)
        if declared_size is not None and len(data) < declared_size:
            return f"the file has {len(data):,} of its {declared_size:,} bytes"
    elif fmt is FileFormat.GIF and not data.rstrip(b"\x00").endswith(b"\x3b"):
        return "the GIF trailer is missing"
    return None


def _iso_boxes_end(data: bytes) -> int:
    """Where the last top-level box of an MP4/MOV file says it ends."""
    offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        if size == 1 and offset + 16 <= len(data):  # a 64-bit size follows the type
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        if size == 0:  # the box runs to the end of the file
            return len(data)
        if size < 8:
            return len(data)  # not a box: leave it to FFmpeg to judge
        offset += size
    return offset


def _matroska_segment_end(data: bytes) -> int | None:
    """Where the Segment element ends (EBML header, then Segment), if its size is known."""
    offset = 0
    for expected_id in (0x1A45DFA3, 0x18538067):
        element = _ebml_vint(data, offset, keep_marker=True)
        if element is None or element[0] != expected_id:
            return None
        size = _ebml_vint(data, element[1], keep_marker=False)
        if size is None:
            return None
        value, after, length = size[0], size[1], size[1] - element[1]
        if value == (1 << (7 * length)) - 1:  # "unknown size": a live stream
            return None
        if expected_id == 0x18538067:
            return after + value
        offset = after + value
    return None


def _ebml_vint(data: bytes, offset: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at ``offset``: (value, offset after it)."""
    if offset >= len(data) or data[offset] == 0:
        return None
    length = 8 - data[offset].bit_length() + 1
    if offset + length > len(data):
        return None
    value = int.from_bytes(data[offset : offset + length], "big")
    if not keep_marker:
        value &= (1 << (7 * length)) - 1
    return value, offset + length


MAX_FPS: Final = 1000.0
"""The highest frame rate believed (high-speed phone video is 960 fps). A header
claiming more (a corrupt or hostile AVI said 10^9 fps) would make every sampling
interval a billion frames long, and planning the decode loop over them for minutes."""


def _frame_rate(stream: VideoStream, packets: list[VideoPacket], frames: int) -> float:
    """vPDQ's frame rate: ``avg_frame_rate``, else ``r_frame_rate``, else frames / time;
    a rate over :data:`MAX_FPS` is not believed."""
    for rate in (stream.average_rate, stream.base_rate):
        if rate is not None and 0 < rate <= MAX_FPS:
            return float(rate)
    span = _pts_span(stream, packets)
    if span and frames / span <= MAX_FPS:
        return frames / span
    raise CorruptMedia("The video's frame rate cannot be determined.")


def _duration(stream: VideoStream, packets: list[VideoPacket], frames: int, fps: float) -> float:
    """Playing time of the frames present (not the header's claim): pts span, else frames/fps."""
    return _pts_span(stream, packets) or frames / fps


def _pts_span(stream: VideoStream, packets: list[VideoPacket]) -> float:
    stamps = [(p.pts, p.duration or 0) for p in packets if p.pts is not None and not p.is_discard]
    if not stamps or stream.time_base is None:
        return 0.0
    start = min(pts for pts, _ in stamps)
    end = max(pts + duration for pts, duration in stamps)
    return float((end - start) * stream.time_base)


# --- which packets to decode ------------------------------------------------------


class Fate(Enum):
    """What the decoder does with one packet (see the module docstring)."""

    WANTED = "wanted"
    SKIPPABLE = "skippable"
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class Plan:
    """Per packet (demux order) its fate; per presentation timestamp its frame number."""

    fates: tuple[Fate, ...]
    numbers: dict[int, int]


def plan_packets(
    packets: list[VideoPacket], step: int, codec: str, extradata: bytes | None
) -> Plan | None:
    """Decide each packet's fate, or ``None`` when timestamps cannot number the frames.

    A frame's number is its rank among the stream's presentation timestamps, which
    is the count of frames the decoder outputs before it (what the reference
    counts) as long as every packet holds one frame with a distinct timestamp.
    """
    stamps = [p.pts for p in packets if not p.is_discard]
    if any(pts is None for pts in stamps) or len(set(stamps)) != len(stamps):
        return None
    numbers = {pts: n for n, pts in enumerate(sorted(s for s in stamps if s is not None))}
    fates = [
        Fate.WANTED
        if not p.is_discard and p.pts is not None and numbers[p.pts] % step == 0
        else Fate.SKIPPABLE
        for p in packets
    ]
    resets = _reset_test(codec, extradata)
    if resets is not None:
        _drop_tails(packets, fates, resets)
    return Plan(tuple(fates), numbers)


def _drop_tails(
    packets: list[VideoPacket], fates: list[Fate], resets: Callable[[VideoPacket], bool]
) -> None:
    """Drop the packets after the last wanted one before each decoder reset.

    A reset point is trusted only if no packet after it in decode order is shown
    before it (no leading pictures that could look back across it).
    """
    keys = [i for i, p in enumerate(packets) if p.is_keyframe and resets(p)]
    ends = [*keys[1:], len(packets)]
    starts = [k for k, end in zip(keys, ends, strict=True) if _no_leading_pictures(packets, k, end)]
    for begin, end in itertools.pairwise([0, *starts]):
        _drop_after_last_wanted(fates, begin, end)


def _drop_after_last_wanted(fates: list[Fate], begin: int, end: int) -> None:
    last = max((i for i in range(begin, end) if fates[i] is Fate.WANTED), default=begin - 1)
    for i in range(last + 1, end):
        fates[i] = Fate.DROPPED


def _no_leading_pictures(packets: list[VideoPacket], key: int, end: int) -> bool:
    key_pts = packets[key].pts
    return key_pts is not None and all(
        p.pts is not None and p.pts >= key_pts for p in packets[key + 1 : end]
    )


def _reset_test(codec: str, extradata: bytes | None) -> Callable[[VideoPacket], bool] | None:
    """A test telling whether a key-frame packet resets the decoder, for known codecs."""
    if codec not in _KEYFRAME_RESETS:
        return None
    if codec in ("vp8", "vp9"):
        return lambda _packet: True  # their key frames refresh every reference
    length_size = _nal_length_size(codec, extradata)
    idr_types = frozenset({5}) if codec == "h264" else frozenset({19, 20})

    def is_idr(packet: VideoPacket) -> bool:
        types = _nal_types(memoryview(packet), codec, length_size)
        return not idr_types.isdisjoint(types)

    return is_idr


def _nal_length_size(codec: str, extradata: bytes | None) -> int:
    """Bytes of each NAL length prefix (avcC/hvcC), or 0 for Annex B start codes."""
    if not extradata or extradata[0] != 1:
        return 0
    if codec == "h264" and len(extradata) > 4:
        return (extradata[4] & 3) + 1
    if codec == "hevc" and len(extradata) > 21:
        return (extradata[21] & 3) + 1
    return 0


_ANNEX_B_SCAN: Final = 4096
"""Bytes of an Annex B packet searched for start codes (slices follow the headers)."""


def _nal_types(data: bytes | memoryview, codec: str, length_size: int) -> list[int]:
    """The NAL unit types in one packet (length-prefixed or Annex B), without copying it."""
    if length_size:
        starts, i = [], 0
        while i + length_size < len(data):
            starts.append(i + length_size)
            i += length_size + int.from_bytes(data[i : i + length_size], "big")
    else:
        head = bytes(data[:_ANNEX_B_SCAN])
        starts = [i + 3 for i in _find_all(head, b"\x00\x00\x01")]
    heads = [data[s] for s in starts if s < len(data)]
    return [h & 0x1F if codec == "h264" else (h >> 1) & 0x3F for h in heads]


def _find_all(data: bytes, needle: bytes) -> Iterator[int]:
    i = data.find(needle)
    while i >= 0:
        yield i
        i = data.find(needle, i + 1)


def _decode_planned(
    ctx: VideoCodecContext, packets: list[VideoPacket], plan: Plan, clock: _Clock
) -> Iterator[tuple[int, AvFrame]]:
    """Decode per the plan; number frames by their presentation timestamps."""
    for packet, fate in zip(packets, plan.fates, strict=True):
        if fate is Fate.DROPPED:
            continue
        ctx.skip_frame = "DEFAULT" if fate is Fate.WANTED else "NONREF"
        yield from _numbered(ctx.decode(packet), plan.numbers)
        clock.check()
    ctx.skip_frame = "DEFAULT"
    yield from _numbered(ctx.decode(None), plan.numbers)


def _numbered(frames: list[AvFrame], numbers: dict[int, int]) -> Iterator[tuple[int, AvFrame]]:
    for frame in frames:
        number = None if frame.pts is None else numbers.get(frame.pts)
        if number is None:
            raise CorruptMedia("The video's frame timestamps do not match its packets.")
        yield number, frame


def _decode_all(
    ctx: VideoCodecContext, packets: list[VideoPacket], clock: _Clock
) -> Iterator[tuple[int, AvFrame]]:
    """Decode every packet and count the frames that come out, as the reference does."""
    number = 0
    for packet in [*packets, None]:
        for frame in ctx.decode(packet):
            yield number, frame
            number += 1
        clock.check()


# --- animated WebP (Pillow) ------------------------------------------------------

_MIN_DELAY_MS: Final = 10
_DEFAULT_DELAY_MS: Final = 100
"""Browsers show a frame of 10 ms or less for 100 ms; so do we when timing frames."""


@dataclass(frozen=True, slots=True)
class _WebpLayout:
    """What the RIFF chunks of a WebP say, read without decoding anything."""

    width: int
    height: int
    delays_ms: tuple[int, ...]
    """One per frame (a still WebP: one frame of 0 ms)."""


def _webp_layout(data: bytes) -> _WebpLayout:
    """Canvas size and frame delays from the chunks (Pillow allocates the canvas on open)."""
    size: tuple[int, int] | None = None
    delays: list[int] = []
    offset = 12
    while offset + 8 <= len(data):
        fourcc = data[offset : offset + 4]
        length = int.from_bytes(data[offset + 4 : offset + 8], "little")
        body = data[offset + 8 : offset + 8 + length]
        if fourcc == b"VP8X" and len(body) >= 10:
            size = (
                int.from_bytes(body[4:7], "little") + 1,
                int.from_bytes(body[7:10], "little") + 1,
            )
        elif fourcc == b"ANMF" and len(body) >= 16:
            delays.append(int.from_bytes(body[12:15], "little"))
        elif fourcc in (b"VP8 ", b"VP8L") and size is None:
            size = _still_webp_size(fourcc, body)
        offset += 8 + length + (length & 1)
    if size is None:
        raise CorruptMedia("The WebP image is truncated or corrupt (no readable image header).")
    return _WebpLayout(size[0], size[1], tuple(delays) or (0,))


def _still_webp_size(fourcc: bytes, body: bytes) -> tuple[int, int] | None:
    if fourcc == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        return (
            int.from_bytes(body[6:8], "little") & 0x3FFF,
            int.from_bytes(body[8:10], "little") & 0x3FFF,
        )
    if fourcc == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


@contextmanager
def _pillow_errors() -> Iterator[None]:
    """Pillow on untrusted bytes: typed errors out, its warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except (MediaError, ScanTimeout):
            raise
        except Image.DecompressionBombError as exc:
            raise MediaTooLarge(f"The WebP animation is too large to decode safely: {exc}") from exc
        except Exception as exc:
            detail = str(exc) or type(exc).__name__
            raise CorruptMedia(
                f"The WebP animation is truncated or corrupt ({detail[:200]})."
            ) from exc


class _WebpSource:
    """Frames of an animated WebP through Pillow (libwebp composites each frame)."""

    def __init__(self, data: bytes, frames: int, limits: VideoLimits) -> None:
        self._data = data
        self._frames = frames
        self._limits = limits

    def decode(self, step: int, clock: _Clock) -> Iterator[_Decoded]:
        with _pillow_errors():
            image = WebPImagePlugin.WebPImageFile(io.BytesIO(self._data))
            try:
                for number in range(0, self._frames, step):
                    image.seek(number)
                    rgb: RGB = np.asarray(image.convert("RGB"))
                    height, width = rgb.shape[:2]
                    _check_frame_size(width, height, self._limits)
                    clock.check()
                    yield _Decoded(number, width, height, functools.partial(_same, rgb), None)
            finally:
                image.close()


def _same(rgb: RGB) -> RGB:
    return rgb


def _load_webp(data: bytes, sniffed: Sniffed, limits: VideoLimits, truncated: bool) -> Video:
    layout = _webp_layout(data)
    _check_frame_size(layout.width, layout.height, limits)
    frames = len(layout.delays_ms)
    _check_frame_count(frames, limits)
    shown = [d if d > _MIN_DELAY_MS else _DEFAULT_DELAY_MS for d in layout.delays_ms]
    duration = sum(shown) / 1000 if frames > 1 else 0.0
    _check_duration(duration, limits)
    fps = frames / duration if duration else 1.0
    media = _media(sniffed, data, (layout.width, layout.height), frames, duration, truncated)
    return Video(media, data, fps, _WebpSource(data, frames, limits), limits)
