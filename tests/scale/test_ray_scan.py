"""`jikimi scan --ray` on a real Ray cluster, every Ray process loopback-only.

One head per module (``ray start --head`` under ``unshare --net``, token auth on);
each driver is a ``jikimi scan --ray 127.0.0.1:PORT`` process that joins the
head's network namespace. The Verdicts must equal ``jikimi scan --json``'s field
by field (ids aside) with matches against a bank and faces matched to an enrolled
person; a run killed part-way and resumed must give every file exactly once; a
scanning actor killed mid-run must cost nothing (its batch retried, no file lost,
none twice, none reported crashed); a file that kills its actor every time it is
scanned gets a ``worker_crashed`` Verdict and costs no other file anything.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from face_samples import astronaut, variant
from jikimi.cli import app
from jikimi.config import Settings
from jikimi.scale.loopback import LoopbackCluster, cmdline, marked_pids
from jikimi.scale.ray_scan import ScanSink, iter_verdict_lines, source_key
from jikimi.store import Store
from jikimi.store import scans as scan_repo

SAMPLES = Path(str(resources.files("jikimi.data").joinpath("samples")))
BENIGN = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "benign" / "images"
SRC = Path(__file__).resolve().parents[2] / "src"

pytestmark = pytest.mark.skipif(
    shutil.which("unshare") is None or os.geteuid() != 0,
    reason="Ray tests need root for a loopback-only network namespace",
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LoopbackCluster]:
    pythonpath = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    with LoopbackCluster(cpus=2, extra_env={"PYTHONPATH": pythonpath}) as c:
        yield c


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four package samples, fourteen benign photos, one file that is not media."""
    folder = tmp_path_factory.mktemp("in")
    for p in sorted(SAMPLES.iterdir()):
        if p.suffix in {".jpg", ".png"}:
            shutil.copy(p, folder / p.name)
    for p in sorted(BENIGN.iterdir())[:14]:
        shutil.copy(p, folder / p.name)
    (folder / "broken.jpg").write_bytes(b"not an image at all")
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service data folder with tenant ``acme``, a takedown bank holding one sample,
    and one enrolled person (from another copy of the astronaut's portrait)."""
    data = tmp_path_factory.mktemp("data")
    env = _env(data)
    runner = CliRunner()
    created = runner.invoke(app, ["tenant", "create", "acme"], env=env)
    assert created.exit_code == 0, created.stderr
    key = created.stdout.strip()
    for args in (
        ["bank", "create", "TAKE", "--kind", "takedown", "--key", key],
        ["bank", "add", "TAKE", str(SAMPLES / "astronaut.jpg"), "--key", key],
    ):
        r = runner.invoke(app, args, env=env)
        assert r.exit_code == 0, r.stderr
    caseworker = runner.invoke(
        app, ["key", "issue", "--role", "caseworker", "--name", "kim", "--key", key], env=env
    )
    assert caseworker.exit_code == 0, caseworker.stderr
    portrait = tmp_path_factory.mktemp("enrol") / "her.jpg"
    portrait.write_bytes(variant(astronaut()))
    enrol = ["person", "enrol", str(portrait), "--consent", "signed form, caseworker kim"]
    r = runner.invoke(app, [*enrol, "--json", "--key", caseworker.stdout.strip()], env=env)
    assert r.exit_code == 0, r.stderr
    (data / "person.id").write_text(json.loads(r.stdout)["id"])
    return data


def _env(data: Path) -> dict[str, str]:
    url = f"sqlite:///{data / 'jikimi.db'}"
    return {"JIKIMI_DATA_DIR": str(data), "JIKIMI_DATABASE_URL": url, "JIKIMI_API_KEY": ""}


def _driver(
    cluster: LoopbackCluster, data_dir: Path, out: Path, *args: str
) -> subprocess.Popen[str]:
    argv = [sys.executable, "-c", "from jikimi.cli import main; main()", "scan"]
    env = dict(cluster.env, **_env(data_dir))
    return subprocess.Popen(
        cluster.command([*argv, *args, "--ray", cluster.address, "--out", str(out)]),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the Ray driver hung:\n{err[-3000:]}")
    return proc.returncode, err


def _wait_for_parts(out: Path, proc: subprocess.Popen[str], n: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while len(list(out.glob("part-*.jsonl"))) < n:
        assert proc.poll() is None, "the driver ended before writing any Verdicts"
        assert time.monotonic() < deadline, "no Verdicts written in time"
        time.sleep(0.1)


def _by_source(verdicts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {source_key(v["source"]): v for v in verdicts}
    assert len(out) == len(verdicts), "a file has two Verdicts"
    return out


def _without_id(v: dict[str, Any]) -> dict[str, Any]:
    return {k: x for k, x in v.items() if k != "id"}


@pytest.mark.timeout(400)
def test_ray_verdicts_equal_local_scan_json_and_are_stored_once(
    files: list[Path], data_dir: Path, cluster: LoopbackCluster, tmp_path: Path
) -> None:
    env = _env(data_dir)
    local = CliRunner().invoke(
        app, ["scan", *map(str, files), "--json", "--tenant", "acme"], env=env
    )
    assert local.exit_code == 1, local.stderr  # broken.jpg failed
    expected = _by_source([json.loads(x) for x in local.stdout.splitlines() if x.strip()])

    out = tmp_path / "out"
    proc = _driver(cluster, data_dir, out, *map(str, files), "--tenant", "acme", "--store")
    code, err = _finish(proc)
    assert code == 1, err
    got = _by_source(list(iter_verdict_lines(out)))

    assert got.keys() == expected.keys()
    for key, verdict in expected.items():
        assert _without_id(got[key]) == _without_id(verdict), key
    portrait = next(v for v in got.values() if v["source"]["path"].endswith("astronaut.jpg"))
    assert portrait["matches"] and portrait["matches"][0]["bank"] == "TAKE"
    [her] = portrait["faces"]  # matched on the actors as locally: the enrolled person
    assert her["person"] == (data_dir / "person.id").read_text()
    assert "does not run on Ray" not in err
    assert got[source_key({"path": str(files[0].parent / "broken.jpg")})]["error"] is not None

    # stored: every Verdict without an error, under its Ray id, once
    settings = Settings(data_dir=data_dir, database_url=_env(data_dir)["JIKIMI_DATABASE_URL"])
    store = Store.from_settings(settings)
    try:
        stored = [v for v in got.values() if v["error"] is None]
        with store.session() as s, s.begin():
            tenant = scan_repo.get_scan(s, _tenant_id(store), stored[0]["id"])
            assert tenant is not None
            rows = [scan_repo.get_scan(s, _tenant_id(store), v["id"]) for v in stored]
        assert all(r is not None for r in rows)
        # the same batch delivered again (a resumed run) adds nothing
        from jikimi.domain import Principal, Role, Verdict

        sink = ScanSink(
            settings, Principal(tenant_id=_tenant_id(store), key_id="t", role=Role.PLATFORM)
        )
        sink([Verdict.model_validate(v) for v in stored])
        sink.close()
        assert sink.stored == 0
        with store.session() as s, s.begin():
            assert scan_repo.count_scans(s, [_tenant_id(store)]) == len(stored)
    finally:
        store.close()


@pytest.mark.timeout(400)
def test_a_ray_job_gives_jikimi_scans_verdicts_face_matches_included(
    files: list[Path], data_dir: Path, cluster: LoopbackCluster, tmp_path: Path
) -> None:
    """``python -m jikimi.scale.ray_job --tenant`` loads the banks and the enrolled
    persons as ``jikimi scan --tenant`` does, and finds the same files in a folder
    (a file that is not media by bytes or name is skipped by both)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    (folder / "README").write_text("notes about this folder, not media\n")
    env = _env(data_dir)
    local = CliRunner().invoke(app, ["scan", str(folder), "--json", "--tenant", "acme"], env=env)
    assert local.exit_code == 1, local.stderr  # broken.jpg failed
    expected = _by_source([json.loads(x) for x in local.stdout.splitlines() if x.strip()])
    assert len(expected) == len(files)

    out = tmp_path / "out"
    job = [sys.executable, "-m", "jikimi.scale.ray_job", "--address", cluster.address]
    proc = subprocess.Popen(
        cluster.command([*job, "--out", str(out), "--tenant", "acme", str(folder)]),
        env=dict(cluster.env, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the Ray job hung:\n{proc.communicate()[1][-3000:]}")
    assert proc.returncode == 0, err
    stats = json.loads(stdout.strip().splitlines()[-1])
    assert stats["scanned"] == len(files) and stats["skipped_not_media"] == 1
    got = _by_source(list(iter_verdict_lines(out)))
    assert got.keys() == expected.keys()
    for key, verdict in expected.items():
        assert _without_id(got[key]) == _without_id(verdict), key
    portrait = next(v for v in got.values() if v["source"]["path"].endswith("astronaut.jpg"))
    [her] = portrait["faces"]
    assert her["person"] == (data_dir / "person.id").read_text()


def _tenant_id(store: Store) -> str:
    from jikimi.services import TenantService

    return TenantService(store).get("acme").id


@pytest.mark.timeout(400)
def test_resume_after_a_killed_driver_gives_every_file_exactly_once(
    files: list[Path], data_dir: Path, cluster: LoopbackCluster, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = _driver(cluster, data_dir, out, *map(str, files), "--batch-size", "2")
    _wait_for_parts(out, first, 2)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    before = list(iter_verdict_lines(out))
    assert 0 < len(before) < len(files), "the kill came too late to test resuming"

    second = _driver(cluster, data_dir, out, *map(str, files), "--resume", "--batch-size", "2")
    code, err = _finish(second)
    assert code == 1, err  # broken.jpg
    assert f"{len(before)} files already done" in err
    counts = Counter(source_key(v["source"]) for v in iter_verdict_lines(out))
    assert set(counts.values()) == {1}
    assert len(counts) == len(files)

    # a third run with nothing left to do scans nothing, and without --resume is refused
    third = _driver(cluster, data_dir, out, *map(str, files), "--resume")
    code, err = _finish(third)
    assert f"{len(files)} files already done" in err
    assert len(list(iter_verdict_lines(out))) == len(files)
    fourth = _driver(cluster, data_dir, out, *map(str, files))
    code, err = _finish(fourth)
    assert code == 2 and "--resume" in err


@pytest.mark.timeout(400)
def test_a_killed_scanning_actor_costs_nothing(
    files: list[Path], data_dir: Path, cluster: LoopbackCluster, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = _driver(cluster, data_dir, out, *map(str, files), "--batch-size", "2")
    _wait_for_parts(out, proc, 1)
    actors = [p for p in marked_pids(cluster.marker) if "ScanActor" in cmdline(p)]
    assert actors, "no scanning actor process found"
    os.kill(actors[0], signal.SIGKILL)
    code, err = _finish(proc)
    assert code == 1, err  # broken.jpg only
    verdicts = list(iter_verdict_lines(out))
    counts = Counter(source_key(v["source"]) for v in verdicts)
    assert len(counts) == len(files) and set(counts.values()) == {1}
    errors = [v["error"]["code"] for v in verdicts if v["error"] is not None]
    assert errors == ["unsupported_media"] or errors == ["corrupt_media"], errors


_POISONED_DRIVER = """
import os, sys
from pathlib import Path
from jikimi.config import load_settings
from jikimi.scale.ray_scan import RayOptions, default_scanner, run_ray_scan

address, out, poison, *files = sys.argv[1:]


class Poisoned:
    # the real scanner, except that scanning the poison file ends the actor's process
    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def scan_many(self, items, progress=None):
        if any(str(i.source.get("path", "")).endswith(poison) for i in items):
            os._exit(17)
        return self._inner.scan_many(items, progress)


def factory(settings, matcher, faces):
    return Poisoned(default_scanner(settings, matcher, faces))


options = RayOptions(address=address, out_dir=Path(out), batch_size=3)
stats = run_ray_scan([Path(f) for f in files], load_settings(), options, scanner_factory=factory)
print(stats.scanned, stats.errors)
"""


@pytest.mark.timeout(400)
def test_a_file_that_kills_its_actor_every_time_gets_worker_crashed(
    files: list[Path], data_dir: Path, cluster: LoopbackCluster, tmp_path: Path
) -> None:
    poison = files[4]
    local = CliRunner().invoke(app, ["scan", *map(str, files), "--json"], env=_env(data_dir))
    expected = _by_source([json.loads(x) for x in local.stdout.splitlines() if x.strip()])

    out = tmp_path / "out"
    argv = [sys.executable, "-c", _POISONED_DRIVER, cluster.address, str(out), poison.name]
    proc = subprocess.Popen(
        cluster.command([*argv, *map(str, files)]),
        env=dict(cluster.env, **_env(data_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    code, err = _finish(proc)
    assert code == 0, err
    got = _by_source(list(iter_verdict_lines(out)))  # (no file twice)
    assert got.keys() == expected.keys()
    crashed = got.pop(source_key({"path": str(poison)}))
    assert crashed["error"]["code"] == "worker_crashed"
    assert crashed["grade"] is None, crashed
    for key, verdict in got.items():
        assert _without_id(verdict) == _without_id(expected[key]), key
