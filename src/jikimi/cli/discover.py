"""Find the files a scan should look at.

Paths named on the command line are always scanned (a non-media file there is an
error the user should see). Inside folders, walked recursively, non-empty files
that do not start like media are skipped and counted, so a README or a .DS_Store in a photo
folder does not turn a clean scan into a failed one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from jikimi.media import sniff
from jikimi.model import MediaKind


@dataclass
class Discovery:
    files: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)


def _looks_like_media(path: Path) -> bool:
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
