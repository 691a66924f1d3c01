"""``/v1/persons``: enrol a person for face protection, show her record, withdraw.

``POST /v1/persons`` takes multipart ``photos`` (1 to 10 files, each with
exactly one clear face of her), ``consent`` (what she agreed to, as recorded)
and an optional ``case`` id. A refused photo is a 422 whose ``code`` says why
(``no_face``, ``several_faces``, ``face_too_small``, ``face_too_blurred``) and
nothing is stored. No response ever carries a face template; the photos are
not kept. ``DELETE /v1/persons/{id}`` records her withdrawal and destroys her
templates: she is never matched again. ``GET /v1/persons/{id}/matches`` lists
the stored scans in which she was found after her enrolment (retroactive
matching), for review.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from jikimi.api import bodies
from jikimi.api.deps import PersonsDep, PrincipalDep
from jikimi.api.problems import ApiProblem, error_responses
from jikimi.api.schemas import PersonPublic
from jikimi.domain import MAX_ENROL_PHOTOS, EnrolPhoto

router = APIRouter(prefix="/v1/persons", tags=["persons"])


class LateMatchPublic(BaseModel):
    scan: str = Field(description="The stored scan (GET /v1/scans/{id} shows the face).")
    face: int = Field(description="Position of the face in the scan's ``faces``.")
    similarity: float = Field(description="Cosine similarity to her best template.")
    found_at: datetime


class LateMatches(BaseModel):
    matches: list[LateMatchPublic]


_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            bodies.MULTIPART: {
                "schema": {
                    "type": "object",
                    "required": ["photos", "consent"],
                    "properties": {
                        "photos": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": f"1 to {MAX_ENROL_PHOTOS} photos, each of her "
                            "face alone.",
                        },
                        "consent": {
                            "type": "string",
                            "description": "Her consent as recorded, e.g. 'signed form "
                            "2026-12-01, caseworker kim'.",
                        },
                        "case": {"type": "string", "description": "The case id, if any."},
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    response_model=PersonPublic,
    status_code=201,
    summary="Enrol a person from photos of her face, with her consent on record",
    responses=error_responses(401, 403, 413, 422, 503),
    openapi_extra=_BODY,
)
async def enrol(request: Request, principal: PrincipalDep, persons: PersonsDep) -> PersonPublic:
    if bodies.content_type(request) != bodies.MULTIPART:
        raise ApiProblem(422, "validation_error", "send multipart/form-data with 'photos'")
    uploads, fields = await bodies.read_files(
        request, "photos", persons.settings.max_bytes, MAX_ENROL_PHOTOS
    )
    unknown = sorted(set(fields) - {"consent", "case"})
    if unknown:
        raise ApiProblem(422, "validation_error", f"unknown form field(s): {', '.join(unknown)}")
    photos = [
        EnrolPhoto(name=u.filename or f"photo {i + 1}", data=u.data) for i, u in enumerate(uploads)
    ]
    person = await run_in_threadpool(
        persons.enrol, principal, photos, fields.get("consent"), fields.get("case")
    )
    return PersonPublic.of(person)


@router.get(
    "/{person_id}",
    response_model=PersonPublic,
    summary="A person's record: consent, status, template count (never the templates)",
    responses=error_responses(401, 403, 404),
)
def get_person(person_id: str, principal: PrincipalDep, persons: PersonsDep) -> PersonPublic:
    return PersonPublic.of(persons.get(principal, person_id))


@router.delete(
    "/{person_id}",
    response_model=PersonPublic,
    summary="Record her withdrawal: her templates are destroyed, she is never matched again",
    responses=error_responses(401, 403, 404, 409),
)
def withdraw(person_id: str, principal: PrincipalDep, persons: PersonsDep) -> PersonPublic:
    return PersonPublic.of(persons.withdraw(principal, person_id))


@router.get(
    "/{person_id}/matches",
    response_model=LateMatches,
    summary="Stored scans she was found in after her enrolment (retroactive matching)",
    responses=error_responses(401, 403, 404),
)
def person_matches(person_id: str, principal: PrincipalDep, persons: PersonsDep) -> LateMatches:
    return LateMatches(
        matches=[
            LateMatchPublic(
                scan=m.scan_id, face=m.face, similarity=round(m.similarity, 4), found_at=m.found_at
            )
            for m in persons.matches(principal, person_id)
        ]
    )
