"""Find the files a scan should look at.

Paths named on the command line are always scanned (a non-media file there is an
error the user should see). Inside folders, walked recursively, a file is scanned
when its bytes start like media *or* its name says it is an image or a video
(:data:`MEDIA_EXTENSIONS`): a ``.jpg`` holding text or a ``.heic`` holding junk is
reported with an error Verdict (``unsupported_media``, ``corrupt_media``), never
skipped in silence, because a file a user believes is a photo and that could not
be read is exactly what a review must not miss. Other files whose bytes are not
media (a README, a .DS_Store) are skipped and counted, so they do not turn a
clean scan into a failed one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from jikimi.domain import MediaKind
from jikimi.media import sniff

MEDIA_EXTENSIONS: Final = frozenset(
    {
        # still images
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".webp", ".gif", ".bmp", ".dib",
        ".tif", ".tiff", ".heic", ".heif", ".hif", ".avif", ".avifs", ".jxl", ".jp2",
        ".j2k", ".ico", ".psd", ".svg",
        # videos
        ".mp4", ".m4v", ".mov", ".qt", ".webm", ".mkv", ".avi", ".flv", ".wmv", ".asf",
        ".mpg", ".mpeg", ".mpe", ".m2ts", ".3gp", ".3g2", ".ogv",
    }
)  # fmt: skip
"""Extensions (lower case) that say "image" or "video": such files are always scanned.

Not ``.ts`` or ``.mts``: they are TypeScript sources as often as MPEG transport
streams (a transport stream is still scanned when its bytes are one)."""


@dataclass
class Discovery:
    files: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)


def _looks_like_media(path: Path) -> bool:
    if path.suffix.lower() in MEDIA_EXTENSIONS:
        return True  # its name says media: scanned, so bytes that are not get reported
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError:
        return True  # let the scan report why it cannot be read
    if not head:
        return True  # an empty file is a failed upload worth reporting, not noise
    kind = sniff(head).kind
    return kind in (MediaKind.IMAGE, MediaKind.VIDEO)


def discover(paths: Iterable[Path]) -> Discovery:
    """Expand folders (sorted, recursive, symlinked folders not followed)."""
    found = Discovery()
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs.sort()
                for name in sorted(names):
                    f = Path(root) / name
                    if f in seen or not f.is_file():
                        continue
                    seen.add(f)
                    (found.files if _looks_like_media(f) else found.skipped).append(f)
        elif path.exists():
            if path not in seen:
                seen.add(path)
                found.files.append(path)
        else:
            found.missing.append(path)
    return found
