"""Fuzz the public pipeline with mutated media: no input may raise, crash or hang a worker.

``python -m bench.fuzz [--quick] [--n N] [--seed S] [--jobs J] [--batch B] [--full-every K]
[--max-s S]`` (last line: one JSON object; ``--max-s`` starts no batch after S seconds, for
a long run bounded in time: ``inputs`` says how many ran). ``--quick`` (CI): 500 inputs
in batches of 50, no batch started after 35 s, so it ends within a minute even on a busy
machine (which then runs fewer inputs).

Seeds
    Made at start from the package's sample photos, shrunk to a few dozen pixels, in
    every format jikimi reads: JPEG (baseline, progressive, grey, CMYK, EXIF
    orientation, restart markers), PNG (RGB, RGBA, palette, 16-bit, Adam7, APNG),
    WebP (lossy, lossless, animated), GIF (still, animated), BMP, TIFF (raw,
    deflate, multi-page), files carrying provenance metadata (A1111 parameters,
    IPTC XMP, EXIF UserComment), and
    videos through PyAV: MP4 (index last, and fragmented with the index first),
    WebM (VP8, VP9), MKV, MOV, AVI.

Inputs
    Input ``i`` is a pure function of ``(--seed, i)``, so any input can be made again
    from its number (``--show I`` writes it to a file). Most are a seed with one to
    three mutations stacked: bit flips, interesting bytes (0, 0xFF, 0x7F, 0x80),
    truncations (anywhere, and a few bytes short), inserted, deleted and duplicated
    runs, splices of two seeds, length-field edits that follow each format's
    framing (PNG chunk lengths, JPEG segment lengths, MP4/MOV box sizes down the box
    tree, RIFF chunk sizes of WebP and AVI, GIF sub-block sizes, EBML sizes),
    and header dimension edits (PNG IHDR with its CRC fixed, JPEG SOF, GIF screen
    and image descriptors, BMP, WebP VP8X, TIFF width/length tags). The rest are
    generated valid files at the edges of the limits: extreme sizes and aspect
    ratios (1 x 30000, 30000 x 1, 2 x 5000, 1 x 1 ...) and frame counts (animated
    GIF/WebP of 1 to 400 frames, zero delays, videos of 1 to 600 frames).

How they run
    ``--jobs`` worker processes each build the Scanner once and scan the inputs of
    a batch one ``Scanner.scan_many`` call at a time (one item per call, so each
    input's time and outcome are its own). For speed most inputs use a grade
    detector that decodes and letterboxes exactly as the real one but skips the
    ONNX inference (what the fuzz is about is the decoders); every ``--full-every``-th
    input runs the whole pipeline with the real model.

    A worker that dies (a native crash: SIGSEGV, SIGABRT, the OOM killer) loses only
    its batch: the parent sees the signal in the exit status, re-runs the batch
    item by item in fresh workers, names the input that kills them, and counts it
    in ``native_crashes``. A worker silent for ``--hang-s`` seconds is killed and its
    input counted in ``hangs``. Crashing, hanging and escaping inputs are written to
    ``bench/.cache/fuzz/`` for reproduction.

Reported
    ``inputs``; ``escaped_exceptions``: inputs for which an exception escaped
    ``scan_many`` or whose Verdict is an ``internal_error`` (the pipeline's catch-all:
    still a bug); ``native_crashes``; ``hangs``; ``slowest_s`` (one input, with
    ``slowest_input`` and its ``slowest_kind``); ``peak_rss_mb`` (largest worker);
    ``by_code``: Verdicts per error code, ``ok`` for no error; ``inputs_per_s``;
    ``full_pipeline_inputs``; ``wall_s``; ``examples``: the first escapes/crashes.
    There is no peer library for this; the ``internal_*`` counts are the comparison
    that matters (they must be 0).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import queue
import random
import resource
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from bench.common import CACHE, emit

CRASH_DIR = CACHE / "fuzz"
STARTUP_S = 300.0
"""Longest a worker may take to import and load the model (the machine may be busy)."""
WORKER_MEMORY = 6 << 30
"""Address-space limit of a worker: a runaway allocation is a MemoryError, not the OOM killer."""


# --- seeds ------------------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    name: str
    kind: str  # the framing its mutations follow: jpeg, png, gif, bmp, tiff, riff, iso, ebml
    data: bytes


def _photos() -> list[Any]:
    from PIL import Image

    samples = resources.files("jikimi.data").joinpath("samples")
    out = []
    for name in ("astronaut.jpg", "coffee.jpg", "rocket.jpg"):
        with samples.joinpath(name).open("rb") as fh:
            out.append(Image.open(io.BytesIO(fh.read())).convert("RGB"))
    return out


def _save(image: Any, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


@cache
def seeds() -> tuple[Seed, ...]:
    """Every seed, made in memory (deterministic: same bytes in every worker)."""
    from PIL import Image

    astronaut, coffee, rocket = _photos()
    small = astronaut.resize((48, 48))
    wide = coffee.resize((64, 40))
    tall = rocket.resize((30, 60))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate
    exif[0x0131] = "fuzz"  # Software
    out = [
        Seed("jpeg", "jpeg", _save(small, "JPEG", quality=80)),
        Seed("jpeg-progressive", "jpeg", _save(wide, "JPEG", progressive=True)),
        Seed("jpeg-grey", "jpeg", _save(tall.convert("L"), "JPEG")),
        Seed("jpeg-cmyk", "jpeg", _save(small.convert("CMYK"), "JPEG")),
        Seed("jpeg-exif", "jpeg", _save(wide, "JPEG", exif=exif.tobytes(), comment=b"c")),
        Seed("jpeg-restarts", "jpeg", _save(wide, "JPEG", restart_marker_blocks=2)),
        Seed("png", "png", _save(wide, "PNG")),
        Seed("png-rgba", "png", _save(small.convert("RGBA"), "PNG")),
        Seed("png-palette", "png", _save(tall.convert("P"), "PNG", optimize=True)),
        Seed("png-16", "png", _save(Image.fromarray(_deep(tall)), "PNG")),
        Seed("png-adam7", "png", _adam7_png(wide)),
        Seed("png-apng", "png", _animated([tall, tall.rotate(90), tall], "PNG")),
        Seed("webp", "riff", _save(small, "WEBP", quality=60)),
        Seed("webp-lossless", "riff", _save(tall, "WEBP", lossless=True)),
        Seed("webp-animated", "riff", _animated([small, small.rotate(90)], "WEBP")),
        Seed("gif", "gif", _save(wide.convert("P"), "GIF")),
        Seed("gif-animated", "gif", _animated([tall, tall.rotate(180), tall], "GIF")),
        Seed("bmp", "bmp", _save(tall, "BMP")),
        Seed("tiff", "tiff", _save(small, "TIFF")),
        Seed("tiff-deflate", "tiff", _save(wide, "TIFF", compression="tiff_adobe_deflate")),
        Seed("tiff-pages", "tiff", _animated([tall, tall.rotate(90)], "TIFF")),
        # metadata for the provenance readers: generator text, XMP, EXIF UserComment
        Seed("png-generator", "png", _save(small, "PNG", pnginfo=_png_text())),
        Seed("jpeg-xmp", "jpeg", _save(small, "JPEG", xmp=XMP, exif=_exif_comment())),
        Seed("webp-xmp", "riff", _save(small, "WEBP", xmp=XMP, exif=_exif_comment())),
        Seed("gif-comment", "gif", _save(tall.convert("P"), "GIF", comment=PARAMETERS)),
    ]
    frames = [wide.rotate(15 * i) for i in range(6)]
    out += [
        Seed("mp4", "iso", _video("mp4", "libx264", frames)),
        Seed("mp4-fragmented", "iso", _video("mp4", "libx264", frames, fragmented=True)),
        Seed("mov", "iso", _video("mov", "mpeg4", frames)),
        Seed("webm-vp9", "ebml", _video("webm", "libvpx-vp9", frames)),
        Seed("webm-vp8", "ebml", _video("webm", "libvpx", frames)),
        Seed("mkv", "ebml", _video("matroska", "libx264", frames)),
        Seed("avi", "riff", _video("avi", "mpeg4", frames)),
    ]
    return tuple(out)


PARAMETERS = (
    b"a photo of a lighthouse\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, "
    b"CFG scale: 7, Seed: 1, Size: 48x48, Model hash: 0123456789, Model: sd_xl_base_1.0"
)
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    b'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/'
    b'trainedAlgorithmicMedia" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
    b'xmp:CreatorTool="Adobe Firefly"/></rdf:RDF></x:xmpmeta>'
)


def _png_text() -> Any:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", PARAMETERS.decode())
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    info.add_text("Software", "ComfyUI", zip=True)
    return info


def _exif_comment() -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x9286] = b"UNICODE\x00" + PARAMETERS.decode().encode("utf-16-be")  # UserComment
    exif[0x0131] = "Midjourney"
    return exif.tobytes()


def _deep(image: Any) -> Any:
    import numpy as np

    return (np.asarray(image.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)


def _animated(images: list[Any], fmt: str, duration: int | list[int] = 100) -> bytes:
    return _save(images[0], fmt, save_all=True, append_images=images[1:], duration=duration)


def _adam7_png(image: Any) -> bytes:
    import av
    import numpy as np

    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = image.width, image.height, "rgb24"
    codec.flags |= av.codec.context.Flags.interlaced_dct
    frame = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")
    return b"".join(bytes(p) for p in codec.encode(frame))


def _video(
    fmt: str, codec: str, frames: Sequence[Any], *, fragmented: bool = False, fps: int = 5
) -> bytes:
    import av
    import numpy as np

    options = {"movflags": "frag_keyframe+empty_moov"} if fragmented else {}
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt, options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames[0].width // 2 * 2, frames[0].height // 2 * 2
        stream.pix_fmt = "yuv420p"
        for image in frames:
            rgb = np.asarray(image.resize((stream.width, stream.height)))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return buf.getvalue()


# --- mutations -------------------------------------------------------------------

INTERESTING_8 = (0x00, 0x01, 0x7F, 0x80, 0xFF)
INTERESTING_32 = (0, 1, 2, 7, 8, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
EXTREME_SIDES = (0, 1, 2, 3, 4, 5, 255, 1281, 8193, 30000, 30001, 65535, 0x7FFF_FFFF)


def bit_flips(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(len(out))
        out[pos] ^= 1 << rng.randrange(8)
    return bytes(out)


def interesting_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(len(out))] = rng.choice(INTERESTING_8)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    if rng.random() < 0.4:
        return data[: max(1, len(data) - rng.randint(1, 64))]  # a few bytes short
    return data[: rng.randint(1, len(data))]


def insert(rng: random.Random, data: bytes) -> bytes:
    pos = rng.randrange(len(data) + 1)
    return data[:pos] + rng.randbytes(rng.randint(1, 64)) + data[pos:]


def delete(rng: random.Random, data: bytes) -> bytes:
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 256) :]


def duplicate(rng: random.Random, data: bytes) -> bytes:
    start = rng.randrange(len(data))
    end = min(len(data), start + rng.randint(1, 512))
    at = rng.randrange(len(data) + 1)
    return data[:at] + data[start:end] * rng.randint(1, 4) + data[at:]


def splice(rng: random.Random, data: bytes) -> bytes:
    other = rng.choice(seeds()).data
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other)) :]


def _fields(data: bytes, kind: str) -> list[tuple[int, int, str]]:
    """(offset, width in bytes, byte order) of the length fields of a file's framing."""
    walkers: dict[str, Callable[[bytes], Iterator[tuple[int, int, str]]]] = {
        "png": _png_lengths,
        "jpeg": _jpeg_lengths,
        "iso": lambda d: _iso_sizes(d, 0, len(d), 0),
        "riff": lambda d: _riff_sizes(d, 12, len(d), 0),
        "gif": _gif_sizes,
        "ebml": _ebml_sizes,
        "bmp": lambda d: iter([(2, 4, "<"), (10, 4, "<"), (14, 4, "<"), (34, 4, "<")]),
        "tiff": _tiff_fields,
    }
    try:
        return list(walkers[kind](data))
    except (IndexError, struct.error, ValueError):
        return []


def length_field(rng: random.Random, data: bytes, kind: str) -> bytes:
    fields = _fields(data, kind)
    if not fields:
        return bit_flips(rng, data)
    offset, width, order = rng.choice(fields)
    if offset + width > len(data):
        return bit_flips(rng, data)
    old = int.from_bytes(data[offset : offset + width], "big" if order == ">" else "little")
    choice = rng.random()
    if choice < 0.5:
        value = rng.choice(INTERESTING_32)
    elif choice < 0.8:
        value = old + rng.choice((-1, 1, -8, 8, len(data), -old))
    else:
        value = rng.getrandbits(8 * width)
    value %= 1 << (8 * width)
    raw = value.to_bytes(width, "big" if order == ">" else "little")
    return data[:offset] + raw + data[offset + width :]


def _png_lengths(data: bytes) -> Iterator[tuple[int, int, str]]:
    pos = 8
    while pos + 8 <= len(data):
        yield pos, 4, ">"
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")


def _jpeg_lengths(data: bytes) -> Iterator[tuple[int, int, str]]:
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xD8, 0xD9) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        yield pos + 2, 2, ">"
        if marker == 0xC0 or marker == 0xC2:  # SOF: height, width
            yield pos + 5, 2, ">"
            yield pos + 7, 2, ">"
        if marker == 0xDA:
            return
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")


_ISO_CONTAINERS = frozenset(
    {
        b"moov",
        b"trak",
        b"mdia",
        b"minf",
        b"stbl",
        b"edts",
        b"dinf",
        b"moof",
        b"traf",
        b"mvex",
        b"udta",
    }
)


def _iso_sizes(data: bytes, start: int, end: int, depth: int) -> Iterator[tuple[int, int, str]]:
    pos = start
    while pos + 8 <= end and depth < 8:
        size = int.from_bytes(data[pos : pos + 4], "big")
        yield pos, 4, ">"
        kind = data[pos + 4 : pos + 8]
        if size < 8:
            return
        if kind in _ISO_CONTAINERS:
            yield from _iso_sizes(data, pos + 8, min(end, pos + size), depth + 1)
        elif kind in (b"stsz", b"stco", b"stts", b"stsc", b"stss", b"ctts"):
            yield pos + 12, 4, ">"  # entry count
            yield pos + 16, 4, ">"
        pos += size


def _riff_sizes(data: bytes, start: int, end: int, depth: int) -> Iterator[tuple[int, int, str]]:
    yield 4, 4, "<"
    pos = start
    while pos + 8 <= end and depth < 6:
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        yield pos + 4, 4, "<"
        kind = data[pos : pos + 4]
        if kind == b"VP8X":
            yield pos + 12, 3, "<"  # canvas width - 1
            yield pos + 15, 3, "<"
        if kind in (b"LIST", b"RIFF"):
            yield from _riff_sizes(data, pos + 12, min(end, pos + 8 + size), depth + 1)
        pos += 8 + size + (size & 1)


def _gif_sizes(data: bytes) -> Iterator[tuple[int, int, str]]:
    yield 6, 2, "<"  # logical screen
    yield 8, 2, "<"
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while pos < len(data):
        if data[pos] == 0x2C:
            for field_at in (1, 3, 5, 7):
                yield pos + field_at, 2, "<"
            lct = data[pos + 9]
            pos += 10 + (3 << ((lct & 7) + 1) if lct & 0x80 else 0) + 1
        elif data[pos] == 0x21:
            pos += 2
        else:
            return
        while pos < len(data) and data[pos]:
            yield pos, 1, "<"
            pos += 1 + data[pos]
        pos += 1


def _ebml_sizes(data: bytes) -> Iterator[tuple[int, int, str]]:
    for pos in range(min(len(data) - 1, 400)):
        if data[pos] in (0x1A, 0x18, 0x16, 0x15, 0x1F, 0xA3, 0xAE, 0xE0):
            yield pos + 4 if data[pos] in (0x1A, 0x18, 0x16, 0x15, 0x1F) else pos + 1, 1, ">"


def _tiff_fields(data: bytes) -> Iterator[tuple[int, int, str]]:
    order = "<" if data[:2] == b"II" else ">"
    endian = "little" if order == "<" else "big"
    ifd = int.from_bytes(data[4:8], endian)
    yield 4, 4, order
    count = int.from_bytes(data[ifd : ifd + 2], endian)
    yield ifd, 2, order
    for i in range(min(count, 64)):
        entry = ifd + 2 + 12 * i
        yield entry + 4, 4, order  # value count
        yield entry + 8, 4, order  # value or offset


def dimensions(rng: random.Random, data: bytes, kind: str) -> bytes:
    """A header's width/height set to an extreme (PNG: CRC fixed so it is believed)."""
    side = rng.choice(EXTREME_SIDES)
    out = bytearray(data)
    if kind == "png" and len(data) >= 33:
        at = 16 + 4 * rng.randrange(2)
        out[at : at + 4] = side.to_bytes(4, "big")
        out[29:33] = struct.pack(">I", zlib.crc32(bytes(out[12:29])))
        return bytes(out)
    fields = [f for f in _fields(data, kind) if f[1] in (2, 3, 4)][:12]
    if not fields:
        return bit_flips(rng, data)
    offset, width, order = rng.choice(fields)
    value = side % (1 << (8 * width))
    out[offset : offset + width] = value.to_bytes(width, "big" if order == ">" else "little")
    return bytes(out)


_MUTATORS: tuple[Callable[[random.Random, bytes], bytes], ...] = (
    bit_flips,
    bit_flips,
    interesting_bytes,
    truncate,
    truncate,
    insert,
    delete,
    duplicate,
    splice,
)


# --- generated edge cases ----------------------------------------------------------

EDGE_SIZES = (
    (1, 1), (1, 2), (2, 1), (1, 1281), (1281, 1), (2000, 2), (2, 2000), (1, 30000),
    (30000, 1), (2, 5000), (5000, 3), (7, 30000), (4, 4), (5, 5), (640, 1),
)  # fmt: skip


def edge_case(rng: random.Random) -> tuple[str, bytes]:
    """A valid file at the limits: extreme sizes and aspect ratios, frame counts."""
    from PIL import Image

    choice = rng.random()
    if choice < 0.55:
        width, height = rng.choice(EDGE_SIZES)
        fmt = rng.choice(("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"))
        if fmt == "WEBP" and max(width, height) > 16383:
            fmt = "PNG"  # WebP cannot hold it
        if fmt == "JPEG" and max(width, height) > 65500:
            fmt = "PNG"
        mode = rng.choice(("L", "RGB", "RGBA", "P", "1")) if fmt in ("PNG", "TIFF") else "RGB"
        image = Image.new(mode, (width, height), rng.randrange(256) if mode in "LP1" else None)
        return f"edge-{fmt.lower()}-{width}x{height}", _save(image, fmt)
    if choice < 0.85:
        count = rng.choice((1, 2, 3, 50, 400))
        side = rng.choice((1, 4, 8, 16))
        fmt = rng.choice(("GIF", "WEBP"))
        delays = rng.choice((0, 10, 100, 65535)) if fmt == "GIF" else rng.choice((0, 1, 100))
        frames = [
            Image.new("RGB", (side, side), (i * 7 % 256, 0, 255 - i % 256)) for i in range(count)
        ]
        return f"edge-{fmt.lower()}-{count}f-{side}px", _animated(frames, fmt, delays)
    count = rng.choice((1, 2, 30, 600))
    base = Image.new("RGB", (16, 16))
    fmt = rng.choice(("mp4", "webm"))
    codec = "libx264" if fmt == "mp4" else "libvpx-vp9"
    fps = rng.choice((1, 30, 240))
    frames = [base.rotate(i) for i in range(count)]
    return f"edge-{fmt}-{count}f-{fps}fps", _video(fmt, codec, frames, fps=fps)


def make_input(seed: int, index: int) -> tuple[str, bytes]:
    """Input ``index`` of a run: (what it is, its bytes). Deterministic."""
    rng = random.Random(f"{seed}:{index}")
    if rng.random() < 0.03:
        return edge_case(rng)
    base = rng.choice(seeds())
    data, steps = base.data, []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not data:
            break
        if rng.random() < 0.35:
            mutator = rng.choice((length_field, dimensions))
            data = mutator(rng, data, base.kind)
        else:
            mutator = rng.choice(_MUTATORS)
            data = mutator(rng, data)
        steps.append(mutator.__name__)
    return f"{base.name}:{'+'.join(steps)}", data


# --- the worker --------------------------------------------------------------------


def _worker(seed: int, full_every: int) -> None:
    """Scan the batches named on stdin; one JSON line per input on stdout."""
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    import logging

    logging.disable(logging.CRITICAL)  # the pipeline logs its catch-all; we count it
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # FFmpeg/libjpeg chatter stays off the pipe
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    fast, full = _scanners()
    full.warm_up()  # the model loads before the clock starts
    seeds()
    from jikimi.pipeline import Item

    out.write('{"ready": true}\n')

    # The harness's own test: a worker that dies or hangs on a given input.
    crash_at = int(os.environ.get("JIKIMI_FUZZ_CRASH_AT", "-1"))
    hang_at = int(os.environ.get("JIKIMI_FUZZ_HANG_AT", "-1"))
    for line in sys.stdin:
        for index in json.loads(line):
            if index == crash_at:
                os.kill(os.getpid(), signal.SIGSEGV)
            if index == hang_at:
                time.sleep(3600)
            _, data = make_input(seed, index)
            scanner = full if index % full_every == 0 else fast
            t0 = time.perf_counter()
            record: dict[str, Any] = {"i": index}
            try:
                verdict = scanner.scan_many([Item(data, {"i": index})])[0]
                code = verdict.error.code if verdict.error is not None else "ok"
                record["code"] = code
                if verdict.error is not None and code == "internal_error":
                    record["escaped"] = f"internal_error: {verdict.error.message[:300]}"
            except Exception as exc:  # counting them is the point
                record["code"] = "escaped"
                tb = traceback.extract_tb(exc.__traceback__)[-1]
                where = f"{Path(tb.filename).name}:{tb.lineno}"
                record["escaped"] = f"{type(exc).__name__}: {str(exc)[:200]} at {where}"
            record["t"] = round(time.perf_counter() - t0, 4)
            record["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            out.write(json.dumps(record) + "\n")
        out.write('{"done": true}\n')


def _scanners() -> tuple[Any, Any]:
    from jikimi.config import Settings
    from jikimi.detectors.grade import GradeDetector
    from jikimi.domain import Region
    from jikimi.pipeline import Scanner

    class DecodeOnly(GradeDetector):
        """Decodes and letterboxes exactly as the real detector, skips the inference."""

        def detect(self, pictures: Sequence[Any]) -> list[tuple[Region, ...]]:
            for picture in pictures:
                self._prepare(picture)
            return [() for _ in pictures]

    settings = Settings(grade_threads=1, video_decode_threads=1)
    full = Scanner.from_settings(settings)
    fast = Scanner.from_settings(settings)
    fast.grade = DecodeOnly(input_size=settings.grade_input_size, threads=1)
    return fast, full


# --- the parent --------------------------------------------------------------------


@dataclass
class Tally:
    inputs: int = 0
    full: int = 0
    escaped: int = 0
    crashes: int = 0
    hangs: int = 0
    slowest: tuple[float, int] = (0.0, -1)
    rss_mb: int = 0
    by_code: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: dict[str, Any], full_every: int, seed: int) -> None:
        with self.lock:
            self.inputs += 1
            self.full += record["i"] % full_every == 0
            self.by_code[record["code"]] += 1
            if record["t"] > self.slowest[0]:
                self.slowest = (record["t"], record["i"])
            self.rss_mb = max(self.rss_mb, record.get("rss", 0))
            if "escaped" in record:
                self.escaped += 1
                self._example("escaped", record["i"], seed, record["escaped"])

    def failed(self, what: str, index: int, seed: int, detail: str, *, counted: bool) -> None:
        """A worker died or hung on input ``index`` (``counted``: its Verdict was
        already counted by a re-run that survived it)."""
        with self.lock:
            if not counted:
                self.inputs += 1
                self.by_code[what] += 1
            if what == "native_crash":
                self.crashes += 1
            else:
                self.hangs += 1
            self._example(what, index, seed, detail)

    def _example(self, what: str, index: int, seed: int, detail: str) -> None:
        name, data = make_input(seed, index)
        CRASH_DIR.mkdir(parents=True, exist_ok=True)
        (CRASH_DIR / f"{what}-{seed}-{index}.bin").write_bytes(data)
        if len(self.examples) < 10:
            self.examples.append({"what": what, "input": index, "seed": name, "detail": detail})


class Worker:
    """One worker process, fed batches; reports whether it survived each."""

    def __init__(self, seed: int, full_every: int) -> None:
        cmd = [sys.executable, "-m", "bench.fuzz", "--worker", "--seed", str(seed)]
        cmd += ["--full-every", str(full_every)]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.ready = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def run(
        self, batch: list[int], on_record: Callable[[dict[str, Any]], None], hang_s: float
    ) -> tuple[str, int] | None:
        """Scan ``batch``; ``None`` if every input was reported, else why the worker
        stopped ("crash:SIGSEGV" / "hang") and the first input not reported."""
        assert self.proc.stdin is not None
        pending = list(batch)
        try:
            self.proc.stdin.write(json.dumps(batch) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        while True:
            try:
                line = self.lines.get(timeout=hang_s if self.ready else max(hang_s, STARTUP_S))
            except queue.Empty:
                self.kill()
                return "hang", pending[0]
            if line is None:
                code = self.proc.wait()
                why = f"crash:{signal.Signals(-code).name}" if code < 0 else f"exit:{code}"
                return why, pending[0] if pending else -1
            record = json.loads(line)
            if record.get("ready"):
                self.ready = True
                continue
            if record.get("done"):
                return None
            pending.remove(record["i"])
            on_record(record)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def run(
    n: int, seed: int, jobs: int, batch: int, full_every: int, hang_s: float, max_s: float
) -> dict[str, Any]:
    tally = Tally()
    deadline = time.monotonic() + max_s if max_s > 0 else float("inf")
    batches: queue.Queue[list[int]] = queue.Queue()
    for start in range(0, n, batch):
        batches.put(list(range(start, min(n, start + batch))))

    def on_record(record: dict[str, Any]) -> None:
        tally.add(record, full_every, seed)

    def drive() -> None:
        worker = Worker(seed, full_every)
        while time.monotonic() < deadline:
            try:
                todo = batches.get_nowait()
            except queue.Empty:
                break
            stopped = worker.run(todo, on_record, hang_s)
            with tally.lock:
                done, escaped, crashes = tally.inputs, tally.escaped, tally.crashes
            print(f"fuzz: {done} inputs, {escaped} escaped, {crashes} crashes", file=sys.stderr)
            while stopped is not None:
                # The worker died or hung: its batch is lost from the first input it did
                # not report. That input runs alone in a fresh worker (is it the culprit?),
                # then the rest of the batch in another, one reported input at a time.
                why, suspect = stopped
                worker.kill()
                worker = Worker(seed, full_every)
                again = worker.run([suspect], on_record, hang_s)
                what = "hang" if why == "hang" else "native_crash"
                name = make_input(seed, suspect)[0]
                if again is None:
                    detail = f"{why} in a batch, not alone ({name})"
                    tally.failed(what, suspect, seed, detail, counted=True)
                else:
                    what = "hang" if again[0] == "hang" else "native_crash"
                    tally.failed(what, suspect, seed, f"{again[0]} ({name})", counted=False)
                    worker.kill()
                    worker = Worker(seed, full_every)
                todo = todo[todo.index(suspect) + 1 :]
                stopped = worker.run(todo, on_record, hang_s) if todo else None
        worker.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=drive) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return {
        "name": "fuzz",
        "inputs": tally.inputs,
        "escaped_exceptions": tally.escaped,
        "native_crashes": tally.crashes,
        "hangs": tally.hangs,
        "slowest_s": tally.slowest[0],
        "slowest_input": tally.slowest[1],
        "slowest_kind": make_input(seed, tally.slowest[1])[0] if tally.slowest[1] >= 0 else None,
        "peak_rss_mb": max(tally.rss_mb, children),
        "by_code": dict(tally.by_code.most_common()),
        "inputs_per_s": round(tally.inputs / wall, 1),
        "full_pipeline_inputs": tally.full,
        "seeds": len(seeds()),
        "seed": seed,
        "jobs": jobs,
        "wall_s": round(wall, 1),
        "examples": tally.examples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="finish in under 60 seconds")
    parser.add_argument("--n", type=int, default=0, help="inputs (default 20000; quick 500)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--batch", type=int, default=0, help="inputs per worker batch")
    parser.add_argument("--full-every", type=int, default=10, help="1 = every input full")
    parser.add_argument("--hang-s", type=float, default=90.0, help="silence that means a hang")
    parser.add_argument("--max-s", type=float, default=0, help="start no batch after this time")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--show", type=int, default=-1, help="write input I to a file, exit")
    args = parser.parse_args()
    if args.worker:
        _worker(args.seed, args.full_every)
        return
    if args.show >= 0:
        what, data = make_input(args.seed, args.show)
        path = CRASH_DIR / f"input-{args.seed}-{args.show}.bin"
        CRASH_DIR.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"{what}: {len(data)} bytes in {path}")
        return
    n = args.n or (500 if args.quick else 20_000)
    batch = args.batch or (50 if args.quick else 500)
    if args.quick and not args.max_s:
        args.max_s = 35.0  # a busy machine runs fewer inputs, never past 60 s
    full_every = max(1, args.full_every)
    emit(run(n, args.seed, args.jobs, batch, full_every, args.hang_s, args.max_s))


if __name__ == "__main__":
    main()
