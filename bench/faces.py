"""Benchmark face protection against ``face_recognition`` (dlib HOG + ResNet), same images.

``python -m bench.faces [--quick] [--extra DIR]``

The peer is the library most people would pick: ``face_recognition.face_locations``
(dlib's HOG detector) and ``face_encodings`` (dlib's ResNet, 128-d), matched at
its documented tolerance (Euclidean distance ≤ 0.6). Ours is
:class:`jikimi.faces.FaceEngine` (YuNet + SFace through OpenCV) at
``Settings().face_threshold`` (cosine). Both run in this process on the same
decoded RGB arrays, one thread each (OpenCV and BLAS are set to one thread), and
are timed interleaved image by image.

Images (nothing is downloaded): scikit-image's ``astronaut``, the photos with
people of the benign corpus beside the repository (``shared/corpus/benign``),
and the images of ``--extra DIR`` (e.g. the ``face-recognition`` sdist's
``tests/test_images``). A *subject* image is one where our detector finds one
face of at least 48 px, and nothing at least half its size.

- **Time** (``ours_ms`` / ``peer_ms``): detection + a template for every face
  found, per image, median over the subject images.
- **True matches** (``tmr``): each subject face against the same photo
  varied in memory (mirrored, JPEG quality 40, greyscale, half scale, cropped
  to the head and shoulders): each system detects again in the variant and
  compares its largest face with the original's. A variant where a system
  finds no face counts as a miss for it.
- **False matches** (``fmr``): the subject faces of different images, pairwise.
  Near-duplicate images (PDQ within 31 bits: the same photo in two files) are
  left out; the same person in two different photos cannot be, so the rate is
  an upper bound.
- ``search_p50_ms_100k``: :class:`jikimi.faces.FaceIndex` with 100,000 persons
  x 5 templates (random, spread like real ones: strangers about 0.07 apart,
  one person's photos about 0.72): median time of one query face (one core,
  FAISS and BLAS on one thread), two-stage search; ``search_exact_p50_ms_100k``
  the exact product on the same index, same run (the peer);
  ``search_batch16_p50_ms_per_face`` for the 16 faces of a scan batch together;
  ``search_recall`` the share of faces planted at cosine 0.50-0.56 to one
  template (just above the threshold) for which the two stages give the same
  person as the exact search; ``search_build_s`` the time to build the index.

The last line is one JSON object.
"""

from __future__ import annotations

import os

# One core for both sides: BLAS reads these when NumPy is first imported (below).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import csv  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from PIL import Image  # noqa: E402

from bench.common import emit, parse_args  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "benign"
SUBJECT_MIN_PX = 48
PEER_TOLERANCE = 0.6
"""face_recognition's documented default: same person when distance ≤ 0.6."""

Rgb = NDArray[np.uint8]
Vector = NDArray[np.float64]


@dataclass(frozen=True)
class Photo:
    name: str
    rgb: Rgb


def _one_thread() -> None:
    import cv2

    cv2.setNumThreads(1)


def photos(quick: bool, extra: Path | None) -> list[Photo]:
    import skimage.data

    out = [Photo("skimage/astronaut", np.asarray(skimage.data.astronaut()))]
    manifest = CORPUS / "MANIFEST.csv"
    if manifest.is_file():
        with manifest.open(encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r["people"] == "yes"]
        for r in rows[:50] if quick else rows:
            out.append(Photo(r["path"], np.asarray(Image.open(CORPUS / r["path"]).convert("RGB"))))
    else:
        print(f"note: {CORPUS} not found; fewer images", file=sys.stderr)
    if extra is not None:
        for path in sorted(extra.iterdir()):
            if path.suffix.lower() in {".jpg", ".jpeg", ".png"}:
                rgb = np.asarray(Image.open(path).convert("RGB"))
                out.append(Photo(f"extra/{path.name}", rgb))
    return out


def variants(rgb: Rgb, box: tuple[int, int, int, int]) -> dict[str, Rgb]:
    """The same photo as a platform might see it again (in memory, nothing generated)."""
    import cv2

    x, y, w, h = box
    height, width = rgb.shape[:2]
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=40)
    pad = max(w, h)
    return {
        "mirrored": np.ascontiguousarray(rgb[:, ::-1]),
        "jpeg40": np.asarray(Image.open(buf).convert("RGB")),
        "greyscale": cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB),
        "half_scale": cv2.resize(rgb, (width // 2, height // 2), interpolation=cv2.INTER_AREA),
        "cropped": np.ascontiguousarray(
            rgb[
                max(0, y - pad) : min(height, y + h + pad),
                max(0, x - pad) : min(width, x + w + pad),
            ]
        ),
    }


class Ours:
    name = "jikimi (YuNet + SFace, OpenCV)"

    def __init__(self) -> None:
        from jikimi.config import Settings
        from jikimi.faces import FaceEngine, FaceModels

        self.engine = FaceEngine(FaceModels.bundled())
        self.engine.load()
        self.threshold = Settings().face_threshold

    def all_faces(self, rgb: Rgb) -> NDArray[np.float32]:
        faces = self.engine.detect(rgb)
        return self.engine.templates(rgb, faces)

    def largest(self, rgb: Rgb) -> Vector | None:
        faces = self.engine.detect(rgb)
        if not faces:
            return None
        return self.engine.templates(rgb, faces[:1])[0].astype(np.float64)

    def same(self, a: Vector, b: Vector) -> bool:
        return float(a @ b) >= self.threshold


class Peer:
    name = "face_recognition 1.3 (dlib HOG + ResNet)"

    def __init__(self) -> None:
        import face_recognition

        self.fr = face_recognition

    def all_faces(self, rgb: Rgb) -> list[Vector]:
        locations = self.fr.face_locations(rgb, model="hog")
        return list(self.fr.face_encodings(rgb, known_face_locations=locations))

    def largest(self, rgb: Rgb) -> Vector | None:
        locations = self.fr.face_locations(rgb, model="hog")
        if not locations:
            return None
        top, right, bottom, left = max(locations, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        [encoding] = self.fr.face_encodings(rgb, known_face_locations=[(top, right, bottom, left)])
        return np.asarray(encoding, dtype=np.float64)

    def same(self, a: Vector, b: Vector) -> bool:
        return float(np.linalg.norm(a - b)) <= PEER_TOLERANCE


def subjects(
    ours: Ours, pictures: Sequence[Photo]
) -> list[tuple[Photo, tuple[int, int, int, int]]]:
    out = []
    for p in pictures:
        faces = ours.engine.detect(p.rgb)
        if not faces or faces[0].side < SUBJECT_MIN_PX:
            continue
        if len(faces) > 1 and faces[1].side >= faces[0].side / 2:
            continue
        out.append((p, faces[0].box))
    return out


def _pdq(rgb: Rgb) -> int:
    import pdqhash

    vector, _quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return int("".join("1" if v else "0" for v in vector), 2)


def rates(
    system: Ours | Peer,
    chosen: Sequence[tuple[Photo, tuple[int, int, int, int]]],
    duplicates: set[tuple[int, int]],
) -> dict[str, Any]:
    originals = [system.largest(p.rgb) for p, _ in chosen]
    per_variant: dict[str, list[bool]] = {}
    for (photo, box), base in zip(chosen, originals, strict=True):
        for name, varied in variants(photo.rgb, box).items():
            other = system.largest(varied)
            hit = base is not None and other is not None and system.same(base, other)
            per_variant.setdefault(name, []).append(hit)
    genuine = [h for hits in per_variant.values() for h in hits]
    impostor = []
    for i in range(len(chosen)):
        for j in range(i + 1, len(chosen)):
            if (i, j) in duplicates:
                continue
            a, b = originals[i], originals[j]
            impostor.append(a is not None and b is not None and system.same(a, b))
    return {
        "tmr": round(sum(genuine) / max(1, len(genuine)), 4),
        "fmr": round(sum(impostor) / max(1, len(impostor)), 5),
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        "false_matches": int(sum(impostor)),
        "no_face_in_original": sum(o is None for o in originals),
        "tmr_by_variant": {k: round(sum(v) / len(v), 3) for k, v in per_variant.items()},
    }


def timing(ours: Ours, peer: Peer, pictures: Sequence[Photo]) -> tuple[float, float]:
    o: list[float] = []
    p: list[float] = []
    for photo in pictures:
        for fn, acc in ((ours.all_faces, o), (peer.all_faces, p)):
            t0 = time.perf_counter()
            fn(photo.rgb)
            acc.append((time.perf_counter() - t0) * 1000)
    return statistics.median(o), statistics.median(p)


def search(quick: bool) -> dict[str, float]:
    import faiss

    from jikimi.faces import FaceIndex

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(12)
    persons, per = 100_000, 5

    def unit(x: NDArray[np.float32]) -> NDArray[np.float32]:
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    def normal(*shape: int) -> NDArray[np.float32]:
        return rng.standard_normal(shape, dtype=np.float32)

    # like real templates: strangers ~0.07 apart (sd 0.09), one person's photos ~0.72
    common = unit(normal(128))
    centres = unit(np.sqrt(0.1) * common + np.sqrt(0.9) * unit(normal(persons, 128)))
    templates = unit(
        0.85 * np.repeat(centres, per, axis=0) + 0.53 * unit(normal(persons * per, 128))
    )
    owners = np.repeat(np.arange(persons, dtype=np.int32), per)
    t0 = time.perf_counter()
    index = FaceIndex(templates, owners, [f"per_{i}" for i in range(persons)])
    build_s = time.perf_counter() - t0
    # planted: a face at cosine 0.50-0.56 to one template, just above the threshold
    planted = 100 if quick else 400
    targets = rng.integers(0, len(templates), planted)
    noise = unit(normal(planted, 128))
    noise = unit(noise - (noise * templates[targets]).sum(1, keepdims=True) * templates[targets])
    cos = rng.uniform(0.5, 0.56, (planted, 1)).astype(np.float32)
    queries = unit(cos * templates[targets] + np.sqrt(1 - cos**2) * noise)
    strangers = unit(np.sqrt(0.1) * common + np.sqrt(0.9) * unit(normal(64, 128)))
    del templates

    def timed(fn: Callable[[], object], n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1000)
        return out

    timed(lambda: index.search(strangers[:1], 0.5), 3)  # warm
    mixed = np.concatenate([strangers[:16], queries[:16]])
    single = [t for q in mixed for t in timed(lambda q=q: index.search(q[None, :], 0.5), 1)]
    exact = [
        t for q in mixed[:8] for t in timed(lambda q=q: index.search_exact(q[None, :], 0.5), 1)
    ]
    batch = [
        t / 16
        for k in range(0, 64, 16)
        for t in timed(lambda k=k: index.search(strangers[k : k + 16], 0.5), 1)
    ]
    truth = [h.person for h in index.search_exact(queries, 0.5)]
    found = [h.person for h in index.search(queries, 0.5)]
    agree = sum(a == b for a, b in zip(found, truth, strict=True))
    print(
        f"search: two stages {index.approximate}, built in {build_s:.1f} s; planted matches "
        f"found {agree} of {planted} (exact finds {sum(t is not None for t in truth)})",
        file=sys.stderr,
    )
    return {
        "search_p50_ms_100k": round(statistics.median(single), 2),
        "search_exact_p50_ms_100k": round(statistics.median(exact), 2),
        "search_speedup": round(statistics.median(exact) / statistics.median(single), 2),
        "search_batch16_p50_ms_per_face": round(statistics.median(batch), 2),
        "search_recall": round(agree / planted, 4),
        "search_build_s": round(build_s, 1),
    }


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0],
        lambda p: p.add_argument("--extra", type=Path, default=None, help="more face photos"),
    )
    _one_thread()
    ours, peer = Ours(), Peer()
    pictures = photos(args.quick, args.extra)
    chosen = subjects(ours, pictures)
    hashes = [_pdq(p.rgb) for p, _ in chosen]
    duplicates = {
        (i, j)
        for i in range(len(chosen))
        for j in range(i + 1, len(chosen))
        if bin(hashes[i] ^ hashes[j]).count("1") <= 31
    }
    print(
        f"{len(pictures)} images, {len(chosen)} subjects, {len(duplicates)} near-duplicate "
        "pairs left out",
        file=sys.stderr,
    )
    ours_ms, peer_ms = timing(ours, peer, pictures[:30] if args.quick else pictures)
    our_rates = rates(ours, chosen, duplicates)
    peer_rates = rates(peer, chosen, duplicates)
    print(f"ours: {our_rates}\npeer: {peer_rates}", file=sys.stderr)
    found = search(args.quick)
    emit(
        {
            "name": "faces",
            "ours": ours.name,
            "peer": peer.name,
            "images": len(pictures),
            "subjects": len(chosen),
            "ours_ms": round(ours_ms, 2),
            "peer_ms": round(peer_ms, 2),
            "speedup": round(peer_ms / ours_ms, 2),
            "threshold": ours.threshold,
            "peer_tolerance": PEER_TOLERANCE,
            "tmr": our_rates["tmr"],
            "fmr": our_rates["fmr"],
            "peer_tmr": peer_rates["tmr"],
            "peer_fmr": peer_rates["fmr"],
            "genuine_pairs": our_rates["genuine_pairs"],
            "impostor_pairs": our_rates["impostor_pairs"],
            "false_matches": our_rates["false_matches"],
            "peer_false_matches": peer_rates["false_matches"],
            "tmr_by_variant": our_rates["tmr_by_variant"],
            "peer_tmr_by_variant": peer_rates["tmr_by_variant"],
            **found,
        }
    )


if __name__ == "__main__":
    main()
