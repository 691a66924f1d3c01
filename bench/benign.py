"""False holds on benign photos: adult/obscene grades before and after the second stage.

``python -m bench.benign [--quick]``

Images: the benign photo corpus beside the repository (``shared/corpus/benign``:
everyday photos by third parties, people included, none sexual; ``--quick``
takes every eighth) and every image that ships inside the installed
packages (scikit-image's sample data, networkx's and SciPy's test images).

For each image, jikimi's detector (first stage: NudeNet's model) and the second
stage (``detectors/grade/context.py``) run as ``Scanner`` runs them, and the
default ``[grade]`` table grades the regions twice: as the first stage alone
would (``[grade.context] min_score = 0``) and with the second stage. The peer is
``nudenet.NudeDetector().detect`` on the same files through the same table.

Reported: the share of images graded adult or obscene (a false hold, since
none is sexual) for the peer, our first stage and the second stage; which images
those are; the agreement of our detections with NudeNet's (the second stage
removes no region, it only scores lone ones); and the time per image of the
first stage, of the peer, and of the second stage where it ran. The last line is
one JSON object.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import SHARED, emit, parse_args
from bench.grade import same
from jikimi.config import Settings
from jikimi.detectors.grade import GradeDetector, GradeRules
from jikimi.detectors.grade.context import ContextClassifier, lone
from jikimi.domain import GradeLabel, Region
from jikimi.errors import MediaError
from jikimi.media import MediaLimits, Picture, load

CORPUS = SHARED.parent / "corpus" / "benign" / "images"
PACKAGE_DIRS = (
    ("skimage", "data"),
    ("networkx", "drawing/tests/baseline"),
    ("scipy", "ndimage/tests"),
)
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
HELD = (GradeLabel.ADULT, GradeLabel.OBSCENE)
BATCH = 8


@dataclass(frozen=True)
class Outcome:
    """One image: our regions (second stage applied), the peer's, and the three grades."""

    name: str
    regions: tuple[Region, ...]
    peer: list[dict[str, Any]] | None  # None: NudeNet could not read the file
    peer_grade: GradeLabel
    first: GradeLabel
    second: GradeLabel


def package_images() -> list[Path]:
    import importlib.util

    found: list[Path] = []
    for package, sub in PACKAGE_DIRS:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        folder = Path(next(iter(spec.submodule_search_locations))) / sub
        found += sorted(p for p in folder.glob("*") if p.suffix.lower() in SUFFIXES)
    return found


def corpus_images(quick: bool) -> list[Path]:
    if not CORPUS.is_dir():
        print(f"benign corpus not found at {CORPUS}: package images only", file=sys.stderr)
        return []
    paths = sorted(p for p in CORPUS.iterdir() if p.suffix.lower() in SUFFIXES)
    return paths[::8] if quick else paths


def as_regions(detections: Sequence[dict[str, Any]]) -> list[Region]:
    return [
        Region(label=d["class"], score=float(d["score"]), box=tuple(d["box"])) for d in detections
    ]


def batches(items: Sequence[Path], size: int) -> Iterator[Sequence[Path]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def main() -> None:
    args = parse_args("false adult/obscene grades on benign photos, before/after the second stage")
    settings = Settings()
    limits = MediaLimits.from_settings(settings)
    first_stage = GradeDetector.from_settings(settings)
    first_stage.context = False  # the second stage is timed on its own below
    context = ContextClassifier(threads=settings.grade_threads)
    rules = GradeRules()
    first_only = GradeRules.from_dict({"context": {"min_score": 0.0}})

    from nudenet import NudeDetector  # the peer; imported only here

    peer = NudeDetector()
    t0 = time.perf_counter()
    first_stage.load()
    context.load()
    corpus, packaged = corpus_images(args.quick), package_images()
    paths = corpus + packaged
    print(f"{len(corpus)} corpus + {len(packaged)} package images ...", file=sys.stderr)

    outcomes: list[Outcome] = []
    unreadable: list[str] = []
    ours_s = peer_s = second_s = 0.0
    checked = 0
    for chunk in batches(paths, BATCH):
        pictures: list[tuple[Path, Picture]] = []
        for path in chunk:
            try:
                pictures.append((path, load(path.read_bytes(), limits)))
            except MediaError:
                unreadable.append(path.name)
        t = time.perf_counter()
        found = first_stage.detect([p for _, p in pictures])
        ours_s += time.perf_counter() - t
        for (path, picture), regions in zip(pictures, found, strict=True):
            t = time.perf_counter()
            if any(lone(r, regions) for r in regions):
                checked += 1
                rgb = picture.rgb(min_side=_min_side(first_stage, picture))
                scale = (rgb.shape[1] / picture.media.width, rgb.shape[0] / picture.media.height)
                regions = context.annotate(rgb, scale, regions)
            second_s += time.perf_counter() - t
            t = time.perf_counter()
            try:
                theirs: list[dict[str, Any]] | None = peer.detect(str(path))
            except Exception:  # OpenCV cannot read some files (multi-page TIFF, ...)
                theirs = None
            peer_s += time.perf_counter() - t
            outcomes.append(
                Outcome(
                    name=path.name,
                    regions=regions,
                    peer=theirs,
                    peer_grade=first_only.grade(as_regions(theirs or [])).label,
                    first=first_only.grade(regions).label,
                    second=rules.grade(regions).label,
                )
            )

    n = len(outcomes)
    held = {
        stage: [o.name for o in outcomes if getattr(o, stage) in HELD]
        for stage in ("peer_grade", "first", "second")
    }
    scores = [r.context_score for o in outcomes for r in o.regions if r.context_score is not None]
    compared = [o for o in outcomes if o.peer is not None]
    disagree = [o.name for o in compared if not same(o.regions, o.peer or [])]
    agreement = 1 - len(disagree) / len(compared) if compared else 1.0
    for stage, names in held.items():
        print(f"{stage:10s} held {len(names):3d} / {n}: {', '.join(names)}", file=sys.stderr)
    emit(
        {
            "name": "benign",
            "images": n,
            "corpus_images": len(corpus),
            "package_images": len(packaged),
            "unreadable": unreadable,
            "peer_held": len(held["peer_grade"]),
            "first_stage_held": len(held["first"]),
            "second_stage_held": len(held["second"]),
            "peer_rate": round(len(held["peer_grade"]) / n, 5) if n else 0.0,
            "first_stage_rate": round(len(held["first"]) / n, 5) if n else 0.0,
            "second_stage_rate": round(len(held["second"]) / n, 5) if n else 0.0,
            "held_after": held["second"],
            "suppressed": sorted(set(held["first"]) - set(held["second"])),
            "checked_images": checked,
            "max_context_score": round(max(scores, default=0.0), 4),
            "context_min_score": rules.context.min_score,
            "agreement": round(agreement, 4),
            "disagree": disagree,
            "peer_unreadable": [o.name for o in outcomes if o.peer is None],
            "ours_ms": round(ours_s * 1000 / n, 2) if n else 0.0,
            "peer_ms": round(peer_s * 1000 / n, 2) if n else 0.0,
            "second_stage_ms_per_checked": round(second_s * 1000 / checked, 1) if checked else 0.0,
            "second_stage_ms_per_image": round(second_s * 1000 / n, 2) if n else 0.0,
            "context_scores_median": round(statistics.median(scores), 4) if scores else None,
            "wall_s": round(time.perf_counter() - t0, 1),
        }
    )


def _min_side(detector: GradeDetector, picture: Picture) -> int:
    from jikimi.detectors.grade.model import decode_min_side

    return decode_min_side(picture.media.width, picture.media.height, detector.input_size)


if __name__ == "__main__":
    main()
