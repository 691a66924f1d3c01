"""The bounded fields: one type per field, used by every door so each refuses the same input.

A field's bounds are declared here once, as a pydantic ``Annotated`` type. The API's
JSON schemas use the type itself (pydantic refuses the body: ``422
validation_error`` naming the field); the services check what reaches them from
any other door (multipart forms, the CLI, Python callers) through :func:`check`,
which validates with the same type and raises :class:`~jikimi.errors.InvalidField`,
the same ``validation_error`` code with the same message. ``tests/api/test_bounded_fields.py``
walks every field of :data:`BOUNDED` through every door.

Where two doors used to disagree, the looser bound was kept, so nothing that one
door accepted is now refused by the door that accepted it: an entry's ``source`` is
at most 2,048 characters (the JSON schema said 500), its ``note`` at most 8,192 (the
JSON schema said 2,000). An API key's name is at most 128 characters: the JSON schema
allowed 200, but the service, behind every door, refused more than 128.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, TypeVar

from pydantic import AfterValidator, Field, StringConstraints, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from jikimi.errors import InvalidField

_T = TypeVar("_T")

DEFAULT_PDQ_THRESHOLD: Final = 31
"""PDQ's match distance in bits, as its authors recommend: banks, indexes and signals
default to it."""
MAX_PDQ_THRESHOLD: Final = 64
"""Above this a PDQ "match" is meaningless (unrelated images differ by ~128 bits)."""
MAX_SOURCE_CHARS: Final = 2_048
MAX_NOTE_CHARS: Final = 8_192
MAX_LABELS: Final = 32
MAX_KEY_NAME: Final = 128
MAX_URL_CHARS: Final = 2_048

MAX_TITLE_CHARS: Final = 200
"""A case's title and a host's display name."""
MIN_LANGUAGE_CHARS: Final = 2
MAX_LANGUAGE_CHARS: Final = 16
"""A language tag as given (``ko``, ``pt-BR``), before it is normalised."""
MAX_VICTIM_CONTACT: Final = 2_000
"""A victim's contact details on a case (kept encrypted)."""
MAX_HANDLE_CHARS: Final = 500
"""An item's source: the posting account or channel."""
MAX_PIN_CHARS: Final = 32
"""A case number or PIN as the victim types it."""
MAX_CONSENT_TEXT: Final = 4_000
"""The record of a person's consent to face enrolment."""
MAX_REPORT_CONTACT: Final = 500
"""How a victim reporting on the victim page can be reached."""
MAX_REMARK_CHARS: Final = 2_000
"""A caseworker's remark: why an item moved by hand, how a notice was sent by hand."""
MAX_UPLOADER_CHARS: Final = 500
"""A platform's id of the account that uploaded a scanned file."""

BANK_NAME_RE: Final = re.compile(r"^[A-Z0-9_]{2,64}$")
LABEL_RE: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _refuse(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _bank_name(value: str) -> str:
    if not BANK_NAME_RE.match(value):
        raise _refuse(
            "bank_name",
            "a bank name is 2 to 64 characters: uppercase letters, digits and '_' "
            "(e.g. KCSC_TAKEDOWNS)",
        )
    return value


def _pdq_threshold(value: int) -> int:
    if not 0 <= value <= MAX_PDQ_THRESHOLD:
        raise _refuse("pdq_threshold", f"must be between 0 and {MAX_PDQ_THRESHOLD} bits")
    return value


def _percent(value: int) -> int:
    if not 0 <= value <= 100:
        raise _refuse("percent", "must be a percentage between 0 and 100")
    return value


def _label(value: str) -> str:
    if not LABEL_RE.match(value):
        raise PydanticCustomError(
            "label",
            "label {label}: 1 to 64 letters, digits or '_', '.', ':', '-'",
            {"label": repr(value[:70])},
        )
    return value


def _unique_labels(labels: tuple[str, ...]) -> tuple[str, ...]:
    unique = tuple(dict.fromkeys(labels))
    if len(unique) > MAX_LABELS:
        raise _refuse("labels", f"at most {MAX_LABELS} labels")
    return unique


def _key_name(value: str) -> str:
    if not value.isprintable():
        raise _refuse("key_name", "a key name is printable characters only")
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise _refuse("url", f"must be an http(s) URL of at most {MAX_URL_CHARS} characters")
    return value


def _printable(value: str, *, lines: bool = False) -> bool:
    return all(c.isprintable() or (lines and c in "\n\t") for c in value)


def _bounded_text(
    kind: str, what: str, low: int, high: int, *, lines: bool = False
) -> Callable[[str], str]:
    """A validator: ``value`` stripped, ``low`` to ``high`` printable characters
    (tabs and newlines too when ``lines``), refused as ``"{what} ... printable characters"``
    (the words the services used before the bound moved here)."""

    bounds = f"at most {high}" if low == 0 else f"{low} to {high}"

    def validate(value: str) -> str:
        value = value.strip()
        if not low <= len(value) <= high or not _printable(value, lines=lines):
            raise _refuse(kind, f"{what} {bounds} printable characters")
        return value

    return validate


BankName = Annotated[
    str,
    AfterValidator(_bank_name),
    Field(
        description="Upper-case letters, digits and '_', 2 to 64 characters.",
        examples=["KCSC_TAKEDOWNS"],
        json_schema_extra={"pattern": BANK_NAME_RE.pattern},
    ),
]
PdqThreshold = Annotated[
    int,
    AfterValidator(_pdq_threshold),
    Field(json_schema_extra={"minimum": 0, "maximum": MAX_PDQ_THRESHOLD}),
]
Percent = Annotated[
    int, AfterValidator(_percent), Field(json_schema_extra={"minimum": 0, "maximum": 100})
]
Label = Annotated[
    str, AfterValidator(_label), Field(json_schema_extra={"pattern": LABEL_RE.pattern})
]
Labels = Annotated[
    tuple[Label, ...],
    AfterValidator(_unique_labels),
    Field(description=f"At most {MAX_LABELS} distinct labels."),
]
Source = Annotated[str, StringConstraints(max_length=MAX_SOURCE_CHARS)]
Note = Annotated[str, StringConstraints(max_length=MAX_NOTE_CHARS)]
KeyName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_KEY_NAME),
    AfterValidator(_key_name),
]
HttpUrl = Annotated[str, StringConstraints(max_length=MAX_URL_CHARS), AfterValidator(_http_url)]

CaseTitle = Annotated[
    str,
    AfterValidator(_bounded_text("case_title", "a case title is", 1, MAX_TITLE_CHARS)),
    Field(json_schema_extra={"minLength": 1, "maxLength": MAX_TITLE_CHARS}),
]
HostName = Annotated[
    str,
    AfterValidator(_bounded_text("host_name", "a host name is", 1, MAX_TITLE_CHARS)),
    Field(json_schema_extra={"minLength": 1, "maxLength": MAX_TITLE_CHARS}),
]
Language = Annotated[
    str,
    AfterValidator(
        _bounded_text("language", "a language tag is", MIN_LANGUAGE_CHARS, MAX_LANGUAGE_CHARS)
    ),
    Field(
        examples=["en", "ko"],
        json_schema_extra={"minLength": MIN_LANGUAGE_CHARS, "maxLength": MAX_LANGUAGE_CHARS},
    ),
]
VictimContact = Annotated[str, StringConstraints(max_length=MAX_VICTIM_CONTACT)]
ItemUrl = Annotated[
    str,
    AfterValidator(_bounded_text("item_url", "an item URL is", 1, MAX_URL_CHARS)),
    Field(json_schema_extra={"minLength": 1, "maxLength": MAX_URL_CHARS}),
]
Handle = Annotated[
    str,
    AfterValidator(_bounded_text("handle", "a source is", 1, MAX_HANDLE_CHARS)),
    Field(
        examples=["@channel_name"],
        json_schema_extra={"minLength": 1, "maxLength": MAX_HANDLE_CHARS},
    ),
]
PinText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PIN_CHARS)]
ConsentText = Annotated[
    str,
    AfterValidator(_bounded_text("consent", "consent is", 1, MAX_CONSENT_TEXT, lines=True)),
    Field(json_schema_extra={"minLength": 1, "maxLength": MAX_CONSENT_TEXT}),
]
ReportContact = Annotated[
    str,
    AfterValidator(_bounded_text("contact", "contact details are", 0, MAX_REPORT_CONTACT)),
    Field(json_schema_extra={"maxLength": MAX_REPORT_CONTACT}),
]

Remark = Annotated[str, StringConstraints(max_length=MAX_REMARK_CHARS)]
Uploader = Annotated[
    str,
    AfterValidator(_bounded_text("uploader", "an uploader id is", 1, MAX_UPLOADER_CHARS)),
    Field(json_schema_extra={"minLength": 1, "maxLength": MAX_UPLOADER_CHARS}),
]

BOUNDED: Final[Mapping[str, Any]] = {
    "name": BankName,
    "pdq_threshold": PdqThreshold,
    "vpdq_query_pct": Percent,
    "vpdq_index_pct": Percent,
    "labels": Labels,
    "source": Source,
    "note": Note,
    "key_name": KeyName,
    "url": HttpUrl,
    "case_title": CaseTitle,
    "host_name": HostName,
    "language": Language,
    "victim_contact": VictimContact,
    "item_url": ItemUrl,
    "handle": Handle,
    "pin": PinText,
    "consent": ConsentText,
    "report_contact": ReportContact,
    "uploader": Uploader,
    "remark": Remark,
}
"""Every bounded field by the name :func:`check` knows it by."""


@functools.cache
def _adapter(field: str) -> TypeAdapter[Any]:
    return TypeAdapter(BOUNDED[field])


def check(field: str, value: _T, *, name: str | None = None) -> _T:
    """``value`` as the field's type makes it (labels deduplicated), or
    :class:`~jikimi.errors.InvalidField` (``validation_error``) with the message the
    API's JSON schema gives. ``name``: the field as the caller calls it (default:
    ``field``)."""
    try:
        checked: _T = _adapter(field).validate_python(value)
    except ValidationError as exc:
        raise InvalidField(name or field, message_of(exc)) from None
    return checked


def message_of(exc: ValidationError) -> str:
    """The first error's message, as pydantic words it for the API (``Value error, ``
    prefixes dropped)."""
    return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
