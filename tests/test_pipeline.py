"""The Scanner: bytes → Verdict, batches, errors, and the matcher seam."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import pytest

from jikimi.config import Settings
from jikimi.domain import Action, BankKind, Match, Signal, SignalKind
from jikimi.pipeline import Item, Scanner
from jikimi.signals import PdqSignal

SAMPLES = Path(str(resources.files("jikimi.data").joinpath("samples")))


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner.from_settings(Settings())


def test_scan_one_image(scanner: Scanner) -> None:
    data = (SAMPLES / "astronaut.jpg").read_bytes()
    v = scanner.scan(data, {"path": "astronaut.jpg"})
    assert v.error is None and v.media is not None
    assert (v.media.width, v.media.height, v.media.format) == (512, 512, "jpeg")
    pdq = v.signal(SignalKind.PDQ)
    assert pdq is not None and len(pdq.value) == 64 and pdq.quality is not None
    assert v.id.startswith("scn_") and v.source == {"path": "astronaut.jpg"}
    assert v.grade is not None and v.grade.label.value == "normal"
    # the astronaut's face is found and boxed in original coordinates
    faces = [r for r in v.grade.regions if r.label.startswith("FACE")]
    assert faces and all(0 <= r.box[0] < 512 and 0 <= r.box[1] < 512 for r in faces)


def test_batch_keeps_order_and_isolates_bad_items(scanner: Scanner) -> None:
    good = (SAMPLES / "coffee.jpg").read_bytes()
    items = [
        Item(good, {"n": 0}),
        Item(b"\x00garbage", {"n": 1}),
        Item(b"", {"n": 2}),
        Item(good[:200], {"n": 3}),
        Item(good, {"n": 4}),
    ]
    out = scanner.scan_many(items)
    assert [v.source["n"] for v in out] == [0, 1, 2, 3, 4]
    assert out[0].error is None and out[4].error is None
    assert out[0].signals == out[4].signals
    assert out[1].error is not None and out[1].error.code == "unsupported_media"
    assert out[2].error is not None and out[2].error.code == "empty_media"
    assert out[3].error is not None and out[3].error.code == "corrupt_media"


class BankSnapshot:
    """A one-bank snapshot implementing the pipeline's Matcher interface."""

    def __init__(self, pdq: str, kind: BankKind) -> None:
        self.pdq, self.kind, self.dihedral_calls = pdq, kind, 0

    def match(
        self,
        signals: Sequence[Signal],
        dihedral: Callable[[], Sequence[str]],
        variants: Callable[[], Sequence[object]] = tuple,
    ) -> tuple[Match, ...]:
        self.dihedral_calls += 1
        hashes = [s.value for s in signals if s.type is SignalKind.PDQ] + list(dihedral())
        best = min(PdqSignal.distance(h, self.pdq) for h in hashes)
        return (
            (
                Match(
                    bank="B",
                    bank_kind=self.kind,
                    signal=SignalKind.PDQ,
                    distance=best,
                    entry="ent_1",
                ),
            )
            if best <= 31
            else ()
        )


def test_matcher_drives_the_decision(scanner: Scanner) -> None:
    import io

    from PIL import Image

    data = (SAMPLES / "rocket.jpg").read_bytes()
    flipped = io.BytesIO()
    Image.open(io.BytesIO(data)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(flipped, "JPEG")
    pdq = scanner.scan(data).signal(SignalKind.PDQ)
    assert pdq is not None
    snap = BankSnapshot(pdq.value, BankKind.TAKEDOWN)
    s2 = Scanner(
        scanner.limits,
        scanner.grade,
        scanner.grade_rules,
        scanner.synthetic,
        scanner.policy,
        matcher=snap,
    )
    v = s2.scan(flipped.getvalue())  # a mirrored copy matches through the dihedral hashes
    assert v.matches and v.matches[0].bank == "B"
    assert v.decision is not None and v.decision.action is Action.REMOVE
    assert any("B" in r for r in v.decision.reasons)
