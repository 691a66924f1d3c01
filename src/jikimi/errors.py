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


class ScanTimeout(JikimiError):
    code = "timeout"


class ConfigError(JikimiError):
    """Settings or a rules file are invalid; raised at start-up, not per item."""

    code = "config_invalid"


class ModelUnavailable(JikimiError):
    """A model file is missing or cannot be loaded."""

    code = "model_unavailable"


class InvalidHash(JikimiError):
    """A hash string has the wrong length or alphabet for its signal type."""

    code = "invalid_hash"
