"""What one API process holds: settings, services, the scanner, metrics.

Built by :func:`jikimi.api.app.create_app`'s lifespan (never at import time) and
reached by routes only through the dependencies of :mod:`jikimi.api.deps`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from jikimi.api.fetch import UrlFetcher
from jikimi.api.metrics import ApiMetrics
from jikimi.api.scanning import LazyScanner, ScanBackend, ScanBatcher
from jikimi.config import Settings
from jikimi.domain import Match, Principal, Signal
from jikimi.pipeline import Matcher
from jikimi.services import BankService, KeyService
from jikimi.services.casework import Casework, CaseworkRunner
from jikimi.services.face_retro import FaceRetroRunner
from jikimi.services.jobs import JobService
from jikimi.services.persons import PersonService
from jikimi.services.retro import RetroMatcher
from jikimi.store import Store


class HashMatcher(Protocol):
    """The matching service as the doors use it (``MatchService`` has this shape)."""

    @property
    def ready(self) -> bool:
        """The indexes are loaded (``/readyz``)."""
        ...

    def start(self) -> None:
        """Begin loading the indexes (in the background: ``ready`` says when done)."""
        ...

    def close(self) -> None:
        """Stop background work and release the indexes."""
        ...

    def match_hashes(self, principal: Principal, signals: Sequence[Signal]) -> list[list[Match]]:
        """Matches of each hash in the caller's visible banks."""
        ...

    def matcher_for(self, principal: Principal) -> Matcher | None:
        """The pipeline's view of the caller's visible banks."""
        ...


@dataclass
class ApiContext:
    """Everything a request may need, one per app (per worker process)."""

    settings: Settings
    metrics: ApiMetrics
    fetcher: UrlFetcher
    store: Store
    keys: KeyService
    banks: BankService
    matching: HashMatcher
    retro: RetroMatcher
    scanner: LazyScanner
    scans: ScanBackend
    batcher: ScanBatcher
    jobs: JobService
    persons: PersonService
    casework: Casework
    casework_runner: CaseworkRunner
    face_retro: FaceRetroRunner | None = None
