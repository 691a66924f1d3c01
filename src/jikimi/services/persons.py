"""Persons enrolled for face protection: consent, templates, withdrawal, matching.

::

    PersonService.enrol(principal, photos, consent, case)
        each photo ─► media.load ─► faces ─► exactly one clear face?
                        no_face · several_faces · face_too_small · face_too_blurred
                   ─► template ─► sealed (AES-256-GCM)
        one transaction: person + consent (text, who, when) + sealed templates
                         + "enrolled" event + audit entry + the retroactive check
                         queued (jikimi.services.face_retro); nothing is kept of a
                         refused enrolment (a case the tenant lacks is refused too)
    PersonService.withdraw(principal, person_id)
        one transaction: templates deleted, status withdrawn, "withdrawn" event
                         + audit entry
    PersonService.matches(principal, person_id)  ─► stored scans she was found in later
    FaceGallery.faces_for(principal)       ─► the pipeline's face stage, or None
        per tenant: an immutable FaceIndex of her persons' opened templates,
        rebuilt after an enrolment or withdrawal here at once, and within
        match_poll_s after one made by another process (person_events' newest id)
    FaceGallery.keep_scan_faces(...)       ─► stored scans' face templates, sealed

Photos are not kept: only their SHA-256 and the sealed templates (a case that
keeps evidence is another issue's). Templates never leave this module except
inside a :class:`~jikimi.faces.FaceIndex`; no return value, log line or error
message carries one.

Roles: ``person_write`` (caseworker, admin) enrols and withdraws,
``person_read`` reads. Another tenant's person is :class:`NotFound`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session

from jikimi.config import FaceDetect, Settings
from jikimi.domain import (
    MAX_ENROL_PHOTOS,
    EnrolPhoto,
    Permission,
    Person,
    PersonStatus,
    Principal,
    Verdict,
    limits,
)
from jikimi.errors import (
    ConsentRequired,
    FaceTooBlurred,
    FaceTooSmall,
    InvalidInput,
    JikimiError,
    NoFace,
    NotFound,
    PersonWithdrawn,
    SeveralFaces,
    TemplateKeyError,
)
from jikimi.faces import FaceEngine, FaceIndex, TemplateCipher, Templates, TenantFaces, sharpness
from jikimi.ids import new_id
from jikimi.media import MediaLimits, load
from jikimi.pipeline import FaceMatcher
from jikimi.services._common import now, require
from jikimi.services.face_retro import enqueue_check, keep_scan_faces
from jikimi.store import Store
from jikimi.store import audit as audit_repo
from jikimi.store import casework as casework_repo
from jikimi.store import persons as repo
from jikimi.store import scan_faces as scan_faces_repo
from jikimi.store.scan_faces import LateFaceMatch

log = logging.getLogger(__name__)

CASE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
SEVERAL_FACES_SHARE = 0.5
"""A second face at least this share of the largest one's size makes a photo ambiguous."""


class PersonService:
    """Enrol, show and withdraw persons (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        engine: FaceEngine | None = None,
        gallery: FaceGallery | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self._engine = engine
        self.gallery = gallery
        self._limits = MediaLimits.from_settings(settings)
        self._cipher: TemplateCipher | None = None

    @property
    def engine(self) -> FaceEngine:
        if self._engine is None:
            self._engine = FaceEngine.from_settings(self.settings)
        return self._engine

    @property
    def cipher(self) -> TemplateCipher:
        if self._cipher is None:
            self._cipher = TemplateCipher.from_settings(self.settings)
        return self._cipher

    def enrol(
        self,
        principal: Principal,
        photos: Sequence[EnrolPhoto],
        consent: str | None,
        case: str | None = None,
    ) -> Person:
        """Enrol a person from photos that each hold exactly one clear face.

        All or nothing: a refused photo (its error names it) stores nothing.
        """
        require(principal, Permission.PERSON_WRITE)
        consent_text = _consent(consent)
        case_id = _case(case)
        if not photos:
            raise InvalidInput("enrolment needs at least one photo")
        if len(photos) > MAX_ENROL_PHOTOS:
            raise InvalidInput(f"enrolment takes at most {MAX_ENROL_PHOTOS} photos")
        if case_id is not None:
            with self.store.session() as s, s.begin():
                if casework_repo.get_case_row(s, principal.tenant_id, case_id) is None:
                    raise NotFound(f"no case {case_id!r} (open it first: jikimi case open)")
        cipher = self.cipher  # a missing key is refused before any work
        faces = [self._one_face(photo) for photo in photos]
        person_id = new_id("per")
        templates = [
            repo.NewTemplate(
                sealed=cipher.seal(template, principal.tenant_id, person_id),
                key_id=cipher.key_id,
                photo_sha256=hashlib.sha256(photo.data).hexdigest(),
                face_px=side,
            )
            for photo, (template, side) in zip(photos, faces, strict=True)
        ]
        at = now()
        with self.store.session(write=True) as s, s.begin():
            person = repo.create_person(
                s,
                person_id=person_id,
                tenant_id=principal.tenant_id,
                case_id=case_id,
                consent_text=consent_text,
                actor=principal.key_id,
                templates=templates,
                at=at,
            )
            # the tamper-evident log: who recorded which consent, when (the text's
            # digest: the text itself stays in her record, which withdrawal keeps)
            audit_repo.append(
                s,
                tenant_id=principal.tenant_id,
                actor=principal.key_id,
                entity="person",
                entity_id=person_id,
                action="enrolled",
                data={
                    "case": case_id,
                    "templates": len(templates),
                    "consent_sha256": hashlib.sha256(consent_text.encode()).hexdigest(),
                },
                at=at,
            )
            # stored scans are re-checked for her face in the background
            enqueue_check(s, self.settings, principal.tenant_id, person_id, at)
        log.info("person %s enrolled from %d photos", person_id, len(photos))
        if self.gallery is not None:
            self.gallery.changed(principal.tenant_id)
        return person

    def get(self, principal: Principal, person_id: str) -> Person:
        """The tenant's person and her record (never her templates)."""
        require(principal, Permission.PERSON_READ)
        with self.store.session() as s, s.begin():
            person = repo.get_person(s, principal.tenant_id, person_id)
        if person is None:
            raise NotFound(f"no person {person_id!r}")
        return person

    def matches(self, principal: Principal, person_id: str) -> list[LateFaceMatch]:
        """Stored scans in which she was found after they were scanned (retroactive
        matching), while she is active; her withdrawal hides them."""
        require(principal, Permission.PERSON_READ)
        with self.store.session() as s, s.begin():
            if repo.get_person(s, principal.tenant_id, person_id) is None:
                raise NotFound(f"no person {person_id!r}")
            return scan_faces_repo.late_matches(s, principal.tenant_id, person_id=person_id)

    def withdraw(self, principal: Principal, person_id: str) -> Person:
        """Destroy her templates; she is never matched again. Recorded in her events."""
        require(principal, Permission.PERSON_WRITE)
        with self.store.session(write=True) as s, s.begin():
            status = repo.lock_person(s, principal.tenant_id, person_id)
            if status is None:
                raise NotFound(f"no person {person_id!r}")
            if status is PersonStatus.WITHDRAWN:
                raise PersonWithdrawn(f"person {person_id} has already withdrawn")
            at = now()
            destroyed = repo.withdraw(s, principal.tenant_id, person_id, principal.key_id, at)
            audit_repo.append(
                s,
                tenant_id=principal.tenant_id,
                actor=principal.key_id,
                entity="person",
                entity_id=person_id,
                action="withdrawn",
                data={"templates_destroyed": destroyed},
                at=at,
            )
            person = repo.get_person(s, principal.tenant_id, person_id)
        log.info("person %s withdrew: %d templates destroyed", person_id, destroyed)
        if self.gallery is not None:
            self.gallery.changed(principal.tenant_id)
        assert person is not None
        return person

    def _one_face(
        self, photo: EnrolPhoto
    ) -> tuple[np.ndarray[tuple[int], np.dtype[np.float32]], int]:
        """The photo's one clear face: its template and size (px), or why not."""
        try:
            rgb = load(photo.data, self._limits).rgb()
        except JikimiError as exc:
            raise type(exc)(f"{photo.name}: {exc.message}") from None
        engine = self.engine
        found = engine.detect(rgb)
        if not found:
            raise NoFace(f"{photo.name}: no face found")
        largest = found[0]
        rivals = [f for f in found[1:] if f.side >= SEVERAL_FACES_SHARE * largest.side]
        if rivals:
            raise SeveralFaces(
                f"{photo.name}: {len(rivals) + 1} faces found; each photo must show only hers"
            )
        if largest.side < self.settings.face_enrol_min_px:
            raise FaceTooSmall(
                f"{photo.name}: the face is {largest.side} px; at least "
                f"{self.settings.face_enrol_min_px} px is needed"
            )
        aligned = engine.aligned(rgb, largest)
        sharp = sharpness(aligned)
        if sharp < self.settings.face_enrol_min_sharpness:
            raise FaceTooBlurred(
                f"{photo.name}: the face is too blurred (sharpness {sharp:.0f}, at least "
                f"{self.settings.face_enrol_min_sharpness:.0f} needed)"
            )
        template = engine.embed_aligned([aligned])[0]
        return template, largest.side


class FaceGallery:
    """Per-tenant face indexes of one process, kept in step with the database.

    ``faces_for`` is called for every scan: it answers from memory, and at most
    once per ``match_poll_s`` asks the database whether any person changed
    (one ``max(id)`` query), rebuilding only the tenants that did.
    """

    def __init__(self, store: Store, settings: Settings, engine: FaceEngine | None = None) -> None:
        self.store = store
        self.settings = settings
        self._engine = engine
        self._cipher: TemplateCipher | None = None
        self._indexes: dict[str, FaceIndex] = {}
        self._seen_event = -1
        self._checked_at = 0.0
        self._lock = threading.Lock()

    @property
    def engine(self) -> FaceEngine:
        if self._engine is None:
            self._engine = FaceEngine.from_settings(self.settings)
        return self._engine

    def changed(self, tenant_id: str) -> None:
        """A person of ``tenant_id`` was enrolled or withdrew here: rebuild on next use."""
        with self._lock:
            self._indexes.pop(tenant_id, None)
            self._checked_at = 0.0

    def faces_for(self, principal: Principal) -> TenantFaces | None:
        """The face stage for the caller's scans, or None when faces are not looked for.

        It keeps its faces' templates (for :meth:`keep_scan_faces`) unless
        ``face_retro_days`` is 0.
        """
        mode = self.settings.face_detect
        if mode is FaceDetect.OFF:
            return None
        index = self.index_for(principal.tenant_id)
        keep = self.settings.face_retro_days > 0
        if len(index) == 0:
            if mode is FaceDetect.AUTO:
                return None
            return TenantFaces(self.engine, None, self.settings.face_threshold, keep=keep)
        return TenantFaces(self.engine, index, self.settings.face_threshold, keep=keep)

    def keep_scan_faces(
        self,
        s: Session,
        tenant_id: str,
        verdicts: Sequence[Verdict],
        stage: FaceMatcher | None,
        at: datetime,
    ) -> None:
        """Seal and store the faces of scans being stored (``ScanService.keep_faces``)."""
        if isinstance(stage, TenantFaces) and stage.keep:
            keep_scan_faces(s, self.cipher, tenant_id, verdicts, stage, at)
            stage.forget()

    @property
    def cipher(self) -> TemplateCipher:
        if self._cipher is None:
            self._cipher = TemplateCipher.from_settings(self.settings)
        return self._cipher

    def index_for(self, tenant_id: str) -> FaceIndex:
        """The tenant's index (built on first use, and again after changes)."""
        self._poll()
        with self._lock:
            index = self._indexes.get(tenant_id)
        if index is not None:
            return index
        index = self._build(tenant_id)
        with self._lock:
            self._indexes[tenant_id] = index
        return index

    def _poll(self) -> None:
        at = time.monotonic()
        with self._lock:
            if at - self._checked_at < self.settings.match_poll_s:
                return
            self._checked_at = at
            seen = self._seen_event
        with self.store.session() as s, s.begin():
            newest = repo.last_event_id(s)
            stale = repo.tenants_changed_since(s, seen) if newest != seen and seen >= 0 else set()
        with self._lock:
            if seen < 0:
                self._indexes.clear()
            for tenant in stale:
                self._indexes.pop(tenant, None)
            self._seen_event = newest

    def _build(self, tenant_id: str) -> FaceIndex:
        by_person: dict[str, list[Templates]] = {}
        with self.store.session() as s, s.begin():
            rows = list(repo.sealed_templates(s, tenant_id))
        if rows:
            cipher = self.cipher
            for row in rows:
                if row.key_id != cipher.key_id:
                    raise TemplateKeyError(
                        f"this tenant's face templates were sealed with key {row.key_id}, "
                        f"not the configured key {cipher.key_id} (JIKIMI_FACE_KEY)"
                    )
                template = cipher.open(row.sealed, row.tenant_id, row.person_id)
                by_person.setdefault(row.person_id, []).append(template.reshape(1, -1))
        return FaceIndex.build({p: np.concatenate(t) for p, t in by_person.items()})


def _consent(text: str | None) -> str:
    value = (text or "").strip()
    if not value:
        raise ConsentRequired(
            "enrolment needs her consent on record: what she agreed to, e.g. "
            "'signed form 2026-12-01, caseworker kim'"
        )
    return limits.check("consent", value)


def _case(case: str | None) -> str | None:
    if case is None or not case.strip():
        return None
    value = case.strip()
    if not CASE_RE.match(value):
        raise InvalidInput("a case id is 1 to 64 letters, digits or _.:-")
    return value
