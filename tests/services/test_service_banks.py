"""BankService: roles, tenant isolation, sharing, entries and their lifecycle (both DBs)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from service_helpers import Side, make_side

from jikimi.domain import (
    ROLE_PERMISSIONS,
    BankCreate,
    BankKind,
    BankUpdate,
    Change,
    ChangeOp,
    EntryCreate,
    EntryMeta,
    EntryStatus,
    Permission,
    Principal,
    Role,
    RowFormat,
    SignalKind,
)
from jikimi.errors import (
    Conflict,
    Forbidden,
    InvalidHash,
    InvalidInput,
    MediaError,
    NotFound,
)
from jikimi.services import BankService
from jikimi.store import Store
from jikimi.store import entries as entry_repo

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "jikimi" / "data" / "samples"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
PDQ = "f" * 64


def _bank(banks: BankService, who: Principal, name: str = "TAKEDOWNS", **kw: Any) -> str:
    banks.create(who, BankCreate(name=name, kind=BankKind.TAKEDOWN, **kw))
    return name


def _md5(i: int) -> str:
    return hashlib.md5(str(i).encode()).hexdigest()


def _md5_entry(i: int) -> EntryCreate:
    return EntryCreate(signal=SignalKind.MD5, value=_md5(i))


class Recorder:
    """A BankListener that remembers what it was told."""

    def __init__(self, fail: bool = False) -> None:
        self.changes: list[Change] = []
        self.banks: list[str] = []
        self.fail = fail

    def entries_changed(self, changes: Sequence[Change]) -> None:
        self.changes.extend(changes)
        if self.fail:
            raise RuntimeError("listener down")

    def banks_changed(self, bank_ids: Sequence[str]) -> None:
        self.banks.extend(bank_ids)


# --- banks --------------------------------------------------------------------


def test_create_get_update_delete(banks: BankService, acme: Side) -> None:
    admin = acme.as_[Role.ADMIN]
    created = banks.create(
        admin,
        BankCreate(name="KCSC_TAKEDOWNS", kind=BankKind.TAKEDOWN, labels=("ncii", "ncii", "kr")),
    )
    assert created.labels == ("ncii", "kr") and created.pdq_threshold == 31
    assert created.id.startswith("bnk_") and created.created_at.tzinfo is not None
    assert banks.get(admin, "KCSC_TAKEDOWNS") == created
    assert banks.get(admin, created.id) == created  # by id as well
    updated = banks.update(
        admin, "KCSC_TAKEDOWNS", BankUpdate(kind=BankKind.WATCH, pdq_threshold=10, enabled=False)
    )
    assert (updated.kind, updated.pdq_threshold, updated.enabled) == (BankKind.WATCH, 10, False)
    assert updated.labels == created.labels  # untouched
    assert [b.name for b in banks.list(admin)] == ["KCSC_TAKEDOWNS"]
    with pytest.raises(Conflict):
        _bank(banks, admin, "KCSC_TAKEDOWNS")
    banks.delete(admin, "KCSC_TAKEDOWNS")
    with pytest.raises(NotFound):
        banks.get(admin, "KCSC_TAKEDOWNS")
    assert banks.list(admin) == []


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "lowercase"},
        {"name": "X"},
        {"name": "A" * 65},
        {"name": "OK", "pdq_threshold": -1},
        {"name": "OK", "pdq_threshold": 65},
        {"name": "OK", "labels": ("has space",)},
        {"name": "OK", "labels": tuple(f"l{i}" for i in range(33))},
    ],
)
def test_invalid_banks_are_refused(banks: BankService, acme: Side, spec: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        banks.create(acme.as_[Role.ADMIN], BankCreate(kind=BankKind.WATCH, **spec))
    assert banks.list(acme.as_[Role.ADMIN]) == []


def test_tenants_never_see_each_others_banks(banks: BankService, acme: Side, bravo: Side) -> None:
    a, b = acme.as_[Role.ADMIN], bravo.as_[Role.ADMIN]
    _bank(banks, a)
    entry = banks.add_entry(a, "TAKEDOWNS", EntryCreate(signal=SignalKind.MD5, value=MD5))
    bank_id = banks.get(a, "TAKEDOWNS").id
    attempts: list[Callable[[], object]] = [
        lambda: banks.get(b, "TAKEDOWNS"),
        lambda: banks.get(b, bank_id),
        lambda: banks.update(b, "TAKEDOWNS", BankUpdate(enabled=False)),
        lambda: banks.delete(b, bank_id),
        lambda: banks.share(b, "TAKEDOWNS", "bravo"),
        lambda: banks.add_entry(b, bank_id, EntryCreate(signal=SignalKind.MD5, value=_md5(1))),
        lambda: banks.get_entry(b, bank_id, entry.id),
        lambda: banks.list_entries(b, "TAKEDOWNS"),
        lambda: banks.set_status(b, bank_id, entry.id, EntryStatus.WITHDRAWN),
        lambda: banks.import_rows(b, "TAKEDOWNS", []),
        lambda: banks.export(b, bank_id, RowFormat.CSV),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):  # not Forbidden: existence is not revealed
            attempt()
    assert banks.list(b) == []
    _bank(banks, b)  # the same name is free in another tenant
    assert banks.get(b, "TAKEDOWNS").id != bank_id
    assert banks.get_entry(a, "TAKEDOWNS", entry.id) == entry


def test_role_matrix(store: Store, banks: BankService, acme: Side) -> None:
    """Every role against every bank operation: allowed ones work, others are Forbidden."""
    owner = acme.as_[Role.ADMIN]
    _bank(banks, owner)
    seed = banks.add_entry(owner, "TAKEDOWNS", EntryCreate(signal=SignalKind.MD5, value=MD5))
    counter = iter(range(10_000))

    def fresh_bank() -> str:
        return _bank(banks, owner, f"SCRATCH_{next(counter)}")

    def row() -> list[dict[str, str]]:
        return [{"signal_type": "md5", "signal_value": _md5(next(counter))}]

    def new_bank() -> BankCreate:
        return BankCreate(name=f"NEW_{next(counter)}", kind=BankKind.WATCH)

    bank = "TAKEDOWNS"
    operations: list[tuple[Permission, Callable[[Principal], object]]] = [
        (Permission.BANK_READ, lambda p: banks.get(p, bank)),
        (Permission.BANK_READ, lambda p: banks.list(p)),
        (Permission.BANK_READ, lambda p: banks.list_entries(p, bank)),
        (Permission.BANK_READ, lambda p: banks.get_entry(p, bank, seed.id)),
        (Permission.BANK_WRITE, lambda p: banks.create(p, new_bank())),
        (Permission.BANK_WRITE, lambda p: banks.update(p, bank, BankUpdate(dihedral=True))),
        (Permission.BANK_WRITE, lambda p: banks.delete(p, fresh_bank())),
        (Permission.BANK_WRITE, lambda p: banks.share(p, bank, "other")),
        (Permission.BANK_WRITE, lambda p: banks.add_entry(p, bank, _md5_entry(next(counter)))),
        (Permission.BANK_WRITE, lambda p: banks.set_status(p, bank, seed.id, EntryStatus.ACTIVE)),
        (Permission.BANK_TRANSFER, lambda p: banks.import_rows(p, bank, row())),
        (Permission.BANK_TRANSFER, lambda p: "".join(banks.export(p, bank, RowFormat.JSONL))),
    ]
    make_side(store, "other")
    for role in Role:
        caller = acme.as_[role]
        for permission, operation in operations:
            if permission in ROLE_PERMISSIONS[role]:
                operation(caller)  # must not raise
            else:
                with pytest.raises(Forbidden):
                    operation(caller)
    assert ROLE_PERMISSIONS[Role.PLATFORM].isdisjoint(
        {Permission.BANK_READ, Permission.BANK_WRITE, Permission.BANK_TRANSFER}
    )


def test_shared_banks_are_read_only_for_the_other_tenant(
    store: Store, banks: BankService, acme: Side, bravo: Side
) -> None:
    owner, guest = acme.as_[Role.CURATOR], bravo.as_[Role.CURATOR]
    _bank(banks, owner)
    entry = banks.add_entry(owner, "TAKEDOWNS", EntryCreate(signal=SignalKind.MD5, value=MD5))
    shared = banks.share(owner, "TAKEDOWNS", "bravo")
    assert shared.shared_with == (bravo.tenant.id,)
    assert banks.share(owner, "TAKEDOWNS", "bravo").shared_with == (bravo.tenant.id,)  # idempotent

    seen = banks.get(guest, "TAKEDOWNS")
    assert seen.id == shared.id and seen.shared_with == ()  # the guest doesn't see who else
    assert [b.id for b in banks.list(guest)] == [shared.id]
    assert banks.get_entry(guest, "TAKEDOWNS", entry.id) == entry
    assert MD5 in "".join(banks.export(guest, "TAKEDOWNS", RowFormat.CSV))
    writes: list[Callable[[], object]] = [
        lambda: banks.update(guest, "TAKEDOWNS", BankUpdate(enabled=False)),
        lambda: banks.delete(guest, "TAKEDOWNS"),
        lambda: banks.add_entry(guest, "TAKEDOWNS", _md5_entry(2)),
        lambda: banks.set_status(guest, "TAKEDOWNS", entry.id, EntryStatus.WITHDRAWN),
        lambda: banks.import_rows(guest, "TAKEDOWNS", []),
        lambda: banks.share(guest, "TAKEDOWNS", "acme"),
    ]
    for write in writes:
        with pytest.raises(Forbidden):
            write()

    with pytest.raises(NotFound):
        banks.share(owner, "TAKEDOWNS", "nobody")
    with pytest.raises(InvalidInput):
        banks.share(owner, "TAKEDOWNS", "acme")
    assert banks.unshare(owner, "TAKEDOWNS", "bravo").shared_with == ()
    with pytest.raises(NotFound):
        banks.get(guest, "TAKEDOWNS")


def test_two_shared_banks_with_one_name_need_the_id(
    store: Store, banks: BankService, acme: Side, bravo: Side
) -> None:
    charlie = make_side(store, "charlie")
    ids = []
    for side in (acme, bravo):
        _bank(banks, side.as_[Role.ADMIN], "COMMON")
        ids.append(banks.share(side.as_[Role.ADMIN], "COMMON", "charlie").id)
    reader = charlie.as_[Role.REVIEWER]
    with pytest.raises(Conflict, match="bank id"):
        banks.get(reader, "COMMON")
    assert [banks.get(reader, i).tenant_id for i in ids] == [acme.tenant.id, bravo.tenant.id]
    _bank(banks, charlie.as_[Role.ADMIN], "COMMON")  # its own bank wins by name
    assert banks.get(reader, "COMMON").tenant_id == charlie.tenant.id


# --- entries ------------------------------------------------------------------


def test_add_entry_checks_and_normalises(banks: BankService, acme: Side) -> None:
    curator = acme.as_[Role.CURATOR]
    _bank(banks, curator)
    entry = banks.add_entry(
        curator,
        "TAKEDOWNS",
        EntryCreate(
            signal=SignalKind.MD5,
            value=f" {MD5.upper()} ",
            source="report #12",
            note="from the helpline",
            metadata={"case": "C-1"},
        ),
    )
    assert entry.value == MD5 and entry.status == EntryStatus.ACTIVE
    assert (entry.source, entry.note) == ("report #12", "from the helpline")
    assert entry.metadata == {"case": "C-1"}
    assert entry.bank == "TAKEDOWNS" and entry.id.startswith("ent_")
    assert banks.get(curator, "TAKEDOWNS").entry_count == 1
    with pytest.raises(Conflict, match=entry.id):
        banks.add_entry(curator, "TAKEDOWNS", EntryCreate(signal=SignalKind.MD5, value=MD5))
    bad: list[EntryCreate] = [
        EntryCreate(signal=SignalKind.MD5, value="abc"),
        EntryCreate(signal=SignalKind.PDQ, value="g" * 64),
        EntryCreate(signal=SignalKind.VPDQ, value=PDQ),
        EntryCreate(signal=SignalKind.PDQ, value=PDQ, metadata={"big": "x" * 20_000}),
        EntryCreate(signal=SignalKind.PDQ, value=PDQ, source="s" * 3000),
    ]
    for create in bad:
        with pytest.raises(InvalidInput):
            banks.add_entry(curator, "TAKEDOWNS", create)
    with pytest.raises(InvalidHash):
        banks.add_entry(curator, "TAKEDOWNS", bad[0])
    assert banks.get(curator, "TAKEDOWNS").entry_count == 1


def test_list_entries_pages_with_a_cursor(banks: BankService, acme: Side) -> None:
    curator = acme.as_[Role.CURATOR]
    _bank(banks, curator)
    report = banks.import_rows(
        curator, "TAKEDOWNS", [{"signal_type": "md5", "signal_value": _md5(i)} for i in range(7)]
    )
    assert report.added == 7
    seen, cursor, pages = [], None, 0
    while True:
        page = banks.list_entries(curator, "TAKEDOWNS", cursor, limit=3)
        seen += [e.value for e in page.entries]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [_md5(i) for i in range(7)] and pages == 3
    for bad_cursor in ("!!", "AAAA", "ZS0x"):
        with pytest.raises(InvalidInput):
            banks.list_entries(curator, "TAKEDOWNS", bad_cursor)
    for limit in (0, 1001):
        with pytest.raises(InvalidInput):
            banks.list_entries(curator, "TAKEDOWNS", limit=limit)


def test_disable_enable_and_final_withdrawal(store: Store, settings: Any, acme: Side) -> None:
    recorder = Recorder()
    banks = BankService(store, settings=settings, listener=recorder)
    curator = acme.as_[Role.CURATOR]
    _bank(banks, curator)
    entry = banks.add_entry(curator, "TAKEDOWNS", EntryCreate(signal=SignalKind.PDQ, value=PDQ))
    keep = banks.add_entry(curator, "TAKEDOWNS", EntryCreate(signal=SignalKind.MD5, value=MD5))

    banks.set_status(curator, "TAKEDOWNS", entry.id, EntryStatus.DISABLED)
    assert banks.get_entry(curator, "TAKEDOWNS", entry.id).status == EntryStatus.DISABLED
    disabled = banks.list_entries(curator, "TAKEDOWNS", status=EntryStatus.DISABLED).entries
    assert [e.id for e in disabled] == [entry.id]
    assert PDQ not in "".join(banks.export(curator, "TAKEDOWNS", RowFormat.CSV))
    banks.set_status(curator, "TAKEDOWNS", entry.id, EntryStatus.ACTIVE)
    assert PDQ in "".join(banks.export(curator, "TAKEDOWNS", RowFormat.CSV))

    withdrawn = banks.set_status(curator, "TAKEDOWNS", entry.id, EntryStatus.WITHDRAWN)
    assert withdrawn.status == EntryStatus.WITHDRAWN
    gone: list[Callable[[], object]] = [
        lambda: banks.get_entry(curator, "TAKEDOWNS", entry.id),
        lambda: banks.set_status(curator, "TAKEDOWNS", entry.id, EntryStatus.ACTIVE),
        lambda: banks.set_status(curator, "TAKEDOWNS", entry.id, EntryStatus.WITHDRAWN),
    ]
    for again in gone:
        with pytest.raises(NotFound):
            again()
    assert [e.id for e in banks.list_entries(curator, "TAKEDOWNS").entries] == [keep.id]
    assert PDQ not in "".join(banks.export(curator, "TAKEDOWNS", RowFormat.JSON))
    with pytest.raises(Conflict, match="withdrawn"):
        banks.add_entry(curator, "TAKEDOWNS", EntryCreate(signal=SignalKind.PDQ, value=PDQ))
    report = banks.import_rows(curator, "TAKEDOWNS", [{"signal_type": "pdq", "signal_value": PDQ}])
    assert (report.added, report.duplicates) == (0, 1)
    with pytest.raises(InvalidInput):
        banks.list_entries(curator, "TAKEDOWNS", status=EntryStatus.WITHDRAWN)
    assert banks.get(curator, "TAKEDOWNS").entry_count == 1

    # The matching index heard every step, in order, right after each commit ...
    ops = [(c.op, c.value) for c in recorder.changes]
    assert ops == [
        (ChangeOp.ADD, PDQ), (ChangeOp.ADD, MD5), (ChangeOp.REMOVE, PDQ),
        (ChangeOp.ADD, PDQ), (ChangeOp.REMOVE, PDQ),
    ]  # fmt: skip
    # ... and a restarted process replays the same from the change log.
    with store.session() as s, s.begin():
        logged = entry_repo.changes_since(s, 0)
        assert [e.value for e in entry_repo.iter_active_entries(s)] == [MD5]
    # The listener hears what was written; the log read back also names each entry.
    assert [c._replace(entry_id=None) for c in logged] == recorder.changes


def test_a_failing_listener_does_not_undo_or_fail_the_change(
    store: Store, settings: Any, acme: Side
) -> None:
    recorder = Recorder(fail=True)
    banks = BankService(store, settings=settings, listener=recorder)
    curator = acme.as_[Role.CURATOR]
    _bank(banks, curator)
    entry = banks.add_entry(curator, "TAKEDOWNS", EntryCreate(signal=SignalKind.MD5, value=MD5))
    assert banks.get_entry(curator, "TAKEDOWNS", entry.id) == entry
    assert len(recorder.changes) == 1
    assert recorder.banks == [banks.get(curator, "TAKEDOWNS").id]


def test_deleting_a_bank_removes_its_entries_from_matching(
    store: Store, settings: Any, acme: Side
) -> None:
    recorder = Recorder()
    banks = BankService(store, settings=settings, listener=recorder)
    curator = acme.as_[Role.CURATOR]
    _bank(banks, curator)
    rows = [{"signal_type": "md5", "signal_value": _md5(i)} for i in range(3)]
    banks.import_rows(curator, "TAKEDOWNS", rows)
    bank_id = banks.get(curator, "TAKEDOWNS").id
    banks.delete(curator, "TAKEDOWNS")
    assert recorder.banks[-1] == bank_id
    with store.session() as s, s.begin():
        log = entry_repo.changes_since(s, 0)
        assert list(entry_repo.iter_active_entries(s)) == []
    assert [c.op for c in log] == [ChangeOp.ADD] * 3 + [ChangeOp.REMOVE] * 3


def test_add_media_entry_keeps_the_image_only_as_evidence(
    store: Store, banks: BankService, acme: Side
) -> None:
    curator = acme.as_[Role.CURATOR]
    data = (SAMPLES / "coffee.jpg").read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    _bank(banks, curator, "HASH_ONLY")
    _bank(banks, curator, "EVIDENCE", keep_evidence=True)

    hashed = banks.add_media_entry(curator, "HASH_ONLY", data, EntryMeta(note="upload"))
    assert hashed.signal == SignalKind.PDQ and len(hashed.value) == 64
    assert hashed.media_sha256 == sha256 and hashed.note == "upload"
    assert not store.blobs.exists(sha256)

    kept = banks.add_media_entry(curator, "EVIDENCE", data)
    assert kept.value == hashed.value
    assert store.blobs.read(sha256) == data
    with pytest.raises(Conflict):
        banks.add_media_entry(curator, "EVIDENCE", data)
    with pytest.raises(MediaError):
        banks.add_media_entry(curator, "HASH_ONLY", b"not an image at all")
    with pytest.raises(Forbidden):
        banks.add_media_entry(acme.as_[Role.REVIEWER], "HASH_ONLY", data)


def test_add_media_entry_takes_heic_and_avif_like_jpeg(
    store: Store, banks: BankService, acme: Side
) -> None:
    """A victim's iPhone photo (HEIC) or Android photo (AVIF) is banked like its JPEG."""
    import io

    import pillow_heif
    from PIL import Image

    curator = acme.as_[Role.CURATOR]
    photo = Image.open(SAMPLES / "coffee.jpg").convert("RGB")
    heic, avif = io.BytesIO(), io.BytesIO()
    pillow_heif.from_pillow(photo).save(heic, quality=80)
    photo.save(avif, "AVIF", quality=80, speed=10)
    jpeg = banks.add_media_entry(
        curator, _bank(banks, curator, "JPEG"), (SAMPLES / "coffee.jpg").read_bytes()
    )
    for name, data in (("HEIC", heic.getvalue()), ("AVIF", avif.getvalue())):
        entry = banks.add_media_entry(
            curator, _bank(banks, curator, name, keep_evidence=True), data
        )
        assert entry.signal == SignalKind.PDQ
        assert (int(entry.value, 16) ^ int(jpeg.value, 16)).bit_count() <= 10
        assert store.blobs.read(hashlib.sha256(data).hexdigest()) == data
