"""`jikimi scan` end to end: JSON Lines, table, exit codes, workers, bad input."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pillow_heif
import pytest
from PIL import Image
from typer.testing import CliRunner

from jikimi.cli import app

SAMPLES = Path(str(resources.files("jikimi.data").joinpath("samples")))


def run(args: Sequence[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def sample_verdicts() -> list[dict[str, Any]]:
    code, out, err = run(["scan", str(SAMPLES), "--json"])
    assert code == 0, err
    return lines(out)


def test_folder_scan_json_lines(sample_verdicts: list[dict[str, Any]]) -> None:
    images = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in {".jpg", ".png"})
    assert [Path(v["source"]["path"]).name for v in sample_verdicts] == images
    for v in sample_verdicts:
        assert v["schema"] == "jikimi.verdict/1" and v["error"] is None
        assert v["grade"]["label"] == "normal"
        assert {s["type"] for s in v["signals"]} == {"pdq", "md5", "sha256"}
        assert v["decision"]["reasons"]


def test_generated_sample_has_generator_evidence(sample_verdicts: list[dict[str, Any]]) -> None:
    by_name = {Path(v["source"]["path"]).name: v for v in sample_verdicts}
    gen = by_name["generated-valley.png"]
    assert gen["synthetic"]["label"] == "evidence"
    assert any(e["kind"] == "generator_metadata" for e in gen["synthetic"]["evidence"])
    assert gen["decision"]["action"] == "label"
    assert by_name["astronaut.jpg"]["synthetic"]["label"] == "no_evidence"


def test_partial_failure_exits_1_and_keeps_the_rest(tmp_path: Path) -> None:
    shutil.copy(SAMPLES / "coffee.jpg", tmp_path / "a.jpg")
    data = (SAMPLES / "rocket.jpg").read_bytes()
    (tmp_path / "b-truncated.jpg").write_bytes(data[:200])  # cut inside its headers
    (tmp_path / "c-empty.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    code, out, err = run(["scan", str(tmp_path), "--json"])
    assert code == 1
    got = {Path(v["source"]["path"]).name: v for v in lines(out)}
    assert got["a.jpg"]["error"] is None
    assert got["b-truncated.jpg"]["error"]["code"] == "corrupt_media"
    assert got["c-empty.jpg"]["error"]["code"] == "empty_media"
    assert "notes.txt" not in got  # non-media inside folders is skipped and counted
    assert "skipped (not media): 1" in " ".join(err.split())


def test_folder_reports_media_names_it_could_not_read(tmp_path: Path) -> None:
    """A file named like an image or video whose bytes are not one is an error, not skipped."""
    shutil.copy(SAMPLES / "coffee.jpg", tmp_path / "a.jpg")
    (tmp_path / "photo.jpg").write_text("<html>not a photo</html>")
    (tmp_path / "clip.MP4").write_bytes(bytes(range(256)) * 4)
    heic = io.BytesIO()
    pillow_heif.from_pillow(Image.open(SAMPLES / "coffee.jpg")).save(heic, quality=50)
    (tmp_path / "holiday.heic").write_bytes(heic.getvalue()[:400])  # cut inside the boxes
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "tool.ts").write_text("export const x = 1;\n")
    code, out, err = run(["scan", str(tmp_path), "--json"])
    assert code == 1
    got = {Path(v["source"]["path"]).name: v for v in lines(out)}
    assert got["a.jpg"]["error"] is None
    assert got["photo.jpg"]["error"]["code"] == "unsupported_media"
    assert "HTML page" in got["photo.jpg"]["error"]["message"]
    assert got["clip.MP4"]["error"]["code"] == "unsupported_media"
    assert got["holiday.heic"]["error"]["code"] == "corrupt_media"
    assert set(got) == {"a.jpg", "photo.jpg", "clip.MP4", "holiday.heic"}
    summary = " ".join(err.split())
    assert "errors: corrupt_media 1, unsupported_media 2" in summary
    assert "skipped (not media): 2" in summary


def test_named_non_media_file_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "doc.pdf"
    f.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    code, out, _ = run(["scan", str(f), "--json"])
    assert code == 1
    assert lines(out)[0]["error"]["code"] == "unsupported_media"


def test_missing_path_is_usage_error(tmp_path: Path) -> None:
    code, _, err = run(["scan", str(tmp_path / "nope.jpg")])
    assert code == 2
    assert "no such file" in err


def test_bad_settings_and_rules_are_usage_errors(tmp_path: Path) -> None:
    code, _, err = run(["scan", str(SAMPLES / "coffee.jpg")], env={"JIKIMI_MAX_BYTES": "lots"})
    assert code == 2 and "invalid settings" in err
    bad = tmp_path / "rules.toml"
    bad.write_text("[[rule]]\nname='x'\n")
    code, _, err = run(["scan", str(SAMPLES / "coffee.jpg")], env={"JIKIMI_RULES_PATH": str(bad)})
    assert code == 2 and "rules file" in err


def test_max_bytes_setting_applies(tmp_path: Path) -> None:
    code, out, _ = run(
        ["scan", str(SAMPLES / "coffee.jpg"), "--json"], env={"JIKIMI_MAX_BYTES": "1000"}
    )
    assert code == 1
    assert lines(out)[0]["error"]["code"] == "media_too_large"


def test_table_output_and_summary() -> None:
    code, out, err = run(["scan", str(SAMPLES)], env={"COLUMNS": "250"})
    assert code == 0
    assert "astronaut.jpg" in out and "normal" in out and "allow" in out
    flat = " ".join(err.split())
    assert "4 scanned" in flat and "AI evidence: 1" in flat


def test_workers_give_the_same_verdicts(sample_verdicts: list[dict[str, Any]]) -> None:
    code, out, err = run(["scan", str(SAMPLES), "--json", "--workers", "2"])
    assert code == 0, err
    pooled = lines(out)

    def key(v: dict[str, Any]) -> tuple[Any, ...]:
        return (v["source"]["path"], v["signals"], v["grade"], v["synthetic"], v["decision"])

    assert [key(v) for v in pooled] == [key(v) for v in sample_verdicts]


def test_workers_must_be_positive() -> None:
    code, _, _ = run(["scan", str(SAMPLES), "--workers", "0"])
    assert code == 2
