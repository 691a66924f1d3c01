"""The public surface of ``jikimi.media`` and the examples in its docstrings."""

from __future__ import annotations

import doctest
import importlib

import pytest

import jikimi.media


def test_public_names_do_not_drift() -> None:
    assert set(jikimi.media.__all__) == {
        "RGB",
        "SUPPORTED_IMAGES",
        "FileFormat",
        "MediaLimits",
        "Metadata",
        "Picture",
        "Sniffed",
        "UnreadableMedia",
        "load",
        "read_file",
        "sniff",
    }
    for name in jikimi.media.__all__:
        assert getattr(jikimi.media, name) is not None


@pytest.mark.parametrize("name", ["sniff", "image", "limits", "picture"])
def test_docstring_examples(name: str) -> None:
    # import_module: ``jikimi.media.sniff`` the attribute is the function
    module = importlib.import_module(f"jikimi.media.{name}")
    failed, _ = doctest.testmod(module, verbose=False)
    assert failed == 0
