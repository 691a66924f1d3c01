"""Re-shared copies through the real scan path: banks with ``variants`` on and off."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from PIL import Image, ImageDraw
from service_helpers import Side
from skimage import data

from jikimi.config import Settings
from jikimi.domain import (
    BankCreate,
    BankKind,
    BankUpdate,
    EntryCreate,
    Match,
    Role,
    SignalKind,
    Variant,
)
from jikimi.pipeline import Item
from jikimi.services import BankService
from jikimi.services.matching import MatchService
from jikimi.services.scans import LazyScanner, ScanService
from jikimi.store import Store


@pytest.fixture(scope="module")
def scanner() -> LazyScanner:
    return LazyScanner(Settings())


class World:
    def __init__(self, store: Store, settings: Settings, scanner: LazyScanner) -> None:
        self.matching = MatchService(store, settings)
        self.matching.load()
        self.banks = BankService(store, settings=settings, listener=self.matching)
        self.scans = ScanService(store, scanner, self.matching.matcher_for)


@pytest.fixture
def world(store: Store, settings: Settings, scanner: LazyScanner) -> Iterator[World]:
    w = World(store, settings, scanner)
    yield w
    w.matching.close()


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def photo() -> Image.Image:
    return Image.fromarray(data.chelsea()).convert("RGB")


def letterboxed(im: Image.Image) -> Image.Image:
    out = Image.new("RGB", (im.width, round(im.height * 1.5)), (0, 0, 0))
    out.paste(im, (0, round(im.height * 0.25)))
    return out


def captioned(im: Image.Image) -> Image.Image:
    bar = im.height // 6
    out = Image.new("RGB", (im.width, im.height + bar), (255, 255, 255))
    out.paste(im, (0, bar))
    ImageDraw.Draw(out).text((20, bar // 4), "when the group chat sees this", fill=(0, 0, 0))
    return out


def cropped(im: Image.Image) -> Image.Image:
    dx, dy = round(im.width * 0.025), round(im.height * 0.025)
    return im.crop((dx, dy, im.width - dx, im.height - dy))


def tilted(im: Image.Image) -> Image.Image:
    return im.rotate(6, resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))


def scan(world: World, side: Side, image: Image.Image) -> tuple[Match, ...]:
    [verdict] = world.scans.scan_many(side.as_[Role.PLATFORM], [Item(jpeg(image), {})])
    assert verdict.error is None
    return verdict.matches


def bank_of(world: World, side: Side, *, variants: bool, keep: bool = False) -> str:
    admin = side.as_[Role.ADMIN]
    spec = BankCreate(name="KNOWN", kind=BankKind.TAKEDOWN, variants=variants, keep_evidence=keep)
    world.banks.create(admin, spec)
    return world.banks.add_media_entry(admin, "KNOWN", jpeg(photo())).id


@pytest.mark.parametrize(
    ("reshare", "vias"),
    [
        (letterboxed, {Variant.TRIMMED, Variant.FRAMED}),
        (captioned, {Variant.TRIMMED, Variant.FRAMED}),
        (cropped, {Variant.CROP6}),
        (tilted, {Variant.DESKEWED}),
    ],
)
def test_a_re_shared_copy_matches_its_entry_and_says_how(
    world: World,
    acme: Side,
    reshare: Callable[[Image.Image], Image.Image],
    vias: set[Variant],
) -> None:
    entry = bank_of(world, acme, variants=True)
    [match] = scan(world, acme, reshare(photo()))
    assert match.entry == entry
    assert match.signal is SignalKind.PDQ
    assert match.via in vias
    assert match.distance <= 31
    # the picture itself still matches plainly, as without variants
    [plain] = scan(world, acme, photo())
    assert (plain.entry, plain.distance, plain.via) == (entry, 0, None)


def test_a_bank_with_variants_off_matches_as_before(world: World, acme: Side) -> None:
    entry = bank_of(world, acme, variants=False)
    assert scan(world, acme, letterboxed(photo())) == ()
    assert scan(world, acme, cropped(photo())) == ()
    [plain] = scan(world, acme, photo())
    assert (plain.entry, plain.via) == (entry, None)
    # turning it on takes effect for uploads at once (query side), crops need a reindex
    world.banks.update(acme.as_[Role.ADMIN], "KNOWN", BankUpdate(variants=True))
    [framed] = scan(world, acme, letterboxed(photo()))
    assert framed.entry == entry and framed.via in {Variant.TRIMMED, Variant.FRAMED}
    assert scan(world, acme, cropped(photo())) == ()


def test_reindex_gives_kept_media_its_variants(world: World, acme: Side) -> None:
    admin = acme.as_[Role.ADMIN]
    entry = bank_of(world, acme, variants=False, keep=True)
    hash_only = np.random.default_rng(1).integers(0, 16, 64)
    world.banks.add_entry(
        admin,
        "KNOWN",
        EntryCreate(signal=SignalKind.PDQ, value="".join(f"{d:x}" for d in hash_only)),
    )
    world.banks.update(admin, "KNOWN", BankUpdate(variants=True))
    assert scan(world, acme, cropped(photo())) == ()
    report = world.banks.reindex(admin, "KNOWN")
    assert (report.entries, report.updated, report.hash_only) == (2, 1, 1)
    [match] = scan(world, acme, cropped(photo()))
    assert (match.entry, match.via) == (entry, Variant.CROP6)
    again = world.banks.reindex(admin, "KNOWN")  # idempotent
    assert again.updated == 1
    [match] = scan(world, acme, cropped(photo()))
    assert (match.entry, match.via) == (entry, Variant.CROP6)


def test_reindex_without_kept_media_says_so(world: World, acme: Side) -> None:
    admin = acme.as_[Role.ADMIN]
    bank_of(world, acme, variants=True, keep=False)  # variants computed when added
    world.banks.update(admin, "KNOWN", BankUpdate(variants=False))
    world.banks.add_media_entry(admin, "KNOWN", jpeg(Image.fromarray(data.astronaut())))
    report = world.banks.reindex(admin, "KNOWN")
    assert (report.entries, report.updated, report.kept, report.media_missing) == (2, 0, 1, 1)
