"""A stored scan's signals become rows (``scan_signals``), not a column per kind.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Until now ``scans`` had a ``pdq``, an ``md5`` and a ``sha256`` column, and a video
scan was told apart by its columns (no PDQ, a SHA-256). Each new kind of signal
would have meant another column. Now each signal of a scan is a row
``(scan_id, kind, key)``, indexed by ``(kind, key)``; ``key`` is the value for
the hash kinds and, for a video's ``vpdq``, the video's identity (the SHA-256 of
ThreatExchange's JSON form of its frames: the frames themselves stay in the
stored Verdict). This migration moves the three columns' values into rows, adds
the ``vpdq`` row of every stored video scan, and drops the columns (downgrade
puts them back from the rows). Written out in full, with its own copy of the
identity computation: a migration must keep meaning what it meant.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = (("pdq", 64), ("md5", 32), ("sha256", 64))


def _video_identity(text: str) -> str | None:
    """The identity of a vPDQ text (``frame,quality,pdq,timestamp`` lines), or None."""
    elements = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.strip().split(",")
        if len(parts) != 4:
            return None
        try:
            frame, quality, t = int(parts[0]), int(parts[1]), float(parts[3])
        except ValueError:
            return None
        elements.append((frame, f"{parts[2].lower()},{quality},{t:.3f}"))
    if not elements:
        return None
    ordered = [element for _, element in sorted(elements, key=lambda e: e[0])]
    return hashlib.sha256(json.dumps(ordered).encode("ascii")).hexdigest()


def _vpdq_of(verdict: Any) -> str | None:
    if isinstance(verdict, str):
        verdict = json.loads(verdict)
    signals = verdict.get("signals") if isinstance(verdict, dict) else None
    for signal in signals or ():
        if isinstance(signal, dict) and signal.get("type") == "vpdq":
            value = signal.get("value")
            return value if isinstance(value, str) else None
    return None


def upgrade() -> None:
    op.create_table(
        "scan_signals",
        sa.Column("scan_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scans.id"], name="fk_scan_signals_scan_id_scans", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("scan_id", "kind", name="pk_scan_signals"),
    )
    op.create_index("ix_scan_signals_kind_key", "scan_signals", ["kind", "key"])
    conn = op.get_bind()
    for column, _ in _COLUMNS:
        conn.execute(
            sa.text(
                f"INSERT INTO scan_signals (scan_id, kind, key) "
                f"SELECT id, '{column}', lower({column}) FROM scans WHERE {column} IS NOT NULL"
            )
        )
    videos = conn.execute(
        sa.text("SELECT id, verdict FROM scans WHERE pdq IS NULL AND sha256 IS NOT NULL")
    )
    rows = []
    for scan_id, verdict in videos:
        text = _vpdq_of(verdict)
        key = _video_identity(text) if text is not None else None
        if key is not None:
            rows.append({"scan_id": scan_id, "key": key})
    if rows:
        conn.execute(
            sa.text(
                "INSERT INTO scan_signals (scan_id, kind, key) VALUES (:scan_id, 'vpdq', :key)"
            ),
            rows,
        )
    with op.batch_alter_table("scans") as batch:
        for column, _ in _COLUMNS:
            batch.drop_index(f"ix_scans_{column}")
            batch.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("scans") as batch:
        for column, length in _COLUMNS:
            batch.add_column(sa.Column(column, sa.String(length=length), nullable=True))
            batch.create_index(f"ix_scans_{column}", [column])
    conn = op.get_bind()
    for column, _ in _COLUMNS:
        conn.execute(
            sa.text(
                f"UPDATE scans SET {column} = (SELECT key FROM scan_signals "
                f"WHERE scan_signals.scan_id = scans.id AND scan_signals.kind = '{column}')"
            )
        )
    op.drop_index("ix_scan_signals_kind_key", table_name="scan_signals")
    op.drop_table("scan_signals")
