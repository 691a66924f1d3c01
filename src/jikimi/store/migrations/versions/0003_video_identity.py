"""vPDQ entries take their frame-number-free identity (data only, no schema change).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

Until now a vPDQ entry's ``value`` was the SHA-256 of its canonical line text,
frame numbers included. ThreatExchange's JSON form, which bank export writes and
HMA exchanges, has no frame numbers, so a video exported and imported again came
back as a second entry. The identity is now the SHA-256 of that JSON form of the
frames, in frame order (``jikimi.signals.vpdq.video_identity``). This migration
recomputes ``value`` and ``dedupe_key`` of every vPDQ entry (and the value in the
change log) from its stored frames.

If two entries of one bank differ only in frame numbers, they are now one video:
the older keeps the new identity, the newer keeps its old value (both stay; the
newer can be withdrawn by hand). Written out in full, with its own copy of the
computation: a migration must keep meaning what it meant.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Frame = tuple[int, int, str, float]
"""(frame, quality, pdq, timestamp_s), as ``video_frames`` holds them."""


def _identity(frames: Sequence[Frame]) -> str:
    """Frames as ThreatExchange's JSON array of ``"pdq,quality,timestamp"`` strings."""
    # + 0.0: a -0.0 stored before 0003 (PostgreSQL keeps the sign) is the time 0.
    text = json.dumps([f"{pdq},{quality},{t + 0.0:.3f}" for _, quality, pdq, t in frames])
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _line_text(frames: Sequence[Frame]) -> str:
    """The identity before this revision: the SHA-256 of the canonical line text."""
    text = "".join(f"{frame},{quality},{pdq},{t:.3f}\n" for frame, quality, pdq, t in frames)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _dedupe_key(bank_id: str, value: str) -> bytes:
    return hashlib.sha256(f"{bank_id}\x00vpdq\x00{value}".encode("ascii")).digest()[:16]


def _revalue(identity: Callable[[Sequence[Frame]], str]) -> None:
    conn = op.get_bind()
    entries = conn.execute(
        sa.text("SELECT seq, bank_id FROM bank_entries WHERE signal = 'vpdq' ORDER BY seq")
    ).all()
    # The change log has no index on entry_seq: read its vpdq rows once, update by id.
    logged: dict[int, list[int]] = {}
    for change_id, seq in conn.execute(
        sa.text("SELECT id, entry_seq FROM changes WHERE signal = 'vpdq'")
    ):
        logged.setdefault(int(seq), []).append(int(change_id))
    for seq, bank_id in entries:
        frames = conn.execute(
            sa.text(
                "SELECT frame, quality, pdq, timestamp_s FROM video_frames "
                "WHERE entry_seq = :seq ORDER BY frame"
            ),
            {"seq": seq},
        ).all()
        if not frames:
            continue  # cannot happen (frames are written with the entry); leave it be
        value = identity([(int(f[0]), int(f[1]), str(f[2]), float(f[3])) for f in frames])
        key = _dedupe_key(bank_id, value)
        taken = conn.execute(
            sa.text("SELECT seq FROM bank_entries WHERE dedupe_key = :key AND seq <> :seq"),
            {"key": key, "seq": seq},
        ).first()
        if taken is not None:
            continue  # the same video, entered earlier: see the module docstring
        conn.execute(
            sa.text("UPDATE bank_entries SET value = :value, dedupe_key = :key WHERE seq = :seq"),
            {"value": value, "key": key, "seq": seq},
        )
        ids = logged.get(int(seq), [])
        if ids:
            conn.execute(
                sa.text("UPDATE changes SET value = :value WHERE id = :id"),
                [{"value": value, "id": change_id} for change_id in ids],
            )


def upgrade() -> None:
    _revalue(_identity)


def downgrade() -> None:
    _revalue(_line_text)
