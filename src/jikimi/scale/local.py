"""Scan many files on one machine: in-process, or a pool of worker processes.

Each worker builds one :class:`~jikimi.pipeline.Scanner` at start-up, so models
load once per worker, not once per file. Files go to workers in small chunks (the
nudity model runs batched within a chunk) and results come back in input order.
A worker that dies (a decoder crash in native code, the OOM killer) costs only the
file that killed it: the pool is rebuilt, the chunk is retried file by file, and
a file that crashes a worker on its own gets a ``worker_crashed`` error Verdict.
A chunk that fails any other way (an exception no file's scan should let out,
such as a result that cannot be sent back) is retried file by file on the same
pool, and a file that fails on its own gets an ``internal_error`` Verdict.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from jikimi.config import Settings
from jikimi.domain import Verdict
from jikimi.faces import FaceEngine, FaceIndex, TenantFaces
from jikimi.matching.bank_snapshot import BankSnapshot
from jikimi.media import MediaLimits, read_file
from jikimi.pipeline import Item, Scanner, ScanProgress, error_verdict, failed_verdict
from jikimi.sources import path_source

_worker_scanner: Scanner | None = None


def scan_chunk(
    scanner: Scanner, paths: Sequence[Path], progress: ScanProgress | None = None
) -> list[Verdict]:
    """Read and scan some files; unreadable files become error Verdicts.

    Files are read up to the larger of the image and video size limits; the
    pipeline applies the limit of what the file turns out to be. ``source.path``
    is the path normalised (a name that is not UTF-8 could not even be written
    as JSON), with ``path_raw`` when that changed it (:mod:`jikimi.sources`).
    """
    limits: MediaLimits = dataclasses.replace(scanner.limits, max_bytes=scanner.max_input_bytes)
    out: list[Verdict | None] = [None] * len(paths)
    items: list[Item] = []
    where: list[int] = []
    for i, path in enumerate(paths):
        source = path_source(path)
        try:
            items.append(Item(read_file(path, limits), source))
            where.append(i)
        except Exception as exc:
            out[i] = failed_verdict(source, exc)
    for i, verdict in zip(where, scanner.scan_many(items, progress), strict=True):
        out[i] = verdict
    return [v for v in out if v is not None]


FaceStage = tuple[FaceIndex | None, float]
"""What a worker process needs to build the tenant's face stage itself: her index
(``None``: report faces, match nobody) and the threshold. The index travels
pickled through the pool's pipe, never through a file: templates are not
written anywhere unsealed."""


def _init_worker(
    settings: Settings, banks: tuple[Path, str] | None = None, faces: FaceStage | None = None
) -> None:
    """``banks``: a bank snapshot's directory and tenant, loaded here (no database)."""
    global _worker_scanner
    matcher = BankSnapshot.load(*banks) if banks is not None else None
    _worker_scanner = Scanner.from_settings(settings, matcher)
    if faces is not None:
        stage = TenantFaces(FaceEngine.from_settings(settings), faces[0], faces[1])
        _worker_scanner = _worker_scanner.with_matcher(matcher, stage)
    _worker_scanner.warm_up()


def _run_chunk(paths: Sequence[Path]) -> list[Verdict]:
    assert _worker_scanner is not None, "worker not initialised"
    return scan_chunk(_worker_scanner, paths)


def settings_for_workers(settings: Settings, workers: int) -> Settings:
    """Split the cores between workers unless the user set a thread count."""
    if workers > 1 and settings.grade_threads == 0:
        threads = max(1, (os.cpu_count() or 1) // workers)
        return settings.model_copy(update={"grade_threads": threads})
    return settings


def scan_files(
    paths: Sequence[Path],
    settings: Settings,
    workers: int = 1,
    chunk: int | None = None,
    progress: ScanProgress | None = None,
    matcher: BankSnapshot | None = None,
    faces: TenantFaces | None = None,
) -> Iterator[Verdict]:
    """Yield one Verdict per path, in order.

    ``progress`` hears how far each video has got (in-process scans only: worker
    processes report per file, through the Verdicts). ``matcher``: the banks to
    match against; worker processes load it from files written for them.
    ``faces``: the tenant's face stage (as ``POST /v1/scan`` builds it); worker
    processes get its index and build their own models.
    """
    size = chunk or settings.grade_batch_size
    chunks = [list(paths[i : i + size]) for i in range(0, len(paths), size)]
    if workers <= 1:
        scanner = Scanner.from_settings(settings, matcher)
        if faces is not None:
            scanner = scanner.with_matcher(matcher, faces)
        for c in chunks:
            yield from scan_chunk(scanner, c, progress)
        return
    pooled = settings_for_workers(settings, workers)
    stage = (faces.index, faces.threshold) if faces is not None else None
    if matcher is None:
        yield from _pooled(chunks, pooled, workers, None, stage)
        return
    with tempfile.TemporaryDirectory(prefix="jikimi-banks-") as directory:
        matcher.save(Path(directory))
        yield from _pooled(chunks, pooled, workers, (Path(directory), matcher.tenant_id), stage)


def _pooled(
    chunks: list[list[Path]],
    settings: Settings,
    workers: int,
    banks: tuple[Path, str] | None = None,
    faces: FaceStage | None = None,
) -> Iterator[Verdict]:
    pending = deque(chunks)
    initargs = (settings, banks, faces)
    while pending:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=initargs) as pool:
            window: deque[tuple[list[Path], Future[list[Verdict]]]] = deque()
            broken = False
            while pending or window:
                while pending and len(window) < workers * 2 and not broken:
                    c = pending.popleft()
                    window.append((c, pool.submit(_run_chunk, c)))
                if not window:
                    break
                c, fut = window.popleft()
                try:
                    yield from fut.result()
                except BrokenProcessPool:
                    # A worker died. The head chunk is split into single files and
                    # retried, so one poisonous file costs only itself; a single
                    # file that crashes again is reported. Chunks queued behind it
                    # are resubmitted to a fresh pool.
                    pending.extendleft(reversed([c2 for c2, _ in window]))
                    window.clear()
                    if len(c) > 1:
                        pending.extendleft(reversed([[p] for p in c]))
                    else:
                        yield from _crashed(c)
                    broken = True
                except Exception as exc:
                    if len(c) > 1:  # retried file by file, ahead of the chunks behind it
                        singles = [([p], pool.submit(_run_chunk, [p])) for p in c]
                        window.extendleft(reversed(singles))
                    else:
                        yield from [failed_verdict(path_source(p), exc) for p in c]
            if not broken:
                return


def _crashed(paths: Sequence[Path]) -> list[Verdict]:
    msg = "the worker process scanning this file died (native crash or out of memory)"
    return [error_verdict(path_source(p), "worker_crashed", msg) for p in paths]
