"""The self-report service and its HTTP door, without a browser (SQLite and PostgreSQL).

What a report may hold is checked before anything is written: a bad hash in the
last file leaves no half-made case behind.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from importlib import resources
from typing import Any, cast

import httpx
import pytest

from jikimi.domain import EnrolPhoto
from jikimi.errors import (
    ConfigError,
    ConsentRequired,
    InvalidHash,
    InvalidInput,
    NotFound,
    TooManyAttempts,
)
from jikimi.evidence import Sealer
from jikimi.services.casereports import AttemptLimiter
from jikimi.services.cases import CaseService
from jikimi.services.persons import PersonService
from jikimi.services.selfreports import (
    MAX_ITEMS,
    VICTIM_PAGE_KEY,
    ReportedItem,
    SelfReport,
    SelfReportService,
    enrol_face,
)
from jikimi.services.tenants import TenantService
from jikimi.store import Store
from jikimi.store import casework as repo
from jikimi.ui.victim.strings import STRINGS, from_accept_language

MD5 = hashlib.md5(b"x").hexdigest()
SHA = hashlib.sha256(b"x").hexdigest()
PDQ = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"


def _service(store: Store, tenant: str | None = "centre", **kw: Any) -> SelfReportService:
    cases = CaseService(store, Sealer(secrets.token_bytes(32)))
    return SelfReportService(store, cases, tenant, **kw)


def _cases(store: Store, tenant_id: str) -> list[Any]:
    with store.session() as s:
        return repo.list_cases(s, tenant_id, None)


def test_a_report_opens_a_case_with_one_item_per_file(store: Store) -> None:
    tenant, _ = TenantService(store).create("centre")
    service = _service(store)
    opened = service.submit(
        SelfReport(
            items=(
                ReportedItem(md5=MD5, sha256=SHA, pdq=PDQ.upper()),
                ReportedItem(md5=MD5, place="https://host.example/x"),
            ),
            places=("@chan",),
            contact="me@example.org",
            language="ko",
        ),
        "10.0.0.1",
    )
    assert opened.case.tenant_id == tenant.id
    assert opened.case.created_by == VICTIM_PAGE_KEY
    assert opened.case.language == "ko"
    with store.session() as s:
        items = repo.list_items(s, tenant.id, case_id=opened.case.id)
    by_url = {i.url: i for i in items}
    assert set(by_url) == {None, "https://host.example/x"}
    assert {(x["type"], x["value"]) for x in by_url[None].signals} == {
        ("md5", MD5),
        ("sha256", SHA),
        ("pdq", PDQ),  # canonical lowercase
    }
    assert by_url[None].source_id is not None  # "@chan", the one shared place
    assert service.cases.check_pin(opened.case.number, opened.pin) is not None


@pytest.mark.parametrize(
    ("items", "error"),
    [
        ((), InvalidInput),
        ((ReportedItem(),), InvalidInput),
        ((ReportedItem(md5=MD5), ReportedItem(pdq="zz" * 32)), InvalidHash),
        ((ReportedItem(md5=MD5, place="x" * 501),), InvalidInput),
        (tuple(ReportedItem(md5=MD5) for _ in range(MAX_ITEMS + 1)), InvalidInput),
    ],
)
def test_a_bad_report_changes_nothing(
    store: Store, items: tuple[ReportedItem, ...], error: type[Exception]
) -> None:
    tenant, _ = TenantService(store).create("centre")
    with pytest.raises(error):
        _service(store).submit(SelfReport(items=items), "10.0.0.1")
    assert _cases(store, tenant.id) == []


def test_without_a_configured_tenant_no_report_is_taken(store: Store) -> None:
    TenantService(store).create("centre")
    report = SelfReport(items=(ReportedItem(md5=MD5),))
    assert not _service(store, None).available
    with pytest.raises(ConfigError):
        _service(store, None).submit(report, "10.0.0.1")
    with pytest.raises(ConfigError):
        _service(store, "nobody").submit(report, "10.0.0.1")


def test_reports_per_client_are_limited(store: Store) -> None:
    tenant, _ = TenantService(store).create("centre")
    service = _service(store, limiter=AttemptLimiter(limit=2, window_s=3600))
    report = SelfReport(items=(ReportedItem(md5=MD5),))
    service.submit(report, "10.0.0.1")
    service.submit(report, "10.0.0.1")
    with pytest.raises(TooManyAttempts):
        service.submit(report, "10.0.0.1")
    service.submit(report, "10.0.0.2")  # another client is not held up
    assert len(_cases(store, tenant.id)) == 3


def test_the_http_door_takes_hashes_and_text_only(live_server: Any) -> None:
    url = f"{live_server.url}/victim/api/report"
    smuggled = {"items": [{"md5": MD5, "image": "iVBORw0KGgo="}], "language": "en"}
    assert httpx.post(url, json=smuggled).status_code == 422
    assert httpx.post(url, json={"items": [{"md5": "not-hex"}]}).status_code == 422
    assert httpx.post(url, json={"items": []}).status_code == 422


def test_status_goes_through_the_public_rate_limit(fresh_server: Any) -> None:
    url = f"{fresh_server.url}/victim/status"
    statuses = [
        httpx.post(url, data={"number": "2026-12345678", "pin": f"{n:08d}"}).status_code
        for n in range(7)
    ]
    assert statuses[:5] == [404] * 5  # the limiter allows 5 failures per number
    assert statuses[5:] == [429, 429]
    assert (
        STRINGS["en"]["status_too_many"]
        in httpx.post(
            url, data={"number": "2026-12345678", "pin": "1"}, headers={"Accept-Language": "en"}
        ).text
    )


def test_the_language_comes_from_accept_language() -> None:
    assert from_accept_language("ko-KR,ko;q=0.9,en-US;q=0.8") == "ko"
    assert from_accept_language("en-US,en;q=0.9,ko;q=0.8") == "en"
    assert from_accept_language("fr-FR,ko;q=0.5") == "ko"
    assert from_accept_language("de-DE") == "en"
    assert from_accept_language("en;q=0.1,ko;q=0.9") == "ko"
    assert from_accept_language("") == "en"


def test_both_languages_have_every_string() -> None:
    assert set(STRINGS["ko"]) == set(STRINGS["en"])
    assert all(v.strip() for lang in STRINGS.values() for v in lang.values())


def test_face_enrolment_needs_consent_and_the_right_pin(store: Store) -> None:
    TenantService(store).create("centre")
    service = _service(store)
    opened = service.submit(SelfReport(items=(ReportedItem(md5=MD5),)), "10.0.0.1")
    photo = [EnrolPhoto(name="me", data=b"not read before the checks")]
    with pytest.raises(ConsentRequired):
        enrol_face(service, opened.case.number, opened.pin, photo, consented=False, client="c")
    with pytest.raises(InvalidInput):
        enrol_face(service, opened.case.number, opened.pin, photo * 4, consented=True, client="c")
    with pytest.raises(ConfigError):  # no face service on this one
        enrol_face(service, opened.case.number, opened.pin, photo, consented=True, client="c")
    service.persons = cast(PersonService, object())  # never reached with a wrong PIN
    with pytest.raises(NotFound):
        enrol_face(service, opened.case.number, "00000000", photo, consented=True, client="c")


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_text_colours_meet_wcag_aa_contrast() -> None:
    """Every text colour of the page's palette on every background it uses: >= 4.5:1."""
    css = (resources.files("jikimi.ui.victim") / "static" / "victim.css").read_text()
    palette = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-f]{6})", css))
    assert {"ink", "muted", "accent", "bad", "ok", "paper", "soft"} <= set(palette)
    backgrounds = [palette["paper"], palette["soft"], "#fff4d6"]  # .notice
    for name in ("ink", "muted", "accent", "bad", "ok"):
        for background in backgrounds:
            a, b = sorted((_luminance(palette[name]), _luminance(background)))
            assert (b + 0.05) / (a + 0.05) >= 4.5, (name, background)
    a, b = sorted((_luminance("#ffffff"), _luminance(palette["accent"])))  # button text
    assert (b + 0.05) / (a + 0.05) >= 4.5
