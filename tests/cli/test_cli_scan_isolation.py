"""`jikimi scan DIR --json` with a poisoned file among good ones: every file gets its Verdict.

The real poison (a 1 x 1281 PNG, which once crashed the grade letterbox and lost
the whole run) must now be graded, in process and with ``--workers 2``.
Injected poison (a grade model, or a whole worker chunk, raising a plain
``RuntimeError`` for one file) must cost only that file: an ``internal_error``
Verdict and exit code 1, the other Verdicts as in a clean run.

Worker processes see the injected poison because the pool forks them from
this process (the default start method on Linux, asserted below).
"""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import os
import shutil
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from jikimi.cli import app
from jikimi.detectors.grade.model import GradeDetector
from jikimi.domain import Region, Verdict
from jikimi.media import Picture
from jikimi.pipeline import INTERNAL_ERROR, Scanner
from jikimi.scale import local

SAMPLES = Path(str(resources.files("jikimi.data").joinpath("samples")))
GOOD = ["astronaut.jpg", "coffee.jpg", "rocket.jpg"]


def run(args: Sequence[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def folder(tmp_path: Path, poison: tuple[int, int]) -> Path:
    """Three good JPEGs and ``t.png`` of size ``poison``, named so the PNG is scanned third."""
    for name in GOOD:
        shutil.copy(SAMPLES / name, tmp_path / name)
    buf = io.BytesIO()
    Image.new("L", poison).save(buf, "PNG")
    (tmp_path / "b-t.png").write_bytes(buf.getvalue())
    return tmp_path


def key(v: dict[str, Any]) -> tuple[Any, ...]:
    return (Path(v["source"]["path"]).name, v["signals"], v["grade"], v["synthetic"], v["decision"])


@pytest.fixture(scope="module")
def clean() -> dict[str, tuple[Any, ...]]:
    """The good files' Verdicts from a run without poison."""
    code, out, err = run(["scan", str(SAMPLES), "--json"])
    assert code == 0, err
    return {Path(v["source"]["path"]).name: key(v) for v in lines(out)}


@pytest.fixture
def forked_workers() -> None:
    method = multiprocessing.get_start_method(allow_none=False)
    assert method == "fork", f"these tests inject poison into forked workers, not {method}"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_extreme_aspect_png_among_jpegs_is_graded(
    tmp_path: Path, clean: dict[str, tuple[Any, ...]], workers: str
) -> None:
    code, out, err = run(["scan", str(folder(tmp_path, (1, 1281))), "--json", "-w", workers])
    assert code == 0, err
    got = lines(out)
    assert [Path(v["source"]["path"]).name for v in got] == ["astronaut.jpg", "b-t.png", *GOOD[1:]]
    assert all(v["error"] is None for v in got)
    png = got[1]
    assert (png["media"]["width"], png["media"]["height"]) == (1, 1281)
    assert png["grade"]["label"] == "normal"
    assert [key(v) for v in got if v is not png] == [clean[n] for n in GOOD]


def _poisoned_detect(monkeypatch: pytest.MonkeyPatch) -> None:
    real = GradeDetector.detect

    def detect(self: GradeDetector, pictures: Sequence[Picture]) -> list[tuple[Region, ...]]:
        if any((p.media.width, p.media.height) == (40, 30) for p in pictures):
            raise RuntimeError("model bug on this picture")
        return real(self, pictures)

    monkeypatch.setattr(GradeDetector, "detect", detect)


def assert_poisoned_run(
    code: int, out: str, err: str, clean: dict[str, tuple[Any, ...]]
) -> dict[str, Any]:
    assert code == 1, err  # one file failed
    got = lines(out)
    names = [Path(v["source"]["path"]).name for v in got]
    assert names == ["astronaut.jpg", "b-t.png", *GOOD[1:]]
    poison = got[1]
    assert poison["error"]["code"] == INTERNAL_ERROR and poison["grade"] is None
    assert [key(v) for v in got if v is not poison] == [clean[n] for n in GOOD]
    assert "4 scanned" in err and "errors: internal_error 1" in " ".join(err.split())
    return poison


def test_a_grade_error_on_one_file_costs_only_that_file(
    tmp_path: Path,
    clean: dict[str, tuple[Any, ...]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _poisoned_detect(monkeypatch)
    with caplog.at_level(logging.WARNING):
        code, out, err = run(["scan", str(folder(tmp_path, (40, 30))), "--json"])
    assert_poisoned_run(code, out, err, clean)
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 1 and "b-t.png" in tracebacks[0].getMessage()


@pytest.mark.usefixtures("forked_workers")
def test_a_grade_error_in_a_worker_costs_only_that_file(
    tmp_path: Path, clean: dict[str, tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _poisoned_detect(monkeypatch)
    code, out, err = run(["scan", str(folder(tmp_path, (40, 30))), "--json", "--workers", "2"])
    assert_poisoned_run(code, out, err, clean)


@pytest.mark.usefixtures("forked_workers")
def test_a_chunk_that_raises_in_a_worker_is_retried_file_by_file(
    tmp_path: Path,
    clean: dict[str, tuple[Any, ...]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure around the pipeline (here: the whole chunk raises) must not lose the run."""
    real = local.scan_chunk

    def scan_chunk(scanner: Scanner, paths: Sequence[Path], progress: Any = None) -> list[Verdict]:
        if any(p.name == "b-t.png" for p in paths):
            raise RuntimeError("a bug around the pipeline")
        return real(scanner, paths, progress)

    monkeypatch.setattr(local, "scan_chunk", scan_chunk)
    with caplog.at_level(logging.WARNING):
        code, out, err = run(["scan", str(folder(tmp_path, (40, 30))), "--json", "-w", "2"])
    poison = assert_poisoned_run(code, out, err, clean)
    assert "RuntimeError" in poison["error"]["message"]
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 1 and "b-t.png" in tracebacks[0].getMessage()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_file_name_that_is_not_utf8_does_not_lose_the_run(tmp_path: Path, workers: str) -> None:
    """Its path could not be written as JSON: now it is normalised, the bytes kept."""
    for name in GOOD:
        shutil.copy(SAMPLES / name, tmp_path / name)
    odd = os.fsdecode(b"b-caf\xe9\n.jpg")
    shutil.copy(SAMPLES / "coffee.jpg", tmp_path / odd)
    code, out, err = run(["scan", str(tmp_path), "--json", "-w", workers])
    assert code == 0, err
    got = lines(out)
    assert len(got) == 4 and all(v["error"] is None for v in got)
    source = got[1]["source"]
    assert source["path"] == f"{tmp_path}/b-caf\ufffd\ufffd.jpg"
    assert source["path_raw"] == repr(os.fsencode(tmp_path / odd))
    assert all("path_raw" not in v["source"] for i, v in enumerate(got) if i != 1)
