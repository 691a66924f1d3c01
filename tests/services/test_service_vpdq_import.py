"""vPDQ rows in bank import and export, in ThreatExchange's / HMA's signal form.

A ``vpdq`` row's value is a whole video: ThreatExchange's JSON array of
``"pdq_hex,quality,timestamp"`` strings (what export writes) or jikimi's / Meta's
``frame,quality,pdq_hex,timestamp`` lines. python-threatexchange's own
``vpdq_to_json`` / ``json_to_vpdq`` check that both sides read each other.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import io
import json
import secrets
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from service_helpers import Side

import jikimi.services.banks.transfer as banks_module
from jikimi.config import Settings
from jikimi.domain import (
    Bank,
    BankCreate,
    BankKind,
    Entry,
    EntryMeta,
    EntryStatus,
    ImportReport,
    Principal,
    Role,
    RowErrorCode,
    RowFormat,
    Signal,
    SignalKind,
)
from jikimi.errors import NotFound
from jikimi.services import BankService
from jikimi.services.banks.rows import read_rows
from jikimi.services.matching import MatchService
from jikimi.signals.vpdq import FrameHash, format_vpdq, format_vpdq_json, parse_vpdq
from jikimi.store import Store
from jikimi.store import video as video_repo

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "vpdq"


@pytest.fixture
def vpdq_util(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """python-threatexchange's ``vpdq_util``.

    It imports Meta's ``vpdq`` extension (a C++ build, not installed here) for its
    hashing functions only; the JSON functions these tests call do not touch it, so a
    stand-in module (with the one name its annotations use) takes its place while the
    file is imported.
    """
    if "vpdq" not in sys.modules and importlib.util.find_spec("vpdq") is None:
        stand_in = types.ModuleType("vpdq")
        stand_in.VpdqFeature = type("VpdqFeature", (), {})  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "vpdq", stand_in)
    return importlib.import_module("threatexchange.extensions.vpdq.vpdq_util")


def identity_of(frames: Sequence[FrameHash]) -> str:
    """A video entry's value, written out: the SHA-256 of its frames in ThreatExchange's
    JSON form, in frame order, frame numbers left out."""
    ordered = sorted(frames, key=lambda f: f.frame)
    text = json.dumps([f"{f.pdq},{f.quality},{f.t_s:.3f}" for f in ordered])
    return hashlib.sha256(text.encode()).hexdigest()


def reference_frames(name: str = "doorknob-hd-no-bar") -> list[FrameHash]:
    """Meta's reference hashes of a conformance video: every frame, numbered 0, 1, 2, ..."""
    return parse_vpdq((CONFORMANCE / f"{name}.vpdq.txt").read_text())


def random_frames(count: int, step: int = 1) -> list[FrameHash]:
    """``count`` random frame hashes, frame numbers ``step`` apart, one a second."""
    return [
        FrameHash(frame=i * step, t_s=float(i), quality=100, pdq=secrets.token_hex(32))
        for i in range(count)
    ]


def te_element(f: FrameHash) -> str:
    return f"{f.pdq},{f.quality},{f.t_s:.3f}"


def te_value(frames: Sequence[FrameHash] | Sequence[str]) -> str:
    return json.dumps([f if isinstance(f, str) else te_element(f) for f in frames])


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def row(signal: str, value: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"signal_type": signal, "signal_value": value, "metadata": metadata}


def entries(banks: BankService, who: Principal, bank: str) -> list[Entry]:
    return list(banks.list_entries(who, bank, limit=1000).entries)


def stored_frames(store: Store, bank: Bank) -> list[list[FrameHash]]:
    """The stored frames of each active vPDQ entry of ``bank``, in entry order."""
    with store.session() as s, s.begin():
        return [frames for _, frames in video_repo.iter_video_frames(s, [bank.id])]


def frame_rows(store: Store) -> int:
    with store.session() as s, s.begin():
        return int(s.scalar(sa.select(sa.func.count()).select_from(video_repo.FRAMES)) or 0)


def as_rows(entry_list: Sequence[Entry]) -> list[tuple[SignalKind, str, dict[str, Any]]]:
    return [(e.signal, e.value, e.metadata) for e in entry_list]


def counts(report: ImportReport) -> tuple[int, int, int, int]:
    return report.rows, report.added, report.duplicates, report.error_count


# --- round trips --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(RowFormat))
def test_an_export_imports_back_into_the_same_entries(
    store: Store, banks: BankService, acme: Side, fmt: RowFormat
) -> None:
    curator = acme.as_[Role.CURATOR]
    for name in ("SOURCE", "COPY"):
        banks.create(curator, BankCreate(name=name, kind=BankKind.TAKEDOWN))
    pdq, md5 = secrets.token_hex(32), secrets.token_hex(16)
    banks.import_rows(
        curator, "SOURCE", [row("pdq", pdq, {"case": "C-1"}), row("md5", md5)], source="kcsc"
    )
    reference = banks.add_vpdq_entry(
        curator,
        "SOURCE",
        format_vpdq(reference_frames()),
        EntryMeta(metadata={"case": "C-2", "quote": 'say "hi", ok'}),
    )
    # Timestamps with more digits than a millisecond are stored (and exported) to it.
    odd = [FrameHash(i, i / 3 + 0.0004, 60 + i, secrets.token_hex(32)) for i in range(5)]
    banks.add_vpdq_entry(curator, "SOURCE", format_vpdq(odd))

    text = "".join(banks.export(curator, "SOURCE", fmt))
    report = banks.import_rows(curator, "COPY", read_rows(io.StringIO(text)))

    assert counts(report) == (4, 4, 0, 0), report.errors
    source, copy = entries(banks, curator, "SOURCE"), entries(banks, curator, "COPY")
    assert as_rows(copy) == as_rows(source)  # same order, values (SHA-256s too), metadata
    assert copy[2].value == reference.value == identity_of(reference_frames())
    copied = stored_frames(store, banks.get(curator, "COPY"))
    assert copied == stored_frames(store, banks.get(curator, "SOURCE"))
    assert copied == [reference_frames(), parse_vpdq(format_vpdq(odd))]  # odd: to the ms
    assert all(e.source is None for e in copy)  # no source given to this import


def test_the_export_is_threatexchanges_form_in_every_format(
    banks: BankService, acme: Side, vpdq_util: types.ModuleType
) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    frames = random_frames(3, step=25)  # hashed once a second from a 25 fps video
    entry = banks.add_vpdq_entry(curator, "VIDEOS", format_vpdq(frames), EntryMeta())
    pdq = secrets.token_hex(32)
    banks.import_rows(curator, "VIDEOS", [row("pdq", pdq)])
    expected = json.dumps([te_element(f) for f in frames])
    assert expected == (
        f'["{frames[0].pdq},100,0.000", "{frames[1].pdq},100,1.000", "{frames[2].pdq},100,2.000"]'
    )

    exported = {fmt: "".join(banks.export(curator, "VIDEOS", fmt)) for fmt in RowFormat}
    csv_rows = list(csv.reader(io.StringIO(exported[RowFormat.CSV])))
    assert csv_rows == [
        ["signal_type", "signal_value", "metadata"],
        ["vpdq", expected, ""],  # the JSON array in one quoted cell
        ["pdq", pdq, ""],
    ]
    as_json = json.loads(exported[RowFormat.JSON])
    as_jsonl = [json.loads(line) for line in exported[RowFormat.JSONL].splitlines()]
    for objects in (as_json, as_jsonl):
        assert [(o["signal_type"], o["signal_value"]) for o in objects] == [
            ("vpdq", expected),
            ("pdq", pdq),
        ]
    assert entry.value not in exported[RowFormat.CSV]  # the SHA-256 means nothing elsewhere

    # python-threatexchange reads it: same hashes, qualities and timestamps.
    features = vpdq_util.json_to_vpdq(expected)
    assert [(f.pdq_hex, f.quality, f.timestamp) for f in features] == [
        (f.pdq, f.quality, f.t_s) for f in frames
    ]


def test_frame_numbers_are_positions_in_threatexchanges_form(
    store: Store, banks: BankService, acme: Side
) -> None:
    """The JSON form has no frame numbers: a video hashed once a second (frames 0, 25,
    50) comes back as frames 0, 1, 2, with the same hashes, qualities and timestamps,
    and so as the same video: the identity leaves frame numbers out, and an export
    imported into its own bank again adds nothing."""
    curator = acme.as_[Role.CURATOR]
    for name in ("SOURCE", "COPY"):
        banks.create(curator, BankCreate(name=name, kind=BankKind.TAKEDOWN))
    frames = random_frames(3, step=25)
    original = banks.add_vpdq_entry(curator, "SOURCE", format_vpdq(frames))
    text = "".join(banks.export(curator, "SOURCE", RowFormat.JSONL))
    assert counts(banks.import_rows(curator, "COPY", read_rows(io.StringIO(text)))) == (1, 1, 0, 0)
    again = banks.import_rows(curator, "SOURCE", read_rows(io.StringIO(text)))
    assert counts(again) == (1, 0, 1, 0)  # a duplicate, not a second entry

    (copy,) = entries(banks, curator, "COPY")
    (back,) = stored_frames(store, banks.get(curator, "COPY"))
    assert [(f.pdq, f.quality, f.t_s) for f in back] == [(f.pdq, f.quality, f.t_s) for f in frames]
    assert [f.frame for f in back] == [0, 1, 2]
    assert copy.value == original.value == identity_of(frames)


@pytest.mark.parametrize("fmt", [RowFormat.CSV, RowFormat.JSON])
def test_a_long_video_exports_and_imports_back(
    store: Store, banks: BankService, acme: Side, fmt: RowFormat
) -> None:
    """14,000 frames are about 1.2 M characters in one CSV cell or JSON element: over the
    first element cap of 1 MiB, which made such an export fail to import."""
    curator = acme.as_[Role.CURATOR]
    for name in ("SOURCE", "COPY"):
        banks.create(curator, BankCreate(name=name, kind=BankKind.TAKEDOWN))
    banks.add_vpdq_entry(curator, "SOURCE", format_vpdq(random_frames(14_000)))
    banks.import_rows(curator, "SOURCE", [row("md5", secrets.token_hex(16))])
    text = "".join(banks.export(curator, "SOURCE", fmt))
    assert len(text) > 1 << 20

    report = banks.import_rows(curator, "COPY", read_rows(io.StringIO(text)))
    assert counts(report) == (2, 2, 0, 0), report.errors
    assert stored_frames(store, banks.get(curator, "COPY")) == stored_frames(
        store, banks.get(curator, "SOURCE")
    )


def test_an_export_of_many_videos_reads_about_what_it_writes(
    banks: BankService, acme: Side, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages are cut at EXPORT_VIDEOS videos; the next page then asks for about twice
    that, not for IMPORT_BATCH rows again (which read a video bank quadratically)."""
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    videos = 300
    report = banks.import_rows(
        curator, "VIDEOS", [row("vpdq", te_value(random_frames(2))) for _ in range(videos)]
    )
    assert counts(report) == (videos, videos, 0, 0)
    monkeypatch.setattr(banks_module, "EXPORT_VIDEOS", 10)
    read: list[int] = []
    real = banks_module.entry_repo.list_entries

    def counting(*args: Any, **kwargs: Any) -> Any:
        rows = real(*args, **kwargs)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(banks_module.entry_repo, "list_entries", counting)
    text = "".join(banks.export(curator, "VIDEOS", RowFormat.JSONL))
    assert len(text.splitlines()) == videos
    assert len(read) >= videos // 10  # pages of at most 10 videos
    assert sum(read) <= 4 * videos, read  # 4,650 rows before, for 300


def test_a_value_written_by_threatexchange_imports(
    store: Store, banks: BankService, acme: Side, vpdq_util: types.ModuleType
) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    reference = reference_frames()
    features = [vpdq_util.VpdqCompactFeature(f.pdq, f.quality, f.t_s) for f in reference]
    theirs = vpdq_util.vpdq_to_json(features)  # timestamps to 3 significant digits
    last = reference[-1]
    assert last.t_s == 3.967 and theirs.endswith(f'"{last.pdq},{last.quality},3.97"]')

    report = banks.import_rows(
        curator, "VIDEOS", [row("vpdq", theirs, {"from": "hma"})], source="HMA export"
    )
    assert counts(report) == (1, 1, 0, 0), report.errors
    (entry,) = entries(banks, curator, "VIDEOS")
    assert (entry.signal, entry.source, entry.metadata) == (
        SignalKind.VPDQ,
        "HMA export",
        {"from": "hma"},
    )
    (frames,) = stored_frames(store, banks.get(curator, "VIDEOS"))
    expected = [
        FrameHash(frame=i, t_s=float(f"{f.t_s:.3}"), quality=f.quality, pdq=f.pdq)
        for i, f in enumerate(reference)
    ]
    assert frames == expected
    assert entry.value == identity_of(expected)


def test_line_form_and_our_json_form_are_the_same_video(
    banks: BankService, acme: Side, vpdq_util: types.ModuleType
) -> None:
    """Meta's own hash file (frames numbered 0, 1, 2, ...) and its JSON form are one
    entry: a second import of the video in the other form is a duplicate."""
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    text = (CONFORMANCE / "pattern-sd-grey-bar.vpdq.txt").read_text()
    report = banks.import_rows(curator, "VIDEOS", [row("vpdq", text)])
    assert counts(report) == (1, 1, 0, 0), report.errors
    (entry,) = entries(banks, curator, "VIDEOS")
    assert entry.value == identity_of(parse_vpdq(text))

    ours = format_vpdq_json(parse_vpdq(text))
    assert ours == te_value(parse_vpdq(text))
    # threatexchange reads our form back to the same features as the file's.
    features = vpdq_util.json_to_vpdq(ours)
    assert [(f.pdq_hex, f.quality, f.timestamp) for f in features] == [
        (f.pdq, f.quality, f.t_s) for f in parse_vpdq(text)
    ]
    again = banks.import_rows(curator, "VIDEOS", [row("vpdq", ours), row("VPDQ ", text)])
    assert counts(again) == (2, 0, 2, 0), again.errors


# --- bad rows, duplicates, order ---------------------------------------------------------


GOOD = secrets.token_hex(32)
LOW = json.dumps([f"{GOOD},49,0.000", f"{secrets.token_hex(32)},10,1.000"])


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (te_value([f"{GOOD},100,0.000", f"{GOOD[:-1]}g,100,1.000"]), "vPDQ element 2: "),
        (te_value([f"{GOOD[:-2]},100,0.000"]), "vPDQ element 1: "),
        (te_value([f"{GOOD},101,0.000"]), "vPDQ element 1: the quality must be 0..100"),
        (te_value([f"{GOOD},100,0.000", f"{GOOD},100,-1.000"]), "element 2: the timestamp"),
        (te_value([f"{GOOD},100"]), "element 1: expected 3 fields"),
        (json.dumps([[GOOD, 100, 0.0]]), "element 1: expected a"),
        (json.dumps({"0": {"hash": GOOD, "quality": 100, "timestamp": 0.0}}), "not an object"),
        ("[]", "no frame hashes"),
        (f'["{GOOD},100,0.000"', "not valid JSON"),
        (LOW, "could never match"),
        (f"0,100,{GOOD},0.000\n1,100,{GOOD}\n", "vPDQ line 2: expected 4 fields"),
        (f"0,100,{GOOD},0.000\n0,90,{GOOD},0.100\n", "frame 0 is listed twice"),
        ("", "no frame hashes"),
        (f"{2**31},100,{GOOD},0.000\n", "vPDQ line 1: the frame number must be 0..2147483647"),
        ("[" * 100_000, "nested too deeply"),
    ],
    ids=[
        "bad-hex",
        "short-hash",
        "quality-101",
        "negative-timestamp",
        "two-fields",
        "element-not-a-string",
        "not-a-list",
        "empty-list",
        "truncated-json",
        "all-low-quality",
        "bad-line",
        "repeated-frame",
        "empty",
        "frame-beyond-int32",
        "nested-too-deeply",
    ],
)
def test_a_bad_video_is_a_row_error_and_the_import_goes_on(
    banks: BankService, acme: Side, value: str, words: str
) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    good_video = te_value(random_frames(2))
    pdq, md5 = secrets.token_hex(32), secrets.token_hex(16)
    rows = [row("pdq", pdq), row("vpdq", value), row("md5", md5), row("vpdq", good_video)]

    report = banks.import_rows(curator, "VIDEOS", rows)

    assert counts(report) == (4, 3, 0, 1)
    (error,) = report.errors
    assert (error.line, error.code) == (2, RowErrorCode.INVALID_HASH)
    assert words in error.message, error.message
    assert [e.signal for e in entries(banks, curator, "VIDEOS")] == [
        SignalKind.PDQ,
        SignalKind.MD5,
        SignalKind.VPDQ,
    ]
    assert banks.get(curator, "VIDEOS").entry_count == 3


def test_other_row_errors_of_video_rows(banks: BankService, acme: Side) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    video = te_value(random_frames(2))
    report = banks.import_rows(
        curator,
        "VIDEOS",
        [
            {"signal_type": "vpdq", "signal_value": video, "metadata": ["not", "an", "object"]},
            row("video_md5", secrets.token_hex(16)),
            row("vpdq", video, {"case": "C-7"}),
        ],
    )
    assert counts(report) == (3, 1, 0, 2)
    bad_metadata, unknown = report.errors
    assert (bad_metadata.line, bad_metadata.code) == (1, RowErrorCode.BAD_METADATA)
    assert (unknown.line, unknown.code) == (2, RowErrorCode.UNKNOWN_SIGNAL_TYPE)
    assert "(expected pdq, vpdq, md5 or sha256)" in unknown.message
    assert [e.metadata for e in entries(banks, curator, "VIDEOS")] == [{"case": "C-7"}]


def test_videos_already_in_the_bank_are_duplicates_even_withdrawn(
    store: Store, banks: BankService, acme: Side
) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    first, second = te_value(random_frames(3)), te_value(random_frames(4))
    pdq = secrets.token_hex(32)
    rows = [row("vpdq", first), row("pdq", pdq), row("vpdq", second), row("vpdq", first)]

    assert counts(banks.import_rows(curator, "VIDEOS", rows)) == (4, 3, 1, 0)
    assert counts(banks.import_rows(curator, "VIDEOS", rows)) == (4, 0, 4, 0)  # safe to re-run

    video = entries(banks, curator, "VIDEOS")[0]
    banks.set_status(curator, "VIDEOS", video.id, EntryStatus.WITHDRAWN)
    # As the bulk path does with a withdrawn hash: skipped as a duplicate, not re-added.
    assert counts(banks.import_rows(curator, "VIDEOS", rows[:1])) == (1, 0, 1, 0)
    assert counts(banks.import_rows(curator, "VIDEOS", [row("pdq", pdq)])) == (1, 0, 1, 0)
    assert [e.signal for e in entries(banks, curator, "VIDEOS")] == [
        SignalKind.PDQ,
        SignalKind.VPDQ,
    ]
    assert banks.get(curator, "VIDEOS").entry_count == 2
    assert len(stored_frames(store, banks.get(curator, "VIDEOS"))) == 1  # active videos
    assert frame_rows(store) == 3 + 4  # the frames of the two videos added, once each


def test_videos_keep_their_place_in_the_file_and_progress_counts_them(
    banks: BankService, acme: Side
) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="MIXED", kind=BankKind.TAKEDOWN))
    pdqs = [secrets.token_hex(32) for _ in range(4)]
    videos = [te_value(random_frames(2)) for _ in range(2)]
    rows = [
        row("pdq", pdqs[0]),
        row("pdq", pdqs[1]),
        row("pdq", pdqs[2]),
        row("vpdq", videos[0]),
        row("pdq", pdqs[3]),
        row("vpdq", videos[1]),
    ]
    progress: list[int] = []
    report = banks.import_rows(curator, "MIXED", rows, progress.append, batch_size=2)

    assert counts(report) == (6, 6, 0, 0)
    # A full batch at row 2; row 3 flushed before the video of row 4; row 5 before 6.
    assert progress == [2, 3, 4, 5, 6, 6]
    signals = [e.signal.value for e in entries(banks, curator, "MIXED")]
    assert signals == ["pdq", "pdq", "pdq", "vpdq", "pdq", "vpdq"]
    exported = json.loads("".join(banks.export(curator, "MIXED", RowFormat.JSON)))
    assert [o["signal_value"] for o in exported] == [*pdqs[:3], videos[0], pdqs[3], videos[1]]


def test_an_export_reads_a_few_videos_per_page(
    banks: BankService, acme: Side, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames are read with their page, so a page holds at most EXPORT_VIDEOS videos."""
    monkeypatch.setattr(banks_module, "EXPORT_VIDEOS", 2)
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="MANY", kind=BankKind.TAKEDOWN))
    rows = []
    for i in range(5):
        rows += [row("vpdq", te_value(random_frames(2 + i))), row("md5", secrets.token_hex(16))]
    assert counts(banks.import_rows(curator, "MANY", rows)) == (10, 10, 0, 0)
    chunks = list(banks.export(curator, "MANY", RowFormat.JSONL))
    assert [len(c.splitlines()) for c in chunks] == [4, 4, 2]  # cut at the 3rd, 5th video
    exported = [json.loads(line) for c in chunks for line in c.splitlines()]
    assert [(o["signal_type"], o["signal_value"]) for o in exported] == [
        (r["signal_type"], r["signal_value"]) for r in rows
    ]


# --- matching ----------------------------------------------------------------------------


@pytest.fixture
def matching(store: Store, settings: Settings) -> Iterator[MatchService]:
    service = MatchService(store, settings)
    service.load()
    yield service
    service.close()


def test_an_imported_video_matches(
    store: Store, settings: Settings, matching: MatchService, acme: Side
) -> None:
    wired = BankService(store, settings=settings, listener=matching)
    admin = acme.as_[Role.ADMIN]
    wired.create(admin, BankCreate(name="CLIPS", kind=BankKind.TAKEDOWN))
    frames = random_frames(10)
    other = random_frames(10)
    report = wired.import_rows(
        admin, "CLIPS", [row("vpdq", te_value(frames)), row("pdq", secrets.token_hex(32))]
    )
    assert counts(report) == (2, 2, 0, 0)
    video = entries(wired, admin, "CLIPS")[0]
    clip = Signal(type=SignalKind.VPDQ, value=format_vpdq(frames[:5]))  # half the video
    unrelated = Signal(type=SignalKind.VPDQ, value=format_vpdq(other))

    def found(service: MatchService) -> list[list[str]]:
        return [[m.entry for m in r] for r in service.match_hashes(admin, [clip, unrelated])]

    assert found(matching) == [[video.id], []]  # told by the import, at once
    restarted = MatchService(store, settings)  # built from the stored frames
    restarted.load()
    try:
        assert found(restarted) == [[video.id], []]
    finally:
        restarted.close()


def test_a_bank_deleted_during_an_import_stops_it(banks: BankService, acme: Side) -> None:
    admin = acme.as_[Role.ADMIN]
    banks.create(admin, BankCreate(name="GOING", kind=BankKind.TAKEDOWN))

    def rows() -> Iterator[dict[str, Any]]:
        yield row("vpdq", te_value(random_frames(2)))
        banks.delete(admin, "GOING")
        yield row("vpdq", te_value(random_frames(2)))

    with pytest.raises(NotFound, match="GOING no longer exists"):
        banks.import_rows(admin, "GOING", rows())
