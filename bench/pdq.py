"""Benchmark PDQ hashing against threatexchange, and check we stay on the reference.

``python -m bench.pdq [--quick] [--repeat N]``   timing + conformance (last line: JSON)
``python -m bench.pdq --sweep``                  how the JPEG decode floor costs bits

Ours: read bytes -> ``jikimi.media.load`` -> ``PdqSignal.hash_picture`` (decode
included). Peer: ``threatexchange``'s ``PdqSignal.hash_from_file``, the path Meta's
HMA uses (Pillow full decode, pdqhash on every pixel). Both run in this process,
interleaved round by round on each image (``bench.common.interleaved``), so they
share the machine's noise.

Images: the ThreatExchange conformance photos (``expected.csv``) and large JPEGs at
1, 4 and 12 MP made from scikit-image's natural photos (centre-cropped to 4:3,
Lanczos upscale, Gaussian noise sigma 3, quality 90), cached in
``bench/.cache/pdq``.

Reported: per-group median milliseconds per image, overall ``ours_ms`` / ``peer_ms``
(mean over all images of the per-image medians) and ``speedup``;
``max_bits_to_reference``: our worst distance to ``expected.csv`` (the reference
C++ output); ``peer_max_bits_to_reference`` the same for threatexchange;
``large_max_bits_to_reference_path``: on the large photos, our worst distance to the
reference's own pipeline (full decode, 512 x 512 nearest-neighbour resize, pdqhash),
which is what the DCT-scaled decode could cost.

``--sweep`` recomputes the table in ``jikimi.signals.pdq``'s docstring: for each
candidate decode floor, and for threatexchange's way (row ``te``), the distance to
the reference pipeline on 126 generated photos (9 sources, 4 aspect ratios,
1-12 MP, noise sigma 0-10), made in memory (about 3 minutes).
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pdqhash
from PIL import Image

from bench.common import CACHE, SHARED, emit, interleaved, parse_args
from jikimi.config import Settings
from jikimi.media import MediaLimits, Picture, load
from jikimi.signals import PdqSignal, hamming_hex
from jikimi.signals.pdq import DECODE_MIN_SIDE, reference_resize

LARGE_SIZES = {"1mp": (1152, 864), "4mp": (2304, 1728), "12mp": (4000, 3000)}
LARGE_SOURCES = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg")
NOISE_SIGMA = 3.0
ROUNDS = {True: 3, False: 7}  # quick, full

SWEEP_SOURCES = (
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "retina.jpg",
    "hubble_deep_field.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "camera.png",
)
SWEEP_ASPECTS = {"4:3": (4, 3), "9:16": (9, 16), "1:1": (1, 1), "21:9": (21, 9)}
SWEEP_FLOORS = (256, 384, 512, 768, 1024)
NO_RESIZE = "te"
"""Sweep row of threatexchange's way: full decode, no 512 resize."""


@dataclass(frozen=True)
class Sample:
    """One input: its file, its bytes, its report group, and the reference hash if known."""

    path: Path
    data: bytes
    group: str
    reference: str | None


# --- inputs --------------------------------------------------------------------


def skimage_photo(name: str) -> Image.Image:
    import skimage

    with Image.open(Path(skimage.__file__).parent / "data" / name) as im:
        return im.convert("RGB")


def make_large(source: Image.Image, size: tuple[int, int], sigma: float, seed: int) -> bytes:
    """A natural photo cropped to the aspect of ``size``, upscaled, noised, JPEG q90."""
    w, h = size
    sw, sh = source.size
    if sw * h > sh * w:  # too wide: crop the sides
        cw = sh * w // h
        box = ((sw - cw) // 2, 0, (sw - cw) // 2 + cw, sh)
    else:
        ch = sw * h // w
        box = (0, (sh - ch) // 2, sw, (sh - ch) // 2 + ch)
    big = np.asarray(source.crop(box).resize(size, Image.Resampling.LANCZOS), np.float32)
    if sigma > 0:
        big = big + np.random.default_rng(seed).normal(0.0, sigma, big.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(big, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def large_samples(quick: bool) -> list[Sample]:
    """The 1/4/12 MP photos, generated once into ``bench/.cache/pdq``."""
    out = CACHE / "pdq"
    out.mkdir(parents=True, exist_ok=True)
    samples = []
    for seed, name in enumerate(LARGE_SOURCES[:2] if quick else LARGE_SOURCES):
        for group, size in LARGE_SIZES.items():
            path = out / f"{Path(name).stem}-{group}.jpg"
            if not path.exists():
                path.write_bytes(make_large(skimage_photo(name), size, NOISE_SIGMA, seed))
            samples.append(Sample(path, path.read_bytes(), group, None))
    return samples


def conformance_samples() -> list[Sample]:
    with (SHARED / "pdq" / "expected.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        Sample(SHARED / r["path"], (SHARED / r["path"]).read_bytes(), "conformance", r["pdq"])
        for r in rows
    ]


# --- hashing -------------------------------------------------------------------


def ours(path: Path, limits: MediaLimits) -> str:
    """What the pipeline does: bytes from disk, load, hash."""
    return PdqSignal.hash_picture(load(path.read_bytes(), limits)).value


def peer(path: Path) -> str:
    from threatexchange.signal_type.pdq.signal import PdqSignal as TePdq

    value: str = TePdq.hash_from_file(path)
    return value  # "" when quality < 50


def reference_path(picture: Picture) -> str:
    """The reference CLI's pipeline: full decode, 512 x 512 nearest resize, hash."""
    bits, _quality = pdqhash.compute(reference_resize(picture.rgb()))
    return np.packbits(np.asarray(bits, np.uint8)).tobytes().hex()


# --- modes ---------------------------------------------------------------------


def run_benchmark(quick: bool, repeat: int) -> dict[str, Any]:
    limits = MediaLimits.from_settings(Settings())
    samples = conformance_samples() + large_samples(quick)
    rounds = repeat or ROUNDS[quick]
    ours(samples[0].path, limits), peer(samples[0].path)  # warm imports and caches

    times: dict[str, list[tuple[float, float]]] = {}
    for s in samples:
        o, p = interleaved(lambda s=s: ours(s.path, limits), lambda s=s: peer(s.path), rounds)
        times.setdefault(s.group, []).append((o, p))

    to_ref, peer_to_ref, to_path = [], [], []
    for s in samples:
        mine = ours(s.path, limits)
        if s.reference is not None:
            to_ref.append(hamming_hex(mine, s.reference))
            theirs = peer(s.path)
            if theirs:
                peer_to_ref.append(hamming_hex(theirs, s.reference))
        else:
            to_path.append(hamming_hex(mine, reference_path(load(s.data, limits))))

    groups = {}
    print(f"{'group':12s} {'images':>6s} {'ours_ms':>9s} {'peer_ms':>9s} {'speedup':>8s}")
    for group, pairs in times.items():
        o = statistics.mean(t[0] for t in pairs)
        p = statistics.mean(t[1] for t in pairs)
        groups[group] = {"ours_ms": round(o, 2), "peer_ms": round(p, 2), "speedup": round(p / o, 2)}
        print(f"{group:12s} {len(pairs):6d} {o:9.2f} {p:9.2f} {p / o:8.2f}")
    all_pairs = [t for pairs in times.values() for t in pairs]
    ours_ms = statistics.mean(t[0] for t in all_pairs)
    peer_ms = statistics.mean(t[1] for t in all_pairs)
    print(f"bits to expected.csv: ours {to_ref}, threatexchange {peer_to_ref}")
    print(f"bits to the reference pipeline on large photos: {to_path}")
    return {
        "name": "pdq",
        "ours_ms": round(ours_ms, 2),
        "peer_ms": round(peer_ms, 2),
        "speedup": round(peer_ms / ours_ms, 2),
        "max_bits_to_reference": max(to_ref),
        "peer_max_bits_to_reference": max(peer_to_ref),
        "large_max_bits_to_reference_path": max(to_path),
        "decode_min_side": DECODE_MIN_SIDE,
        "images": len(samples),
        "rounds": rounds,
        "groups": groups,
    }


def sweep_photos() -> Iterator[tuple[str, bytes]]:
    """126 photos: 9 sources x 4 aspects x 1/4/12 MP, plus noise 0 and 10 at 12 MP 4:3."""
    for seed, name in enumerate(SWEEP_SOURCES):
        source = skimage_photo(name)
        for aspect, (aw, ah) in SWEEP_ASPECTS.items():
            for mp in (1, 4, 12):
                w = int((mp * 1e6 * aw / ah) ** 0.5)
                size = (w, w * ah // aw)
                sigmas = (0.0, 3.0, 10.0) if (aspect, mp) == ("4:3", 12) else (3.0,)
                for sigma in sigmas:
                    label = f"{Path(name).stem} {aspect} {mp}MP sigma={sigma:g}"
                    yield label, make_large(source, size, sigma, seed)


def run_sweep() -> dict[str, Any]:
    limits = MediaLimits.from_settings(Settings())
    bits: dict[str, list[int]] = {str(floor): [] for floor in SWEEP_FLOORS}
    bits[NO_RESIZE] = []
    for label, data in sweep_photos():
        picture = load(data, limits)
        reference = reference_path(picture)
        candidates = [reference_resize(picture.rgb(min_side=f)) for f in SWEEP_FLOORS]
        candidates.append(picture.rgb())  # threatexchange: every pixel, no resize
        row = []
        for key, pixels in zip(bits, candidates, strict=True):
            v, _q = pdqhash.compute(pixels)
            d = hamming_hex(np.packbits(np.asarray(v, np.uint8)).tobytes().hex(), reference)
            bits[key].append(d)
            row.append(d)
        print(f"{label:40s} {row}", flush=True)
    table = {}
    print(f"{'min_side':>10s} {'worst':>6s} {'mean':>6s} {'p95':>6s}")
    for key, ds in bits.items():
        stats = {"worst": max(ds), "mean": round(statistics.mean(ds), 2)}
        stats["p95"] = round(float(np.percentile(ds, 95)), 1)
        table[key] = stats
        print(f"{key:>10s} {stats['worst']:6d} {stats['mean']:6.2f} {stats['p95']:6.1f}")
    return {"name": "pdq-sweep", "photos": len(bits[NO_RESIZE]), "bits_to_reference": table}


def _extra(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sweep", action="store_true", help="measure decode floors (bits)")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "pdq", _extra)
    emit(run_sweep() if args.sweep else run_benchmark(args.quick, args.repeat))


if __name__ == "__main__":
    main()
