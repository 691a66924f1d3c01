"""Scan a file list on a Ray cluster: read → scan → write, streamed with back-pressure.

::

    driver                                  cluster
    ------                                  -------
    file list (minus --resume's done) ─► ray.data.from_items
                                          └─► map_batches(read_batch)   tasks, no CPU held
                                                (on a cluster of several nodes): images
                                                as bytes, videos (and anything larger
                                                than the image limit) as paths only
                                          └─► map_batches(ScanActor)    actor pool min..max,
                                                each actor: one Scanner + the bank snapshot,
                                                onnxruntime threads = the actor's CPUs;
                                                reads what came as a path itself
    iter_batches ◄────────────────────── Verdict JSON per file
      └─► part-<session>-<n>.jsonl, written whole then renamed (a crash never leaves
          half a batch that --resume would trust); optionally stored as scans

Reading is I/O, so the read tasks reserve no CPU and a pool grown to every core
cannot starve them (the hang of a pool that holds every CPU while the read stage
waits for one); they are capped in number instead. On one node the stage is left
out by default and the actors read their files: there the stage overlaps nothing
that matters (the files are local) and its bytes make an extra trip through the
object store, which measured slower (``RayOptions.read_stage``).

With a tenant's face stage (her enrolled persons' templates), the index goes to
the actors through the object store too, sealed with a key made for the run
(AES-256-GCM): the object store may spill to disk under memory pressure, and
templates are never written anywhere unsealed. The key travels only in the
actors' constructor arguments, in memory.

A dead actor costs only the batch it held: Ray Data restarts the actor and retries
the batch. A batch that is being retried is scanned file by file, and a file that
was being scanned alone when an actor died is given a ``worker_crashed`` error
Verdict on the next retry instead of being scanned again (the same rule as the
local pool). The attempts are counted by a small ledger actor, so this holds on
any node.

Verdicts are those of ``jikimi scan --json`` except their ids, which are derived
from the run and the file (a retried batch, or a resumed run, gives the same id,
so storing scans is idempotent), and their order (files finish out of order).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import pickle
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jikimi.config import Settings
from jikimi.crypto.aead import KEY_BYTES, Aead
from jikimi.domain import Permission, Principal, Verdict  # (light: value types)
from jikimi.faces import FaceEngine, FaceIndex, TenantFaces
from jikimi.ids import ulid
from jikimi.matching.bank_snapshot import BankSnapshot
from jikimi.media import MediaLimits, read_file
from jikimi.pipeline import Item, Scanner, error_verdict, failed_verdict
from jikimi.scale.ray_parts import CrashLedger, read_batch
from jikimi.sources import path_source

RUN_FILE = "run.json"
PART_PREFIX = "part-"
PART_SUFFIX = ".jsonl"
CRASHED_MESSAGE = "the worker process scanning this file died (native crash or out of memory)"


@dataclass(frozen=True)
class RayOptions:
    """How a Ray run is shaped; the defaults suit one box and a cluster alike."""

    address: str
    """``local`` starts a one-box cluster inside this process; else a cluster's address."""
    out_dir: Path
    resume: bool = False
    actor_cpus: float = 1.0
    """CPUs each scanning actor reserves (and its onnxruntime threads)."""
    min_actors: int = 1
    max_actors: int | None = None
    """Default: as many as the cluster's CPUs hold."""
    batch_size: int | None = None
    """Files per batch (default: the grade batch size × 8, 32 files: on one 2-core
    box 32 scanned faster than 16, with fewer blocks to schedule, and than 64, whose
    first and last batches leave an actor idle longer)."""
    read_tasks: int | None = None
    """Read tasks at once (they reserve no CPU); default: one per node."""
    read_stage: bool | None = None
    """Read images in a stage of their own (True) or in the scanning actors (False).
    Default: a stage of its own on a cluster of several nodes, in the actors on one
    (there, the stage's hop through the object store costs more than it overlaps)."""
    local_cpus: int | None = None
    local_object_store_bytes: int = 256 * 1024 * 1024


@dataclass
class RunStats:
    """What a run did; ``startup_s`` is the time to connect to (or start) the cluster."""

    run_id: str
    files: int = 0
    skipped: int = 0
    scanned: int = 0
    errors: int = 0
    startup_s: float = 0.0
    scan_s: float = 0.0
    first_verdicts_s: float = 0.0
    """From the start of the scan to the first part written (actors starting up)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- keys, ids, the output folder -------------------------------------------------------


def source_key(source: Mapping[str, Any]) -> str:
    """The identity of a scanned file in the output: its Verdict's ``source``."""
    return json.dumps(dict(source), sort_keys=True, ensure_ascii=True)


def stable_scan_id(run_id: str, run_ms: int, key: str) -> str:
    """A scan id fixed by the run and the file: time part from the run's start, the
    rest from a digest, so a retried batch or a resumed run gives the same id."""
    digest = hashlib.sha256(f"{run_id}\0{key}".encode()).digest()
    value = (run_ms << 80) | int.from_bytes(digest[:10], "big")
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    chars = []
    for _ in range(26):
        chars.append(alphabet[value & 31])
        value >>= 5
    return "scn_" + "".join(reversed(chars))


def open_run(out_dir: Path, resume: bool) -> tuple[str, int]:
    """The run's id and start (ms): read back with ``resume``, else a new run.

    A folder that already holds Verdicts is refused without ``resume``, so two runs
    never mix in one folder by accident.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    run_file = out_dir / RUN_FILE
    if run_file.exists():
        if not resume:
            raise FileExistsError(
                f"{out_dir} already holds a run; pass --resume to continue it"
                " or choose an empty folder"
            )
        data = json.loads(run_file.read_text("utf-8"))
        return str(data["run_id"]), int(data["run_ms"])
    run_id, run_ms = ulid(), int(time.time() * 1000)
    _write_atomically(run_file, json.dumps({"run_id": run_id, "run_ms": run_ms}) + "\n")
    return run_id, run_ms


def done_keys(out_dir: Path) -> set[str]:
    """Keys of files whose Verdicts are in the folder's finished part files.

    Unfinished writes (``.tmp``) are removed: they were never renamed, so none of
    their lines counts.
    """
    keys: set[str] = set()
    if not out_dir.is_dir():
        return keys
    for tmp in out_dir.glob(f".{PART_PREFIX}*.tmp"):
        tmp.unlink(missing_ok=True)
    for part in sorted(out_dir.glob(f"{PART_PREFIX}*{PART_SUFFIX}")):
        with part.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    keys.add(source_key(json.loads(line)["source"]))
    return keys


def iter_verdict_lines(out_dir: Path) -> Iterator[dict[str, Any]]:
    """Every Verdict in the folder's finished part files (for tests and tools)."""
    for part in sorted(out_dir.glob(f"{PART_PREFIX}*{PART_SUFFIX}")):
        with part.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the bank snapshot, shipped to the actors --------------------------------------------


def pack_snapshot(snapshot: BankSnapshot) -> bytes:
    """The snapshot's index files as one tar (put in the object store once)."""
    with tempfile.TemporaryDirectory(prefix="jikimi-banks-") as directory:
        snapshot.save(Path(directory))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(directory, arcname=".")
        return buf.getvalue()


def unpack_snapshot(packed: bytes, tenant_id: str) -> BankSnapshot:
    with tempfile.TemporaryDirectory(prefix="jikimi-banks-") as directory:
        with tarfile.open(fileobj=io.BytesIO(packed), mode="r") as tar:
            tar.extractall(directory, filter="data")
        return BankSnapshot.load(Path(directory), tenant_id)


# --- the face stage, shipped sealed ------------------------------------------------------

_FACES_AAD = b"jikimi ray face index"


@dataclass(frozen=True)
class FaceShipment:
    """How the actors rebuild the tenant's face stage: the sealed index in the object
    store (``ref``; ``None``: report faces, match nobody), the run's key, the threshold."""

    ref: Any
    key: bytes
    threshold: float

    def __repr__(self) -> str:  # never show the key
        return f"FaceShipment(threshold={self.threshold!r})"


def seal_faces(index: FaceIndex | None, key: bytes) -> bytes | None:
    """The index pickled and sealed with the run's key (None stays None)."""
    if index is None:
        return None
    return Aead(key).seal(pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL), _FACES_AAD)


def open_faces(sealed: bytes, key: bytes) -> FaceIndex:
    # unpickled only once it opens: sealed by this run, unchanged since
    index = pickle.loads(Aead(key).open(sealed, _FACES_AAD))
    if not isinstance(index, FaceIndex):
        raise TypeError("the shipped face index is not a FaceIndex")
    return index


ScannerFactory = Callable[[Settings, BankSnapshot | None, TenantFaces | None], Scanner]
"""Builds an actor's Scanner (default :func:`default_scanner`); another one is for
tools that wrap the scanner (tests use it to make one file kill its actor)."""


def default_scanner(
    settings: Settings, matcher: BankSnapshot | None, faces: TenantFaces | None
) -> Scanner:
    scanner = Scanner.from_settings(settings, matcher)
    return scanner.with_matcher(matcher, faces) if faces is not None else scanner


# --- the stages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActorConfig:
    """What every scanning actor is built from (pickled to each)."""

    settings: Settings
    run_id: str
    run_ms: int
    tenant_id: str | None
    snapshot_ref: Any
    """An object-store reference to :func:`pack_snapshot`'s bytes, or None."""
    ledger: Any
    """The run's :class:`CrashLedger` actor handle."""
    faces: FaceShipment | None = None
    scanner_factory: ScannerFactory | None = None


class ScanActor:
    """One Scanner (and the bank snapshot) per actor, loaded once; scans batches."""

    def __init__(self, config: ActorConfig) -> None:
        import ray

        self._config = config
        matcher = None
        if config.snapshot_ref is not None and config.tenant_id is not None:
            packed = ray.get(config.snapshot_ref)
            matcher = unpack_snapshot(packed, config.tenant_id)
        faces = None
        if config.faces is not None:
            shipped = config.faces
            index = None
            if shipped.ref is not None:
                index = open_faces(ray.get(shipped.ref), shipped.key)
            engine = FaceEngine.from_settings(config.settings)
            faces = TenantFaces(engine, index, shipped.threshold)
        factory = config.scanner_factory or default_scanner
        self._scanner = factory(config.settings, matcher, faces)
        self._scanner.warm_up()
        self._limits: MediaLimits = dataclasses.replace(
            self._scanner.limits, max_bytes=self._scanner.max_input_bytes
        )

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import ray

        paths = [bytes(p) for p in batch["path"]]
        datas = list(batch["data"]) if "data" in batch else [None] * len(paths)
        ledger = self._config.ledger
        batch_key = hashlib.sha256(b"\0".join(paths)).hexdigest()
        tries = ray.get(ledger.attempt.remote("b:" + batch_key))
        if tries == 0:
            verdicts = self._scan(paths, datas)
        else:
            verdicts = []
            for path, data in zip(paths, datas, strict=True):
                file_key = "f:" + hashlib.sha256(path).hexdigest()
                if ray.get(ledger.attempt.remote(file_key)) > 0:
                    source = path_source(Path(os.fsdecode(path)))
                    verdicts.append(error_verdict(source, "worker_crashed", CRASHED_MESSAGE))
                else:
                    verdicts.extend(self._scan([path], [data]))
                ledger.forget.remote(file_key)  # (an actor runs one caller's calls in order)
        ledger.forget.remote("b:" + batch_key)
        return {
            "path": paths,
            "verdict": [self._with_stable_id(v).to_json() for v in verdicts],
        }

    def _scan(self, paths: Sequence[bytes], datas: Sequence[bytes | None]) -> list[Verdict]:
        out: list[Verdict | None] = [None] * len(paths)
        items: list[Item] = []
        where: list[int] = []
        for i, (raw, data) in enumerate(zip(paths, datas, strict=True)):
            path = Path(os.fsdecode(raw))
            source = path_source(path)
            try:
                items.append(
                    Item(data if data is not None else read_file(path, self._limits), source)
                )
                where.append(i)
            except Exception as exc:
                out[i] = failed_verdict(source, exc)
        for i, verdict in zip(where, self._scanner.scan_many(items), strict=True):
            out[i] = verdict
        return [v for v in out if v is not None]

    def _with_stable_id(self, verdict: Verdict) -> Verdict:
        key = source_key(verdict.source)
        new_id = stable_scan_id(self._config.run_id, self._config.run_ms, key)
        return verdict.model_copy(update={"id": new_id})


# --- storing the scans -------------------------------------------------------------------


class ScanSink:
    """Stores a run's Verdicts as the tenant's scans, each id at most once.

    The ids are fixed by the run and the file, so a batch delivered again (a resumed
    run that rescans what was stored but not yet written) finds its rows and adds
    nothing. Error Verdicts are not stored, as with ``POST /v1/scan``.
    """

    def __init__(self, settings: Settings, principal: Principal) -> None:
        # imported here: the actors, which import this module, never touch a database
        from jikimi.services._common import require
        from jikimi.store import Store

        require(principal, Permission.SCAN)
        self._tenant_id = principal.tenant_id
        self._store = Store.from_settings(settings)
        self.stored = 0

    def __call__(self, verdicts: Sequence[Verdict]) -> None:
        import sqlalchemy as sa

        from jikimi.services._common import now
        from jikimi.services.scans import scan_keys
        from jikimi.store import scans as scan_repo
        from jikimi.store.models import ScanRow

        good = [v for v in verdicts if v.error is None]
        if not good:
            return
        at = now()
        with self._store.session(write=True) as s, s.begin():
            ids = [v.id for v in good]
            have = set(s.scalars(sa.select(ScanRow.id).where(ScanRow.id.in_(ids))))
            for v in good:
                if v.id not in have:
                    scan_repo.save_scan(s, self._tenant_id, v, at, scan_keys(v))
                    self.stored += 1

    def close(self) -> None:
        self._store.close()


# --- the driver ---------------------------------------------------------------------------

OnVerdicts = Callable[[Sequence[Verdict]], None]


def connect(options: RayOptions) -> None:
    """Connect to the cluster at ``options.address``, or start one here (``local``)."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if options.address == "local":
        ray.init(
            num_cpus=options.local_cpus,
            include_dashboard=False,
            object_store_memory=options.local_object_store_bytes,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    else:
        ray.init(address=options.address, logging_level=logging.WARNING, log_to_driver=False)


def run_ray_scan(
    files: Sequence[Path],
    settings: Settings,
    options: RayOptions,
    *,
    matcher: BankSnapshot | None = None,
    faces: TenantFaces | None = None,
    on_verdicts: OnVerdicts | None = None,
    on_start: Callable[[int, int], None] | None = None,
    scanner_factory: ScannerFactory | None = None,
) -> RunStats:
    """Scan ``files`` on the cluster, Verdicts into ``options.out_dir`` (module docstring).

    ``on_start(to_scan, skipped)`` is called once the cluster is up, ``on_verdicts``
    after each part file is written (with that part's Verdicts: a progress bar,
    storing scans). ``faces``: the tenant's face stage, as for ``jikimi scan``; the
    actors get its index sealed and build their own face models. Connects, runs,
    and disconnects.
    """
    import ray

    run_id, run_ms = open_run(options.out_dir, options.resume)
    done = done_keys(options.out_dir) if options.resume else set()
    todo = [p for p in files if source_key(path_source(p)) not in done]
    stats = RunStats(run_id=run_id, files=len(files), skipped=len(files) - len(todo))
    started = time.perf_counter()
    connect(options)
    try:
        stats.startup_s = time.perf_counter() - started
        if on_start is not None:
            on_start(len(todo), stats.skipped)
        if todo:
            t0 = time.perf_counter()
            stages = _Stages(matcher, faces, scanner_factory)
            _run(todo, settings, options, run_id, run_ms, stages, stats, on_verdicts)
            stats.scan_s = time.perf_counter() - t0
    finally:
        ray.shutdown()
    return stats


@dataclass(frozen=True)
class _Stages:
    matcher: BankSnapshot | None
    faces: TenantFaces | None
    scanner_factory: ScannerFactory | None


def _ship_faces(faces: TenantFaces | None) -> FaceShipment | None:
    import ray

    if faces is None:
        return None
    key = os.urandom(KEY_BYTES)
    sealed = seal_faces(faces.index, key)
    return FaceShipment(ray.put(sealed) if sealed is not None else None, key, faces.threshold)


def _run(
    todo: Sequence[Path],
    settings: Settings,
    options: RayOptions,
    run_id: str,
    run_ms: int,
    stages: _Stages,
    stats: RunStats,
    on_verdicts: OnVerdicts | None,
) -> None:
    import ray
    from ray.data import ActorPoolStrategy, DataContext, Dataset, TaskPoolStrategy

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.verbose_stats_logs = False

    cpus = float(ray.cluster_resources().get("CPU", 1.0))  # type: ignore[no-untyped-call]
    nodes = len([n for n in ray.nodes() if n.get("Alive")])  # type: ignore[no-untyped-call]
    read_tasks = options.read_tasks or max(1, nodes)
    max_actors = options.max_actors or max(1, int(cpus // options.actor_cpus))
    min_actors = min(options.min_actors, max_actors)
    threads = max(1, round(options.actor_cpus))
    actor_settings = settings.model_copy(update={"grade_threads": threads})
    batch = options.batch_size or settings.grade_batch_size * 8

    matcher = stages.matcher
    probe = Scanner.from_settings(settings)
    read_limits = dataclasses.replace(probe.limits, max_bytes=probe.max_input_bytes)
    snapshot_ref = ray.put(pack_snapshot(matcher)) if matcher is not None else None
    ledger = ray.remote(num_cpus=0, max_restarts=-1)(CrashLedger).remote()
    config = ActorConfig(
        settings=actor_settings,
        run_id=run_id,
        run_ms=run_ms,
        tenant_id=matcher.tenant_id if matcher is not None else None,
        snapshot_ref=snapshot_ref,
        ledger=ledger,
        faces=_ship_faces(stages.faces),
        scanner_factory=stages.scanner_factory,
    )
    items = [{"path": os.fsencode(p)} for p in todo]
    blocks = -(-len(items) // batch)
    ds: Dataset = ray.data.from_items(items, override_num_blocks=blocks)
    if options.read_stage if options.read_stage is not None else nodes > 1:
        ds = ds.map_batches(
            read_batch,  # type: ignore[arg-type]  # (its keyword arguments come from fn_kwargs)
            batch_size=batch,
            batch_format="numpy",
            fn_kwargs={"max_image_bytes": settings.max_bytes, "limits": read_limits},
            num_cpus=0,
            compute=TaskPoolStrategy(size=read_tasks),
        )
    ds = ds.map_batches(
        ScanActor,
        batch_size=batch,
        batch_format="numpy",
        fn_constructor_kwargs={"config": config},
        num_cpus=options.actor_cpus,
        compute=ActorPoolStrategy(
            min_size=min_actors,
            max_size=max_actors,
            initial_size=max(min_actors, min(max_actors, blocks)),
            max_tasks_in_flight_per_actor=2,
        ),
    )
    session = ulid()
    started = time.perf_counter()
    written: set[str] = set()
    for n, out in enumerate(ds.iter_batches(batch_size=None, batch_format="numpy")):
        verdicts = [Verdict.model_validate_json(str(text)) for text in out["verdict"]]
        fresh = []
        for v in verdicts:
            key = source_key(v.source)
            if key not in written:  # never twice, whatever a retry delivered
                written.add(key)
                fresh.append(v)
        if not fresh:
            continue
        name = f"{PART_PREFIX}{session}-{n:06d}{PART_SUFFIX}"
        _write_atomically(options.out_dir / name, "".join(v.to_json() + "\n" for v in fresh))
        if not stats.scanned:
            stats.first_verdicts_s = time.perf_counter() - started
        stats.scanned += len(fresh)
        stats.errors += sum(1 for v in fresh if v.error is not None)
        if on_verdicts is not None:
            on_verdicts(fresh)
