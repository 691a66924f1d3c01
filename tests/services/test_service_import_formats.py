"""Reading and writing entries in the ThreatExchange/HMA signal form (no database)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from jikimi.domain import (
    Entry,
    EntryStatus,
    ImportRow,
    RowError,
    RowErrorCode,
    RowFormat,
    SignalKind,
)
from jikimi.errors import InvalidHash
from jikimi.services.banks.rows import (
    MAX_ELEMENT_CHARS,
    check_row,
    read_rows,
    utf8,
    write_rows,
)
from jikimi.signals import signal_type

PDQ = "a" * 64
MD5 = "b" * 32


def _read(text: str, fmt: RowFormat | None = None) -> list[ImportRow | RowError]:
    return list(read_rows(io.BytesIO(text.encode("utf-8")), fmt))


def _codes(items: list[ImportRow | RowError]) -> list[tuple[int, str]]:
    return [(i.line, i.code.value if isinstance(i, RowError) else "ok") for i in items]


def test_csv_with_header_quoted_metadata_and_extra_columns() -> None:
    text = (
        "signal_type,signal_value,metadata,case\r\n"
        f'pdq,{PDQ},"{{""source"": ""kcsc""}}",C-1\r\n'
        "\r\n"
        f"md5,{MD5},,\r\n"
    )
    rows = _read(text)
    assert rows == [
        ImportRow(2, "pdq", PDQ, {"case": "C-1", "source": "kcsc"}),
        ImportRow(4, "md5", MD5, None),
    ]


def test_headerless_lines_as_hma_writes_them() -> None:
    rows = _read(f"pdq,{PDQ}\nmd5,{MD5},{{}}\n")
    assert rows == [ImportRow(1, "pdq", PDQ, None), ImportRow(2, "md5", MD5, {})]


def test_csv_row_errors_keep_their_line_and_the_rest_goes_on() -> None:
    text = "\n".join(
        [
            "signal_type,signal_value,metadata",  # 1
            f"pdq,{PDQ}",  # 2 ok
            f'pdq,{PDQ},{{"unquoted": 1, "x": 2}}',  # 3 too many fields
            f"pdq,{PDQ},{{not json",  # 4 bad metadata
            f'pdq,"{PDQ}\nstill the same field",',  # 5-6 one quoted field over two lines
            f"md5,{MD5}",  # 7 ok
            f"pdq,{'x' * (MAX_ELEMENT_CHARS + 10)}",  # 8 field too large
            f"md5,{MD5}",  # 9 ok
        ]
    )
    assert _codes(_read(text)) == [
        (2, "ok"),
        (3, "malformed_row"),
        (4, "bad_metadata"),
        (5, "ok"),  # the parser accepts it; the value check rejects it (see check_row)
        (7, "ok"),
        (8, "malformed_row"),
        (9, "ok"),
    ]


def test_a_bad_header_is_one_error() -> None:
    rows = _read("signal_type,hash\npdq,abc\n")
    assert _codes(rows) == [(1, "malformed_row")]
    assert "signal_value" in rows[0].message  # type: ignore[union-attr]


def test_bom_and_undecodable_bytes() -> None:
    data = "\ufeffsignal_type,signal_value\n".encode() + b"pdq,\xff\xfe\n" + f"md5,{MD5}\n".encode()
    rows = list(read_rows(io.BytesIO(data)))
    assert isinstance(rows[0], ImportRow) and rows[0].line == 2 and "\ufffd" in rows[0].signal_value
    assert rows[1] == ImportRow(3, "md5", MD5, None)
    checked = check_row(rows[0])
    assert isinstance(checked, RowError) and checked.code == RowErrorCode.INVALID_HASH


def test_json_lines() -> None:
    text = "\n".join(
        [
            json.dumps({"signal_type": "pdq", "signal_value": PDQ, "metadata": {"a": 1}}),
            "",
            "{broken",
            json.dumps(["not", "an", "object"]),
            json.dumps({"signal_type": "md5"}),
            json.dumps({"signal_type": "md5", "signal_value": MD5}),
        ]
    )
    rows = _read(text)
    assert _codes(rows) == [(1, "ok"), (3, "malformed_row"), (4, "malformed_row"),
                            (5, "malformed_row"), (6, "ok")]  # fmt: skip
    assert rows[0] == ImportRow(1, "pdq", PDQ, {"a": 1})


def test_json_array_pretty_and_minified() -> None:
    items = [
        {"signal_type": "pdq", "signal_value": PDQ, "metadata": {"k": "v"}},
        {"signal_type": "md5", "signal_value": MD5},
        "not an object",
    ]
    pretty = _read(json.dumps(items, indent=2))
    assert _codes(pretty) == [(2, "ok"), (9, "ok"), (13, "malformed_row")]
    assert pretty[0] == ImportRow(2, "pdq", PDQ, {"k": "v"})
    minified = _read(json.dumps(items))
    assert _codes(minified) == [(1, "ok"), (1, "ok"), (1, "malformed_row")]
    assert _read("  [ ]  ") == []


def test_json_array_syntax_errors_end_the_file_with_one_error() -> None:
    good = json.dumps({"signal_type": "md5", "signal_value": MD5})
    assert _codes(_read(f"[\n{good},\n{{oops}},\n{good}\n]")) == [(2, "ok"), (3, "malformed_row")]
    assert _codes(_read(f"[\n{good}\n{good}]")) == [(2, "ok"), (3, "malformed_row")]
    truncated = _read(f"[\n{good},\n{good[:10]}")
    assert _codes(truncated) == [(2, "ok"), (3, "malformed_row")]
    assert _codes(_read(f"[{good},]")) == [(1, "ok"), (1, "malformed_row")]


def test_the_format_is_guessed_and_can_be_forced() -> None:
    line = json.dumps({"signal_type": "md5", "signal_value": MD5})
    assert _read(f"\n\n[{line}]") == [ImportRow(3, "md5", MD5, None)]
    assert _read(f"\n{line}\n") == [ImportRow(2, "md5", MD5, None)]
    forced = _read(f"md5,{MD5}\n", RowFormat.JSONL)
    assert _codes(forced) == [(1, "malformed_row")]
    assert _read(f"[{line}]", RowFormat.JSON) == [ImportRow(1, "md5", MD5, None)]


def test_streams_are_read_lazily_and_left_open() -> None:
    stream = io.BytesIO(f"md5,{MD5}\n".encode() * 3)
    rows = read_rows(stream)
    assert next(rows) == ImportRow(1, "md5", MD5, None)
    assert len(list(rows)) == 2
    assert not stream.closed
    text = io.StringIO(f"md5,{MD5}\n")
    assert list(read_rows(text)) == [ImportRow(1, "md5", MD5, None)]
    assert not text.closed


@pytest.mark.parametrize(
    ("row", "code"),
    [
        (ImportRow(1, "video_md5", MD5), RowErrorCode.UNKNOWN_SIGNAL_TYPE),
        (ImportRow(1, "", MD5), RowErrorCode.UNKNOWN_SIGNAL_TYPE),
        (ImportRow(1, "pdq", MD5), RowErrorCode.INVALID_HASH),
        (ImportRow(1, "md5", "z" * 32), RowErrorCode.INVALID_HASH),
        (ImportRow(1, "md5", MD5, "[1, 2]"), RowErrorCode.BAD_METADATA),
        (ImportRow(1, "md5", MD5, ["list"]), RowErrorCode.BAD_METADATA),
        (ImportRow(1, "md5", MD5, {"x": "y" * 20_000}), RowErrorCode.BAD_METADATA),
        (ImportRow(1, "md5", MD5, {"x": float("nan")}), RowErrorCode.BAD_METADATA),
    ],
)
def test_check_row_codes(row: ImportRow, code: RowErrorCode) -> None:
    checked = check_row(row)
    assert isinstance(checked, RowError) and checked.code == code and checked.line == 1


def test_check_row_normalises() -> None:
    assert check_row(ImportRow(5, " PDQ ", f" {PDQ.upper()}\t", '{"a": 1}')) == (
        SignalKind.PDQ,
        PDQ,
        {"a": 1},
    )


@pytest.mark.parametrize(
    "value",
    [
        PDQ,
        "0123456789abcdef" * 4,
        PDQ.upper(),
        f" {PDQ}",
        f"{PDQ}\n",
        PDQ[:-1],
        PDQ + "a",
        PDQ[:-1] + "g",
        PDQ[:-1] + "\u0663",  # a digit, but not a hex one
        PDQ[:-1] + "\uff41",  # fullwidth "a"
        "",
    ],
)
def test_check_row_agrees_with_the_signal_types_validation(value: str) -> None:
    """check_row's shortcut for canonical values changes nothing: same value, same error."""
    for kind in (SignalKind.PDQ, SignalKind.MD5, SignalKind.SHA256):
        candidate = value[: len(value) // 2] if kind is SignalKind.MD5 else value
        try:
            expected: str | tuple[RowErrorCode, str] = signal_type(kind).validate(candidate)
        except InvalidHash as exc:
            expected = (RowErrorCode.INVALID_HASH, exc.message)
        checked = check_row(ImportRow(1, kind.value, candidate))
        got = checked[1] if isinstance(checked, tuple) else (checked.code, checked.message)
        assert got == expected


def _entry(signal: SignalKind, value: str, metadata: dict[str, object]) -> Entry:
    now = datetime.now(UTC)
    return Entry(id="ent_x", bank="B", signal=signal, value=value, status=EntryStatus.ACTIVE,
                 metadata=metadata, created_at=now, updated_at=now)  # fmt: skip


@pytest.mark.parametrize("fmt", list(RowFormat))
def test_written_files_read_back(fmt: RowFormat) -> None:
    entries = [
        _entry(SignalKind.PDQ, PDQ, {"case": "C-1", "quote": 'say "hi", ok'}),
        _entry(SignalKind.MD5, MD5, {}),
    ]
    text = "".join(write_rows([entries[:1], [], entries[1:]], fmt))
    assert b"".join(utf8([text])) == text.encode()
    back = _read(text)  # format guessed
    assert [check_row(r) for r in back if isinstance(r, ImportRow)] == [
        (e.signal, e.value, e.metadata) for e in entries
    ]
    assert len(back) == 2
    if fmt == RowFormat.JSON:
        assert json.loads(text)[1]["signal_value"] == MD5
    empty = "".join(write_rows([], fmt))
    assert _read(empty) == []
