"""Re-shared copies: a bank with ``variants`` matches framed copies, says how, and only adds."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from service_helpers import Side

from jikimi.config import Settings
from jikimi.detectors.synthetic import SyntheticDetector
from jikimi.domain import BankCreate, BankUpdate, EntryCreate, Role
from jikimi.model import BankKind, Signal, SignalKind, Variant, Verdict
from jikimi.pipeline import Scanner
from jikimi.services import BankService
from jikimi.services.matching import MatchService
from jikimi.signals.variants import VariantHash
from jikimi.store import Store

SAMPLES = Path(str(resources.files("jikimi.data").joinpath("samples")))


class NoRegions:
    """The nudity model's stand-in: matching does not read the grade."""

    def detect(self, pictures: Sequence[Any]) -> list[tuple[Any, ...]]:
        return [() for _ in pictures]


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def matching(store: Store, settings: Settings) -> Iterator[MatchService]:
    service = MatchService(store, settings)
    service.load()
    yield service
    service.close()


@pytest.fixture
def wired(store: Store, settings: Settings, matching: MatchService) -> BankService:
    return BankService(store, settings=settings, listener=matching)


@pytest.fixture
def photo() -> Image.Image:
    return Image.open(SAMPLES / "coffee.jpg").convert("RGB")


def scan(settings: Settings, matching: MatchService, side: Side, data: bytes) -> Verdict:
    base = Scanner.from_settings(settings)
    scanner = Scanner(
        base.limits,
        NoRegions(),  # type: ignore[arg-type]
        base.grade_rules,
        SyntheticDetector([]),
        base.policy,
        matching.matcher_for(side.as_[Role.PLATFORM]),
    )
    return scanner.scan(data)


def letterboxed(photo: Image.Image) -> bytes:
    boxed = Image.new("RGB", (photo.width, photo.width), (0, 0, 0))
    boxed.paste(photo, (0, (photo.width - photo.height) // 2))
    return jpeg(boxed)


def captioned(photo: Image.Image) -> bytes:
    canvas = Image.new("RGB", (photo.width, photo.height + 70), (255, 255, 255))
    canvas.paste(photo, (0, 70))
    ImageDraw.Draw(canvas).text((20, 25), "forwarded many times", fill=(0, 0, 0))
    return jpeg(canvas)


def test_a_letterboxed_copy_matches_via_trimmed(
    wired: BankService, matching: MatchService, settings: Settings, acme: Side, photo: Image.Image
) -> None:
    admin = acme.as_[Role.ADMIN]
    bank = wired.create(admin, BankCreate(name="KNOWN", kind=BankKind.TAKEDOWN))
    assert bank.variants  # on by default
    entry = wired.add_media_entry(admin, "KNOWN", jpeg(photo))

    exact = scan(settings, matching, acme, jpeg(photo))
    assert [(m.entry, m.via) for m in exact.matches] == [(entry.id, None)]

    framed = scan(settings, matching, acme, letterboxed(photo))
    assert [(m.entry, m.via) for m in framed.matches] == [(entry.id, Variant.TRIMMED)]
    assert framed.matches[0].signal is SignalKind.PDQ and framed.matches[0].distance <= 31
    assert framed.model_dump(mode="json", by_alias=True)["matches"][0]["via"] == "trimmed"
    # the Verdict's own PDQ is still the upload's, far from the entry: only the variant matched
    pdq = framed.signal(SignalKind.PDQ)
    assert pdq is not None and pdq.value != entry.value

    captioned_copy = scan(settings, matching, acme, captioned(photo))
    assert [(m.entry, m.via) for m in captioned_copy.matches] == [(entry.id, Variant.FRAMED)]


def test_with_variants_off_framed_copies_do_not_match(
    wired: BankService, matching: MatchService, settings: Settings, acme: Side, photo: Image.Image
) -> None:
    admin = acme.as_[Role.ADMIN]
    wired.create(admin, BankCreate(name="PLAIN", kind=BankKind.TAKEDOWN, variants=False))
    wired.add_media_entry(admin, "PLAIN", jpeg(photo))
    assert scan(settings, matching, acme, letterboxed(photo)).matches == ()
    wired.update(admin, "PLAIN", BankUpdate(variants=True))
    assert [m.via for m in scan(settings, matching, acme, letterboxed(photo)).matches] == [
        Variant.TRIMMED
    ]


def test_variants_are_not_computed_when_no_bank_asks(
    wired: BankService, matching: MatchService, acme: Side, photo: Image.Image
) -> None:
    admin = acme.as_[Role.ADMIN]
    wired.create(admin, BankCreate(name="PLAIN", kind=BankKind.TAKEDOWN, variants=False))
    entry = wired.add_media_entry(admin, "PLAIN", jpeg(photo))
    calls: list[int] = []

    def variants() -> tuple[()]:
        calls.append(1)
        return ()

    signal = Signal(type=SignalKind.PDQ, value=entry.value)
    matches, _ = matching.match_item(
        acme.as_[Role.PLATFORM], [signal], lambda: (), variants=variants
    )
    assert [m.entry for m in matches] == [entry.id] and calls == []


def test_a_variant_never_replaces_a_plain_match(
    wired: BankService, matching: MatchService, acme: Side, photo: Image.Image
) -> None:
    """The plain hash's match (distance and all) is what it was; variants only add entries."""
    admin = acme.as_[Role.ADMIN]
    wired.create(admin, BankCreate(name="KNOWN", kind=BankKind.TAKEDOWN))
    entry = wired.add_media_entry(admin, "KNOWN", jpeg(photo))
    near = f"{int(entry.value, 16) ^ ((1 << 20) - 1):064x}"  # 20 bits away
    other = f"{int(near, 16) ^ ((1 << 256) - (1 << 200)):064x}"  # far from everything
    wired.add_entry(
        admin,
        "KNOWN",
        EntryCreate(signal=SignalKind.PDQ, value=other),
    )
    variant = VariantHash(Variant.TRIMMED, entry.value, 100)  # exact, but a variant
    matches, _ = matching.match_item(
        acme.as_[Role.PLATFORM],
        [Signal(type=SignalKind.PDQ, value=near)],
        lambda: (),
        variants=lambda: (variant, VariantHash(Variant.FRAMED, other, 100)),
    )
    by_entry = {m.entry: m for m in matches}
    assert by_entry[entry.id].distance == 20 and by_entry[entry.id].via is None
    assert [m.via for m in matches if m.entry != entry.id] == [Variant.FRAMED]
