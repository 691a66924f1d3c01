"""Recall of bank matching on re-shared copies: borders, captions, screenshots, crops, tilts.

``python -m bench.robustness [--quick] [--originals N]``

Originals: benign photos only. scikit-image's bundled photos, the distinct
photos of ThreatExchange's PDQ conformance data (beside the repository; the
bridge is taken once, not its modified copies) and the benign corpus beside the
repository (779 licensed photos). ``--quick`` takes 100 originals, the full run
150.

Bank path: every image (originals and all the others, which are the
distractors) is added to one takedown bank (``dihedral`` on, as the issue's
measurement did) through :meth:`BankService.add_media_entry` on a temporary
SQLite database, the path ``POST /v1/banks/{bank}/entries`` with a file takes.

Scan path: each original goes through every transform of its families (below;
``--quick`` uses fewer strengths), is encoded as a JPEG (quality 92) or, for the
JPEG family, at the family's quality, and is scanned by a :class:`Scanner`
whose matcher is the :class:`MatchService` snapshot of that bank, as
``POST /v1/scan`` does. The nudity model is replaced by a detector that finds
nothing and the synthetic checkers are off: neither takes part in matching,
and the model would triple the run time. A query is *recalled* when the
Verdict's matches include its original's entry.

Today: the same scans' matches of the original's entry made by the upload's own
hashes (``via`` null), which is exactly what the bank answers with ``variants``
off (today's matching: PDQ and its flips); ``today_recall`` and each family's
``today``.

Peer: plain PDQ at distance 31 (HMA's default, no dihedral hashes): the
Verdict's own ``pdq`` signal (jikimi's PDQ of the query, which follows the
reference implementation) against the original's banked hash.

False matches: every Verdict's match to an entry other than its original's,
over (every query) x (every other banked image) pairs: the real lookups, not a
sample. Among the banked images themselves some pairs are near-duplicates at
plain PDQ distance <= 31 (the same scene twice): matches between those are not
counted as false and are reported as ``near_duplicate_bank_pairs``.

``lookup_ms_ratio``: the same queries' bank lookups (``BankSnapshot.match``, the
scan path's, with the query's hashes, flips and variants computed beforehand, so
hashing is not timed) with the bank's ``variants`` on, against the same bank with
it off (today's behaviour), interleaved query by query. ``bytes_per_entry_ratio``:
the bank's in-memory PDQ index bytes per entry with the entries' variants, against
its PDQ index alone. ``scan_ms_ratio``: whole scan time per query likewise
(computing the upload's variants included).

Last line: one JSON object (``name="robustness"``).
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from bench.common import SHARED, emit, parse_args

BENIGN = SHARED.parent / "corpus" / "benign" / "images"
WORK_SIDE = 640
"""Originals are scaled to at most this long side first (the corpus is 720 px)."""

Transform = Callable[[Image.Image, np.random.Generator], Image.Image]


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    fn: Transform
    quality: int = 92
    quick: bool = False


# --- originals ----------------------------------------------------------------


def skimage_photos() -> list[tuple[str, Image.Image]]:
    from skimage import data

    names = [
        "astronaut",
        "coffee",
        "chelsea",
        "rocket",
        "motorcycle_left",
        "camera",
        "coins",
        "moon",
        "hubble_deep_field",
        "immunohistochemistry",
        "retina",
        "horse",
        "page",
        "grass",
        "gravel",
        "brick",
        "cell",
        "text",
        "clock",
    ]
    out = []
    for name in names:
        try:
            array = getattr(data, name)()
        except Exception:  # a photo that needs a download: not bundled, skip it
            continue
        if array.dtype == bool:
            continue
        out.append((f"skimage/{name}", Image.fromarray(np.asarray(array)).convert("RGB")))
    return out


def conformance_photos() -> list[tuple[str, Image.Image]]:
    root = SHARED / "pdq"
    out = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        rel = path.relative_to(root).as_posix()
        # the bridge's modified copies (crops, rotations, modes) are one photo
        if rel.startswith(("bridge-mods/", "dihedral/", "modes/")) and "orig" not in rel:
            continue
        try:
            out.append((f"conformance/{rel}", Image.open(path).convert("RGB")))
        except OSError:
            continue
    return out


def benign_photos() -> list[tuple[str, Image.Image]]:
    out = []
    for path in sorted(BENIGN.glob("*")):
        try:
            out.append((f"benign/{path.name}", Image.open(path).convert("RGB")))
        except OSError:
            continue
    return out


def shrink(image: Image.Image) -> Image.Image:
    scale = WORK_SIDE / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


# --- transforms ---------------------------------------------------------------


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def jpeg(_q: int) -> Transform:
    return lambda im, _r: im


def resize(scale: float) -> Transform:
    def fn(im: Image.Image, _r: np.random.Generator) -> Image.Image:
        size = (max(8, round(im.width * scale)), max(8, round(im.height * scale)))
        return im.resize(size, Image.Resampling.BILINEAR)

    return fn


def grey(im: Image.Image, _r: np.random.Generator) -> Image.Image:
    return ImageOps.grayscale(im).convert("RGB")


def colour(brightness: float, saturation: float) -> Transform:
    from PIL import ImageEnhance

    def fn(im: Image.Image, _r: np.random.Generator) -> Image.Image:
        out = ImageEnhance.Brightness(im).enhance(brightness)
        return ImageEnhance.Color(out).enhance(saturation)

    return fn


def blur(radius: float) -> Transform:
    return lambda im, _r: im.filter(ImageFilter.GaussianBlur(radius))


def dihedral(op: Image.Transpose) -> Transform:
    return lambda im, _r: im.transpose(op)


def rotate(degrees: float, expand: bool) -> Transform:
    def fn(im: Image.Image, r: np.random.Generator) -> Image.Image:
        sign = 1 if r.random() < 0.5 else -1
        fill = (0, 0, 0) if r.random() < 0.5 else (255, 255, 255)
        return im.rotate(
            sign * degrees, resample=Image.Resampling.BICUBIC, expand=expand, fillcolor=fill
        )

    return fn


def crop(fraction: float, centred: bool) -> Transform:
    """Remove ``fraction`` of the width and of the height (centred, or from random sides)."""

    def fn(im: Image.Image, r: np.random.Generator) -> Image.Image:
        w, h = im.size
        dx, dy = round(w * fraction), round(h * fraction)
        if centred:
            left, top = dx // 2, dy // 2
        else:
            left = dx if r.random() < 0.5 else 0
            top = dy if r.random() < 0.5 else 0
        return im.crop((left, top, left + w - dx, top + h - dy))

    return fn


def _colour(r: np.random.Generator) -> tuple[int, int, int]:
    choice = r.integers(0, 4)
    if choice == 0:
        return (0, 0, 0)
    if choice == 1:
        return (255, 255, 255)
    grey_level = int(r.integers(20, 236))
    return (grey_level, grey_level, grey_level) if choice == 2 else tuple(r.integers(0, 256, 3))  # type: ignore[return-value]


def pad(fraction: float, mode: str) -> Transform:
    """Pad to ``1 + fraction`` of the size: ``letterbox`` (top/bottom to square or more),
    ``uniform`` (all sides), ``noisy`` (near-uniform: a colour with noise), ``gradient``."""

    def fn(im: Image.Image, r: np.random.Generator) -> Image.Image:
        w, h = im.size
        if mode == "letterbox":  # bars on the short sides' ends, as players and apps add
            big = (w, round(h * (1 + fraction))) if w >= h else (round(w * (1 + fraction)), h)
        else:
            big = (round(w * (1 + fraction)), round(h * (1 + fraction)))
        colour_ = _colour(r)
        canvas = np.empty((big[1], big[0], 3), dtype=np.float32)
        canvas[:] = colour_
        if mode == "noisy":
            canvas += r.normal(0, 6, canvas.shape)
        elif mode == "gradient":
            ramp = np.linspace(-25, 25, big[1], dtype=np.float32)[:, None, None]
            canvas += ramp
        out = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
        out.paste(im, ((big[0] - w) // 2, (big[1] - h) // 2))
        return out

    return fn


def caption(fraction: float, where: str) -> Transform:
    """A bar of ``fraction`` of the height with text (meme captions, channel names)."""

    def fn(im: Image.Image, r: np.random.Generator) -> Image.Image:
        w, h = im.size
        bar = max(12, round(h * fraction))
        colour_ = (255, 255, 255) if r.random() < 0.6 else (0, 0, 0)
        ink = (0, 0, 0) if colour_ == (255, 255, 255) else (255, 255, 255)
        bars = 2 if where == "both" else 1
        out = Image.new("RGB", (w, h + bars * bar), colour_)
        top = bar if where in ("top", "both") else 0
        out.paste(im, (0, top))
        draw = ImageDraw.Draw(out)
        font = _font(max(10, bar // 2))
        words = ["when the group chat", "sees this", "LOL", "@channel_name", "forwarded many times"]
        text = str(words[int(r.integers(0, len(words)))])
        ys = []
        if where in ("top", "both"):
            ys.append(bar // 4)
        if where in ("bottom", "both"):
            ys.append(top + h + bar // 4)
        for y in ys:
            draw.text((w // 10, y), text, fill=ink, font=font)
        return out

    return fn


def watermark(where: str, opaque: bool) -> Transform:
    def fn(im: Image.Image, r: np.random.Generator) -> Image.Image:
        w, h = im.size
        out = im.convert("RGBA")
        layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        alpha = 255 if opaque else 90
        if where == "corner":
            bw, bh = w // 5, h // 12
            x, y = w - bw - w // 40, h - bh - h // 40
            draw.rectangle((x, y, x + bw, y + bh), fill=(240, 240, 240, alpha))
            draw.text((x + 4, y + 2), "@chan", fill=(200, 0, 0, 255), font=_font(max(8, bh // 2)))
        else:
            font = _font(max(12, h // 8))
            draw.text((w // 8, h // 2 - h // 16), "SAMPLE", fill=(255, 255, 255, alpha), font=font)
        return Image.alpha_composite(out, layer).convert("RGB")

    return fn


def phone_screenshot(im: Image.Image, r: np.random.Generator) -> Image.Image:
    """The image inside a chat app on a phone: status bar, app bar, bubbles, keyboard hint."""
    width = 720
    height = 1480
    dark = r.random() < 0.5
    background = (17, 27, 33) if dark else (236, 229, 221)
    out = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(out)
    ink = (230, 230, 230) if dark else (20, 20, 20)
    draw.rectangle((0, 0, width, 48), fill=(0, 0, 0) if dark else (7, 94, 84))
    draw.text((24, 12), "9:41", fill=(255, 255, 255), font=_font(22))
    draw.text((width - 120, 12), "5G 87%", fill=(255, 255, 255), font=_font(20))
    draw.rectangle((0, 48, width, 150), fill=(31, 44, 52) if dark else (0, 128, 105))
    draw.ellipse((20, 70, 80, 130), fill=(180, 180, 180))
    draw.text((100, 84), "Group chat", fill=(255, 255, 255), font=_font(30))
    draw.rounded_rectangle((30, 180, 520, 260), 18, fill=(32, 44, 51) if dark else (255, 255, 255))
    draw.text((50, 200), "look what they sent", fill=ink, font=_font(24))
    # the image bubble
    scale = min(600 / im.width, 760 / im.height)
    shown = im.resize(
        (round(im.width * scale), round(im.height * scale)), Image.Resampling.BILINEAR
    )
    x = width - shown.width - 40
    y = 300
    bubble = (0, 92, 75) if dark else (220, 248, 198)
    draw.rounded_rectangle(
        (x - 8, y - 8, x + shown.width + 8, y + shown.height + 40), 16, fill=bubble
    )
    out.paste(shown, (x, y))
    draw.text((x + shown.width - 90, y + shown.height + 8), "10:02 ✓✓", fill=ink, font=_font(18))
    bottom = y + shown.height + 80
    draw.rounded_rectangle(
        (30, bottom, 420, bottom + 70), 18, fill=(32, 44, 51) if dark else (255, 255, 255)
    )
    draw.text((50, bottom + 20), "omg who is that", fill=ink, font=_font(24))
    draw.rectangle((0, height - 110, width, height), fill=(31, 44, 52) if dark else (240, 240, 240))
    draw.rounded_rectangle(
        (20, height - 90, width - 110, height - 30),
        28,
        fill=(42, 57, 66) if dark else (255, 255, 255),
    )
    draw.text((50, height - 75), "Message", fill=(140, 140, 140), font=_font(24))
    return out


def desktop_screenshot(im: Image.Image, r: np.random.Generator) -> Image.Image:
    """The image in a browser/image viewer window on a desktop: title bar, tabs, side bar."""
    width, height = 1280, 800
    out = Image.new("RGB", (width, height), (245, 245, 245))
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, 0, width, 36), fill=(222, 225, 230))
    for i, label in enumerate(("Inbox", "image.jpg", "News")):
        draw.rounded_rectangle(
            (80 + i * 200, 6, 260 + i * 200, 36),
            8,
            fill=(255, 255, 255) if i == 1 else (210, 213, 218),
        )
        draw.text((96 + i * 200, 12), label, fill=(40, 40, 40), font=_font(16))
    draw.rectangle((0, 36, width, 76), fill=(255, 255, 255))
    draw.rounded_rectangle((120, 42, 900, 70), 14, fill=(241, 243, 244))
    draw.text((140, 48), "https://forum.example/t/12345", fill=(60, 60, 60), font=_font(16))
    draw.rectangle((0, 76, 220, height), fill=(250, 250, 250))
    for i in range(8):
        draw.text((20, 100 + i * 40), f"thread {i + 1}", fill=(60, 60, 60), font=_font(16))
    area = (240, 96, width - 20, height - 60)
    scale = min((area[2] - area[0]) / im.width, (area[3] - area[1]) / im.height)
    shown = im.resize(
        (round(im.width * scale), round(im.height * scale)), Image.Resampling.BILINEAR
    )
    out.paste(shown, (area[0] + (area[2] - area[0] - shown.width) // 2, area[1]))
    draw.text((240, height - 45), "Posted by anon · 214 replies", fill=(90, 90, 90), font=_font(16))
    return out


def chain(*fns: Transform) -> Transform:
    def fn(im: Image.Image, r: np.random.Generator) -> Image.Image:
        for f in fns:
            im = f(im, r)
        return im

    return fn


T = Image.Transpose
CASES: tuple[Case, ...] = (
    Case("jpeg", "q30", jpeg(30), quality=30, quick=True),
    Case("jpeg", "q60", jpeg(60), quality=60),
    Case("resize", "x0.5", resize(0.5), quick=True),
    Case("resize", "x0.25", resize(0.25)),
    Case("resize", "x1.5", resize(1.5)),
    Case("colour", "grey", grey, quick=True),
    Case("colour", "bright1.3_sat0.6", colour(1.3, 0.6)),
    Case("colour", "dark0.7_sat1.5", colour(0.7, 1.5)),
    Case("blur", "r1.5", blur(1.5), quick=True),
    Case("blur", "r3", blur(3)),
    Case("dihedral", "mirror", dihedral(T.FLIP_LEFT_RIGHT), quick=True),
    Case("dihedral", "rot90", dihedral(T.ROTATE_90)),
    Case("dihedral", "rot180", dihedral(T.ROTATE_180)),
    Case("rotate_le10", "2deg", rotate(2, False)),
    Case("rotate_le10", "5deg", rotate(5, False), quick=True),
    Case("rotate_le10", "10deg", rotate(10, False)),
    Case("rotate_le10", "3deg_expand", rotate(3, True)),
    Case("rotate_le10", "8deg_expand", rotate(8, True), quick=True),
    Case("rotate_gt10", "15deg", rotate(15, False)),
    Case("rotate_gt10", "15deg_expand", rotate(15, True)),
    Case("crop_le10", "centre2", crop(0.02, True)),
    Case("crop_le10", "centre5", crop(0.05, True), quick=True),
    Case("crop_le10", "centre10", crop(0.10, True)),
    Case("crop_le10", "side5", crop(0.05, False)),
    Case("crop_le10", "side10", crop(0.10, False), quick=True),
    Case("crop_gt10", "centre20", crop(0.20, True)),
    Case("crop_gt10", "side25", crop(0.25, False)),
    Case("padding", "uniform5", pad(0.05, "uniform")),
    Case("padding", "uniform20", pad(0.20, "uniform"), quick=True),
    Case("padding", "uniform50", pad(0.50, "uniform")),
    Case("padding", "letterbox", pad(0.40, "letterbox"), quick=True),
    Case("padding", "noisy15", pad(0.15, "noisy")),
    Case("padding", "gradient30", pad(0.30, "gradient"), quick=True),
    Case("caption", "top12", caption(0.12, "top"), quick=True),
    Case("caption", "bottom20", caption(0.20, "bottom")),
    Case("caption", "both10", caption(0.10, "both"), quick=True),
    Case("watermark", "corner_opaque", watermark("corner", True), quick=True),
    Case("watermark", "centre_translucent", watermark("centre", False), quick=True),
    Case("screenshot", "phone", phone_screenshot, quick=True),
    Case("screenshot", "desktop", desktop_screenshot, quick=True),
    Case(
        "combo",
        "phone_of_mirrored_crop5",
        chain(dihedral(T.FLIP_LEFT_RIGHT), crop(0.05, True), phone_screenshot),
        quick=True,
    ),
    Case("combo", "letterbox_q50", pad(0.3, "letterbox"), quality=50),
    Case("combo", "caption_of_half_size", chain(resize(0.5), caption(0.15, "top"))),
)


def encode(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


# --- the services -------------------------------------------------------------


class _NoRegions:
    """Stands in for the nudity model: matching does not read the grade."""

    def detect(self, pictures: Sequence[Any]) -> list[tuple[Any, ...]]:
        return [() for _ in pictures]


def _re_share_options() -> dict[str, Any]:
    """The bank options that switch re-share matching on (none before they existed)."""
    from jikimi.domain import BankCreate

    return {"variants": True} if "variants" in BankCreate.model_fields else {}


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0],
        lambda p: p.add_argument("--originals", type=int, default=0),
    )
    from jikimi.config import Settings
    from jikimi.detectors.synthetic import SyntheticDetector
    from jikimi.domain import BankCreate, BankKind, BankUpdate, EntryMeta, SignalKind
    from jikimi.pipeline import Scanner
    from jikimi.services import BankService, KeyService, TenantService
    from jikimi.services.matching import MatchService
    from jikimi.signals import PdqSignal
    from jikimi.store import Store, make_engine, upgrade

    started = time.perf_counter()
    n_originals = args.originals or (100 if args.quick else 150)
    cases = [c for c in CASES if c.quick] if args.quick else list(CASES)

    photos = skimage_photos() + conformance_photos() + benign_photos()
    photos = [(name, shrink(im)) for name, im in photos if min(im.size) >= 64]
    # originals: every package photo, then benign photos spread over the corpus
    packaged = [p for p in photos if not p[0].startswith("benign/")]
    benign = [p for p in photos if p[0].startswith("benign/")]
    step = max(1, len(benign) // max(1, n_originals - len(packaged)))
    chosen = {name for name, _ in packaged} | {
        name for name, _ in benign[::step][: n_originals - len(packaged)]
    }

    tmp = Path(tempfile.mkdtemp(prefix="jikimi-robustness-"))
    url = f"sqlite:///{tmp / 'jikimi.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    settings = Settings(data_dir=tmp / "data", database_url=url)
    store = Store.from_settings(settings)
    matching = MatchService(store, settings)
    matching.load()
    banks = BankService(store, settings=settings, listener=matching)
    _, issued = TenantService(store).create("bench")
    admin = KeyService(store).authenticate(issued.secret)
    options = _re_share_options()
    banks.create(admin, BankCreate(name="KNOWN", kind=BankKind.TAKEDOWN, dihedral=True, **options))

    t0 = time.perf_counter()
    entry_of: dict[str, str] = {}
    pdq_of: dict[str, str] = {}
    for name, im in photos:
        try:
            entry = banks.add_media_entry(admin, "KNOWN", encode(im, 95), EntryMeta(note=name))
        except Exception as exc:  # a duplicate file: one entry for both
            print(f"skipped {name}: {exc}", file=sys.stderr)
            continue
        entry_of[name] = entry.id
        pdq_of[name] = entry.value
    bank_s = time.perf_counter() - t0
    names = list(entry_of)
    originals = [n for n in names if n in chosen]
    images = dict(photos)

    # near-duplicates among the banked images themselves (not false matches)
    bits = np.unpackbits(
        np.frombuffer(bytes.fromhex("".join(pdq_of[n] for n in names)), dtype=np.uint8).reshape(
            len(names), 32
        ),
        axis=1,
    ).astype(np.uint8)
    near: set[tuple[str, str]] = set()
    for i in range(len(names)):
        dist = (bits[i] != bits).sum(axis=1)
        for j in np.nonzero(dist <= 31)[0]:
            if j != i:
                near.add((names[i], names[int(j)]))
    entry_name = {e: n for n, e in entry_of.items()}

    scanner = Scanner.from_settings(settings)
    scanner = Scanner(
        scanner.limits,
        _NoRegions(),  # type: ignore[arg-type]
        scanner.grade_rules,
        SyntheticDetector([]),
        scanner.policy,
        matching.matcher_for(admin),  # the bank snapshot, taken once everything is banked
    )

    per: dict[str, list[tuple[bool, bool, bool]]] = {}
    per_case: dict[str, list[tuple[bool, bool, bool]]] = {}
    vias: dict[str, int] = {}
    false_matches = 0
    false_examples: list[str] = []
    queries = 0
    scan_ms: list[float] = []
    timing_inputs: list[Any] = []
    t0 = time.perf_counter()
    for k, name in enumerate(originals):
        rng = np.random.default_rng(k)
        for case in cases:
            query = encode(case.fn(images[name], rng), case.quality)
            s0 = time.perf_counter()
            verdict = scanner.scan(query, {"path": f"{name}:{case.name}"})
            scan_ms.append((time.perf_counter() - s0) * 1000)
            queries += 1
            if verdict.error is not None:
                print(f"error {name} {case.name}: {verdict.error.code}", file=sys.stderr)
                per.setdefault(case.family, []).append((False, False, False))
                continue
            target = entry_of[name]
            ours = today = False
            for m in verdict.matches:
                if m.entry == target:
                    ours = True
                    today = today or getattr(m, "via", None) is None
                    via = getattr(m, "via", None) or "pdq"
                    vias[via] = vias.get(via, 0) + 1
                elif (name, entry_name.get(m.entry, "")) not in near:
                    false_matches += 1
                    if len(false_examples) < 10:
                        false_examples.append(
                            f"{name}:{case.name} -> {entry_name.get(m.entry)} d={m.distance}"
                        )
            pdq = verdict.signal(SignalKind.PDQ)
            peer = pdq is not None and PdqSignal.distance(pdq.value, pdq_of[name]) <= 31
            per.setdefault(case.family, []).append((ours, peer, today))
            per_case.setdefault(f"{case.family}/{case.name}", []).append((ours, peer, today))
            if k % 4 == 0:
                timing_inputs.append(query)
    query_s = time.perf_counter() - t0

    lookup_ratio, scan_ratio = _timings(matching, banks, admin, scanner, timing_inputs, options)
    bytes_ratio = _bytes_ratio(matching, admin)

    def rate(rows: Sequence[tuple[bool, bool, bool]], col: int) -> float:
        return round(sum(r[col] for r in rows) / len(rows), 4) if rows else 0.0

    all_rows = [r for rows in per.values() for r in rows]
    print(f"{'family/case':40} {'ours':>6} {'pdq31':>6} {'today':>6}  n", file=sys.stderr)
    for key, rows in per_case.items():
        print(
            f"{key:40} {rate(rows, 0):6.3f} {rate(rows, 1):6.3f} {rate(rows, 2):6.3f}  {len(rows)}",
            file=sys.stderr,
        )
    for ex in false_examples:
        print("false match:", ex, file=sys.stderr)
    pairs = queries * (len(names) - 1)
    emit(
        {
            "name": "robustness",
            "quick": bool(args.quick),
            "ours_recall": rate(all_rows, 0),
            "peer_recall": rate(all_rows, 1),
            "today_recall": rate(all_rows, 2),
            "per_family": {
                fam: {
                    "ours": rate(rows, 0),
                    "peer": rate(rows, 1),
                    "today": rate(rows, 2),
                    "n": len(rows),
                }
                for fam, rows in per.items()
            },
            "false_matches": false_matches,
            "distractor_pairs": pairs,
            "lookup_ms_ratio": lookup_ratio,
            "bytes_per_entry_ratio": bytes_ratio,
            "scan_ms_ratio": scan_ratio,
            "scan_ms_p50": round(statistics.median(scan_ms), 2),
            "matched_via": vias,
            "originals": len(originals),
            "banked": len(names),
            "queries": queries,
            "near_duplicate_bank_pairs": len(near) // 2,
            "bank_s": round(bank_s, 1),
            "query_s": round(query_s, 1),
            "total_s": round(time.perf_counter() - started, 1),
        }
    )
    matching.close()
    store.close()
    _ = BankUpdate


def _timings(
    matching: Any,
    banks: Any,
    admin: Any,
    scanner: Any,
    queries: Sequence[bytes],
    options: dict[str, Any],
) -> tuple[float, float]:
    """(lookup ms ratio, scan ms ratio) of the bank with its re-share options against the
    same bank with them off (today's behaviour), the two interleaved query by query.

    Lookups: the query's hashes (PDQ, MD5, SHA-256, the 8 flips and, with the options,
    its variants) are computed first, so only the bank lookups are timed. Scans: the
    whole :meth:`Scanner.scan` (variants computed on demand) with either snapshot.
    """
    if not options:
        return 1.0, 1.0
    from jikimi.matching.bank_snapshot import BankSnapshot, SnapshotBank
    from jikimi.media import load
    from jikimi.pipeline.hashing import still_signals, still_variants
    from jikimi.signals import PdqSignal

    on = matching.snapshot_for(admin)
    off = BankSnapshot(
        on.tenant_id,
        [
            SnapshotBank(b.bank.model_copy(update={"variants": False}), b.label, b.index)
            for b in on.banks
        ],
    )
    limits = scanner.limits
    prepared = []
    for data in queries:
        picture = load(data, limits)
        prepared.append(
            (
                still_signals(picture, data),
                PdqSignal.dihedral_hashes(picture),
                still_variants(picture),
            )
        )
    lookup = {"on": 0.0, "off": 0.0}
    for _ in range(3):
        for signals, flips, variants in prepared:
            for name, snap in (("on", on), ("off", off)):
                t0 = time.perf_counter()
                snap.match(signals, lambda f=flips: f, lambda v=variants: v)
                lookup[name] += time.perf_counter() - t0
    scan = {"on": 0.0, "off": 0.0}
    scanners = {"on": scanner.with_matcher(on), "off": scanner.with_matcher(off)}
    for data in queries:
        for name in ("on", "off"):
            t0 = time.perf_counter()
            scanners[name].scan(data, {"path": "timing"})
            scan[name] += time.perf_counter() - t0
    return (
        round(lookup["on"] / max(lookup["off"], 1e-9), 3),
        round(scan["on"] / max(scan["off"], 1e-9), 3),
    )


def _bytes_ratio(matching: Any, admin: Any) -> float:
    """PDQ index bytes per entry with the entries' variant hashes, against the PDQ index
    alone."""
    from jikimi.domain import SignalKind

    plain = with_variants = 0
    for where in matching.snapshot_for(admin).banks:
        index = where.index.index(SignalKind.PDQ)
        if index is None:
            continue
        plain += index.nbytes
        held = where.index.variants.get(SignalKind.PDQ)
        with_variants += index.nbytes + (held.nbytes if held is not None else 0)
    return round(with_variants / max(plain, 1), 3)


if __name__ == "__main__":
    main()
