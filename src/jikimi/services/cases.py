"""Hosts, cases and items as a service: transactions, permissions, the audit trail.

Every change writes its audit row (:func:`jikimi.store.audit.append`) in the same
transaction as the change itself, so the log can never miss a change that
committed, nor record one that rolled back.

Adding an item by URL captures it first, outside any transaction (the fetch may
take seconds): :class:`~jikimi.fetching.SafeFetcher` gets the bytes, the same
Scanner as every other door scans them (the Verdict is stored as a scan), and the
bytes go into the blob store sealed (AES-GCM). A URL that cannot be fetched is
still recorded, as an ``unreachable`` item with the reason, to be tried again.
"""

from __future__ import annotations

import builtins
import contextlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy.orm import Session

from jikimi.cases.lifecycle import CASE_MOVES, ITEM_MOVES, CaseStatus, ItemStatus, check_move
from jikimi.cases.types import Case, CaseOpened, Contact, ContactKind, Host, Item, Regulator
from jikimi.domain import Permission, Principal, Signal, SignalKind, Verdict, limits
from jikimi.errors import Conflict, InvalidInput, JikimiError, NotFound
from jikimi.evidence import Sealer
from jikimi.fetching import Capture, SafeFetcher
from jikimi.media import MediaLimits, load
from jikimi.notices import LegalBasis, normalise_language
from jikimi.pipeline.hashing import byte_signals, still_signals
from jikimi.services._common import now, require
from jikimi.signals import signal_type
from jikimi.store import Store, outbox
from jikimi.store import audit as audit_repo
from jikimi.store import casework as repo

_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_PIN_DIGITS = 8
ITEM_SIGNALS = (SignalKind.PDQ, SignalKind.MD5, SignalKind.SHA256)


class ItemScanner(Protocol):
    """Scans captured bytes for a caller and stores the Verdict (the ScanService's shape)."""

    def scan_bytes(self, principal: Principal, data: bytes, source: Mapping[str, Any]) -> Verdict:
        """The stored Verdict of ``data`` (an error Verdict is returned, not stored)."""
        ...


@dataclass(frozen=True)
class UrlItem:
    """One URL to capture as an item of a case, with where it was posted."""

    url: str
    host: str | None = None
    source: str | None = None


def audit(
    s: Session,
    principal: Principal,
    entity: str,
    entity_id: str,
    action: str,
    data: Mapping[str, Any],
    at: datetime,
) -> None:
    """Record a change by ``principal`` in the caller's transaction."""
    audit_repo.append(
        s,
        tenant_id=principal.tenant_id,
        actor=principal.key_id,
        entity=entity,
        entity_id=entity_id,
        action=action,
        data=data,
        at=at,
    )


@dataclass(frozen=True)
class HostSpec:
    """What ``jikimi host add`` / ``POST /v1/hosts`` give."""

    slug: str
    name: str
    language: str
    contacts: tuple[Contact, ...] = ()
    bases: tuple[str, ...] = ()
    jurisdiction: str | None = None
    api_secret: str | None = None
    removal_markers: tuple[str, ...] = ()
    regulator: Regulator | None = None
    """Copied on escalations (a follow-up after a missed deadline names it)."""


class HostService:
    """The tenant's directory of hosts and how each takes removal requests."""

    def __init__(self, store: Store, sealer: Sealer) -> None:
        self.store = store
        self.sealer = sealer

    def add(self, principal: Principal, spec: HostSpec) -> Host:
        require(principal, Permission.HOST_WRITE)
        slug = spec.slug.strip().lower()
        if not _SLUG_RE.match(slug):
            raise InvalidInput("a host slug is 1-64 of a-z, 0-9, '_', '.', '-'")
        name = limits.check("host_name", spec.name, name="name")
        given = limits.check("language", spec.language)
        language, unknown = normalise_language(given)
        if unknown:  # kept as given: its notices are in English and say so
            language = given.lower().replace("_", "-")
            if not _LANG_RE.match(language):
                raise InvalidInput(f"not a language tag: {spec.language!r} (e.g. en, ko, pt-BR)")
        bases = tuple(LegalBasis.parse(b).value for b in spec.bases)
        if any(c.kind is ContactKind.API for c in spec.contacts) and not spec.api_secret:
            raise InvalidInput("a host with an API contact needs its shared secret (--secret)")
        for contact in spec.contacts:
            _check_contact(contact)
        if spec.regulator is not None and spec.regulator.email is not None:
            _check_contact(Contact(kind=ContactKind.EMAIL, value=spec.regulator.email))
        at = now()
        sealed = (
            None
            if spec.api_secret is None
            else self.sealer.seal(spec.api_secret.encode(), f"host-secret:{slug}")
        )
        with self.store.session(write=True) as s, s.begin():
            host = repo.create_host(
                s,
                tenant_id=principal.tenant_id,
                slug=slug,
                name=name,
                language=language,
                jurisdiction=spec.jurisdiction,
                contacts=spec.contacts,
                bases=bases,
                api_secret_sealed=sealed,
                removal_markers=spec.removal_markers,
                at=at,
                regulator=spec.regulator,
            )
            audit(s, principal, "host", host.id, "create", _host_audit(host), at)
        return host

    def get(self, principal: Principal, slug: str) -> Host:
        require(principal, Permission.CASE_READ)
        with self.store.session() as s:
            host = repo.get_host(s, principal.tenant_id, slug)
        if host is None:
            raise NotFound(f"no host {slug!r}")
        return host

    def list(self, principal: Principal) -> list[Host]:
        require(principal, Permission.CASE_READ)
        with self.store.session() as s:
            return repo.list_hosts(s, principal.tenant_id)

    def api_secret(self, tenant_id: str, host: Host) -> bytes | None:
        """The host's shared secret, opened for signing (never returned by any door)."""
        with self.store.session() as s:
            sealed = repo.host_secret(s, tenant_id, host.id)
        return None if sealed is None else self.sealer.open(sealed, f"host-secret:{host.slug}")


def _host_audit(host: Host) -> dict[str, Any]:
    return {
        "slug": host.slug,
        "name": host.name,
        "language": host.language,
        "contacts": [c.kind.value for c in host.contacts],
        "bases": list(host.bases),
        "regulator": None if host.regulator is None else str(host.regulator),
    }


def _check_contact(contact: Contact) -> None:
    value = contact.value.strip()
    if contact.kind is ContactKind.EMAIL:
        if not re.match(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$", value):
            raise InvalidInput(f"{value!r} is not an e-mail address")
    elif not re.match(r"^https?://[^\s]+$", value):
        raise InvalidInput(f"a {contact.kind.value} contact is an http(s) URL, not {value!r}")


class CaseService:
    """Cases and their items."""

    def __init__(
        self,
        store: Store,
        sealer: Sealer,
        fetcher: SafeFetcher | None = None,
        scanner: ItemScanner | None = None,
        limits: MediaLimits | None = None,
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.fetcher = fetcher
        self.scanner = scanner
        self.limits = limits
        self._hasher = PasswordHasher()

    # --- cases -----------------------------------------------------------------------

    def open(
        self,
        principal: Principal,
        *,
        title: str,
        language: str,
        victim_contact: str | None = None,
        takedown_bank_id: str | None = None,
    ) -> CaseOpened:
        require(principal, Permission.CASE_WRITE)
        title = limits.check("case_title", title, name="title")
        lang, _ = normalise_language(limits.check("language", language))
        if victim_contact is not None:
            victim_contact = limits.check("victim_contact", victim_contact)
        pin = "".join(secrets.choice("0123456789") for _ in range(_PIN_DIGITS))
        at = now()
        with self.store.session(write=True) as s, s.begin():
            number = f"{at:%Y}-{secrets.randbelow(10**8):08d}"
            pin_hash = self._pin_hash(number, pin)
            sealed = (
                None
                if not victim_contact
                else self.sealer.seal(victim_contact.encode(), f"victim-contact:{number}")
            )
            case = repo.create_case(
                s,
                tenant_id=principal.tenant_id,
                number=number,
                title=title,
                language=lang,
                victim_contact_sealed=sealed,
                pin_hash=pin_hash,
                takedown_bank_id=takedown_bank_id,
                created_by=principal.key_id,
                at=at,
            )
            # Neither the contact details nor the PIN go into the log.
            audit(s, principal, "case", case.id, "open", {"title": title, "language": lang}, at)
        return CaseOpened(case=case, pin=pin)

    def get(self, principal: Principal, case_id: str) -> Case:
        require(principal, Permission.CASE_READ)
        with self.store.session() as s:
            case = repo.get_case(s, principal.tenant_id, case_id)
        if case is None:
            raise NotFound(f"no case {case_id!r}")
        return case

    def list(self, principal: Principal, status: CaseStatus | None = None) -> list[Case]:
        require(principal, Permission.CASE_READ)
        with self.store.session() as s:
            return repo.list_cases(s, principal.tenant_id, status)

    def set_status(self, principal: Principal, case_id: str, status: CaseStatus) -> Case:
        require(principal, Permission.CASE_WRITE)
        at = now()
        with self.store.session(write=True) as s, s.begin():
            case = repo.get_case(s, principal.tenant_id, case_id)
            if case is None:
                raise NotFound(f"no case {case_id!r}")
            check_move(CASE_MOVES, "case", case.status, status)
            case = repo.update_case(
                s,
                principal.tenant_id,
                case_id,
                at,
                status=status.value,
                closed_at=at if status is CaseStatus.CLOSED else None,
            )
            audit(s, principal, "case", case_id, "status", {"to": status.value}, at)
        return case

    def victim_contact(self, principal: Principal, case_id: str) -> str | None:
        """The victim's contact details, opened for a caseworker (audited, never listed)."""
        require(principal, Permission.CASE_WRITE)
        at = now()
        with self.store.session(write=True) as s, s.begin():
            row = repo.get_case_row(s, principal.tenant_id, case_id)
            if row is None:
                raise NotFound(f"no case {case_id!r}")
            sealed, number = row.victim_contact_sealed, row.number
            audit(s, principal, "case", case_id, "read_contact", {}, at)
        return (
            None
            if sealed is None
            else self.sealer.open(sealed, f"victim-contact:{number}").decode()
        )

    def check_pin(self, number: str, pin: str) -> Case | None:
        """The case with this number and PIN, or ``None`` (no hint which one was wrong)."""
        number = number.strip()
        with self.store.session() as s:
            found = repo.get_case_by_number(s, number)
        if found is not None and found[1].startswith("$argon2"):
            try:  # a case opened before PINs were keyed
                self._hasher.verify(found[1], pin.strip())
            except (VerifyMismatchError, InvalidHashError):
                return None
            return found[0]
        # an unknown number costs the same HMAC as a known one: timing tells nothing
        wanted = found[1] if found is not None else _PIN_PREFIX + "0" * 64
        if not hmac.compare_digest(self._pin_hash(number, pin.strip()), wanted):
            return None
        return found[0] if found is not None else None

    def _pin_hash(self, number: str, pin: str) -> str:
        """The stored form of a case's PIN: an HMAC under the instance key (see below).

        A PIN has 10^8 values, too few for any hash to resist a brute force by whoever
        holds the database alone; keyed with the instance key (kept in the key file,
        not in the database), a leaked database gives nothing to try PINs against,
        and checking one costs microseconds, not a fifth of a second of argon2 per
        case opened. Whoever holds the key file as well can open the evidence and
        contact details directly, so a slow hash would protect nothing more.
        """
        return _PIN_PREFIX + self.sealer.mac(f"case-pin:{number}", pin.encode())

    # --- items -------------------------------------------------------------------------

    def add_hashes(
        self,
        principal: Principal,
        case_id: str,
        signals: Mapping[SignalKind, str],
        *,
        host: str | None = None,
        source: str | None = None,
        url: str | None = None,
    ) -> Item:
        """An item known by its hashes (a victim hashed her image on her own device)."""
        require(principal, Permission.CASE_WRITE)
        if not signals:
            raise InvalidInput("give at least one hash (pdq, md5 or sha256)")
        values = []
        for kind, value in signals.items():
            if kind not in ITEM_SIGNALS:
                raise InvalidInput(f"an item holds pdq, md5 or sha256 hashes, not {kind.value}")
            values.append({"type": kind.value, "value": signal_type(kind).validate(value)})
        return self._create_item(
            principal, case_id, host=host, source=source, url=url, signals=values
        )

    def add_url(
        self,
        principal: Principal,
        case_id: str,
        url: str,
        *,
        host: str | None = None,
        source: str | None = None,
    ) -> Item:
        """Capture ``url`` now (sealed evidence, hashes, a Verdict) and add it as an item."""
        return self.add_urls(principal, case_id, [UrlItem(url, host, source)])[0]

    def add_urls(
        self, principal: Principal, case_id: str, urls: Sequence[UrlItem]
    ) -> builtins.list[Item]:
        """Capture several URLs now and add them as items, in order.

        The URLs are fetched side by side and the items written in one transaction,
        each with its audit row: what a caseworker pasting a list of links waits for
        is the slowest host, not the sum of them.
        """
        require(principal, Permission.CASE_WRITE)
        urls = [
            UrlItem(limits.check("item_url", u.url, name="url"), u.host, u.source) for u in urls
        ]
        self.get(principal, case_id)  # a missing case fails before anything is fetched
        if self.fetcher is None:
            raise InvalidInput("capturing URLs is not set up on this server")
        captured = self._capture_many(principal, case_id, [u.url for u in urls])
        specs = []
        for wanted, values in zip(urls, captured, strict=True):
            status = ItemStatus(values.pop("status"))
            signals = values.pop("signals")
            specs.append(_NewItem(wanted.host, wanted.source, wanted.url, signals, status, values))
        return self._create_items(principal, case_id, specs)

    def recapture(self, principal: Principal, item_id: str) -> Item:
        """Try an ``unreachable`` item's URL again now (the worker also does, on a schedule).

        Captured: the item becomes ``pending`` with its evidence, hashes and Verdict.
        Still unreachable: it stays so, with the new reason. Both are audited.
        """
        require(principal, Permission.CASE_WRITE)
        item = self.get_item(principal, item_id)
        if item.status is not ItemStatus.UNREACHABLE or item.url is None:
            raise Conflict(
                f"item {item_id} is {item.status.value}: only an unreachable URL is captured again"
            )
        if self.fetcher is None:
            raise InvalidInput("capturing URLs is not set up on this server")
        values = self._capture(principal, item.case_id, item.url)
        at = now()
        with self.store.session(write=True) as s, s.begin():
            current = repo.get_item(s, principal.tenant_id, item_id)
            if current is None or current.status is not ItemStatus.UNREACHABLE:
                raise Conflict(f"item {item_id} changed meanwhile")
            status = ItemStatus(values["status"])
            check_move(
                ITEM_MOVES, "item", current.status, status
            ) if status is not current.status else None
            item = repo.update_item(s, principal.tenant_id, item_id, at, **values)
            audit(
                s,
                principal,
                "item",
                item_id,
                "recapture",
                {"status": status.value, "reason": item.reason, "signals": list(item.signals)},
                at,
            )
        return item

    def _capture(self, principal: Principal, case_id: str, url: str) -> dict[str, Any]:
        """Fetch, scan, seal and hash ``url``: the values of an item, ``status`` included."""
        return self._capture_many(principal, case_id, [url])[0]

    def _capture_many(
        self, principal: Principal, case_id: str, urls: Sequence[str]
    ) -> builtins.list[dict[str, Any]]:
        """:meth:`_capture` for several URLs, fetched side by side."""
        fetched: builtins.list[Capture | dict[str, Any]]
        if len(urls) > 1:
            with ThreadPoolExecutor(min(CAPTURE_THREADS, len(urls))) as pool:
                fetched = list(pool.map(self._fetch, urls))
        else:
            fetched = [self._fetch(u) for u in urls]
        # Scanned one by one, not as one batch: on the shared 2-core machine one picture
        # on a two-thread session took 31-32 ms of wall time against 36-40 ms each for
        # batches of five run image-parallel (bench.takedown's setup: 38 s against 58 s).
        return [
            c if not isinstance(c, Capture) else self._captured(principal, case_id, c)
            for c in fetched
        ]

    def _fetch(self, url: str) -> Capture | dict[str, Any]:
        """The capture of ``url``, or the values of an ``unreachable`` item."""
        assert self.fetcher is not None
        try:
            capture = self.fetcher.fetch(url)
        except JikimiError as exc:
            return {
                "status": ItemStatus.UNREACHABLE.value,
                "signals": [],
                "reason": f"{exc.code}: {exc.message}",
            }
        if capture.status >= 400 or not capture.content:
            return {
                "status": ItemStatus.UNREACHABLE.value,
                "signals": [],
                "reason": f"the host answered HTTP {capture.status}",
                "capture": _capture_record(capture, None),
            }
        return capture

    def _captured(self, principal: Principal, case_id: str, capture: Capture) -> dict[str, Any]:
        """Scan, seal and hash fetched bytes: the values of a pending item."""
        verdict = None
        if self.scanner is not None:
            verdict = self.scanner.scan_bytes(
                principal, capture.content, {"url": capture.final_url, "case": case_id}
            )
        md5, sha256 = byte_signals(capture.content)
        digest = sha256.value
        blob = self.store.blobs.put(self.sealer.seal(capture.content, digest))
        signals = [
            {"type": s.type.value, "value": s.value}
            for s in (verdict.signals or () if verdict is not None else ())
            if s.type in ITEM_SIGNALS
        ]
        if not signals:
            signals = self._hash(capture.content, md5, sha256)
        return {
            "status": ItemStatus.PENDING.value,
            "signals": signals,
            "evidence_sha256": digest,
            "capture": _capture_record(capture, blob),
            "scan_id": None if verdict is None or verdict.error is not None else verdict.id,
            "reason": None if verdict is None or verdict.error is None else verdict.error.message,
        }

    def _hash(self, data: bytes, md5: Signal, sha256: Signal) -> builtins.list[dict[str, str]]:
        """PDQ when the bytes are an image, MD5 and SHA-256 (no scanner configured):
        the still route's signals, as :mod:`jikimi.pipeline.hashing` computes them."""
        signals: tuple[Signal, ...] = (md5, sha256)
        if self.limits is not None:
            # not an image (a video, a page): the digests alone identify it
            with contextlib.suppress(JikimiError):
                picture = load(data, self.limits)
                signals = (*still_signals(picture, data, (SignalKind.PDQ,)), md5, sha256)
        return [{"type": s.type.value, "value": s.value} for s in signals]

    def _create_item(
        self,
        principal: Principal,
        case_id: str,
        *,
        host: str | None,
        source: str | None,
        url: str | None,
        signals: Sequence[Mapping[str, str]],
        status: ItemStatus = ItemStatus.PENDING,
        **extra: Any,
    ) -> Item:
        spec = _NewItem(host, source, url, signals, status, extra)
        return self._create_items(principal, case_id, [spec])[0]

    def _create_items(
        self, principal: Principal, case_id: str, specs: Sequence[_NewItem]
    ) -> builtins.list[Item]:
        """Write items (and their audit rows) in one transaction."""
        specs = [
            replace(
                spec,
                source=None
                if spec.source is None
                else limits.check("handle", spec.source, name="source"),
                url=None if spec.url is None else limits.check("item_url", spec.url, name="url"),
            )
            for spec in specs
        ]
        at = now()
        out = []
        with self.store.session(write=True) as s, s.begin():
            case = repo.get_case(s, principal.tenant_id, case_id)
            if case is None:
                raise NotFound(f"no case {case_id!r}")
            host_ids: dict[str, str] = {}
            for spec in specs:
                host_id = None
                if spec.host is not None:
                    if spec.host not in host_ids:
                        found = repo.get_host(s, principal.tenant_id, spec.host)
                        if found is None:
                            raise NotFound(f"no host {spec.host!r}")
                        host_ids[spec.host] = found.id
                    host_id = host_ids[spec.host]
                source_id = None
                if spec.source is not None:
                    source_id = repo.get_or_create_source(
                        s, principal.tenant_id, host_id, spec.source.strip(), at
                    ).id
                item = repo.create_item(
                    s,
                    tenant_id=principal.tenant_id,
                    case_id=case_id,
                    at=at,
                    host_id=host_id,
                    source_id=source_id,
                    url=spec.url,
                    status=spec.status.value,
                    signals=[dict(x) for x in spec.signals],
                    **spec.extra,
                )
                audit(
                    s,
                    principal,
                    "item",
                    item.id,
                    "add",
                    {
                        "case": case_id,
                        "url": spec.url,
                        "status": spec.status.value,
                        "signals": list(spec.signals),
                    },
                    at,
                )
                if spec.status is ItemStatus.UNREACHABLE:
                    queue_recapture(s, item, 1, at)
                out.append(item)
        return out

    def items(self, principal: Principal, case_id: str) -> builtins.list[Item]:
        require(principal, Permission.CASE_READ)
        self.get(principal, case_id)
        with self.store.session() as s:
            return repo.list_items(s, principal.tenant_id, case_id=case_id)

    def get_item(self, principal: Principal, item_id: str) -> Item:
        require(principal, Permission.CASE_READ)
        with self.store.session() as s:
            item = repo.get_item(s, principal.tenant_id, item_id)
        if item is None:
            raise NotFound(f"no item {item_id!r}")
        return item

    def set_item_status(
        self,
        principal: Principal,
        item_id: str,
        status: ItemStatus,
        reason: str | None = None,
    ) -> Item:
        """Move an item by hand (withdraw a mistake, mark removed after a host's reply)."""
        require(principal, Permission.CASE_WRITE)
        if reason is not None:
            reason = limits.check("remark", reason, name="reason")
        at = now()
        with self.store.session(write=True) as s, s.begin():
            item = repo.get_item(s, principal.tenant_id, item_id)
            if item is None:
                raise NotFound(f"no item {item_id!r}")
            check_move(ITEM_MOVES, "item", item.status, status)
            values: dict[str, Any] = {"status": status.value, "reason": reason}
            if status is ItemStatus.REMOVED:
                values["removed_at"] = at
            item = repo.update_item(s, principal.tenant_id, item_id, at, **values)
            audit(
                s, principal, "item", item_id, "status", {"to": status.value, "reason": reason}, at
            )
        return item

    def evidence(self, principal: Principal, item_id: str) -> bytes:
        """The captured bytes of an item, opened (audited: evidence is sensitive)."""
        require(principal, Permission.CASE_WRITE)
        item = self.get_item(principal, item_id)
        if item.evidence_sha256 is None or not item.capture or not item.capture.get("blob"):
            raise NotFound(f"item {item_id} has no captured evidence")
        sealed = self.store.blobs.read(str(item.capture["blob"]))
        data = self.sealer.open(sealed, item.evidence_sha256)
        at = now()
        with self.store.session(write=True) as s, s.begin():
            audit(s, principal, "item", item_id, "read_evidence", {}, at)
        return data


RECAPTURE = "recapture"
RECAPTURE_AFTER_H: tuple[float, ...] = (0.25, 1, 6, 24, 48, 72, 120, 168)
"""Hours after the item was added at which an unreachable URL is tried again."""


def queue_recapture(s: Session, item: Item, n: int, at: datetime) -> bool:
    """Queue the ``n``-th automatic retry of an unreachable item (``False``: no more)."""
    if n > len(RECAPTURE_AFTER_H):
        return False
    outbox.enqueue(
        s,
        tenant_id=item.tenant_id,
        kind=RECAPTURE,
        key=f"recapture:{item.id}:{n}",
        payload={"item": item.id, "n": n},
        at=at,
        not_before=item.created_at + timedelta(hours=RECAPTURE_AFTER_H[n - 1]),
    )
    return True


@dataclass(frozen=True)
class _NewItem:
    """An item about to be written (what :meth:`CaseService._create_items` takes)."""

    host: str | None
    source: str | None
    url: str | None
    signals: Sequence[Mapping[str, str]]
    status: ItemStatus
    extra: Mapping[str, Any]


CAPTURE_THREADS = 4
"""URLs of one batch fetched at once (the time of a capture is the host's, not ours)."""

_LANG_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8}){0,3}$")


_PIN_PREFIX = "hmac-sha256$"


def _capture_record(capture: Capture, blob: str | None) -> dict[str, Any]:
    keep = ("content-type", "content-length", "last-modified", "etag", "server", "date")
    return {
        "url": capture.url,
        "final_url": capture.final_url,
        "status": capture.status,
        "address": capture.address,
        "headers": {k.lower(): v for k, v in capture.headers if k.lower() in keep},
        "hops": [{"url": h.url, "status": h.status} for h in capture.hops],
        "started_at": capture.started_at.isoformat(),
        "finished_at": capture.finished_at.isoformat(),
        "bytes": len(capture.content),
        "blob": blob,
    }
