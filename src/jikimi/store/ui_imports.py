"""Rows counted in an uploaded import file, for the admin page's progress bar (never commits).

In the database rather than a process's memory: behind two ``jikimi serve`` on one
PostgreSQL the poll of the progress bar may reach either, and both show the same
bar (the import's own counts are in its record already).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from jikimi.store.ui_models import ImportTotalRow


def put_total(s: Session, import_id: str, total_rows: int) -> None:
    s.merge(ImportTotalRow(import_id=import_id, total_rows=total_rows))


def get_total(s: Session, import_id: str) -> int | None:
    row = s.get(ImportTotalRow, import_id)
    return None if row is None else row.total_rows
