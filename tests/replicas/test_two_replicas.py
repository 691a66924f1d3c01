"""Two real ``jikimi serve`` processes, one PostgreSQL database, no shared disk.

Each replica has its own data directory and port; they share a fresh PostgreSQL
database (created for this module, dropped after) and an S3-compatible bucket
(moto's server on 127.0.0.1) for blobs, and are given the same keys as values.
They must behave as one service:

- a bank entry added through A matches through B within B's poll interval, and a
  withdrawal through B stops it matching through A;
- a scan stored through B is matched retroactively by an entry added through A,
  and retroactive matching runs once (one pass, in one of the two processes);
- a scan job submitted to A, killed with ``kill -9`` while running it, is
  finished by B (its upload read from the bucket), once;
- nothing is written under either data directory's ``blobs``;
- a held scan's webhook is delivered once although both replicas run deliverers;
- failed attempts at the public case status count across both;
- a third replica started with another evidence key refuses to start.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from jikimi.actions import WebhookService
from jikimi.domain import Role
from jikimi.evidence import Sealer
from jikimi.evidence.keys import parse_secret
from jikimi.notices import signing
from jikimi.services import KeyService, TenantService
from jikimi.store import Store, make_engine, upgrade
from jikimi.store.models import JobRow
from jikimi.store.shared_models import SharedStateRow
from s3_server import S3Server, free_port, running_s3

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[2] / "src"
PG_ADMIN_URL = os.environ.get(
    "JIKIMI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
POLL_S = 0.5
BUCKET = "jikimi-replicas"
# Application logs at INFO on stderr (uvicorn configures only its own loggers).
_SERVE = (
    "import logging, sys; "
    "logging.basicConfig(level=logging.INFO, stream=sys.stderr, format='%(name)s: %(message)s'); "
    "from jikimi.cli import main; main()"
)


def _b64(n: int = 32) -> str:
    return base64.b64encode(secrets.token_bytes(n)).decode()


@dataclass
class Replica:
    name: str
    data_dir: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )

    def logged(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Cluster:
    database_url: str
    store: Store
    s3: S3Server
    env: dict[str, str]
    a: Replica
    b: Replica
    admin_key: str
    platform_key: str
    tenant_id: str


def _create_database() -> str:
    admin = sa.create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"jikimi_replicas_{secrets.token_hex(5)}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:  # a replica test needs PostgreSQL: fail, never skip
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required for the replica tests: {exc}")
    finally:
        admin.dispose()
    return sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop_database(url: str) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)'
            )
    finally:
        admin.dispose()


def _start(name: str, root: Path, env: dict[str, str]) -> Replica:
    data_dir = root / name
    data_dir.mkdir()
    port = free_port()
    log = root / f"{name}.log"
    child_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("JIKIMI_", "AWS_"))},
        **env,
        "PYTHONPATH": str(SRC),
        "JIKIMI_DATA_DIR": str(data_dir),
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _SERVE,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            env=child_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Replica(name, data_dir, port, log, proc)


def _wait_ready(replica: Replica, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        assert replica.proc.poll() is None, f"{replica.name} exited:\n{replica.logged()}"
        try:
            if httpx.get(f"{replica.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{replica.name} not ready:\n{replica.logged()}"
        time.sleep(0.2)


def _stop(replica: Replica) -> None:
    if replica.proc.poll() is None:
        replica.proc.send_signal(signal.SIGTERM)
        try:
            replica.proc.wait(30)
        except subprocess.TimeoutExpired:
            replica.proc.kill()
            replica.proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("replicas")
    url = _create_database()
    engine = make_engine(url)
    started: list[Replica] = []
    try:
        upgrade(engine)
        engine.dispose()
        with running_s3() as s3:
            s3.make_bucket(BUCKET)
            env = {
                **s3.env(BUCKET, "blobs"),
                "JIKIMI_DATABASE_URL": url,
                "JIKIMI_EVIDENCE_KEY": _b64(),
                "JIKIMI_INSTANCE_KEY": _b64(),
                "JIKIMI_FACE_KEY": _b64(),
                "JIKIMI_MATCH_POLL_S": str(POLL_S),
                "JIKIMI_RETRO_SETTLE_S": "0",
                "JIKIMI_RETRO_BATCH_S": "0.3",
                "JIKIMI_RETRO_LEASE_S": "5",
                "JIKIMI_JOB_LEASE_S": "3",
                "JIKIMI_JOB_POLL_S": "0.3",
                "JIKIMI_GRADE_THREADS": "1",
                "JIKIMI_CAPTURE_ALLOW_NETWORKS": '["127.0.0.0/8"]',  # the webhook receiver
            }
            a = _start("a", root, env)
            started.append(a)
            b = _start("b", root, env)
            started.append(b)
            _wait_ready(a)
            _wait_ready(b)
            store = Store(make_engine(url), s3_blobs(s3))
            tenant, admin = TenantService(store).create("acme")
            keys = KeyService(store)
            principal = keys.authenticate(admin.secret)
            platform = keys.issue(principal, Role.PLATFORM, "uploads").secret
            yield Cluster(url, store, s3, env, a, b, admin.secret, platform, tenant.id)
            store.close()
    finally:
        for replica in started:
            _stop(replica)
        engine.dispose()
        _drop_database(url)


def s3_blobs(s3: S3Server) -> Any:
    from jikimi.store.s3blobs import S3BlobStore

    return S3BlobStore(s3.client(), BUCKET, "blobs")


def picture(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(blocks).resize((256, 256), Image.Resampling.NEAREST).save(out, "JPEG")
    return out.getvalue()


def video(seconds: int, fps: int = 10, width: int = 96, height: int = 64) -> bytes:
    yy, xx = np.mgrid[0:height, 0:width]
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(seconds * fps):
            red = ((xx + 3 * i) % 32 < 16) * 200
            frame = np.dstack([red, yy * 3 % 255, np.full_like(xx, i * 17 % 255)])
            picture = av.VideoFrame.from_ndarray(frame.astype(np.uint8), format="rgb24")
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return buf.getvalue()


def _matches(client: httpx.Client, md5: str) -> list[dict[str, Any]]:
    r = client.post("/v1/match", json={"hashes": [{"type": "md5", "value": md5}]})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["results"][0]["matches"]
    return found


def test_an_entry_added_through_a_matches_through_b_within_the_poll_interval(
    cluster: Cluster,
) -> None:
    with cluster.a.client(cluster.admin_key) as a, cluster.b.client(cluster.admin_key) as b:
        assert a.post("/v1/banks", json={"name": "SHARED", "kind": "takedown"}).status_code == 201
        md5 = hashlib.md5(b"replica test").hexdigest()
        assert _matches(b, md5) == []
        r = a.post("/v1/banks/SHARED/entries", json={"signal": "md5", "value": md5})
        assert r.status_code == 201, r.text
        entry = r.json()["id"]
        added = time.monotonic()
        while not (found := _matches(b, md5)):
            assert time.monotonic() - added < POLL_S + 5, "B never saw the entry added through A"
            time.sleep(0.05)
        assert [m["entry"] for m in found] == [entry]
        assert _matches(a, md5)  # A applied its own change at once

        # And back: withdrawn through B, it stops matching through A.
        r = b.post(f"/v1/banks/SHARED/entries/{entry}/withdraw", json={})
        assert r.status_code == 200, r.text
        withdrawn = time.monotonic()
        while _matches(a, md5):
            assert time.monotonic() - withdrawn < POLL_S + 5, "A still matches a withdrawn entry"
            time.sleep(0.05)


def test_retroactive_matching_runs_once_across_the_replicas(cluster: Cluster) -> None:
    with cluster.a.client(cluster.admin_key) as a, cluster.b.client(cluster.admin_key) as b:
        image = picture(7)
        r = b.post("/v1/scan", files={"file": ("old.jpg", image)})
        assert r.status_code == 200, r.text
        scan = r.json()
        assert scan["matches"] == []
        assert a.post("/v1/banks", json={"name": "LATER", "kind": "watch"}).status_code == 201
        md5 = hashlib.md5(image).hexdigest()
        r = a.post("/v1/banks/LATER/entries", json={"signal": "md5", "value": md5})
        assert r.status_code == 201, r.text
        entry = r.json()["id"]
        deadline = time.monotonic() + 30
        while True:
            late = a.get(f"/v1/scans/{scan['id']}").json()["matches"]
            if late:
                break
            assert time.monotonic() < deadline, "no retroactive match recorded"
            time.sleep(0.1)
        assert [m["entry"] for m in late] == [entry]
        assert [m["entry"] for m in b.get(f"/v1/scans/{scan['id']}").json()["matches"]] == [entry]
        time.sleep(2)  # several batches of both processes: a second pass would show now

    passes = {
        r.name: r.logged().count("jikimi.services.retro: retroactive matching: ")
        for r in (cluster.a, cluster.b)
    }
    assert sum(passes.values()) == 1, passes  # one pass found it, in one process
    with cluster.store.session() as s:
        lease = s.get(SharedStateRow, "lease:retro")
        assert lease is not None and lease.owner is not None
        holder = next(r for r in (cluster.a, cluster.b) if f":{r.proc.pid}:" in lease.owner)
    assert passes[holder.name] == 1  # by the lease holder


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def test_a_held_scans_webhook_is_delivered_once_by_one_of_the_replicas(
    cluster: Cluster, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, got = receiver
    sealer = Sealer(parse_secret(cluster.env["JIKIMI_EVIDENCE_KEY"]))
    principal = KeyService(cluster.store).authenticate(cluster.admin_key)
    hook = WebhookService(cluster.store, sealer).set(principal, url, ["scan.held"])
    image = picture(13)
    with cluster.a.client(cluster.admin_key) as a:
        assert a.post("/v1/banks", json={"name": "HOOKED", "kind": "takedown"}).status_code == 201
        md5 = hashlib.md5(image).hexdigest()
        assert a.post("/v1/banks/HOOKED/entries", json={"signal": "md5", "value": md5}).is_success
    with cluster.b.client(cluster.platform_key) as b:
        deadline = time.monotonic() + POLL_S + 10
        while not (r := b.post("/v1/scan", files={"file": ("x.jpg", image)})).json()["matches"]:
            assert time.monotonic() < deadline, r.text  # B has not seen the entry yet
            time.sleep(0.1)
    scan = r.json()
    assert scan["decision"]["action"] in ("hold", "remove")
    deadline = time.monotonic() + 30
    while not got:
        assert time.monotonic() < deadline, "no webhook delivered"
        time.sleep(0.1)
    time.sleep(5)  # both runners poll every 2 s: a second delivery would have come by now
    [(headers, body)] = got
    assert headers["idempotency-key"] == f"webhook:scan.held:{scan['id']}"
    assert signing.verify(
        hook.secret.encode(),
        headers[signing.TIMESTAMP.lower()],
        body,
        headers[signing.SIGNATURE.lower()],
        time.time(),
    )


def test_failed_status_attempts_count_across_the_replicas(cluster: Cluster) -> None:
    attempt = {"number": "ZZ-0000-0001", "pin": "123456"}
    for replica in (cluster.a, cluster.b, cluster.a, cluster.b, cluster.a):
        assert httpx.post(f"{replica.url}/v1/status", json=attempt, timeout=60).status_code == 404
    for replica in (cluster.a, cluster.b):  # five failures, through two processes
        assert httpx.post(f"{replica.url}/v1/status", json=attempt, timeout=60).status_code == 429


def test_a_job_submitted_to_a_is_finished_by_b_when_a_is_killed(cluster: Cluster) -> None:
    clip = video(seconds=40)
    with cluster.a.client(cluster.platform_key) as a:
        r = a.post("/v1/scan?async=true", files={"file": ("long.mp4", clip, "video/mp4")})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + 60
    while True:  # wait until A runs it (its own job starts at once)
        with cluster.store.session() as s:
            row = s.get(JobRow, job_id)
            assert row is not None
            state, owner = row.state, row.lease_owner
        if state == "running" and owner and f":{cluster.a.proc.pid}:" in owner:
            break
        assert state in ("queued", "running"), f"the job ended before A was killed: {state}"
        assert time.monotonic() < deadline, "A never started the job"
        time.sleep(0.05)
    os.kill(cluster.a.proc.pid, signal.SIGKILL)
    cluster.a.proc.wait()

    with cluster.b.client(cluster.platform_key) as b:
        deadline = time.monotonic() + 180
        while (job := b.get(f"/v1/jobs/{job_id}").json())["state"] != "done":
            assert job["state"] in ("queued", "running"), job
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["verdict"]["media"]["kind"] == "video"
    with cluster.store.session() as s:
        row = s.get(JobRow, job_id)
        assert row is not None and row.attempts == 2  # A's run, cut short, then B's
        assert row.scan_id == job["verdict"]["id"]
    # The upload was read by B from the bucket, then deleted; no replica wrote blobs to disk.
    sha = hashlib.sha256(clip).hexdigest()
    assert not s3_blobs(cluster.s3).scoped("jobs").exists(sha)
    for replica in (cluster.a, cluster.b):
        assert not (replica.data_dir / "blobs").exists(), replica.name


def test_evidence_put_through_one_replica_is_in_the_shared_bucket(cluster: Cluster) -> None:
    with cluster.b.client(cluster.admin_key) as b:
        r = b.post("/v1/banks", json={"name": "KEPT", "kind": "takedown", "keep_evidence": True})
        assert r.status_code == 201, r.text
        image = picture(11)
        r = b.post("/v1/banks/KEPT/entries", files={"file": ("kept.jpg", image)})
        assert r.status_code == 201, r.text
    assert s3_blobs(cluster.s3).read(hashlib.sha256(image).hexdigest()) == image
    assert not (cluster.b.data_dir / "blobs").exists()


def test_a_replica_with_another_evidence_key_refuses_to_start(
    cluster: Cluster, tmp_path: Path
) -> None:
    rogue = _start("rogue", tmp_path, {**cluster.env, "JIKIMI_EVIDENCE_KEY": _b64()})
    try:
        assert rogue.proc.wait(120) != 0
    finally:
        _stop(rogue)
    assert "JIKIMI_EVIDENCE_KEY" in rogue.logged()
