"""Bank entries as files: streaming parse (import) and streaming write (export).

The form is ThreatExchange's / HMA's "signal" form: a signal type, a hex value
and optional metadata. A ``vpdq`` row's value is a whole video: ThreatExchange's
JSON array of ``"pdq_hex,quality,timestamp"`` strings (what export writes, from the
entry's stored frames) or jikimi's / Meta's ``frame,quality,pdq_hex,timestamp``
lines (see :mod:`jikimi.signals.vpdq`); :func:`check_row` gives its canonical
line text, from which the bank stores the frames and their SHA-256.

- CSV: header ``signal_type,signal_value,metadata`` (metadata is a JSON object
  in one quoted cell, may be empty; other named columns are added to the
  metadata as strings), or headerless lines ``pdq,<hex>[,<json>]``.
- JSON: an array of ``{"signal_type": …, "signal_value": …, "metadata": {…}}``.
- JSON Lines: the same objects, one per line.

Parsing yields :class:`~jikimi.domain.ImportRow` (values not yet checked) or
:class:`~jikimi.domain.RowError` (the line could not be read as a row), one at
a time, so a file of a million rows never sits in memory; checking the values
(:func:`check_row`) happens where the rows are consumed. A malformed line is an
error row and parsing goes on — except inside a JSON array, where a syntax
error leaves no reliable way to find the next element: that ends the file with
one error row (JSON Lines is the robust streaming form).
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import itertools
import json
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, NamedTuple, Protocol

from jikimi import jsontext
from jikimi.domain import (
    Entry,
    ImportRow,
    RowError,
    RowErrorCode,
    RowFormat,
    SignalKind,
)
from jikimi.errors import InvalidHash
from jikimi.matching.kinds import banked_kinds, kind_spec
from jikimi.signals import FixedHex, SignalType, signal_type
from jikimi.signals.vpdq import FrameHash, format_vpdq_json

HEADER = ("signal_type", "signal_value", "metadata")
MAX_ELEMENT_CHARS = 1 << 25
"""Largest CSV field or JSON array element (32 Mi characters): beyond it, an error row.

Sized for ``vpdq`` rows: the longest video a bank takes (200,000 frame hashes) is
about 18 M characters in ThreatExchange's form, what export writes."""
MAX_METADATA_CHARS = 16_384
"""Largest metadata of one entry, as JSON text."""
MAX_METADATA_DEPTH = 32
"""Deepest nesting of objects and arrays in metadata. Deeper JSON could be stored but
not shown again (pydantic refuses to serialise past about 250 levels)."""
_CHUNK = 1 << 16
_BLANK = re.compile(r"[ \t\r\n]*")


# --- parsing --------------------------------------------------------------------


def read_rows(
    stream: IO[bytes] | IO[str], fmt: RowFormat | None = None
) -> Generator[ImportRow | RowError, None, None]:
    """Rows of a CSV/JSON/JSON Lines file, read lazily; ``fmt=None`` guesses from the content.

    Bytes are read as UTF-8 (a BOM is ignored; undecodable bytes become U+FFFD
    and so fail the row they are in, not the file). The stream is not closed.
    """
    if isinstance(stream.read(0), str):
        yield from _read_text(stream, fmt)  # type: ignore[arg-type]
        return
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")  # type: ignore[type-var]
    try:
        yield from _read_text(text, fmt)
    finally:
        if not stream.closed:  # an abandoned reader may be collected after its stream
            text.detach()  # leave the caller's stream open


def _read_text(text: IO[str], fmt: RowFormat | None) -> Iterator[ImportRow | RowError]:
    sniffed: list[str] = []  # lines read to guess the format, replayed below
    for line in text:
        sniffed.append(line)
        if line.strip():
            break
    if fmt is None:
        fmt = _guess(sniffed[-1] if sniffed else "")
    if fmt == RowFormat.JSON:
        chunks = iter(lambda: text.read(_CHUNK), "")
        yield from _read_json_array(itertools.chain(sniffed, chunks))
    elif fmt == RowFormat.JSONL:
        yield from _read_jsonl(itertools.chain(sniffed, text))
    else:
        yield from _read_csv(itertools.chain(sniffed, text))


def guess_format(stream: IO[bytes]) -> RowFormat:
    """The format :func:`read_rows` would guess for this stream (from its first non-blank
    line), which is left where it was: so an import can record it before reading."""
    start = stream.tell()
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    line = ""  # the first non-blank line, or enough of it to tell
    try:
        while piece := text.readline(_CHUNK):
            line += piece
            if line.strip():
                break
            if piece[-1] in "\r\n":  # a blank line: look at the next one
                line = ""
    finally:
        text.detach()
        stream.seek(start)
    return _guess(line)


def _guess(line: str) -> RowFormat:
    """The format whose file starts with this (first non-blank) line."""
    first = line.lstrip("\ufeff \t\r\n")
    if first.startswith("["):
        return RowFormat.JSON
    if first.startswith("{"):
        return RowFormat.JSONL
    return RowFormat.CSV


def _read_csv(lines: Iterator[str]) -> Iterator[ImportRow | RowError]:
    if csv.field_size_limit() != MAX_ELEMENT_CHARS:
        csv.field_size_limit(MAX_ELEMENT_CHARS)  # process-wide; set on first use, not import
    reader = csv.reader(lines, strict=False)
    layout: _CsvLayout | None = None
    done = 0  # lines consumed so far: the next row starts on line done + 1
    while True:
        start = done + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over the size limit; the reader goes on
            done = reader.line_num
            yield RowError(line=start, code=RowErrorCode.MALFORMED_ROW, message=f"CSV: {exc}")
            continue
        done = reader.line_num
        if not cells:  # a blank line
            continue
        if layout is not None:
            yield layout.row(start, cells)
            continue
        if all(not c.strip() for c in cells):
            continue
        if cells[0].lstrip("\ufeff").strip().lower() == HEADER[0]:
            layout, problem = _CsvLayout.from_header(cells)
            if problem is not None:
                yield RowError(line=start, code=RowErrorCode.MALFORMED_ROW, message=problem)
                return
            continue
        layout = _CsvLayout()  # headerless: signal_type,signal_value[,metadata]
        yield layout.row(start, cells)


class _CsvLayout:
    """Where the fields are in each row: from the header, or the headerless order."""

    def __init__(
        self, value: int = 1, type_: int = 0, metadata: int | None = 2, width: int | None = None
    ) -> None:
        self.type = type_
        self.value = value
        self.metadata = metadata
        self.width = width  # None: headerless, 2 or 3 fields
        self.extra: dict[str, int] = {}

    @classmethod
    def from_header(cls, cells: Sequence[str]) -> tuple[_CsvLayout, str | None]:
        names = [c.lstrip("\ufeff").strip().lower() for c in cells]
        where = {name: i for i, name in enumerate(names) if name}
        layout = cls(
            value=where.get(HEADER[1], -1),
            type_=where.get(HEADER[0], -1),
            metadata=where.get(HEADER[2]),
            width=len(cells),
        )
        layout.extra = {n: i for n, i in where.items() if n not in HEADER}
        if len(where) != len([n for n in names if n]):
            return layout, "the CSV header names a column twice"
        if layout.value < 0:
            return layout, "the CSV header has no signal_value column"
        return layout, None

    def row(self, line: int, cells: Sequence[str]) -> ImportRow | RowError:
        n = len(cells)
        if self.width is None and not 2 <= n <= 3:
            return RowError(
                line=line,
                code=RowErrorCode.MALFORMED_ROW,
                message=f"expected signal_type,signal_value[,metadata] but got {n} fields "
                "(quote the metadata JSON)",
            )
        if self.width is not None and not max(self.type, self.value) < n <= self.width:
            return RowError(
                line=line,
                code=RowErrorCode.MALFORMED_ROW,
                message=f"{n} fields but the header has {self.width}",
            )
        metadata: Any = None
        if self.metadata is not None and self.metadata < n and cells[self.metadata].strip():
            try:
                metadata = jsontext.loads(cells[self.metadata])
            except json.JSONDecodeError as exc:
                return RowError(
                    line=line,
                    code=RowErrorCode.BAD_METADATA,
                    message=f"metadata is not JSON: {exc}",
                )
        if self.extra:
            extra = {name: cells[i] for name, i in self.extra.items() if i < n and cells[i]}
            if extra:
                if metadata is not None and not isinstance(metadata, dict):
                    return RowError(
                        line=line,
                        code=RowErrorCode.BAD_METADATA,
                        message="metadata is not a JSON object",
                    )
                metadata = {**extra, **(metadata or {})}
        signal_type = cells[self.type] if self.type >= 0 else ""
        return ImportRow(line, signal_type, cells[self.value], metadata)


def _object_row(line: int, obj: Any) -> ImportRow | RowError:
    if not isinstance(obj, dict):
        return RowError(line=line, code=RowErrorCode.MALFORMED_ROW, message="not a JSON object")
    signal_type, value = obj.get("signal_type"), obj.get("signal_value")
    if not isinstance(signal_type, str) or not isinstance(value, str):
        return RowError(
            line=line,
            code=RowErrorCode.MALFORMED_ROW,
            message="signal_type and signal_value must be strings",
        )
    return ImportRow(line, signal_type, value, obj.get("metadata"))


def _read_jsonl(lines: Iterator[str]) -> Iterator[ImportRow | RowError]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = jsontext.loads(line)
        except json.JSONDecodeError as exc:
            yield RowError(line=number, code=RowErrorCode.MALFORMED_ROW, message=f"not JSON: {exc}")
            continue
        yield _object_row(number, obj)


def _read_json_array(chunks: Iterator[str]) -> Iterator[ImportRow | RowError]:
    """Elements of one JSON array, decoded one at a time from a sliding buffer."""
    decoder = json.JSONDecoder()
    buf, pos, line = "", 0, 1  # ``line`` is the line number of buf[pos]

    def more(at_least: int = 1) -> bool:
        """Append at least ``at_least`` characters (False at the end of the input).

        A lone new chunk becomes the buffer as it is: no copy of a large first line.
        """
        nonlocal buf, pos
        rest = buf[pos:]
        parts = [rest] if rest else []
        added = 0
        while added < at_least:
            chunk = next(chunks, "")
            if not chunk:
                break
            parts.append(chunk)
            added += len(chunk)
        if added:
            buf, pos = parts[0] if len(parts) == 1 else "".join(parts), 0
        return added > 0

    def peek() -> str:
        """The next non-blank character ("" at the end of the input)."""
        nonlocal pos, line
        while True:
            blank = _BLANK.match(buf, pos)  # "*": always a match, maybe empty
            end = blank.end() if blank else pos
            line += buf.count("\n", pos, end)
            pos = end
            if pos < len(buf) or not more():
                return buf[pos] if pos < len(buf) else ""

    def fail(message: str) -> RowError:
        return RowError(line=line, code=RowErrorCode.MALFORMED_ROW, message=message)

    if peek() != "[":
        yield fail("a JSON import is an array of objects: expected '['")
        return
    pos += 1
    if peek() == "]":
        return
    while True:
        if peek() == "":
            yield fail("the JSON array is not closed (truncated file?)")
            return
        while True:
            try:
                obj, end = jsontext.raw_decode(decoder, buf, pos)
                break
            except json.JSONDecodeError as exc:
                # Maybe the element continues in the next chunk; give up past the size cap.
                # The read-ahead doubles each time, so a long element (a video) is
                # decoded a few times, not once per chunk.
                size = len(buf) - pos  # read no further than just past the cap
                if size > MAX_ELEMENT_CHARS or not more(min(size, MAX_ELEMENT_CHARS + 1 - size)):
                    yield fail(f"invalid JSON ({exc.msg}); the rows after it were not read")
                    return
        start = line
        line += buf.count("\n", pos, end)
        pos = end
        yield _object_row(start, obj)
        char = peek()
        if char == "]":
            return
        if char != ",":
            found = repr(char) if char else "the end of the file"
            yield fail(f"expected ',' or ']' in the JSON array, found {found}")
            return
        pos += 1


# --- checking a row ---------------------------------------------------------------


def validate_hash(kind: SignalKind, value: str) -> str:
    """The canonical form of a bank hash (the signal type's own validation)."""
    return signal_type(kind).validate(value)


@functools.cache
def _checkers() -> dict[str, tuple[SignalKind, Callable[[str], str]]]:
    """Signal types an import row may hold, by name, in :class:`SignalKind` order.

    Each kind's check is its signal type's, from the registry (``matching.kinds``);
    vPDQ's takes both of its forms and gives the canonical lines.
    """
    checkers: dict[str, tuple[SignalKind, Callable[[str], str]]] = {}
    banked = banked_kinds()
    for kind in SignalKind:
        if kind in banked:
            checkers[kind.value] = (kind, _fast_validate(kind_spec(kind).signal))
    return checkers


@functools.cache
def _expected_types() -> str:
    """The signal types an import takes, for the message about one it does not."""
    *most, last = _checkers()
    return f"{', '.join(most)} or {last}"


def _fast_validate(kind: type[SignalType]) -> Callable[[str], str]:
    """``kind.validate``, with a shortcut for values that are already canonical.

    Nearly every row of a real file is: one regular-expression match then costs
    a sixth of ``FixedHex.validate`` (strip, set difference, lowercase), which
    adds up to seconds over a million rows. Anything else, and any type with its
    own ``validate``, goes through the type's validation (and its error messages).
    """
    validate = kind.validate
    if not issubclass(kind, FixedHex) or any(
        "validate" in vars(c) for c in kind.__mro__ if c is not FixedHex and issubclass(c, FixedHex)
    ):
        return validate
    canonical = re.compile(f"[0-9a-f]{{{kind.HEX_LENGTH}}}").fullmatch

    def check(value: str) -> str:
        return value if canonical(value) else validate(value)

    return check


def check_row(row: ImportRow) -> tuple[SignalKind, str, dict[str, Any]] | RowError:
    """The signal, canonical value and metadata of a row, or why it cannot be imported.

    A ``vpdq`` row's canonical value is its canonical vPDQ text (lines), not yet the
    entry's value: the bank makes that, and refuses what no video entry may be
    (e.g. no frame of quality 50 or more), when it adds the video.
    """
    checkers = _checkers()
    checker = checkers.get(row.signal_type) or checkers.get(row.signal_type.strip().lower())
    if checker is None:
        return RowError(
            line=row.line,
            code=RowErrorCode.UNKNOWN_SIGNAL_TYPE,
            message=f"unknown signal type {row.signal_type[:40]!r} (expected {_expected_types()})",
        )
    kind, validate = checker
    try:
        value = validate(row.signal_value)
    except InvalidHash as exc:
        return RowError(line=row.line, code=RowErrorCode.INVALID_HASH, message=exc.message)
    if row.metadata is None:
        return kind, value, {}
    metadata = check_metadata(row.metadata)
    if isinstance(metadata, str):
        return RowError(line=row.line, code=RowErrorCode.BAD_METADATA, message=metadata)
    return kind, value, metadata


def check_metadata(metadata: Any) -> dict[str, Any] | str:
    """Metadata as a dict, or the reason it is not acceptable (a string)."""
    if metadata is None or metadata == "":
        return {}
    if isinstance(metadata, str):
        try:
            metadata = jsontext.loads(metadata)
        except json.JSONDecodeError as exc:
            return f"metadata is not JSON: {exc}"
    if not isinstance(metadata, dict):
        return "metadata must be a JSON object"
    if not metadata:
        return {}
    if _depth(metadata) > MAX_METADATA_DEPTH:
        return f"metadata is nested more than {MAX_METADATA_DEPTH} levels deep"
    try:
        size = len(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        return "metadata is not plain JSON"
    if size > MAX_METADATA_CHARS:
        return f"metadata is {size} characters of JSON; at most {MAX_METADATA_CHARS}"
    return metadata


def _depth(value: Any) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar is 0), without recursion
    (metadata handed over as a Python object may be nested beyond the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list | tuple):
            children = list(item)
        else:
            continue
        deepest = max(deepest, level)
        if level <= MAX_METADATA_DEPTH:  # deeper is refused anyway: stop looking
            stack.extend((child, level + 1) for child in children)
    return deepest


def as_import_row(line: int, row: ImportRow | RowError | Mapping[str, Any]) -> ImportRow | RowError:
    """Rows given as plain dicts (e.g. a JSON request body) become numbered ImportRows."""
    if isinstance(row, ImportRow | RowError):
        return row
    return _object_row(line, dict(row))


# --- writing (export) -----------------------------------------------------------


class Exportable(Protocol):
    """What an export writes of an entry: an :class:`~jikimi.domain.Entry` is one, and so
    is an :class:`ExportRow` (a vPDQ entry, written as its frames, not its SHA-256)."""

    @property
    def signal(self) -> SignalKind: ...

    @property
    def value(self) -> str: ...

    @property
    def metadata(self) -> dict[str, Any]: ...


class ExportRow(NamedTuple):
    """One exported row whose value is not the entry's own (see :func:`video_row`)."""

    signal: SignalKind
    value: str
    metadata: dict[str, Any]


def video_row(entry: Entry, frames: Sequence[FrameHash]) -> ExportRow:
    """A vPDQ entry as ThreatExchange and HMA exchange it: its frames as a JSON array of
    ``"pdq_hex,quality,timestamp"`` strings (the entry's ``value``, a SHA-256, means
    nothing outside this bank)."""
    return ExportRow(entry.signal, format_vpdq_json(frames), entry.metadata)


def write_rows(pages: Iterable[Sequence[Exportable]], fmt: RowFormat) -> Iterator[str]:
    """Text chunks of a file in ``fmt`` (one chunk per page); the inverse of :func:`read_rows`.

    A vPDQ entry must come as its :func:`video_row`: an :class:`Entry` of it would be
    written with its SHA-256 value, which no import can turn back into a video.
    """
    if fmt == RowFormat.CSV:
        yield ",".join(HEADER) + "\n"
    elif fmt == RowFormat.JSON:
        yield "["
    first = True
    for page in pages:
        if not page:
            continue
        if fmt == RowFormat.CSV:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            for e in page:
                meta = json.dumps(e.metadata, separators=(",", ":")) if e.metadata else ""
                writer.writerow((e.signal.value, e.value, meta))
            yield out.getvalue()
        else:
            lines = [json.dumps(_signal_object(e), separators=(",", ":")) for e in page]
            if fmt == RowFormat.JSONL:
                yield "\n".join(lines) + "\n"
            else:
                yield ("\n" if first else ",\n") + ",\n".join(lines)
        first = False
    if fmt == RowFormat.JSON:
        yield "\n]\n"


def _signal_object(entry: Exportable) -> dict[str, Any]:
    return {
        "signal_type": entry.signal.value,
        "signal_value": entry.value,
        "metadata": entry.metadata,
    }


def utf8(chunks: Iterable[str]) -> Iterator[bytes]:
    """Encode text chunks for an HTTP response or a binary file."""
    encoder = codecs.getincrementalencoder("utf-8")()
    for chunk in chunks:
        yield encoder.encode(chunk)
