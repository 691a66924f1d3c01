"""``/v1/banks/{name}/entries``, import and export: the hashes inside a bank.

``POST …/entries`` takes a hash as JSON, or an image or video as a multipart
upload (hashed here, kept only if the bank keeps evidence), or a vPDQ hash file as
a multipart upload with ``signal=vpdq``. Withdrawal is final and has
its own verb; afterwards the entry is 404 and never matches. Import streams the
uploaded file through the parser row by row (bad rows are reported, the rest
imported); export streams the file out page by page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from jikimi.api import bodies
from jikimi.api.deps import BanksDep, ContextDep, PrincipalDep
from jikimi.api.problems import ApiProblem, error_responses
from jikimi.api.schemas import (
    EntryCreate,
    EntryPagePublic,
    EntryPublic,
    EntryStatusChange,
    EntryUpdate,
    ImportReportPublic,
)
from jikimi.api.uploads import check_media_size, media_file_limit
from jikimi.domain import EntryMeta, EntryStatus, RowFormat, SignalKind
from jikimi.media.sniff import sniff
from jikimi.services.banks import rows as importing
from jikimi.services.banks.rows import utf8
from jikimi.signals.vpdq import vpdq_file_text

router = APIRouter(prefix="/v1/banks/{name}", tags=["entries"])

_MEDIA_TYPES = {
    RowFormat.CSV: "text/csv; charset=utf-8",
    RowFormat.JSON: "application/json",
    RowFormat.JSONL: "application/x-ndjson",
}
_EXTENSIONS = {".csv": RowFormat.CSV, ".json": RowFormat.JSON, ".jsonl": RowFormat.JSONL}

_ADD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            bodies.JSON: {"schema": EntryCreate.model_json_schema()},
            bodies.MULTIPART: {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "An image (hashed with PDQ), a video or an "
                            "animated GIF/WebP (hashed with vPDQ, one frame a second), or "
                            "with signal=vpdq a vPDQ hash file.",
                        },
                        "signal": {
                            "type": "string",
                            "enum": ["vpdq"],
                            "description": "Absent: the file is media to hash. vpdq: the "
                            "file is a vPDQ hash file (UTF-8 lines "
                            "frame,quality,pdq_hex,timestamp_s, as Meta's vpdq writes them).",
                        },
                        "source": {"type": "string"},
                        "note": {"type": "string"},
                        "metadata": {"type": "string", "description": "A JSON object."},
                    },
                }
            },
        },
    }
}


@router.get(
    "/entries",
    response_model=EntryPagePublic,
    summary="Entries in the order they were added, a page at a time",
    responses=error_responses(401, 403, 404, 422),
)
def list_entries(
    name: str,
    principal: PrincipalDep,
    banks: BanksDep,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    entry_status: Annotated[EntryStatusChange | None, Query(alias="status")] = None,
) -> EntryPagePublic:
    wanted = EntryStatus(entry_status.value) if entry_status is not None else None
    page = banks.list_entries(principal, name, cursor, limit, status=wanted)
    return EntryPagePublic.of(page)


@router.post(
    "/entries",
    response_model=EntryPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Add a hash (JSON), or media to hash or a vPDQ hash file (multipart `file`)",
    description="JSON: a hash ({signal, value}; a vpdq value is a whole vPDQ hash file). "
    "Multipart `file`: an image becomes a pdq entry, a video (or an animated GIF/WebP) a "
    "vpdq entry; with `signal=vpdq` the file is a vPDQ hash file instead. A vpdq entry's "
    "`value` is the SHA-256 of its frames in ThreatExchange's JSON form (its identity in the "
    "bank, whatever the frame numbers); its frames "
    "are kept with it and matched with the bank's vpdq_query_pct / vpdq_index_pct.",
    responses=error_responses(401, 403, 404, 409, 413, 422),
    openapi_extra=_ADD_BODY,
)
async def add_entry(
    name: str, request: Request, principal: PrincipalDep, banks: BanksDep, context: ContextDep
) -> EntryPublic:
    if bodies.content_type(request) == bodies.JSON:
        body = await bodies.json_body(request, EntryCreate)
        entry = await run_in_threadpool(banks.add_entry, principal, name, body.to_domain())
        return EntryPublic.of(entry)
    settings = context.settings
    form = await bodies.read_form(request, media_file_limit(settings))
    form.only({"source", "note", "metadata", "signal"})
    if form.file is None:
        raise ApiProblem(
            422, "validation_error", "send a hash as JSON, or an image or video as multipart 'file'"
        )
    signal = form.fields.get("signal")
    if signal is not None and signal != SignalKind.VPDQ.value:
        raise ApiProblem(
            422, "validation_error", "the signal field is 'vpdq' (a vPDQ hash file) or absent"
        )
    meta = EntryMeta(
        source=form.fields.get("source"),
        note=form.fields.get("note"),
        metadata=_metadata_field(form.fields.get("metadata")),
    )
    if signal is not None:
        text = vpdq_file_text(form.file.data)
        entry = await run_in_threadpool(banks.add_vpdq_entry, principal, name, text, meta)
        return EntryPublic.of(entry)
    check_media_size(len(form.file.data), sniff(form.file.data), settings)  # as a scan would
    entry = await run_in_threadpool(banks.add_media_entry, principal, name, form.file.data, meta)
    return EntryPublic.of(entry)


@router.get(
    "/entries/{entry_id}",
    response_model=EntryPublic,
    summary="One entry (withdrawn entries are 404)",
    responses=error_responses(401, 403, 404),
)
def get_entry(name: str, entry_id: str, principal: PrincipalDep, banks: BanksDep) -> EntryPublic:
    return EntryPublic.of(banks.get_entry(principal, name, entry_id))


@router.patch(
    "/entries/{entry_id}",
    response_model=EntryPublic,
    summary="Disable or re-enable an entry",
    responses=error_responses(401, 403, 404, 413, 422),
)
def update_entry(
    name: str, entry_id: str, body: EntryUpdate, principal: PrincipalDep, banks: BanksDep
) -> EntryPublic:
    wanted = EntryStatus(body.status.value)
    return EntryPublic.of(banks.set_status(principal, name, entry_id, wanted))


@router.post(
    "/entries/{entry_id}/withdraw",
    response_model=EntryPublic,
    summary="Withdraw an entry for good: it stops matching now and is never shown again",
    responses=error_responses(401, 403, 404),
)
def withdraw_entry(
    name: str, entry_id: str, principal: PrincipalDep, banks: BanksDep
) -> EntryPublic:
    return EntryPublic.of(banks.set_status(principal, name, entry_id, EntryStatus.WITHDRAWN))


@router.post(
    "/import",
    response_model=ImportReportPublic,
    summary="Import hashes from a CSV, JSON or JSON Lines file (ThreatExchange signal form)",
    description="Rows that cannot be imported (bad hex, unknown signal type, bad metadata) "
    "are reported with their line numbers; the others are imported. Re-importing a file is "
    "safe: rows already in the bank count as duplicates. Each import is recorded "
    "(`import_id`; GET /v1/banks/{name}/imports): one cut short shows as `interrupted` "
    "with the rows it committed, and is resumed by sending the same file with "
    "`resume=imp_…` (422 `import_file_mismatch` for another file, 409 "
    "`import_not_resumable` if it is done or still running).",
    responses=error_responses(401, 403, 404, 409, 413, 422),
)
def import_entries(
    name: str,
    principal: PrincipalDep,
    banks: BanksDep,
    file: Annotated[UploadFile, File(description="signal_type,signal_value,metadata rows")],
    file_format: Annotated[
        RowFormat | None,
        Form(alias="format", description="Default: from the file name, else from the content."),
    ] = None,
    source: Annotated[str | None, Form(max_length=2048)] = None,
    resume: Annotated[
        str | None,
        Form(
            max_length=40,
            description="The imp_… id of an interrupted or failed import of this same file "
            "(checked by its SHA-256): it goes on after the rows it had committed, and the "
            "answer counts the whole file.",
        ),
    ] = None,
) -> ImportReportPublic:
    fmt = file_format or _format_of(file.filename)
    file.file.seek(0)
    record = banks.import_file(
        principal, name, file.file, fmt, source=source, resume=resume or False
    )
    return ImportReportPublic.of(record.report(), record.id)


@router.get(
    "/export",
    summary="Export the active entries as CSV, JSON or JSON Lines (streamed)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The bank's active entries in the signal form.",
            "content": {media: {} for media in _MEDIA_TYPES.values()},
        },
        **error_responses(401, 403, 404, 422),
    },
)
def export_entries(
    name: str,
    principal: PrincipalDep,
    banks: BanksDep,
    fmt: Annotated[RowFormat, Query(alias="format")] = RowFormat.CSV,
) -> StreamingResponse:
    chunks = banks.export(principal, name, fmt)  # role and bank are checked now, not mid-stream
    filename = f"{name}.{fmt.value}"
    return StreamingResponse(
        utf8(chunks),
        media_type=_MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _format_of(filename: str | None) -> RowFormat | None:
    """The format the file name says, or ``None`` to let the parser look at the content."""
    for extension, fmt in _EXTENSIONS.items():
        if (filename or "").lower().endswith(extension):
            return fmt
    return None


def _metadata_field(text: str | None) -> dict[str, Any]:
    metadata = importing.check_metadata(text)
    if isinstance(metadata, str):
        raise ApiProblem(422, "validation_error", metadata)
    return metadata
