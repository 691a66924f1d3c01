"""The detector as a component: batching, lazy shared sessions, settings, model errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from grade_helpers import NATURAL_PHOTOS, jpeg

import jikimi.detectors.grade as grade_pkg
from jikimi.config import Settings
from jikimi.detectors.grade import GradeDetector
from jikimi.detectors.grade.model import bundled_model_path
from jikimi.errors import ConfigError, CorruptMedia, ModelUnavailable
from jikimi.media import Picture

Read = Callable[[bytes], Picture]


def _pictures(read: Read) -> list[Picture]:
    """Seven pictures of different sizes and shapes (two with faces)."""
    photos = [read(p.read_bytes()) for p in NATURAL_PHOTOS]
    wide = np.ascontiguousarray(skimage.data.astronaut()[100:300])
    return [*photos, read(jpeg(wide))]


@pytest.mark.parametrize("threads", [1, 2])
def test_batches_give_the_same_regions_as_single_images(
    threads: int, detector: GradeDetector, read: Read
) -> None:
    """threads=1: batches of 3, 3, 1 in turn; threads=2: two workers in parallel."""
    pictures = _pictures(read)
    singles = [detector.detect([p])[0] for p in pictures]
    batched = GradeDetector(batch_size=3, threads=threads).detect(pictures)
    assert len(batched) == len(pictures)
    assert sum(len(r) for r in singles) >= 2
    for one, many in zip(singles, batched, strict=True):
        assert [(r.label, r.box) for r in one] == [(r.label, r.box) for r in many]
        assert [r.score for r in one] == pytest.approx([r.score for r in many], abs=1e-5)


def test_empty_input(detector: GradeDetector) -> None:
    assert detector.detect([]) == []


def test_from_settings_reads_every_grade_setting(tmp_path: Path) -> None:
    settings = Settings(
        grade_model_path=tmp_path / "m.onnx", grade_input_size=640, grade_threads=3,
        grade_batch_size=9,
    )  # fmt: skip
    d = GradeDetector.from_settings(settings)
    assert (d.model_path, d.input_size, d.threads, d.batch_size) == (
        tmp_path / "m.onnx", 640, 3, 9,
    )  # fmt: skip


def test_one_session_per_process_and_thread_setting() -> None:
    a, b = GradeDetector(threads=1), GradeDetector(threads=1, batch_size=2)
    assert a._model() is b._model()
    options = a._model().session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert GradeDetector(threads=0)._model() is not a._model()


def test_bundled_model_is_found_without_importing_nudenet_or_loading_anything() -> None:
    code = (
        "import sys\n"
        "from jikimi.config import Settings\n"
        "from jikimi.detectors.grade import GradeDetector\n"
        "from jikimi.detectors.grade.model import bundled_model_path\n"
        "GradeDetector.from_settings(Settings())\n"
        "path = bundled_model_path()\n"
        "assert path.name == '320n.onnx' and path.is_file(), path\n"
        "loaded = sorted(m for m in ('nudenet', 'onnxruntime') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_missing_model_is_reported_on_first_use_not_at_construction(
    tmp_path: Path, read: Read
) -> None:
    d = GradeDetector(model_path=tmp_path / "nope.onnx")  # no I/O yet
    with pytest.raises(ModelUnavailable, match=r"not found.*nope\.onnx") as info:
        d.detect([read(NATURAL_PHOTOS[2].read_bytes())])
    assert info.value.code == "model_unavailable"
    with pytest.raises(ModelUnavailable):
        d.load()


def test_garbage_model_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelUnavailable, match="not a loadable ONNX model"):
        GradeDetector(model_path=path).load()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    raw = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(raw)) + raw


def _tensor_info(name: str, dims: list[int | str]) -> bytes:
    shape = b"".join(_field(1, _field(1 if isinstance(d, int) else 2, d)) for d in dims)
    tensor = _field(1, 1) + _field(2, shape)  # elem_type FLOAT, shape
    return _field(1, name) + _field(2, _field(1, tensor))


def identity_onnx() -> bytes:
    """A valid ONNX model (one Identity node) that is not a detector; no onnx package needed."""
    dims: list[int | str] = ["N", 3, "H", "W"]
    node = _field(1, "images") + _field(2, "out") + _field(4, "Identity")
    graph = (
        _field(1, node) + _field(2, "g")
        + _field(11, _tensor_info("images", dims)) + _field(12, _tensor_info("out", dims))
    )  # fmt: skip
    opset = _field(1, "") + _field(2, 13)
    return _field(1, 8) + _field(7, graph) + _field(8, opset)


def test_a_valid_onnx_model_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "identity.onnx"
    path.write_bytes(identity_onnx())
    with pytest.raises(ModelUnavailable, match="not a NudeNet-format detector"):
        GradeDetector(model_path=path).load()


def test_input_size_must_match_what_the_model_was_trained_at() -> None:
    with pytest.raises(ModelUnavailable, match="JIKIMI_GRADE_INPUT_SIZE=320"):
        GradeDetector(model_path=bundled_model_path(), input_size=640).load()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"input_size": 100}, "multiple of 32"), ({"batch_size": 0}, "batch size"),
     ({"threads": -1}, "threads")],
)  # fmt: skip
def test_bad_settings_are_config_errors(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GradeDetector(**kwargs)  # type: ignore[arg-type]


def test_public_names_do_not_drift() -> None:
    assert set(grade_pkg.__all__) == {
        "LABELS", "ContextRule", "DetectorLabel", "GradeDetector", "GradeRule", "GradeRules",
    }  # fmt: skip
    assert all(hasattr(grade_pkg, name) for name in grade_pkg.__all__)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_picture_that_fails_to_decode_raises_its_typed_error(threads: int, read: Read) -> None:
    data = jpeg(skimage.data.astronaut())
    sos = data.index(b"\xff\xda")  # cut after the scan header: no pixel arrived
    good, truncated = read(data), read(data[: sos + 2 + int.from_bytes(data[sos + 2 : sos + 4])])
    with pytest.raises(CorruptMedia):
        GradeDetector(threads=threads).detect([good, truncated, good])
