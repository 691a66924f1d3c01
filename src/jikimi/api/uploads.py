"""The one size rule of media uploads, for every door that takes media.

``POST /v1/scan`` and ``POST /v1/banks/{name}/entries`` take the same files, so they
take the same sizes: a request may carry up to the larger of ``max_upload_bytes`` and
``video_max_bytes`` (plus multipart framing, checked by the body-limit middleware before
anything is read); once the upload is sniffed, a video is held to ``video_max_bytes``
and anything else (an image) to ``max_bytes``. A video that can be scanned can be
banked, and the other way round.
"""

from __future__ import annotations

from jikimi.config import Settings
from jikimi.domain import MediaKind
from jikimi.errors import MediaTooLarge
from jikimi.media.sniff import Sniffed


def media_body_limit(settings: Settings) -> int:
    """Largest media upload a request may carry, of any kind (framing not included)."""
    return max(settings.max_upload_bytes, settings.video_max_bytes)


def media_file_limit(settings: Settings) -> int:
    """Largest file read from a media upload's form, before it is known what it is."""
    return max(settings.max_bytes, settings.video_max_bytes)


def check_media_size(size: int, sniffed: Sniffed, settings: Settings) -> None:
    """Hold videos to ``video_max_bytes``, images (and anything not a video) to ``max_bytes``."""
    video = sniffed.kind is MediaKind.VIDEO
    limit = settings.video_max_bytes if video else settings.max_bytes
    if size > limit:
        raise MediaTooLarge(
            f"The upload is {size:,} bytes, over the limit of {limit:,} bytes for "
            f"{'videos' if video else 'images'}."
        )
