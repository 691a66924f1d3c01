"""Retroactive face matching: a person enrolled after a scan is found in it, in the
background; a withdrawn person is not; other tenants' faces are never opened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from service_helpers import Side

from face_samples import GROUP_PHOTO, astronaut, variant
from jikimi.config import FaceDetect, Settings
from jikimi.domain import EnrolPhoto, Role
from jikimi.faces import TemplateCipher
from jikimi.pipeline import Item
from jikimi.services.face_retro import FACE_RETRO, FaceRetro, scan_face_ref
from jikimi.services.persons import FaceGallery, PersonService
from jikimi.services.scans import LazyScanner, ScanService
from jikimi.store import Store, outbox
from jikimi.store import audit as audit_repo
from jikimi.store.face_models import ScanFaceRow, ScanPersonMatchRow

CONSENT = "signed form 2026-12-01, caseworker kim"


class World:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store, self.settings = store, settings
        self.gallery = FaceGallery(store, settings)
        self.persons = PersonService(store, settings, gallery=self.gallery)
        self.scans = ScanService(
            store,
            LazyScanner(settings),
            lambda _: None,
            faces_for=self.gallery.faces_for,
            keep_faces=self.gallery.keep_scan_faces,
        )
        self.retro = FaceRetro(
            store, settings, clock=lambda: datetime.now(UTC) + timedelta(hours=1)
        )
        self.opened: list[tuple[str, str]] = []
        cipher = self.retro.cipher
        original = cipher.open

        def spy(sealed: bytes, tenant_id: str, ref: str) -> Any:
            self.opened.append((tenant_id, ref))
            return original(sealed, tenant_id, ref)

        cipher.open = spy  # type: ignore[method-assign]

    def scan(self, side: Side, *files: tuple[str, bytes]) -> list[Any]:
        items = [Item(data, {"filename": name}) for name, data in files]
        return self.scans.scan_many(side.as_[Role.PLATFORM], items)

    def enrol(self, side: Side) -> str:
        photo = EnrolPhoto("her.jpg", astronaut())
        return self.persons.enrol(side.as_[Role.CASEWORKER], [photo], CONSENT).id

    def count(self, table: type) -> int:
        with self.store.session() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(table)) or 0


@pytest.fixture
def world(store: Store, settings: Settings) -> World:
    # faces looked for with nobody enrolled yet: the scans below come before anyone
    return World(store, settings.model_copy(update={"face_detect": FaceDetect.ALWAYS}))


def test_enrolled_after_the_scan_she_is_found_in_it(world: World, acme: Side, bravo: Side) -> None:
    upload, group = variant(astronaut()), GROUP_PHOTO.read_bytes()
    mine = world.scan(acme, ("upload.jpg", upload), ("group.jpg", group))
    theirs = world.scan(bravo, ("upload.jpg", upload))
    assert [len(v.faces) for v in mine] == [1, len(mine[1].faces)] and len(mine[1].faces) >= 5
    assert all(f.person is None for v in mine for f in v.faces)
    kept = len(mine[0].faces) + len(mine[1].faces) + len(theirs[0].faces)
    assert world.count(ScanFaceRow) == kept

    with world.store.session() as s:
        row = s.scalars(sa.select(ScanFaceRow).where(ScanFaceRow.scan_id == mine[0].id)).one()
        sealed, tenant = bytes(row.sealed), row.tenant_id
    cipher = TemplateCipher.from_settings(world.settings)
    assert np.linalg.norm(cipher.open(sealed, tenant, scan_face_ref(mine[0].id, 0))) > 0.99
    with pytest.raises(Exception, match="cannot be opened"):
        cipher.open(sealed, bravo.tenant.id, scan_face_ref(mine[0].id, 0))

    person = world.enrol(acme)
    with world.store.session() as s:
        queued = outbox.get(s, f"{FACE_RETRO}:{person}")
    assert queued is not None and queued.state == "pending" and queued.tenant_id == acme.tenant.id
    assert FaceRetro(world.store, world.settings).run_once() is False  # not due yet: settling
    assert world.retro.run_until_idle() == 1

    [match] = world.persons.matches(acme.as_[Role.CASEWORKER], person)
    assert (match.scan_id, match.face) == (mine[0].id, 0) and match.similarity >= 0.5
    stored = world.scans.get(acme.as_[Role.PLATFORM], mine[0].id)
    assert stored.faces[0].person == person and stored.faces[0].similarity == pytest.approx(
        match.similarity, abs=1e-4
    )
    group_stored = world.scans.get(acme.as_[Role.PLATFORM], mine[1].id)
    assert all(f.person is None for f in group_stored.faces)
    # only acme's faces (and her templates) were opened; bravo's upload of the same photo not
    assert {t for t, _ in world.opened} == {acme.tenant.id}
    assert world.scans.get(bravo.as_[Role.PLATFORM], theirs[0].id).faces[0].person is None
    with world.store.session() as s:
        history = audit_repo.history(s, acme.tenant.id, "person", person)
    actions = [(e.action, dict(e.data)) for e in history]
    assert [a for a, _ in actions] == ["enrolled", "found_in_scan", "retro_checked"]
    assert actions[0][1]["templates"] == 1 and CONSENT not in str(actions[0][1])
    [found] = [d for a, d in actions if a == "found_in_scan"]
    assert found == {"scan": mine[0].id, "face": 0, "similarity": pytest.approx(match.similarity)}
    assert (
        "retro_checked",
        {"faces": len(mine[0].faces) + len(mine[1].faces), "found": 1},
    ) in actions
    assert world.retro.run_until_idle() == 0  # done once

    world.persons.withdraw(acme.as_[Role.CASEWORKER], person)
    with world.store.session() as s:
        last = audit_repo.history(s, acme.tenant.id, "person", person)[-1]
    assert (last.action, dict(last.data)) == ("withdrawn", {"templates_destroyed": 1})
    assert world.persons.matches(acme.as_[Role.CASEWORKER], person) == []
    assert world.scans.get(acme.as_[Role.PLATFORM], mine[0].id).faces[0].person is None


def test_withdrawn_before_the_check_nothing_is_recorded(world: World, acme: Side) -> None:
    world.scan(acme, ("upload.jpg", variant(astronaut())))
    person = world.enrol(acme)
    world.persons.withdraw(acme.as_[Role.CASEWORKER], person)
    assert world.retro.run_until_idle() == 1
    assert world.count(ScanPersonMatchRow) == 0
    assert world.opened == []  # her templates were destroyed: nothing to open, nothing read
    with world.store.session() as s:
        done = outbox.get(s, f"{FACE_RETRO}:{person}")
        history = audit_repo.history(s, acme.tenant.id, "person", person)
    assert done is not None and done.state == "done"
    assert not any(e.action == "found_in_scan" for e in history)


def test_scanned_faces_are_kept_only_for_face_retro_days(world: World, acme: Side) -> None:
    world.scan(acme, ("upload.jpg", variant(astronaut())))
    assert world.count(ScanFaceRow) == 1
    assert world.retro.purge() == 0  # an hour later: kept
    later = FaceRetro(
        world.store, world.settings, clock=lambda: datetime.now(UTC) + timedelta(days=31)
    )
    assert later.purge() == 1 and world.count(ScanFaceRow) == 0


def test_face_retro_days_0_keeps_nothing(store: Store, settings: Settings, acme: Side) -> None:
    off = World(
        store,
        settings.model_copy(update={"face_detect": FaceDetect.ALWAYS, "face_retro_days": 0}),
    )
    [verdict] = off.scan(acme, ("upload.jpg", variant(astronaut())))
    assert len(verdict.faces) == 1 and off.count(ScanFaceRow) == 0
    person = off.enrol(acme)
    with store.session() as s:
        assert outbox.get(s, f"{FACE_RETRO}:{person}") is None
