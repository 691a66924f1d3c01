"""The fuzz harness in CI: ``python -m bench.fuzz --quick`` finds nothing, and it does
catch what it is there to catch (a worker killed by a signal, a worker that hangs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def fuzz(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.fuzz", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_quick_fuzz_has_no_escaped_exception_and_no_crash() -> None:
    result = fuzz("--quick")
    assert result["name"] == "fuzz"
    assert result["inputs"] == 600
    assert result["escaped_exceptions"] == 0, result["examples"]
    assert result["native_crashes"] == 0, result["examples"]
    assert result["hangs"] == 0, result["examples"]
    assert sum(result["by_code"].values()) == result["inputs"]
    assert result["by_code"]["ok"] > 50 and result["by_code"]["corrupt_media"] > 50
    assert result["full_pipeline_inputs"] == 60  # every tenth input ran the real model
    assert result["peak_rss_mb"] > 0 and result["slowest_s"] > 0


def test_a_native_crash_kills_only_its_batch_and_is_named() -> None:
    result = fuzz("--n", "24", "--batch", "8", "--jobs", "1", env={"JIKIMI_FUZZ_CRASH_AT": "11"})
    assert result["native_crashes"] == 1
    assert result["inputs"] == 24  # the rest of the batch was re-run
    assert result["by_code"]["native_crash"] == 1
    (example,) = result["examples"]
    assert example["input"] == 11 and "SIGSEGV" in example["detail"]


def test_a_hang_is_killed_and_named() -> None:
    result = fuzz(
        "--n", "6", "--batch", "6", "--jobs", "1", "--hang-s", "15",
        env={"JIKIMI_FUZZ_HANG_AT": "2"},
    )  # fmt: skip
    assert result["hangs"] == 1 and result["inputs"] == 6
    assert result["examples"][0]["input"] == 2
