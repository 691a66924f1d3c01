"""Bulk import and export of bank entries: row formats, per-row errors, import reports and jobs.

Import rows are named tuples (made by the million); the rest are frozen models.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import Field

from jikimi.domain.base import Frozen
from jikimi.domain.verdict import ErrorInfo


class RowFormat(StrEnum):
    """File forms of a bank's entries (ThreatExchange/HMA signal form)."""

    CSV = "csv"  # header signal_type,signal_value,metadata (or headerless "pdq,<hex>")
    JSON = "json"  # a JSON array of {"signal_type", "signal_value", "metadata"}
    JSONL = "jsonl"  # the same objects, one per line


class RowErrorCode(StrEnum):
    INVALID_HASH = "invalid_hash"
    UNKNOWN_SIGNAL_TYPE = "unknown_signal_type"
    MALFORMED_ROW = "malformed_row"
    BAD_METADATA = "bad_metadata"


class ImportRow(NamedTuple):
    """One parsed row, not yet validated; ``line`` is 1-based in the source file.

    A named tuple rather than a pydantic model: an import makes a million.
    """

    line: int
    signal_type: str
    signal_value: str
    metadata: Any = None


class RowError(Frozen):
    """Why one row was not imported (the import goes on without it)."""

    line: int
    code: RowErrorCode
    message: str


MAX_REPORTED_ERRORS = 1000


class ImportReport(Frozen):
    """Outcome of an import. ``errors`` keeps the first :data:`MAX_REPORTED_ERRORS`."""

    rows: int = Field(description="Rows read (added + duplicates + error_count).")
    added: int
    duplicates: int = Field(description="Rows already in the bank (withdrawn ones included).")
    error_count: int
    errors: tuple[RowError, ...] = ()


class ImportState(StrEnum):
    """Where a recorded import is (see :mod:`jikimi.services.imports` for the lifecycle)."""

    RUNNING = "running"  # a process holds its lease and is committing pages
    DONE = "done"  # final: every row was read
    FAILED = "failed"  # stopped by an error (``failure`` says which); resumable
    INTERRUPTED = "interrupted"  # its process died or was stopped; resumable


class BankImport(Frozen):
    """The record of one import of a file into a bank, kept in the database.

    ``rows`` counts the rows read and committed so far (added, duplicates and
    rejected rows alike): a resume starts after them, so its final counts are those
    of an uninterrupted import. The counts and ``rows`` are written in the same
    transaction as each page of entries, so after a crash they say exactly what is
    in the bank.
    """

    id: str
    tenant_id: str
    bank_id: str
    bank: str
    key_id: str = Field(description="The API key that started the import.")
    file_sha256: str
    file_bytes: int
    format: RowFormat
    source: str | None = None
    state: ImportState
    rows: int = Field(description="Rows read and committed: where a resume goes on.")
    added: int
    duplicates: int
    error_count: int
    errors: tuple[RowError, ...] = ()
    failure: ErrorInfo | None = Field(default=None, description="Why a failed import stopped.")
    runs: int = Field(default=1, description="Runs started (the first one and each resume).")
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None

    def report(self) -> ImportReport:
        """The counts, as an uninterrupted :meth:`~jikimi.services.BankService.import_rows`
        would report them."""
        return ImportReport(
            rows=self.rows,
            added=self.added,
            duplicates=self.duplicates,
            error_count=self.error_count,
            errors=self.errors,
        )
