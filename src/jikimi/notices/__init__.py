"""Takedown notices: legal bases, languages, and text rendered from editable templates."""

from jikimi.notices.render import (
    LANGUAGES,
    LegalBasis,
    NoticeItem,
    NoticeRenderer,
    RenderedNotice,
    Sender,
    normalise_language,
)

__all__ = [
    "LANGUAGES",
    "LegalBasis",
    "NoticeItem",
    "NoticeRenderer",
    "RenderedNotice",
    "Sender",
    "normalise_language",
]
