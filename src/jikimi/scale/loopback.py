"""A one-box Ray cluster in its own network namespace, loopback only (tests, benches, CI).

Ray's processes probe cloud-metadata addresses (link-local) when they start, even
with usage statistics off, and pick a real interface over a loopback node
address when there is one. So no Ray process of a test or bench runs on the
host network: the head is started under ``unshare --net`` with only ``lo`` up,
and every driver joins that namespace (``nsenter --net``), so nothing Ray does
can leave the box. Needs root (CI runs as root).

Token authentication is on, as a cluster Ray starts for itself has it: every
process gets the same ``RAY_AUTH_TOKEN``. Every process also carries a marker
variable, so :meth:`LoopbackCluster.stop` ends exactly the processes this
cluster started (and nothing else of the same name on the machine); Ray's agents,
which do not keep the variable, are found by the cluster's network namespace,
which no other process shares.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

MARKER = "JIKIMI_RAY_CLUSTER"


def ray_env(marker: str, token: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every process of one loopback cluster."""
    env = dict(os.environ)
    env.update(
        {
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": token,
            MARKER: marker,
        }
    )
    env.update(extra or {})
    return env


def loopback_command(argv: Sequence[str]) -> list[str]:
    """``argv`` run in a new network namespace with only loopback up."""
    quoted = " ".join(_quote(a) for a in argv)
    return ["unshare", "--net", "--", "sh", "-c", f"ip link set lo up && exec {quoted}"]


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def marked_pids(marker: str) -> list[int]:
    """Processes whose environment holds this cluster's marker."""
    needle = f"{MARKER}={marker}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def pids_in_netns(netns: str) -> list[int]:
    """Processes in the network namespace ``netns`` (as ``readlink`` names it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if str((entry / "ns" / "net").readlink()) == netns:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class LoopbackCluster:
    """``ray start --head`` in a loopback-only namespace; drivers via :meth:`command`."""

    def __init__(
        self,
        cpus: int = 2,
        object_store_bytes: int = 200 * 1024 * 1024,
        port: int = 6390,
        extra_env: Mapping[str, str] | None = None,
        worker_niceness: int | None = None,
    ) -> None:
        """``worker_niceness``: the ``nice`` of Ray's worker processes (Ray's default
        is 15, so that its own daemons stay responsive; a bench comparing Ray with a
        process pool on a shared box gives both the same priority, 0)."""
        self.cpus = cpus
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.marker = secrets.token_hex(8)
        env = dict(extra_env or {})
        if worker_niceness is not None:
            env["RAY_worker_niceness"] = str(worker_niceness)
        self.env = ray_env(self.marker, secrets.token_hex(16), env)
        # short: Ray's socket paths live under it (unix socket paths are limited)
        self.temp_dir = Path(tempfile.mkdtemp(prefix="jrt-", dir="/tmp"))
        self._object_store = object_store_bytes
        self._head: subprocess.Popen[bytes] | None = None
        self._netns_id: str | None = None
        self.startup_s = 0.0

    def start(self, timeout: float = 120.0, attempts: int = 3) -> LoopbackCluster:
        """Start the head; tried again if it does not come up (Ray gives its own
        raylet a fixed 30 s to register, which a loaded box can miss)."""
        started = time.perf_counter()
        for attempt in range(attempts):
            try:
                self._start_once(timeout)
                break
            except RuntimeError:
                self._end_processes()
                if attempt == attempts - 1:
                    shutil.rmtree(self.temp_dir, ignore_errors=True)
                    raise
        self.startup_s = time.perf_counter() - started
        return self

    def _start_once(self, timeout: float) -> None:
        ray = str(Path(sys.executable).with_name("ray"))
        argv = [
            ray, "start", "--head", "--block",
            "--node-ip-address=127.0.0.1", f"--port={self.port}",
            f"--num-cpus={self.cpus}", "--disable-usage-stats",
            "--include-dashboard=false", f"--object-store-memory={self._object_store}",
            f"--temp-dir={self.temp_dir}",
        ]  # fmt: skip
        with (self.temp_dir / "head.log").open("wb") as log:
            self._head = subprocess.Popen(
                loopback_command(argv), env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while b"Ray runtime started" not in (self.temp_dir / "head.log").read_bytes():
            if self._head.poll() is not None or time.monotonic() > deadline:
                text = (self.temp_dir / "head.log").read_text(errors="replace")
                raise RuntimeError(f"the Ray head did not start:\n{text[-3000:]}")
            time.sleep(0.2)
        with contextlib.suppress(OSError):
            own = str(Path("/proc/self/ns/net").readlink())
            netns = str(Path(self.netns).readlink())
            self._netns_id = netns if netns != own else None  # never the host's

    @property
    def netns(self) -> str:
        assert self._head is not None, "not started"
        return f"/proc/{self._head.pid}/ns/net"

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the cluster's namespace (a driver)."""
        return ["nsenter", f"--net={self.netns}", "--", *argv]

    def stop(self) -> None:
        """End the head, then every process still carrying this cluster's marker."""
        self._end_processes()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def _end_processes(self) -> None:
        if self._head is not None and self._head.poll() is None:
            self._head.send_signal(signal.SIGTERM)
            try:
                self._head.wait(20)
            except subprocess.TimeoutExpired:
                self._head.kill()
                self._head.wait(10)
        for _ in range(3):
            pids = set(marked_pids(self.marker))
            if self._netns_id is not None:
                pids.update(pids_in_netns(self._netns_id))
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)

    def __enter__(self) -> LoopbackCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
