"""The light parts of a Ray run: the read stage and the crash ledger.

Kept apart from :mod:`jikimi.scale.ray_scan` so that the processes running
them import only what they use: every Ray worker process is a fresh
interpreter, and on a busy node the imports are most of its start-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jikimi.domain import MediaKind
from jikimi.media.limits import MediaLimits, read_file
from jikimi.media.sniff import sniff

_HEAD_BYTES = 4096  # enough for sniff() to tell a video (an MPEG-TS needs a few packets)


def read_batch(batch: dict[str, Any], max_image_bytes: int, limits: MediaLimits) -> dict[str, Any]:
    """Read still images into the batch; leave videos and large files to the actor.

    Reading errors are not reported here: such a file goes on as a path, and the
    actor's own read of it gives exactly the error Verdict the local path gives.
    """
    data: list[bytes | None] = []
    for raw in batch["path"]:
        path = Path(os.fsdecode(bytes(raw)))
        try:
            if path.stat().st_size > max_image_bytes:
                data.append(None)
                continue
            with path.open("rb") as f:
                head = f.read(_HEAD_BYTES)
            if sniff(head).kind is MediaKind.VIDEO:
                data.append(None)
                continue
            data.append(read_file(path, limits))
        except Exception:
            data.append(None)
    return {"path": list(batch["path"]), "data": data}


class CrashLedger:
    """Counts attempts of batches and of single files (one small actor per run)."""

    def __init__(self) -> None:
        self._tries: dict[str, int] = {}

    def attempt(self, key: str) -> int:
        """Attempts before this one; this one is counted."""
        n = self._tries.get(key, 0)
        self._tries[key] = n + 1
        return n

    def forget(self, key: str) -> None:
        self._tries.pop(key, None)
