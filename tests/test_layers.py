"""The layers of the code hold: ``lint-imports`` with the contracts in pyproject.toml.

doors (api, cli, scale) → services → pipeline → capabilities (media, signals,
detectors, matching) → store → core; and the pipeline and the capabilities import
nothing that reaches a database or the network. See docs/architecture.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jikimi

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    source = str(Path(jikimi.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": source}
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
