"""A bank's variant hashes: indexed beside its entries, looked up only when asked, kept in
step with removals and re-adds, and saved with the bank's snapshot."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

from jikimi.domain import Bank, BankKind, Change, ChangeOp, Signal, SignalKind, Variant
from jikimi.matching.bank_index import BankIndex
from jikimi.matching.bank_snapshot import BankSnapshot
from jikimi.signals.variants import VariantHash


def bank(*, variants: bool = True, dihedral: bool = False) -> Bank:
    return Bank(
        id="bnk_1",
        tenant_id="ten_1",
        name="KNOWN",
        kind=BankKind.TAKEDOWN,
        variants=variants,
        dihedral=dihedral,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def near(value: str, bits: int) -> str:
    return f"{int(value, 16) ^ ((1 << bits) - 1):064x}"


def pdq(value: str) -> Signal:
    return Signal(type=SignalKind.PDQ, value=value)


def no_flips() -> tuple[str, ...]:
    return ()


ENTRY, CROP, OTHER = (secrets.token_hex(32) for _ in range(3))


def indexed(b: Bank) -> BankIndex:
    index = BankIndex(b)
    index.add(SignalKind.PDQ, [7], [ENTRY], ["ent_7"], [f"crop6:{CROP}"])
    index.add(SignalKind.PDQ, [8], [OTHER], ["ent_8"], [""])
    return index


def test_a_variant_hit_names_its_entry_and_variant() -> None:
    snap = BankSnapshot.of([indexed(bank())], "ten_1")
    [match] = snap.match([pdq(near(CROP, 5))], no_flips)
    assert (match.entry, match.distance, match.via) == ("ent_7", 5, Variant.CROP6)
    [plain] = snap.match([pdq(near(ENTRY, 3))], no_flips)
    assert (plain.entry, plain.distance, plain.via) == ("ent_7", 3, None)


def test_a_plain_hit_is_reported_as_without_variants() -> None:
    """An entry matched by the upload's own hash keeps that distance, even if a variant
    of it is nearer."""
    index = BankIndex(bank())
    index.add(SignalKind.PDQ, [7], [ENTRY], ["ent_7"], [f"crop6:{near(ENTRY, 20)}"])
    snap = BankSnapshot.of([index], "ten_1")
    [match] = snap.match([pdq(near(ENTRY, 25))], no_flips)
    assert (match.distance, match.via) == (25, None)


def test_query_variants_are_looked_up_mirrored_in_dihedral_banks() -> None:
    flips = tuple(secrets.token_hex(32) for _ in range(8))
    flips = (near(OTHER, 100), *flips[1:5], near(OTHER, 2), *flips[6:])  # FLIP_Y is 6th
    flipped = VariantHash(Variant.FRAMED, near(OTHER, 100), 90, flips)
    asked: list[int] = []

    def variants() -> tuple[VariantHash, ...]:
        asked.append(1)
        return (flipped,)

    plain_bank = BankSnapshot.of([indexed(bank())], "ten_1")
    assert plain_bank.match([pdq(secrets.token_hex(32))], no_flips, variants) == ()
    dihedral = BankSnapshot.of([indexed(bank(dihedral=True))], "ten_1")
    [match] = dihedral.match([pdq(secrets.token_hex(32))], no_flips, variants)
    assert (match.entry, match.via, match.distance) == ("ent_8", Variant.FRAMED, 2)
    off = BankSnapshot.of([indexed(bank(variants=False, dihedral=True))], "ten_1")
    calls = len(asked)
    assert off.match([pdq(near(CROP, 1))], no_flips, variants) == ()
    assert len(asked) == calls  # a bank with variants off never asks for them


def test_an_upload_trimmed_meets_an_entry_trimmed() -> None:
    """A photo whose own edges are flat loses them on both sides: the upload's trimmed
    variant is looked up among the entries' variants too, and says it was the upload's."""
    index = BankIndex(bank())
    index.add(SignalKind.PDQ, [7], [ENTRY], ["ent_7"], [f"bank_trimmed:{CROP}"])
    mine = (VariantHash(Variant.TRIMMED, near(CROP, 4), 90),)
    [match] = BankSnapshot.of([index], "ten_1").match(
        [pdq(secrets.token_hex(32))], no_flips, lambda: mine
    )
    assert (match.entry, match.distance, match.via) == ("ent_7", 4, Variant.TRIMMED)


def test_removal_and_re_adds_keep_variants_in_step() -> None:
    index = indexed(bank())
    at = datetime(2026, 1, 1, tzinfo=UTC)
    index.remove([Change(1, ChangeOp.REMOVE, 7, "bnk_1", SignalKind.PDQ, ENTRY, at)])
    assert index.query_variants(SignalKind.PDQ, [CROP]) == [[]]
    index.add(SignalKind.PDQ, [7], [ENTRY], ["ent_7"], [f"crop12:{OTHER}"])
    assert index.query_variants(SignalKind.PDQ, [CROP]) == [[]]
    [[(hit, via)]] = index.query_variants(SignalKind.PDQ, [OTHER])
    assert (hit.entry_id, hit.distance, via) == (7, 0, Variant.CROP12)
    index.add(SignalKind.PDQ, [7], [ENTRY], ["ent_7"], [""])  # reindexed with none
    assert index.variant_count() == 0


def test_variants_are_saved_with_the_snapshot(tmp_path: Path) -> None:
    indexed(bank()).save(tmp_path / "bnk_1", 42)
    loaded, mark = BankIndex.load(None, tmp_path / "bnk_1")
    assert mark == 42 and loaded.variant_count() == 1
    [[(hit, via)]] = loaded.query_variants(SignalKind.PDQ, [CROP])
    assert (hit.entry_id, via) == (7, Variant.CROP6)
