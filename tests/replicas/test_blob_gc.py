"""``jikimi blobs gc`` on the filesystem store and on S3 (moto's server on 127.0.0.1):
orphans older than the grace period are reported, deleted only when asked, and a
blob a row names (a bank entry's kept evidence, a job's upload) is never touched."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jikimi.cli import app
from jikimi.config import Settings
from jikimi.domain import BankCreate, BankKind
from jikimi.services import BankService, KeyService, TenantService
from jikimi.services._common import now
from jikimi.services.blob_gc import collect
from jikimi.services.jobs import JobService
from jikimi.store import Store, migrate
from s3_server import S3Server, running_s3

SAMPLE = Path(str(resources.files("jikimi.data").joinpath("samples"))) / "coffee.jpg"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        server.make_bucket("gc-blobs")
        yield server


def _env(tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> dict[str, str]:
    env = {
        "JIKIMI_DATA_DIR": str(tmp_path),
        "JIKIMI_DATABASE_URL": f"sqlite:///{tmp_path / 'jikimi.db'}",
        "JIKIMI_API_KEY": "",
    }
    if kind == "s3":
        s3: S3Server = request.getfixturevalue("s3")
        env.update(s3.env("gc-blobs", f"t-{tmp_path.name[-12:].lower()}"))
    return env


@pytest.fixture(params=["filesystem", "s3"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    return _env(tmp_path, request.param, request)


def _settings(env: dict[str, str]) -> Settings:
    fields = {
        "data_dir": env["JIKIMI_DATA_DIR"],
        "database_url": env["JIKIMI_DATABASE_URL"],
        "blob_store": env.get("JIKIMI_BLOB_STORE", ""),
        "blob_s3_endpoint": env.get("JIKIMI_BLOB_S3_ENDPOINT", ""),
        "blob_s3_access_key": env.get("JIKIMI_BLOB_S3_ACCESS_KEY"),
        "blob_s3_secret_key": env.get("JIKIMI_BLOB_S3_SECRET_KEY"),
    }
    return Settings(**fields)


@pytest.fixture
def store(env: dict[str, str]) -> Iterator[Store]:
    settings = _settings(env)
    migrate(settings)
    opened = Store.from_settings(settings)
    try:
        yield opened
    finally:
        opened.close()


def test_orphans_are_reported_then_deleted_and_named_blobs_stay(
    env: dict[str, str], store: Store
) -> None:
    settings = _settings(env)
    _, issued = TenantService(store).create("acme")
    principal = KeyService(store).authenticate(issued.secret)
    banks = BankService(store, settings=settings)
    banks.create(principal, BankCreate(name="KEEP", kind=BankKind.TAKEDOWN, keep_evidence=True))
    entry = banks.add_media_entry(principal, "KEEP", SAMPLE.read_bytes())
    job = JobService(store, None, settings).submit(  # type: ignore[arg-type]
        principal, b"an upload waiting to be scanned", {"name": "up.bin"}
    )
    orphan = store.blobs.put(b"written, then its row never committed")
    jobs = store.blobs.scoped("jobs")
    job_orphan = jobs.put(b"an upload whose job row is gone")
    named = {entry.media_sha256, job.blob_sha256}
    assert all(named)

    # young orphans are left alone (their rows may be committing)
    report = collect(store, timedelta(hours=1), delete=True)
    assert report.orphans == 0 and report.deleted == 0
    assert store.blobs.exists(orphan) and jobs.exists(job_orphan)

    later = now() + timedelta(hours=2)
    dry = collect(store, timedelta(hours=1), at=later)
    assert dry.dry_run
    by_area = {a.area: a for a in dry.areas}
    assert by_area["root"].orphans == [orphan] and by_area["root"].referenced == 1
    assert by_area["jobs"].orphans == [job_orphan] and by_area["jobs"].referenced == 1
    assert dry.deleted == 0 and store.blobs.exists(orphan)

    done = collect(store, timedelta(hours=1), delete=True, at=later)
    assert done.deleted == 2
    assert not store.blobs.exists(orphan) and not jobs.exists(job_orphan)
    assert store.blobs.exists(str(entry.media_sha256)) and jobs.exists(job.blob_sha256)


def test_a_blob_stored_again_is_young_and_kept(store: Store) -> None:
    data = b"an orphan that a new row is about to name again"
    sha = store.blobs.put(data)
    first = store.blobs.modified_at(sha)
    cutoff_age = now() - first + timedelta(milliseconds=500)
    time.sleep(1.1)  # S3 keeps seconds
    store.blobs.put(data)  # a new upload of the same bytes
    assert store.blobs.modified_at(sha) > first
    report = collect(store, cutoff_age, delete=True)  # the first write is past grace
    assert report.deleted == 0 and store.blobs.exists(sha)


def test_the_cli_is_a_dry_run_unless_told(env: dict[str, str], store: Store) -> None:
    orphan = store.blobs.put(b"nobody names me")
    runner = CliRunner()
    r = runner.invoke(app, ["blobs", "gc", "--grace-hours", "0", "--json"], env=env)
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["dry_run"] is True
    assert {a["area"]: a["orphans"] for a in got["areas"]} == {"root": 1, "jobs": 0}
    r = runner.invoke(app, ["blobs", "gc", "--grace-hours", "0", "--delete"], env=env)
    assert r.exit_code == 0, r.output
    assert "1 orphans, 1 deleted" in r.stdout
    assert not store.blobs.exists(orphan)
