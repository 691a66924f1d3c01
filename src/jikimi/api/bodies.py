"""Reading request bodies that FastAPI cannot declare for us.

Two endpoints take either JSON or a multipart upload on the same path
(``POST /v1/scan``, ``POST /v1/banks/{name}/entries``), so they read the body
themselves, after authentication. These helpers keep that reading as strict as
FastAPI's own: JSON is validated into a model with field paths in the 422, and
an upload is read from its spooled temporary file (Starlette spools to disk
past 1 MiB) no further than the size limit.

An upload's filename is taken from the raw bytes of its ``Content-Disposition``
(Starlette's own decoding turns a name that is not UTF-8 into Latin-1
mojibake) and normalised by :mod:`jikimi.sources`: UTF-8 or U+FFFD, no
control characters, NFC; the bytes as sent are kept when that changed them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from jikimi import jsontext, sources
from jikimi.api.problems import ApiProblem
from jikimi.errors import MediaTooLarge

M = TypeVar("M", bound=BaseModel)

MULTIPART = "multipart/form-data"
JSON = "application/json"
_MAX_FORM_FIELDS = 16


@dataclass(frozen=True)
class Upload:
    """An uploaded file's bytes and name (normalised; ``filename_raw``: as sent)."""

    data: bytes
    filename: str | None
    filename_raw: bytes | None = None

    def source(self) -> dict[str, str | None]:
        """The Verdict ``source`` of this upload: ``filename`` (and ``filename_raw``)."""
        if self.filename_raw is None:
            return {"filename": self.filename}
        return {**sources.named("filename", self.filename_raw)}


@dataclass(frozen=True)
class Form:
    """A parsed form: the file (if one was sent) and the text fields."""

    file: Upload | None
    fields: Mapping[str, str]

    def only(self, allowed: set[str]) -> None:
        """Refuse unknown text fields (a typo must not be silently ignored)."""
        unknown = sorted(set(self.fields) - allowed)
        if unknown:
            raise _form_problem(f"unknown form field(s): {', '.join(unknown)}")


def content_type(request: Request) -> str:
    """The media type of the body, lower-case, without parameters."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def json_body(request: Request, model: type[M]) -> M:
    """The body parsed as ``model``; invalid JSON or fields → 422 with ``body.…`` paths."""
    raw = await request.body()
    try:
        data: Any = jsontext.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": f"JSON decode error: {exc}"}]
        ) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from exc


async def read_form(request: Request, limit: int, file_field: str = "file") -> Form:
    """A multipart or URL-encoded form; its file (at most ``limit`` bytes) is read.

    The body as a whole is already capped by the body-limit middleware; this
    checks the file itself, so the answer names the media limit.
    """
    async with request.form(max_files=1, max_fields=_MAX_FORM_FIELDS) as form:
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        for name, value in form.multi_items():
            if not isinstance(value, str) and name != file_field:
                raise _form_problem(f"form field {name!r} must not be a file")
        upload = form.get(file_field)
        if upload is None:
            return Form(file=None, fields=fields)
        if not isinstance(upload, UploadFile):
            raise _form_problem(f"form field {file_field!r} must be a file upload")
        if upload.size is not None and upload.size > limit:
            raise MediaTooLarge(f"the upload is {upload.size} bytes; the limit is {limit}")
        data = await run_in_threadpool(_read_capped, upload, limit)
        raw = _raw_filename(upload)
        filename = None if raw is None else sources.normalise(raw)
        return Form(file=Upload(data=data, filename=filename, filename_raw=raw), fields=fields)


def _raw_filename(upload: UploadFile) -> bytes | None:
    """The ``filename`` parameter's bytes, exactly as the client sent them."""
    for name, value in upload.headers.raw:
        if name.lower() == b"content-disposition":
            # parse_options_header reads bytes as Latin-1 and gives them back unchanged
            return parse_options_header(value)[1].get(b"filename")
    if upload.filename is None:
        return None
    return upload.filename.encode("utf-8", errors="replace")


def _read_capped(upload: UploadFile, limit: int) -> bytes:
    upload.file.seek(0)
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise MediaTooLarge(f"the upload is larger than the limit of {limit} bytes")
    return data


def _form_problem(detail: str) -> ApiProblem:
    return ApiProblem(422, "validation_error", detail)


async def read_files(
    request: Request, field: str, limit: int, max_files: int
) -> tuple[list[Upload], Mapping[str, str]]:
    """A multipart form with up to ``max_files`` files in ``field`` (each ≤ ``limit``)."""
    async with request.form(max_files=max_files, max_fields=_MAX_FORM_FIELDS) as form:
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str) and k != field}
        uploads: list[Upload] = []
        for name, value in form.multi_items():
            if isinstance(value, str):
                if name == field:
                    raise _form_problem(f"form field {field!r} must be a file upload")
                continue
            if name != field:
                raise _form_problem(f"form field {name!r} must not be a file")
            if value.size is not None and value.size > limit:
                raise MediaTooLarge(f"the upload is {value.size} bytes; the limit is {limit}")
            data = await run_in_threadpool(_read_capped, value, limit)
            uploads.append(Upload(data=data, filename=value.filename))
        return uploads, fields
