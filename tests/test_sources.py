"""Names from outside, normalised for a Verdict's source (``jikimi.sources``)."""

from __future__ import annotations

import ast
import os
import unicodedata
from pathlib import Path

import pytest

from jikimi.pipeline import error_verdict
from jikimi.sources import named, normalise, path_source


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (b"plain.jpg", "plain.jpg"),
        ("사진.jpg".encode(), "사진.jpg"),
        ("사진.jpg".encode("euc-kr"), "\ufffd\ufffd\ufffd\ufffd.jpg"),
        (b"a\r\nb\tc\x7fd\xc2\x85e.jpg", "a\ufffd\ufffdb\ufffdc\ufffdd\ufffde.jpg"),  # C0, DEL, C1
        ("x\u2028y\u2029z\u202e\u2066.jpg".encode(), "x\ufffdy\ufffdz\ufffd\ufffd.jpg"),
        (unicodedata.normalize("NFD", "é").encode(), "é"),
        ("👨\u200d👩\u200d👧.jpg".encode(), "👨\u200d👩\u200d👧.jpg"),  # joiners are not controls
        (b"", ""),
    ],
)
def test_normalise(raw: bytes, name: str) -> None:
    assert normalise(raw) == name
    assert unicodedata.is_normalized("NFC", normalise(raw))


def test_raw_kept_only_when_normalising_changed_something() -> None:
    assert named("filename", "사진.jpg".encode()) == {"filename": "사진.jpg"}
    source = named("filename", b"caf\xe9\n.jpg")
    assert source == {"filename": "caf\ufffd\ufffd.jpg", "filename_raw": "b'caf\\xe9\\n.jpg'"}
    assert source["filename_raw"].isascii()
    assert ast.literal_eval(source["filename_raw"]) == b"caf\xe9\n.jpg"


def test_a_path_that_is_not_utf8() -> None:
    path = Path(os.fsdecode(b"/photos/caf\xe9.jpg"))  # as the file system gives it
    assert path_source(path) == {
        "path": "/photos/caf\ufffd.jpg",
        "path_raw": "b'/photos/caf\\xe9.jpg'",
    }
    assert path_source(Path("/photos/a.jpg")) == {"path": "/photos/a.jpg"}


def test_an_error_message_naming_such_a_path_can_be_written_as_json() -> None:
    path = Path(os.fsdecode(b"/photos/caf\xe9.jpg"))
    v = error_verdict(path_source(path), "unreadable", f"{path} is not a regular file")
    assert v.error is not None
    assert v.error.message == "/photos/caf\\udce9.jpg is not a regular file"
    assert "caf" in v.to_json()
