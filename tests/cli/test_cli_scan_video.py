"""`jikimi scan` over folders that hold videos as well as images."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jikimi.cli import app

SAMPLES = Path(str(resources.files("jikimi.data").joinpath("samples")))
VIDEO = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "conformance"
    / "vpdq"
    / ("doorknob-hd-no-bar.mp4")
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    if not VIDEO.exists():
        pytest.skip(f"conformance video not found at {VIDEO}")
    shutil.copy(SAMPLES / "coffee.jpg", tmp_path / "a-coffee.jpg")
    shutil.copy(VIDEO, tmp_path / "b-doorknob.mp4")
    shutil.copy(SAMPLES / "rocket.jpg", tmp_path / "c-rocket.jpg")
    # cut inside its index (moov): no frame to decode, unlike a video cut later
    (tmp_path / "d-cut.mp4").write_bytes(VIDEO.read_bytes()[:2_000])
    return tmp_path


def scan(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["scan", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_folder_with_videos_and_images_json(folder: Path) -> None:
    code, out, _ = scan(str(folder), "--json")
    assert code == 1  # the video cut before any frame failed; the rest are kept
    verdicts: list[dict[str, Any]] = [json.loads(line) for line in out.splitlines() if line]
    names = [Path(v["source"]["path"]).name for v in verdicts]
    assert names == ["a-coffee.jpg", "b-doorknob.mp4", "c-rocket.jpg", "d-cut.mp4"]
    coffee, video, rocket, cut = verdicts
    for image in (coffee, rocket):
        assert image["media"]["kind"] == "image"
        assert {s["type"] for s in image["signals"]} == {"pdq", "md5", "sha256"}
        assert image["grade"]["segments"] is None
    assert video["error"] is None
    assert (video["media"]["kind"], video["media"]["duration_s"]) == ("video", 4.0)
    assert {s["type"] for s in video["signals"]} == {"vpdq", "md5", "sha256"}
    assert video["grade"]["segments"] == [{"start_s": 0.0, "end_s": 4.0, "label": "normal"}]
    assert cut["error"]["code"] == "corrupt_media"


def test_folder_with_a_video_table_and_progress(folder: Path) -> None:
    (folder / "d-cut.mp4").unlink()
    code, out, err = scan(str(folder), "--progress")
    assert code == 0, err
    assert "b-doorknob.mp4" in out and "mp4 1280x720 120f" in out
    summary = " ".join(err.split())
    assert "3 scanned" in summary and "grades: normal 3" in summary


def test_in_process_scans_report_video_progress(folder: Path) -> None:
    from jikimi.config import Settings
    from jikimi.scale.local import scan_files

    calls: list[tuple[str, int, int]] = []
    paths = sorted(folder.iterdir())
    verdicts = list(
        scan_files(
            paths, Settings(), progress=lambda s, d, t: calls.append((Path(s["path"]).name, d, t))
        )
    )
    assert len(verdicts) == len(paths)
    assert {name for name, _, _ in calls} == {"b-doorknob.mp4"}  # images need no progress
    assert calls[-1] == ("b-doorknob.mp4", 120, 120)
