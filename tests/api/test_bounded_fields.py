"""Every bounded field, through every door: the same limit, the same refusal.

For each (field, door) of the table, a value just inside the field's bound is
accepted and one just outside is refused: over JSON and multipart as ``422
validation_error`` naming the field, by the CLI with exit code 2 and the service's
message, by the service itself as :class:`~jikimi.errors.InvalidField`
(``validation_error``). All doors run on one SQLite database, so an accepted value
is really stored. The bounds come from :mod:`jikimi.domain.limits`; the test spells
them out as numbers too, so a bound that moves is a visible change here.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from api_helpers import World, jpeg
from typer.testing import CliRunner

from jikimi.cases.lifecycle import ItemStatus
from jikimi.cli import app
from jikimi.domain import (
    BOUNDED,
    MAX_CONSENT_TEXT,
    MAX_HANDLE_CHARS,
    MAX_KEY_NAME,
    MAX_LABELS,
    MAX_LANGUAGE_CHARS,
    MAX_NOTE_CHARS,
    MAX_PDQ_THRESHOLD,
    MAX_PIN_CHARS,
    MAX_REMARK_CHARS,
    MAX_REPORT_CONTACT,
    MAX_SOURCE_CHARS,
    MAX_TITLE_CHARS,
    MAX_UPLOADER_CHARS,
    MAX_URL_CHARS,
    MAX_VICTIM_CONTACT,
    BankCreate,
    EntryCreate,
    EntryMeta,
    Role,
    SignalKind,
    check,
)
from jikimi.errors import InvalidField
from jikimi.services import BankService, KeyService
from jikimi.services.cases import HostSpec
from jikimi.services.casework import Casework

_seq = itertools.count(1)


def _bank_name() -> str:
    return f"B{next(_seq):04d}_{secrets.token_hex(3).upper()}"


def _hex() -> str:
    return secrets.token_hex(32)


@dataclass(frozen=True)
class Field:
    name: str  # as limits.check and the API's field errors know it
    ok: Any  # just inside the bound
    bad: Any  # just outside


FIELDS = {
    "source": Field("source", "s" * MAX_SOURCE_CHARS, "s" * (MAX_SOURCE_CHARS + 1)),
    "note": Field("note", "n" * MAX_NOTE_CHARS, "n" * (MAX_NOTE_CHARS + 1)),
    "name": Field("name", "N" * 64, "N" * 65),
    "pdq_threshold": Field("pdq_threshold", MAX_PDQ_THRESHOLD, MAX_PDQ_THRESHOLD + 1),
    "vpdq_query_pct": Field("vpdq_query_pct", 100, 101),
    "labels": Field(
        "labels",
        tuple(f"l{i}" for i in range(MAX_LABELS)),
        tuple(f"l{i}" for i in range(MAX_LABELS + 1)),
    ),
    "key_name": Field("key_name", "k" * MAX_KEY_NAME, "k" * (MAX_KEY_NAME + 1)),
    "url": Field("url", "https://example.org/" + "u" * (MAX_URL_CHARS - 20), "ftp://x/a.jpg"),
    "case_title": Field("title", "t" * MAX_TITLE_CHARS, "t" * (MAX_TITLE_CHARS + 1)),
    "host_name": Field("name", "h" * MAX_TITLE_CHARS, "h" * (MAX_TITLE_CHARS + 1)),
    "language": Field("language", "ko-abcdefgh-abcd", "ko-abcdefgh-abcde"),
    "victim_contact": Field(
        "victim_contact", "v" * MAX_VICTIM_CONTACT, "v" * (MAX_VICTIM_CONTACT + 1)
    ),
    "item_url": Field("url", "u" * MAX_URL_CHARS, "u" * (MAX_URL_CHARS + 1)),
    "handle": Field("source", "@" * MAX_HANDLE_CHARS, "@" * (MAX_HANDLE_CHARS + 1)),
    "uploader": Field("uploader", "x" * MAX_UPLOADER_CHARS, "x" * (MAX_UPLOADER_CHARS + 1)),
    "remark": Field("reason", "r" * MAX_REMARK_CHARS, "r" * (MAX_REMARK_CHARS + 1)),
}
NOT_WALKED = {
    "vpdq_index_pct": "the same type as vpdq_query_pct",
    "pin": "only the victim's status request takes it, a JSON schema (test_cases_api)",
    "consent": "enrolment decodes faces (test_bounded_fields_checked_alone below)",
    "report_contact": "only the victim page takes it (test_bounded_fields_checked_alone)",
}


def test_the_bounds_are_the_agreed_numbers() -> None:
    assert (MAX_SOURCE_CHARS, MAX_NOTE_CHARS, MAX_KEY_NAME, MAX_LABELS) == (2048, 8192, 128, 32)
    assert MAX_PDQ_THRESHOLD == 64 and MAX_URL_CHARS == 2048
    assert (MAX_TITLE_CHARS, MAX_LANGUAGE_CHARS, MAX_VICTIM_CONTACT) == (200, 16, 2000)
    assert (MAX_HANDLE_CHARS, MAX_PIN_CHARS, MAX_CONSENT_TEXT, MAX_REPORT_CONTACT) == (
        500,
        32,
        4000,
        500,
    )
    assert set(FIELDS) == set(BOUNDED) - set(NOT_WALKED)
    assert len(FIELDS["url"].ok) == MAX_URL_CHARS
    assert len(FIELDS["language"].ok) == MAX_LANGUAGE_CHARS
    assert MAX_UPLOADER_CHARS == 500 and MAX_REMARK_CHARS == 2000


def test_bounded_fields_checked_alone() -> None:
    """The fields no door of this test reaches: the type's bound, and its words."""
    for field, bound in (
        ("pin", MAX_PIN_CHARS),
        ("consent", MAX_CONSENT_TEXT),
        ("report_contact", MAX_REPORT_CONTACT),
    ):
        assert check(field, "7" * bound) == "7" * bound
        with pytest.raises(InvalidField) as exc:
            check(field, "7" * (bound + 1))
        assert exc.value.code == "validation_error" and exc.value.field == field
    assert check("consent", " signed form\n\tkim ") == "signed form\n\tkim"
    with pytest.raises(InvalidField, match="consent is 1 to 4000 printable characters"):
        check("consent", "signed\x00")
    assert check("report_contact", "  ") == ""  # the service reads it as none given
    with pytest.raises(InvalidField, match="contact details are at most 500 printable"):
        check("report_contact", "a\nb")


class Doors:
    """The four ways in, on one database: JSON, multipart, the CLI, the service."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.client = world.client
        self.headers = world.a.headers()
        self.admin = world.a.principals[Role.ADMIN]
        self.banks = BankService(world.store, settings=world.settings)
        self.keys = KeyService(world.store)
        self.env = {
            "JIKIMI_DATA_DIR": str(world.settings.data_dir),
            "JIKIMI_DATABASE_URL": world.settings.database_url,
            "JIKIMI_API_KEY": world.a.keys[Role.ADMIN],
            "COLUMNS": "200",
        }

        self.caseworker = world.a.principals[Role.CASEWORKER]
        self.work = Casework.from_settings(world.settings, world.store)
        self._case: str | None = None

    def cli(self, *args: str, role: Role = Role.ADMIN) -> tuple[int, str]:
        env = {**self.env, "JIKIMI_API_KEY": self.world.a.keys[role]}
        result = CliRunner().invoke(app, list(args), env=env)
        return result.exit_code, " ".join(result.stderr.split())

    def case(self) -> str:
        """One open case of tenant A, for the item doors."""
        if self._case is None:
            self._case = self.work.cases.open(self.caseworker, title="t", language="ko").case.id
        return self._case


Outcome = tuple[bool, str]
"""(accepted, the refusal's message: the field's reason)."""


def _api(r: Any, field: str) -> Outcome:
    if r.status_code in (200, 201):
        return True, ""
    body = r.json()
    assert r.status_code == 422 and body["code"] == "validation_error", r.text
    [error] = [e for e in body["errors"] if e["loc"].split(".")[1] == field]
    return False, error["message"]


def _cli(result: tuple[int, str], service_message: Callable[[], str]) -> Outcome:
    code, err = result
    if code == 0:
        return True, ""
    assert code == 2, err
    message = service_message()
    assert f"error: {message}" in err  # the service's own words, field and reason
    return False, message.split(": ", 1)[1]


def _service(call: Callable[[], object], field: str) -> Outcome:
    try:
        call()
    except InvalidField as exc:
        assert exc.code == "validation_error" and exc.field == field
        return False, exc.reason
    return True, ""


def _reason(field: str, value: Any) -> str:
    try:
        check(field, value)
    except InvalidField as exc:
        return exc.reason
    raise AssertionError(f"{field}={value!r} passed")


# --- the doors of each field --------------------------------------------------------


def _entry_json(d: Doors, field: str, value: Any) -> Outcome:
    body = {"signal": "pdq", "value": _hex(), field: value}
    return _api(
        d.client.post(f"/v1/banks/{d.world.a.bank}/entries", json=body, headers=d.headers), field
    )


def _entry_multipart(d: Doors, field: str, value: Any) -> Outcome:
    files = {"file": ("x.jpg", jpeg(10_000 + next(_seq)))}
    r = d.client.post(
        f"/v1/banks/{d.world.a.bank}/entries", files=files, data={field: value}, headers=d.headers
    )
    return _api(r, field)


def _entry_cli(d: Doors, field: str, value: Any) -> Outcome:
    result = d.cli("bank", "add", d.world.a.bank, "--pdq", _hex(), f"--{field}", value)
    return _cli(result, lambda: f"{field}: {_reason(field, value)}")


def _entry_service(d: Doors, field: str, value: Any) -> Outcome:
    meta = EntryMeta(**{field: value})
    create = EntryCreate(signal=SignalKind.PDQ, value=_hex(), **meta.model_dump())
    return _service(lambda: d.banks.add_entry(d.admin, d.world.a.bank, create), field)


_CLI_BANK_OPTION = {"pdq_threshold": "--threshold", "vpdq_query_pct": "--vpdq-query-pct"}


def _bank_json(d: Doors, field: str, value: Any) -> Outcome:
    body: dict[str, Any] = {"name": _bank_name(), "kind": "watch", field: value}
    if field == "labels":
        body["labels"] = list(value)
    return _api(d.client.post("/v1/banks", json=body, headers=d.headers), field)


def _bank_cli(d: Doors, field: str, value: Any) -> Outcome:
    if field == "name":
        args = ["bank", "create", value]
    elif field == "labels":
        args = ["bank", "create", _bank_name(), *(f"--label={label}" for label in value)]
    else:
        args = ["bank", "create", _bank_name(), _CLI_BANK_OPTION[field], str(value)]
    return _cli(d.cli(*args), lambda: f"{field}: {_reason(field, value)}")


def _bank_service(d: Doors, field: str, value: Any) -> Outcome:
    spec = {"name": _bank_name(), "kind": "watch", field: value}
    return _service(lambda: d.banks.create(d.admin, BankCreate.model_validate(spec)), field)


def _key_json(d: Doors, field: str, value: Any) -> Outcome:
    r = d.client.post("/v1/keys", json={"role": "platform", "name": value}, headers=d.headers)
    return _api(r, "name")


def _key_cli(d: Doors, field: str, value: Any) -> Outcome:
    result = d.cli("key", "issue", "--role", "platform", "--name", value)
    return _cli(result, lambda: f"name: {_reason(field, value)}")


def _key_service(d: Doors, field: str, value: Any) -> Outcome:
    return _service(lambda: d.keys.issue(d.admin, Role.PLATFORM, value), "name")


def _url_json(d: Doors, field: str, value: Any) -> Outcome:
    return _api(d.client.post("/v1/scan", json={"url": value}, headers=d.headers), field)


def _url_multipart(d: Doors, field: str, value: Any) -> Outcome:
    return _api(d.client.post("/v1/scan", data={"url": value}, headers=d.headers), field)


_CW = Role.CASEWORKER


def _case_json(d: Doors, field: str, value: Any) -> Outcome:
    name = FIELDS[field].name
    body = {"title": "a case", name: value}
    r = d.client.post("/v1/cases", json=body, headers=d.world.a.headers(_CW))
    return _api(r, name)


def _case_cli(d: Doors, field: str, value: Any) -> Outcome:
    name = FIELDS[field].name
    args = {"title": "a case", name: value}
    result = d.cli(
        "case",
        "open",
        *itertools.chain(*((f"--{k.replace('_', '-')}", v) for k, v in args.items())),
        role=_CW,
    )
    return _cli(result, lambda: f"{name}: {_reason(field, value)}")


def _case_service(d: Doors, field: str, value: Any) -> Outcome:
    name = FIELDS[field].name
    args = {"title": "a case", "language": "ko", name: value}
    return _service(lambda: d.work.cases.open(d.caseworker, **args), name)


def _host_json(d: Doors, field: str, value: Any) -> Outcome:
    body = {"slug": f"h{next(_seq)}", "name": value, "language": "en"}
    return _api(d.client.post("/v1/hosts", json=body, headers=d.world.a.headers(_CW)), "name")


def _host_cli(d: Doors, field: str, value: Any) -> Outcome:
    result = d.cli("host", "add", f"h{next(_seq)}", "--name", value, role=_CW)
    return _cli(result, lambda: f"name: {_reason(field, value)}")


def _host_service(d: Doors, field: str, value: Any) -> Outcome:
    spec = HostSpec(slug=f"h{next(_seq)}", name=value, language="en")
    return _service(lambda: d.work.hosts.add(d.caseworker, spec), "name")


def _item_json(d: Doors, field: str, value: Any) -> Outcome:
    name = FIELDS[field].name
    body = {"md5": secrets.token_hex(16), name: value}
    r = d.client.post(f"/v1/cases/{d.case()}/items", json=body, headers=d.world.a.headers(_CW))
    return _api(r, name)


def _item_cli(d: Doors, field: str, value: Any) -> Outcome:
    name = FIELDS[field].name
    hashes = ("--md5", secrets.token_hex(16))
    args = [value, *hashes] if name == "url" else [*hashes, "--source", value]
    result = d.cli("case", "add-item", d.case(), *args, role=_CW)
    return _cli(result, lambda: f"{name}: {_reason(field, value)}")


def _item_service(d: Doors, field: str, value: Any) -> Outcome:
    name = FIELDS[field].name
    hashes = {SignalKind.MD5: secrets.token_hex(16)}
    return _service(
        lambda: d.work.cases.add_hashes(d.caseworker, d.case(), hashes, **{name: value}), name
    )


def _uploader_query(d: Doors, field: str, value: Any) -> Outcome:
    files = {"file": ("x.jpg", jpeg(20_000 + next(_seq)))}
    r = d.client.post(
        "/v1/scan", files=files, params={"uploader": value}, headers=d.world.a.headers(_PLATFORM)
    )
    return _api(r, field)


def _uploader_multipart(d: Doors, field: str, value: Any) -> Outcome:
    """A multipart field is checked by the route, after the form is read: the problem
    names the field in its detail."""
    files = {"file": ("x.jpg", jpeg(20_000 + next(_seq)))}
    r = d.client.post(
        "/v1/scan", files=files, data={"uploader": value}, headers=d.world.a.headers(_PLATFORM)
    )
    if r.status_code == 200:
        return True, ""
    body = r.json()
    assert r.status_code == 422 and body["code"] == "validation_error", r.text
    field_name, reason = body["detail"].split(": ", 1)
    assert field_name == field, body
    return False, reason


_PLATFORM = Role.PLATFORM


def _item(d: Doors) -> str:
    hashes = {SignalKind.MD5: secrets.token_hex(16)}
    return d.work.cases.add_hashes(d.caseworker, d.case(), hashes).id


def _remark_json(d: Doors, field: str, value: Any) -> Outcome:
    """The reason of an item moved by hand (the same type is a notice's hand-sent note)."""
    body = {"status": "unreachable", "reason": value}
    r = d.client.post(f"/v1/items/{_item(d)}/status", json=body, headers=d.world.a.headers(_CW))
    return _api(r, "reason")


def _remark_service(d: Doors, field: str, value: Any) -> Outcome:
    item = _item(d)
    return _service(
        lambda: d.work.cases.set_item_status(d.caseworker, item, ItemStatus.UNREACHABLE, value),
        "reason",
    )


Door = Callable[[Doors, str, Any], Outcome]
_ENTRY_DOORS: list[tuple[str, Door]] = [
    ("json", _entry_json),
    ("multipart", _entry_multipart),
    ("cli", _entry_cli),
    ("service", _entry_service),
]
_BANK_DOORS: list[tuple[str, Door]] = [
    ("json", _bank_json),
    ("cli", _bank_cli),
    ("service", _bank_service),
]
TABLE: list[tuple[str, str, Door]] = [
    *((f, door, fn) for f in ("source", "note") for door, fn in _ENTRY_DOORS),
    *(
        (f, door, fn)
        for f in ("name", "pdq_threshold", "vpdq_query_pct", "labels")
        for door, fn in _BANK_DOORS
    ),
    ("key_name", "json", _key_json),
    ("key_name", "cli", _key_cli),
    ("key_name", "service", _key_service),
    ("url", "json", _url_json),
    ("url", "multipart", _url_multipart),
    *(
        (f, door, fn)
        for f in ("case_title", "language", "victim_contact")
        for door, fn in (("json", _case_json), ("cli", _case_cli), ("service", _case_service))
    ),
    ("uploader", "query", _uploader_query),
    ("uploader", "multipart", _uploader_multipart),
    ("remark", "json", _remark_json),
    ("remark", "service", _remark_service),
    ("host_name", "json", _host_json),
    ("host_name", "cli", _host_cli),
    ("host_name", "service", _host_service),
    *(
        (f, door, fn)
        for f in ("item_url", "handle")
        for door, fn in (("json", _item_json), ("cli", _item_cli), ("service", _item_service))
    ),
]


@pytest.mark.parametrize(("field", "door"), [(f, d) for f, d, _ in TABLE], ids=lambda x: x)
def test_a_bounded_field_is_refused_alike_at_every_door(
    sqlite_world: World, field: str, door: str
) -> None:
    doors = Doors(sqlite_world)
    enter = {(f, d): fn for f, d, fn in TABLE}[(field, door)]
    spec = FIELDS[field]
    reason = _reason(field, spec.bad)

    accepted, message = enter(doors, field, spec.bad)
    assert not accepted, f"{field} over its bound was accepted by the {door} door"
    assert message == reason  # the same words at every door

    if field == "url":  # an accepted URL would be fetched; the type accepts it
        assert check("url", spec.ok) == spec.ok
        return
    ok = secrets.token_hex(32).upper() if field == "name" else spec.ok  # 64, and new
    accepted, message = enter(doors, field, ok)
    assert accepted, f"{field} at its bound was refused by the {door} door: {message}"
