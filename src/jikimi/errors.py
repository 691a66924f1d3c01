"""One error hierarchy for all of jikimi.

Every error a user can cause carries a stable snake_case ``code`` (part of the
public contract: Verdict ``error.code``, API problem JSON ``code``, CLI message)
and a human sentence. Doors map these to their own form; nothing below the doors
formats errors for a user.
"""

from __future__ import annotations


class JikimiError(Exception):
    """Base of every error jikimi raises on purpose."""

    code: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MediaError(JikimiError):
    """The input could not be turned into media we can analyse."""

    code = "media_error"


class EmptyMedia(MediaError):
    code = "empty_media"


class UnsupportedMedia(MediaError):
    code = "unsupported_media"


class CorruptMedia(MediaError):
    code = "corrupt_media"


class MediaTooLarge(MediaError):
    code = "media_too_large"


class UnreadableMedia(MediaError):
    """A file could not be read from disk (missing, a folder, no permission...)."""

    code = "unreadable"


class ScanTimeout(JikimiError):
    code = "timeout"


class ConfigError(JikimiError):
    """Settings or a rules file are invalid; raised at start-up, not per item."""

    code = "config_invalid"


class ModelUnavailable(JikimiError):
    """A model file is missing or cannot be loaded."""

    code = "model_unavailable"


class IndexNotReady(JikimiError):
    """The bank indexes are still loading (start-up): try again shortly."""

    code = "index_not_ready"


# --- service errors (banks, keys, scans): the API maps each to an HTTP status ---


class InvalidInput(JikimiError):
    """A request is well-formed but its values are not acceptable (bad name, bad range)."""

    code = "invalid_input"


class InvalidField(InvalidInput):
    """A bounded field is out of its bounds (:mod:`jikimi.domain.limits`): the code the
    API's JSON schema validation gives, so every door refuses it alike."""

    code = "validation_error"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidHash(InvalidInput):
    """A hash string has the wrong length or alphabet for its signal type."""

    code = "invalid_hash"


class NotFound(JikimiError):
    """The thing does not exist, or the caller may not know that it exists.

    Services raise this (not :class:`Forbidden`) for another tenant's objects, so
    that a caller cannot probe which bank names or ids exist elsewhere.
    """

    code = "not_found"


class Conflict(JikimiError):
    """The request contradicts the current state (duplicate name, entry already there)."""

    code = "conflict"


class ImportFileMismatch(InvalidInput):
    """A resumed import was sent another file than the one it started with."""

    code = "import_file_mismatch"


class ImportNotResumable(Conflict):
    """The import to resume is finished, or still running in some process."""

    code = "import_not_resumable"


class Forbidden(JikimiError):
    """The caller's role does not allow this action on something it may see."""

    code = "forbidden"


class Unauthorized(JikimiError):
    """No valid credentials: unknown, malformed or revoked API key."""

    code = "unauthorized"


# --- faces and persons (enrolment, templates) ---------------------------------------


class FaceRejected(InvalidInput):
    """An enrolment photo does not hold exactly one clear face; ``code`` says why."""

    code = "face_rejected"


class NoFace(FaceRejected):
    code = "no_face"


class SeveralFaces(FaceRejected):
    code = "several_faces"


class FaceTooSmall(FaceRejected):
    code = "face_too_small"


class FaceTooBlurred(FaceRejected):
    code = "face_too_blurred"


class ConsentRequired(InvalidInput):
    """Enrolment without a consent record is refused."""

    code = "consent_required"


class PersonWithdrawn(Conflict):
    """The person withdrew: her templates are gone and she is never matched again."""

    code = "person_withdrawn"


class TemplateKeyError(JikimiError):
    """A sealed face template cannot be opened: wrong key, or the row was tampered with."""

    code = "template_key_error"


class Unavailable(JikimiError):
    """A part of the service this server is not set up to offer (HTTP 503)."""

    code = "unavailable"


class TooManyAttempts(JikimiError):
    """Too many failed attempts (a victim's case number and PIN): wait, then try again."""

    code = "too_many_attempts"


PayloadTooLarge = MediaTooLarge
"""An upload over the size limit: the same error (and code) as an oversized medium."""
