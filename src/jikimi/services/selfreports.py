"""Self-reports: a victim sends the hashes of her images, without an account, and gets a case.

The victim page (no sign-in) is a door like any other, but it has no API key, so
this service acts for it as a fixed principal of one configured tenant, the
support centre that receives these reports (setting ``victim_tenant``): a
caseworker-role principal whose key id is :data:`VICTIM_PAGE_KEY`, so every audit
row it writes says the report came from the page, not from a member of staff.

::

    browser (hashes only) ─► SelfReportService.submit
        └─ CaseService.open (contact sealed, PIN hashed)   ─► case number + PIN
        └─ CaseService.add_hashes, one item per picture      (all audited)

It takes hashes and text only: there is no field that could carry an image. What
it accepts is bounded (items per report, place lengths), and reports per client
address are limited, so the page cannot be used to flood a centre's case list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC

from jikimi.cases.types import CaseOpened
from jikimi.domain import EnrolPhoto, Person, Principal, Role, SignalKind, limits
from jikimi.errors import ConfigError, ConsentRequired, InvalidInput, NotFound
from jikimi.services._common import now
from jikimi.services.casereports import AttemptLimiter, SharedAttemptLimiter
from jikimi.services.cases import CaseService
from jikimi.services.persons import PersonService
from jikimi.signals import signal_type
from jikimi.store import Store
from jikimi.store import tenants as tenant_repo

VICTIM_PAGE_KEY = "victim_page"
"""The key id in the audit log of everything the victim page does."""
MAX_ITEMS = 50
MAX_PLACES = 20
MAX_PLACE = 500
MAX_URL = 2048
MAX_FACE_PHOTOS = 3
"""Face photos the page sends (made smaller on her device, so they fit one small body)."""
REPORTS_PER_HOUR = 10
"""Reports one client address may send per hour (a person reports a few times at most)."""


@dataclass(frozen=True)
class ReportedItem:
    """One file as the victim's device hashed it: PDQ for pictures, MD5/SHA-256 for any file."""

    md5: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    place: str | None = None


@dataclass(frozen=True)
class SelfReport:
    """What the page sends: hashes, places she saw them, optional contact, her language."""

    items: tuple[ReportedItem, ...]
    places: tuple[str, ...] = ()
    contact: str | None = None
    language: str = "ko"


@dataclass
class SelfReportService:
    """Opens a case for a self-report in the configured tenant."""

    store: Store
    cases: CaseService
    tenant_name: str | None
    limiter: AttemptLimiter | SharedAttemptLimiter = field(
        default_factory=lambda: AttemptLimiter(limit=REPORTS_PER_HOUR, window_s=3600.0)
    )
    persons: PersonService | None = None
    pin_limiter: AttemptLimiter | SharedAttemptLimiter = field(default_factory=AttemptLimiter)
    """Shared with the public status lookup, so a PIN guessed here costs the same tries."""

    @property
    def available(self) -> bool:
        """A tenant is configured (the page says so, and takes no reports, when not)."""
        return bool(self.tenant_name)

    def principal(self) -> Principal:
        """The page's principal in the configured tenant."""
        if not self.tenant_name:
            raise ConfigError("no victim_tenant is set: the victim page takes no reports")
        with self.store.session() as s:
            tenant = tenant_repo.get_tenant_by_name(s, self.tenant_name)
        if tenant is None:
            raise ConfigError(f"victim_tenant {self.tenant_name!r} is not a tenant")
        return Principal(tenant_id=tenant.id, key_id=VICTIM_PAGE_KEY, role=Role.CASEWORKER)

    def submit(self, report: SelfReport, client: str) -> CaseOpened:
        """Check everything first, then open the case and add one item per file."""
        items, places = _checked(report)
        contact = (report.contact or "").strip() or None
        if contact is not None:
            contact = limits.check("report_contact", contact, name="contact")
        principal = self.principal()
        key = f"client:{client}"
        self.limiter.check(key)
        self.limiter.failed(key)  # every report counts, accepted or not
        opened = self.cases.open(
            principal,
            title=_title(places),
            language=report.language,
            victim_contact=contact,
        )
        shared = places[0] if len(places) == 1 else None
        for item in items:
            signals = {
                kind: value
                for kind, value in (
                    (SignalKind.PDQ, item.pdq),
                    (SignalKind.MD5, item.md5),
                    (SignalKind.SHA256, item.sha256),
                )
                if value
            }
            place = item.place or shared
            url, source = (place, None) if place and _is_url(place) else (None, place)
            self.cases.add_hashes(principal, opened.case.id, signals, source=source, url=url)
        return opened


def _checked(report: SelfReport) -> tuple[list[ReportedItem], list[str]]:
    if not report.items:
        raise InvalidInput("a report holds the hashes of at least one file")
    if len(report.items) > MAX_ITEMS:
        raise InvalidInput(f"a report holds at most {MAX_ITEMS} files")
    if len(report.places) > MAX_PLACES:
        raise InvalidInput(f"a report names at most {MAX_PLACES} places")
    places = [p.strip() for p in report.places if p.strip()]
    items = []
    for item in report.items:
        if not (item.md5 or item.sha256 or item.pdq):
            raise InvalidInput("each file needs at least one hash")
        for kind, value in ((SignalKind.MD5, item.md5), (SignalKind.SHA256, item.sha256)):
            if value:
                signal_type(kind).validate(value)  # all checked before the case is opened
        if item.pdq:
            signal_type(SignalKind.PDQ).validate(item.pdq)
        place = (item.place or "").strip() or None
        items.append(ReportedItem(item.md5, item.sha256, item.pdq, place))
    for place in places + [i.place for i in items if i.place]:
        limit = MAX_URL if _is_url(place) else MAX_PLACE
        if len(place) > limit or not place.isprintable():
            raise InvalidInput(f"a place is a link or a name of at most {limit} characters")
    return items, places


def _is_url(place: str) -> bool:
    return place.lower().startswith(("http://", "https://")) and " " not in place


def _title(places: list[str]) -> str:
    """What a caseworker sees in her list: where it was seen, else when it was reported."""
    head = f"Self-report {now().astimezone(UTC):%Y-%m-%d}"
    if not places:
        return head
    return f"{head}: {', '.join(places)}"[:200].rstrip()


def enrol_face(
    service: SelfReportService,
    number: str,
    pin: str,
    photos: list[EnrolPhoto],
    *,
    consented: bool,
    client: str,
) -> Person:
    """Her face enrolled for the case she holds the number and PIN of, with her consent.

    The consent is the page's explicit step (a box she ticked, after being told that
    the photos are sent, not kept, and what is made of them); it is recorded with the
    person as the words below. A wrong number or PIN says nothing about which.
    """
    if not consented:
        raise ConsentRequired("face enrolment needs her explicit consent on the page")
    if not 1 <= len(photos) <= MAX_FACE_PHOTOS:
        raise InvalidInput(f"send 1 to {MAX_FACE_PHOTOS} photos of her face")
    if service.persons is None:
        raise ConfigError("face protection is not available on this server")
    keys = (f"number:{number.strip().upper()}", f"client:{client}")
    service.pin_limiter.check(*keys)
    case = service.cases.check_pin(number, pin)
    if case is None:
        service.pin_limiter.failed(*keys)
        raise NotFound("no case with this number and PIN")
    principal = Principal(tenant_id=case.tenant_id, key_id=VICTIM_PAGE_KEY, role=Role.CASEWORKER)
    consent = (
        f"given on the victim page {now():%Y-%m-%d %H:%M} UTC by the holder of case "
        f"{case.number}'s PIN: her face photos sent to make face templates, photos not kept"
    )
    return service.persons.enrol(principal, photos, consent, case.id)
