"""`jikimi scan --ray` refuses inconsistent options before touching Ray or a database,
and the output folder's rules hold without a cluster (atomic parts, --resume's view)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jikimi.cli import app
from jikimi.scale.ray_scan import PART_PREFIX, done_keys, open_run, source_key, stable_scan_id

SAMPLE = Path(str(resources.files("jikimi.data").joinpath("samples"))) / "coffee.jpg"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ray", "local"], "--ray and --out go together"),
        (["--out", "x"], "--ray and --out go together"),
        (["--resume"], "--resume and --store need --ray"),
        (["--ray", "local", "--out", "x", "--store"], "--store needs --key or --tenant"),
    ],
)
def test_inconsistent_ray_options_are_usage_errors(
    tmp_path: Path, args: list[str], message: str
) -> None:
    env = {"JIKIMI_DATA_DIR": str(tmp_path), "JIKIMI_API_KEY": ""}
    r = CliRunner().invoke(app, ["scan", str(SAMPLE), *args], env=env)
    assert r.exit_code == 2
    assert message in r.stderr
    assert not (tmp_path / "x").exists()


def test_a_run_folder_is_reused_only_with_resume(tmp_path: Path) -> None:
    run_id, run_ms = open_run(tmp_path, resume=False)
    assert open_run(tmp_path, resume=True) == (run_id, run_ms)
    with pytest.raises(FileExistsError):
        open_run(tmp_path, resume=False)


def test_resume_trusts_finished_parts_only(tmp_path: Path) -> None:
    done = {"path": "/a/done.jpg"}
    (tmp_path / f"{PART_PREFIX}s-000000.jsonl").write_text(
        json.dumps({"source": done, "id": "scn_x"}) + "\n"
    )
    unfinished = tmp_path / f".{PART_PREFIX}s-000001.jsonl.tmp"
    unfinished.write_text(json.dumps({"source": {"path": "/a/half.jpg"}}) + '\n{"sou')
    assert done_keys(tmp_path) == {source_key(done)}
    assert not unfinished.exists()


def test_scan_ids_are_fixed_by_run_and_file() -> None:
    a = stable_scan_id("RUN1", 1_700_000_000_000, source_key({"path": "/a.jpg"}))
    assert a == stable_scan_id("RUN1", 1_700_000_000_000, source_key({"path": "/a.jpg"}))
    assert a != stable_scan_id("RUN2", 1_700_000_000_000, source_key({"path": "/a.jpg"}))
    assert a != stable_scan_id("RUN1", 1_700_000_000_000, source_key({"path": "/b.jpg"}))
    assert a.startswith("scn_") and len(a) == 30
