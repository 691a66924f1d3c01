"""Retroactive face matching: a person enrolled today is found in scans stored earlier.

The fake made from her photo was uploaded last week, before anyone enrolled her.
To find it, each stored scan whose face stage ran keeps its faces' templates,
sealed, for ``face_retro_days``; her enrolment re-checks them in the background::

    scan stored ─► keep_scan_faces: each face's template sealed (AES-256-GCM, the
                   face key, bound to tenant + scan + face) ─► scan_faces
    enrolment   ─► outbox row "face_retro" in the same transaction (due once the
                   scans racing with it are stored: match_poll_s + RETRO_SETTLE_S)
    FaceRetro.run_once ─► claim the row (lease) ─► her templates (only hers) ─►
                   the tenant's scan_faces stored before her enrolment, a page at a
                   time, opened in memory ─► exact similarity ─► ≥ face_threshold:
                   one transaction: she is still active? ─► scan_person_matches rows,
                   an audit entry per match ("found_in_scan") and one for the pass
                   ("retro_checked"), the outbox row done
    every pass  ─► scan_faces older than face_retro_days deleted

Why keep sealed templates rather than re-scan stored media: jikimi does not keep
uploads (a scan is its Verdict), so re-scanning could only reach the evidence of
cases, which is exactly what is already known; the upload of last week would be
missed. The templates are what is needed and nothing more (no pixels), they are
sealed with the key of the enrolled templates, kept only for tenants whose face
stage runs (with ``face_detect = auto``: tenants with enrolled persons), deleted
with their scan or after ``face_retro_days`` (0 keeps none), read only by this
matcher, one tenant at a time, and never returned by any API. docs/faces.md says
what a privacy regulator should know about it.

A match never changes the stored decision: ``GET /v1/scans/{id}`` shows the face
with her id and similarity (while she is active), ``GET /v1/persons/{id}/matches``
lists where she was found, and the audit log records each, for human review.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
from sqlalchemy.orm import Session

from jikimi.config import Settings
from jikimi.domain import PersonStatus, Verdict
from jikimi.errors import JikimiError
from jikimi.faces import FaceIndex, TemplateCipher, TenantFaces
from jikimi.pipeline import FaceMatcher
from jikimi.services._common import runner_id
from jikimi.store import Store, outbox
from jikimi.store import audit as audit_repo
from jikimi.store import persons as person_repo
from jikimi.store import scan_faces as repo

log = logging.getLogger(__name__)

FACE_RETRO: Final = "face_retro"
"""Outbox kind of a retroactive check (payload: ``person``, ``before``)."""
RETRO_SETTLE_S: Final = 10.0
"""Seconds added to ``match_poll_s`` before a check runs: scans that started before
every process saw her enrolment are stored by then, and checked."""
PAGE: Final = 5_000
"""Stored faces opened and searched at once (2.5 MB of templates)."""
ACTOR: Final = "face-retro"
PURGE_EVERY: Final = timedelta(minutes=10)


def scan_face_ref(scan_id: str, face: int) -> str:
    """What a scanned face's seal is bound to (with the tenant): this scan, this face.

    The cipher's associated data names a person for enrolled templates; here it
    names ``scn_…#n``, which no person id can be, so neither kind of row opens
    as the other, nor in another scan, face or tenant.
    """
    return f"{scan_id}#{face}"


def keep_scan_faces(
    s: Session,
    cipher: TemplateCipher,
    tenant_id: str,
    verdicts: Sequence[Verdict],
    stage: FaceMatcher | None,
    at: datetime,
) -> int:
    """Seal and store the templates of the stored scans' faces (in the caller's
    transaction); how many. Only a :class:`TenantFaces` stage with ``keep`` has them."""
    if not isinstance(stage, TenantFaces) or not stage.keep:
        return 0
    rows = []
    for verdict in verdicts:
        for n, face in enumerate(verdict.faces or ()):
            template = stage.template_of(face)
            if template is None:
                continue
            rows.append(
                repo.NewScanFace(
                    scan_id=verdict.id,
                    tenant_id=tenant_id,
                    face=n,
                    sealed=cipher.seal(template, tenant_id, scan_face_ref(verdict.id, n)),
                    key_id=cipher.key_id,
                )
            )
    return repo.add_scan_faces(s, rows, at)


def enqueue_check(
    s: Session, settings: Settings, tenant_id: str, person_id: str, at: datetime
) -> None:
    """Queue the retroactive check of a new person (in her enrolment's transaction)."""
    if settings.face_retro_days <= 0:
        return
    due = at + timedelta(seconds=settings.match_poll_s + RETRO_SETTLE_S)
    outbox.enqueue(
        s,
        tenant_id=tenant_id,
        kind=FACE_RETRO,
        key=f"{FACE_RETRO}:{person_id}",
        payload={"person": person_id, "before": due.isoformat()},
        at=at,
        not_before=due,
    )


class FaceRetro:
    """Runs due retroactive checks, one per :meth:`run_once` (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=10),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.settings = settings
        self.owner = owner or runner_id()
        self.lease = lease
        self.clock = clock
        self._cipher: TemplateCipher | None = None
        self._purged_at: datetime | None = None

    @property
    def cipher(self) -> TemplateCipher:
        if self._cipher is None:
            self._cipher = TemplateCipher.from_settings(self.settings)
        return self._cipher

    def purge(self) -> int:
        """Delete scanned faces older than ``face_retro_days``; how many."""
        at = self.clock()
        self._purged_at = at
        with self.store.session(write=True) as s, s.begin():
            gone = repo.purge_scan_faces(s, at - timedelta(days=self.settings.face_retro_days))
        if gone:
            log.info("face retro: %d scanned faces past face_retro_days deleted", gone)
        return gone

    def run_once(self) -> bool:
        """Run the next due check; ``False`` when there was none."""
        at = self.clock()
        if self._purged_at is None or at - self._purged_at >= PURGE_EVERY:
            self.purge()
        with self.store.session(write=True) as s, s.begin():
            row = outbox.claim(s, self.owner, at, self.lease, kinds=(FACE_RETRO,))
        if row is None:
            return False
        tenant, person_id = row.tenant_id, str(row.payload["person"])
        before = datetime.fromisoformat(str(row.payload["before"]))
        try:
            checked, found = self._check(tenant, person_id, before)
        except JikimiError as exc:  # a wrong face key: retried later, and logged
            log.error("face retro for %s: %s", person_id, exc.message)
            with self.store.session(write=True) as s, s.begin():
                outbox.retry(
                    s, row.id, self.owner, exc.message, self.clock() + timedelta(minutes=5)
                )
            return True
        done = self.clock()
        with self.store.session(write=True) as s, s.begin():
            if not outbox.complete(s, row.id, self.owner, done):
                return True  # our lease lapsed; whoever holds it now does it again
            status = person_repo.lock_person(s, tenant, person_id)
            if status is not PersonStatus.ACTIVE:
                found = []  # she withdrew meanwhile: nothing is recorded of her
            recorded = 0
            for scan_id, face, similarity in found:
                match = repo.LateFaceMatch(scan_id, face, person_id, similarity, done)
                if repo.record_match(s, tenant, match):
                    recorded += 1
                    audit_repo.append(
                        s,
                        tenant_id=tenant,
                        actor=ACTOR,
                        entity="person",
                        entity_id=person_id,
                        action="found_in_scan",
                        data={"scan": scan_id, "face": face, "similarity": round(similarity, 4)},
                        at=done,
                    )
            if status is PersonStatus.ACTIVE:
                audit_repo.append(
                    s,
                    tenant_id=tenant,
                    actor=ACTOR,
                    entity="person",
                    entity_id=person_id,
                    action="retro_checked",
                    data={"faces": checked, "found": recorded},
                    at=done,
                )
        log.info(
            "face retro for %s: %d stored faces checked, %d found", person_id, checked, recorded
        )
        return True

    def run_until_idle(self, limit: int = 1_000) -> int:
        n = 0
        while n < limit and self.run_once():
            n += 1
        return n

    def _check(
        self, tenant: str, person_id: str, before: datetime
    ) -> tuple[int, list[tuple[str, int, float]]]:
        """Her templates against the tenant's stored faces: (faces checked, matches)."""
        cipher = self.cipher
        with self.store.session() as s, s.begin():
            sealed = list(person_repo.sealed_templates(s, tenant, person_id))
        if not sealed:
            return 0, []  # withdrawn (templates destroyed), or gone
        index = FaceIndex.build(
            {person_id: np.stack([cipher.open(t.sealed, tenant, person_id) for t in sealed])}
        )
        threshold = self.settings.face_threshold
        checked, found, after = 0, [], 0
        while True:
            with self.store.session() as s, s.begin():
                page = repo.sealed_scan_faces(s, tenant, before, after, PAGE)
            if not page:
                break
            after = page[-1].id
            rows = [r for r in page if r.key_id == cipher.key_id]
            if len(rows) < len(page):
                log.warning(
                    "face retro: %d stored faces sealed with another key skipped",
                    len(page) - len(rows),
                )
            if not rows:
                continue
            queries = np.stack(
                [cipher.open(r.sealed, tenant, scan_face_ref(r.scan_id, r.face)) for r in rows]
            )
            checked += len(rows)
            for r, hit in zip(rows, index.search(queries, threshold), strict=True):
                if hit.person is not None:
                    found.append((r.scan_id, r.face, hit.similarity))
        return checked, found


class FaceRetroRunner:
    """Runs :class:`FaceRetro` in the background of a process (``jikimi serve``)."""

    def __init__(self, retro: FaceRetro, poll_s: float = 5.0) -> None:
        self.retro = retro
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="jikimi-face-retro", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                while not self._stop.is_set() and self.retro.run_once():
                    pass
            except Exception:  # a bad row must not stop the loop; it is retried later
                log.exception("face retro: a check failed")
