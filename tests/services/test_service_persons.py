"""PersonService and FaceGallery: enrolment with consent, refusals, withdrawal, matching."""

from __future__ import annotations

import base64
import os
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from service_helpers import Side

from face_samples import (
    GROUP_PHOTO,
    astronaut,
    blurred_by_scale,
    rgb_of,
    sample,
    scaled,
    variant,
)
from jikimi.config import FaceDetect, Settings
from jikimi.domain import EnrolPhoto, PersonEventKind, PersonStatus, Role
from jikimi.errors import (
    ConsentRequired,
    CorruptMedia,
    FaceRejected,
    Forbidden,
    InvalidInput,
    NotFound,
    PersonWithdrawn,
    TemplateKeyError,
)
from jikimi.faces import FaceInput
from jikimi.ids import new_id
from jikimi.services.persons import FaceGallery, PersonService
from jikimi.store import Store
from jikimi.store import casework as casework_repo
from jikimi.store.models import PersonEventRow, PersonRow, PersonTemplateRow

CONSENT = "signed form 2026-12-01, caseworker kim"


@pytest.fixture
def persons(store: Store, settings: Settings) -> PersonService:
    return PersonService(store, settings, gallery=FaceGallery(store, settings))


def _photo(data: bytes, name: str = "her.jpg") -> EnrolPhoto:
    return EnrolPhoto(name, data)


def _case(store: Store, side: Side) -> str:
    """A case of the tenant (made in the store: what a caseworker opens first)."""
    with store.session(write=True) as s, s.begin():
        return casework_repo.create_case(
            s,
            tenant_id=side.tenant.id,
            number=f"2026-{new_id('n')[-8:]}",
            title="her case",
            language="ko",
            victim_contact_sealed=None,
            pin_hash="-",
            takedown_bank_id=None,
            created_by="test",
            at=datetime.now(UTC),
        ).id


def _counts(store: Store) -> tuple[int, int, int]:
    with store.session() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(sa.select(sa.func.count()).select_from(t)) or 0
            for t in (PersonRow, PersonTemplateRow, PersonEventRow)
        )


def test_enrol_records_consent_and_seals_templates(
    persons: PersonService, acme: Side, store: Store
) -> None:
    caseworker = acme.as_[Role.CASEWORKER]
    photos = [_photo(astronaut(), "a.jpg"), _photo(variant(astronaut()), "b.jpg")]
    case = _case(store, acme)
    person = persons.enrol(caseworker, photos, f"  {CONSENT} ", case=case)
    assert person.id.startswith("per_") and person.status is PersonStatus.ACTIVE
    assert person.templates == 2 and person.case == case
    assert person.consent.text == CONSENT and person.consent.recorded_by == caseworker.key_id
    [event] = person.events
    assert event.kind is PersonEventKind.ENROLLED and event.actor == caseworker.key_id
    assert persons.get(acme.as_[Role.ADMIN], person.id) == person
    rgb = rgb_of(astronaut())
    plain = persons.engine.templates(rgb, persons.engine.detect(rgb))[0]
    with store.session() as s:
        rows = s.scalars(sa.select(PersonTemplateRow)).all()
    assert len(rows) == 2
    for row in rows:
        assert plain.astype("<f4").tobytes() not in row.sealed
        assert row.key_id == persons.cipher.key_id
    opened = persons.cipher.open(rows[0].sealed, acme.tenant.id, person.id)
    assert float(opened @ plain) > 0.99


@pytest.mark.parametrize(
    ("photo", "code"),
    [
        (lambda: sample("rocket.jpg"), "no_face"),
        (lambda: GROUP_PHOTO.read_bytes(), "several_faces"),
        (lambda: scaled(astronaut(), 0.4), "face_too_small"),
        (lambda: blurred_by_scale(scaled(astronaut(), 2.0), 10), "face_too_blurred"),
    ],
)
def test_a_photo_without_one_clear_face_is_refused_and_nothing_is_kept(
    persons: PersonService, acme: Side, store: Store, photo: object, code: str
) -> None:
    photos = [_photo(astronaut(), "good.jpg"), _photo(photo(), "bad.jpg")]  # type: ignore[operator]
    with pytest.raises(FaceRejected) as caught:
        persons.enrol(acme.as_[Role.CASEWORKER], photos, CONSENT)
    assert caught.value.code == code
    assert caught.value.message.startswith("bad.jpg: ")
    assert _counts(store) == (0, 0, 0)


def test_refusals_of_the_request_itself(
    persons: PersonService, acme: Side, bravo: Side, store: Store
) -> None:
    caseworker = acme.as_[Role.CASEWORKER]
    good = [_photo(astronaut())]
    with pytest.raises(ConsentRequired):
        persons.enrol(caseworker, good, None)
    with pytest.raises(ConsentRequired):
        persons.enrol(caseworker, good, "   ")
    with pytest.raises(InvalidInput, match="at least one photo"):
        persons.enrol(caseworker, [], CONSENT)
    with pytest.raises(InvalidInput, match="at most"):
        persons.enrol(caseworker, good * 11, CONSENT)
    with pytest.raises(InvalidInput, match="case id"):
        persons.enrol(caseworker, good, CONSENT, case="no spaces allowed")
    with pytest.raises(NotFound, match="no case 'case_unknown'"):
        persons.enrol(caseworker, good, CONSENT, case="case_unknown")
    with pytest.raises(NotFound, match="no case"):  # another tenant's case is unknown here
        persons.enrol(caseworker, good, CONSENT, case=_case(store, bravo))
    with pytest.raises(CorruptMedia, match=r"^broken\.jpg: "):
        persons.enrol(caseworker, [_photo(astronaut()[:20], "broken.jpg")], CONSENT)
    for role in (Role.PLATFORM, Role.REVIEWER, Role.CURATOR):
        with pytest.raises(Forbidden):
            persons.enrol(acme.as_[role], good, CONSENT)
    assert _counts(store) == (0, 0, 0)


def test_withdrawal_destroys_templates_and_is_recorded(
    persons: PersonService, acme: Side, store: Store
) -> None:
    caseworker = acme.as_[Role.CASEWORKER]
    person = persons.enrol(caseworker, [_photo(astronaut())], CONSENT)
    withdrawn = persons.withdraw(caseworker, person.id)
    assert withdrawn.status is PersonStatus.WITHDRAWN and withdrawn.templates == 0
    assert withdrawn.withdrawn_by == caseworker.key_id and withdrawn.withdrawn_at is not None
    assert [e.kind for e in withdrawn.events] == [
        PersonEventKind.ENROLLED,
        PersonEventKind.WITHDRAWN,
    ]
    assert withdrawn.events[1].detail == {"templates_destroyed": 1}
    assert _counts(store) == (1, 0, 2)
    with pytest.raises(PersonWithdrawn):
        persons.withdraw(caseworker, person.id)
    assert _counts(store) == (1, 0, 2)


def test_tenants_do_not_see_each_other(persons: PersonService, acme: Side, bravo: Side) -> None:
    person = persons.enrol(acme.as_[Role.CASEWORKER], [_photo(astronaut())], CONSENT)
    with pytest.raises(NotFound):
        persons.get(bravo.as_[Role.CASEWORKER], person.id)
    with pytest.raises(NotFound):
        persons.withdraw(bravo.as_[Role.ADMIN], person.id)
    with pytest.raises(Forbidden):  # the role is checked before anything is looked up
        persons.get(bravo.as_[Role.PLATFORM], person.id)
    assert persons.get(acme.as_[Role.CASEWORKER], person.id).status is PersonStatus.ACTIVE


def test_gallery_matches_her_in_her_tenant_only_until_she_withdraws(
    store: Store, settings: Settings, acme: Side, bravo: Side
) -> None:
    gallery = FaceGallery(store, settings)
    persons = PersonService(store, settings, gallery=gallery)
    assert gallery.faces_for(acme.as_[Role.PLATFORM]) is None  # nobody enrolled: no face stage
    person = persons.enrol(acme.as_[Role.CASEWORKER], [_photo(astronaut())], CONSENT)
    faces = gallery.faces_for(acme.as_[Role.PLATFORM])
    assert faces is not None
    upload = rgb_of(variant(astronaut()))
    [[face]] = faces.find([FaceInput(upload)])
    assert face.person == person.id and face.similarity is not None
    assert face.similarity >= settings.face_threshold
    assert gallery.faces_for(bravo.as_[Role.PLATFORM]) is None
    persons.withdraw(acme.as_[Role.CASEWORKER], person.id)
    assert gallery.faces_for(acme.as_[Role.PLATFORM]) is None


def test_gallery_sees_enrolments_made_by_another_process(
    store: Store, settings: Settings, acme: Side
) -> None:
    fast = settings.model_copy(update={"match_poll_s": 0.01, "face_detect": FaceDetect.ALWAYS})
    gallery = FaceGallery(store, fast)
    faces = gallery.faces_for(acme.as_[Role.PLATFORM])
    assert faces is not None and faces.index is None  # always: faces, nobody to match
    other = PersonService(store, fast)  # no gallery: as if in the CLI
    person = other.enrol(acme.as_[Role.CASEWORKER], [_photo(astronaut())], CONSENT)
    time.sleep(0.05)
    faces = gallery.faces_for(acme.as_[Role.PLATFORM])
    assert faces is not None and faces.index is not None
    [[face]] = faces.find([FaceInput(rgb_of(astronaut()))])
    assert face.person == person.id


def test_face_detect_off_means_no_face_stage(store: Store, settings: Settings, acme: Side) -> None:
    off = settings.model_copy(update={"face_detect": FaceDetect.OFF})
    PersonService(store, off).enrol(acme.as_[Role.CASEWORKER], [_photo(astronaut())], CONSENT)
    assert FaceGallery(store, off).faces_for(acme.as_[Role.PLATFORM]) is None


def test_templates_sealed_with_another_key_are_reported(
    store: Store, settings: Settings, acme: Side
) -> None:
    PersonService(store, settings).enrol(acme.as_[Role.CASEWORKER], [_photo(astronaut())], CONSENT)
    other_key = settings.model_copy(
        update={"face_key": SecretStr(base64.b64encode(os.urandom(32)).decode())}
    )
    with pytest.raises(TemplateKeyError, match="key"):
        FaceGallery(store, other_key).faces_for(acme.as_[Role.PLATFORM])
