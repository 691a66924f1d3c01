"""Migration 0003: video entries move to the frame-number-free identity, and back.

Entries are made through BankService at the current schema, then put back the way
revision 0002 wrote them (value = SHA-256 of the line text, frame numbers included)
and the database is marked as 0002, so the migration runs on real rows.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator, Sequence

import pytest
import sqlalchemy as sa
from alembic import command
from service_helpers import Side

from jikimi.config import Settings
from jikimi.domain import BankCreate, BankKind, Role
from jikimi.errors import Conflict
from jikimi.services import BankService
from jikimi.signals.vpdq import FrameHash, format_vpdq
from jikimi.store import Store, make_engine, upgrade
from jikimi.store.entries import dedupe_key
from jikimi.store.migrate import alembic_config


def frames(step: int, seed_hashes: Sequence[str]) -> list[FrameHash]:
    return [
        FrameHash(frame=i * step, t_s=float(i), quality=90, pdq=h)
        for i, h in enumerate(seed_hashes)
    ]


def old_value(video: Sequence[FrameHash]) -> str:
    """Revision 0002's identity: the SHA-256 of the canonical line text."""
    return hashlib.sha256(format_vpdq(video).encode()).hexdigest()


def new_value(video: Sequence[FrameHash]) -> str:
    text = json.dumps([f"{f.pdq},{f.quality},{f.t_s:.3f}" for f in video])
    return hashlib.sha256(text.encode()).hexdigest()


def _as_of_0002(engine: sa.Engine, bank_id: str, seq: int, video: Sequence[FrameHash]) -> None:
    """Give entry ``seq`` the value, key, change-log value and frames 0002 would have.

    The schema goes back to 0003's first (later revisions change it; 0003 changes
    data only), then the version is set to 0002 so that the next upgrade runs 0003.
    """
    value = old_value(video)
    with engine.begin() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        if version not in ("0002", "0003"):
            command.downgrade(alembic_config(conn), "0003")
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM video_frames WHERE entry_seq = :s"), {"s": seq})
        conn.execute(
            sa.text(
                "INSERT INTO video_frames (entry_seq, frame, quality, pdq, timestamp_s) "
                "VALUES (:s, :f, :q, :p, :t)"
            ),
            [{"s": seq, "f": f.frame, "q": f.quality, "p": f.pdq, "t": f.t_s} for f in video],
        )
        conn.execute(
            sa.text("UPDATE bank_entries SET value = :v, dedupe_key = :k WHERE seq = :s"),
            {"v": value, "k": dedupe_key(bank_id, "vpdq", value), "s": seq},
        )
        conn.execute(
            sa.text("UPDATE changes SET value = :v WHERE entry_seq = :s"), {"v": value, "s": seq}
        )
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0002'"))


def _row(engine: sa.Engine, seq: int) -> tuple[str, bytes, str]:
    with engine.connect() as conn:
        value, key = conn.execute(
            sa.text("SELECT value, dedupe_key FROM bank_entries WHERE seq = :s"), {"s": seq}
        ).one()
        logged = conn.execute(
            sa.text("SELECT value FROM changes WHERE entry_seq = :s"), {"s": seq}
        ).scalar_one()
    return value, bytes(key), logged


def _seq(engine: sa.Engine, entry_id: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT seq FROM bank_entries WHERE id = :i"), {"i": entry_id}
            ).scalar_one()
        )


@pytest.fixture
def engine(settings: Settings) -> Iterator[sa.Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


def test_upgrade_gives_videos_their_new_identity_and_downgrade_restores_it(
    store: Store, banks: BankService, acme: Side, engine: sa.Engine
) -> None:
    curator = acme.as_[Role.CURATOR]
    bank = banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    hashes = [secrets.token_hex(32) for _ in range(4)]
    upload = frames(25, hashes)  # hashed once a second from a 25 fps upload
    entry = banks.add_vpdq_entry(curator, "VIDEOS", format_vpdq(upload))
    seq = _seq(engine, entry.id)
    _as_of_0002(engine, bank.id, seq, upload)
    # As of 0002 the same video renumbered 0, 1, 2, … (an import of our export) is new.
    assert old_value(upload) != old_value(frames(1, hashes))

    upgrade(engine)
    value, key, logged = _row(engine, seq)
    assert (
        value == logged == new_value(upload) == banks.get_entry(curator, "VIDEOS", entry.id).value
    )
    assert key == dedupe_key(bank.id, "vpdq", new_value(upload))
    with pytest.raises(Conflict, match=entry.id):  # the renumbered copy is the same video now
        banks.add_vpdq_entry(curator, "VIDEOS", format_vpdq(frames(1, hashes)))

    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0002")
    value, key, logged = _row(engine, seq)
    assert value == logged == old_value(upload)
    assert key == dedupe_key(bank.id, "vpdq", old_value(upload))
    upgrade(engine)
    assert _row(engine, seq)[0] == new_value(upload)


def test_two_entries_that_differ_only_in_frame_numbers_keep_apart(
    store: Store, banks: BankService, acme: Side, engine: sa.Engine
) -> None:
    """0002 let both in; the older takes the new identity, the newer keeps its old value."""
    curator = acme.as_[Role.CURATOR]
    bank = banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    hashes = [secrets.token_hex(32) for _ in range(3)]
    first = banks.add_vpdq_entry(curator, "VIDEOS", format_vpdq(frames(25, hashes)))
    placeholder = [secrets.token_hex(32) for _ in range(3)]
    second = banks.add_vpdq_entry(curator, "VIDEOS", format_vpdq(frames(1, placeholder)))
    one, two = _seq(engine, first.id), _seq(engine, second.id)
    _as_of_0002(engine, bank.id, one, frames(25, hashes))
    _as_of_0002(engine, bank.id, two, frames(1, hashes))

    upgrade(engine)
    assert _row(engine, one)[0] == new_value(frames(25, hashes))
    assert _row(engine, two)[0] == old_value(frames(1, hashes))
    assert banks.get(curator, "VIDEOS").entry_count == 2


def test_a_minus_zero_time_stored_before_is_time_zero(
    store: Store, banks: BankService, acme: Side, engine: sa.Engine
) -> None:
    """PostgreSQL keeps the sign of a -0.0 stored before 0003; the identity reads it as 0."""
    curator = acme.as_[Role.CURATOR]
    bank = banks.create(curator, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    video = frames(1, [secrets.token_hex(32) for _ in range(2)])
    entry = banks.add_vpdq_entry(curator, "VIDEOS", format_vpdq(video))
    seq = _seq(engine, entry.id)
    _as_of_0002(engine, bank.id, seq, video)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE video_frames SET timestamp_s = :t WHERE entry_seq = :s AND frame = 0"),
            {"t": -0.0, "s": seq},
        )
    upgrade(engine)
    assert _row(engine, seq)[0] == new_value(video)  # frame 0 at "0.000", not "-0.000"
