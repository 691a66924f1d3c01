"""Benchmark the nudity detector against NudeNet itself: same weights, same images.

``python -m bench.grade [--quick]``

Ours is ``GradeDetector`` on Pictures loaded from bytes in memory (decode
included); the peer is ``nudenet.NudeDetector().detect(path)``, the way NudeNet
is normally used. Both run in this process, interleaved, so they share the
machine's noise. Images: the ThreatExchange conformance photos, the scikit-image
sample photos, and large JPEGs (4 MP, 12 MP) made by upscaling natural photos,
cached in ``bench/.cache/grade``.

Two timings, both in milliseconds per image:

- ``ours_ms`` / ``peer_ms`` (and ``speedup``): the whole set per call, the way
  ``Scanner.scan_many`` calls the detector (batched, image-parallel), against
  NudeNet image by image; rounds interleaved set by set.
- ``ours_single_ms`` / ``peer_single_ms`` (``speedup_single``): one image per
  call on both sides (latency), interleaved image by image.

``agreement`` is the fraction of images whose detections, in both modes, are the
same as NudeNet's (same labels in the same order, IoU >= 0.9, score within
0.02): the speed must not change what is found. The last line is one JSON object.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from bench.common import CACHE, SHARED, emit, interleaved, parse_args
from jikimi.config import Settings
from jikimi.detectors.grade import GradeDetector
from jikimi.domain import Region
from jikimi.media import MediaLimits, load

SKIMAGE_PHOTOS = (
    "astronaut.png",
    "camera.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
)
LARGE = {"4mp": 4_000_000, "12mp": 12_000_000}
LARGE_SOURCES = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class BenchImage:
    """One benchmark input: where it is, its bytes, and its group for the report."""

    path: Path
    data: bytes
    group: str


def skimage_dir() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def large_photos(quick: bool) -> list[Path]:
    """4 MP and 12 MP JPEGs upscaled (Lanczos) from natural photos, made once."""
    out = CACHE / "grade"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    sources = LARGE_SOURCES[:2] if quick else LARGE_SOURCES
    for name in sources:
        for tag, pixels in LARGE.items():
            path = out / f"{Path(name).stem}-{tag}.jpg"
            if not path.exists():
                with Image.open(skimage_dir() / name) as im:
                    rgb = im.convert("RGB")
                scale = (pixels / (rgb.width * rgb.height)) ** 0.5
                size = (round(rgb.width * scale), round(rgb.height * scale))
                rgb.resize(size, Image.Resampling.LANCZOS).save(path, quality=90)
            paths.append(path)
    return paths


def images(quick: bool) -> list[BenchImage]:
    conformance = sorted(
        p for p in (SHARED / "pdq").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
    )
    photos = SKIMAGE_PHOTOS
    if quick:  # every third conformance file, the first four sample photos
        conformance, photos = conformance[::3], photos[:4]
    groups = [
        ("conformance", conformance),
        ("skimage", [skimage_dir() / n for n in photos]),
        *((tag, [p for p in large_photos(quick) if p.stem.endswith(tag)]) for tag in LARGE),
    ]
    return [BenchImage(p, p.read_bytes(), g) for g, paths in groups for p in paths]


def same(ours: Sequence[Region], theirs: Sequence[dict[str, Any]]) -> bool:
    """Same detections: labels in order, IoU >= 0.9, score within 0.02."""
    return len(ours) == len(theirs) and all(
        o.label == t["class"] and abs(o.score - t["score"]) <= 0.02 and iou(o.box, t["box"]) >= 0.9
        for o, t in zip(ours, theirs, strict=True)
    )


def iou(a: Sequence[int], b: Sequence[int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    union = aw * ah + bw * bh - iw * ih
    return iw * ih / union if union > 0 else 1.0


def main() -> None:
    args = parse_args("GradeDetector vs nudenet.NudeDetector().detect on the same images")
    rounds = args.repeat or (3 if args.quick else 7)
    settings = Settings()
    limits = MediaLimits.from_settings(settings)
    detector = GradeDetector.from_settings(settings)

    from nudenet import NudeDetector  # the peer; imported only here

    peer = NudeDetector()
    t0 = time.perf_counter()
    detector.load()
    inputs = images(args.quick)
    n = len(inputs)
    print(f"{n} images, {rounds} rounds; agreement pass ...", file=sys.stderr)

    def ours_all() -> list[tuple[Region, ...]]:
        return detector.detect([load(img.data, limits) for img in inputs])

    def peer_all() -> list[list[dict[str, Any]]]:
        return [peer.detect(str(img.path)) for img in inputs]

    def ours_one(img: BenchImage) -> tuple[Region, ...]:
        return detector.detect([load(img.data, limits)])[0]

    def peer_one(img: BenchImage) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = peer.detect(str(img.path))
        return result

    reference = peer_all()
    batched = ours_all()
    single = [ours_one(img) for img in inputs]
    disagree = [
        img.path.name
        for img, b, s, r in zip(inputs, batched, single, reference, strict=True)
        if not (same(b, r) and same(s, r))
    ]

    # Throughput: the whole set per call, as Scanner.scan_many does (batched).
    ours_ms, peer_ms = (t / n for t in interleaved(ours_all, peer_all, rounds))
    # Latency: one image per call, interleaved image by image.
    per_group: dict[str, list[tuple[float, float]]] = {}
    for img in inputs:
        o, p = interleaved(lambda img=img: ours_one(img), lambda img=img: peer_one(img), rounds)
        per_group.setdefault(img.group, []).append((o, p))
    all_single = [t for ts in per_group.values() for t in ts]
    ours_single = statistics.fmean(o for o, _ in all_single)
    peer_single = statistics.fmean(p for _, p in all_single)

    print(
        f"{'batched':12s} n={n:3d}  ours {ours_ms:7.1f} ms  nudenet {peer_ms:7.1f} ms  "
        f"x{peer_ms / ours_ms:.2f}",
        file=sys.stderr,
    )
    for group, ts in per_group.items():
        o, p = statistics.fmean(t[0] for t in ts), statistics.fmean(t[1] for t in ts)
        print(
            f"{group:12s} n={len(ts):3d}  ours {o:7.1f} ms  nudenet {p:7.1f} ms  x{p / o:.2f}"
            "  (one image per call)",
            file=sys.stderr,
        )
    if disagree:
        print(f"disagree: {', '.join(disagree)}", file=sys.stderr)
    emit(
        {
            "name": "grade",
            "images": n,
            "rounds": rounds,
            "ours_ms": round(ours_ms, 2),
            "peer_ms": round(peer_ms, 2),
            "speedup": round(peer_ms / ours_ms, 3),
            "agreement": round(1 - len(disagree) / n, 4),
            "ours_single_ms": round(ours_single, 2),
            "peer_single_ms": round(peer_single, 2),
            "speedup_single": round(peer_single / ours_single, 3),
            "workers": detector.workers,
            "batch_size": detector.batch_size,
            "groups_single": {
                g: {
                    "ours_ms": round(statistics.fmean(t[0] for t in ts), 2),
                    "peer_ms": round(statistics.fmean(t[1] for t in ts), 2),
                }
                for g, ts in per_group.items()
            },
            "wall_s": round(time.perf_counter() - t0, 1),
        }
    )


if __name__ == "__main__":
    main()
