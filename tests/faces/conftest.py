"""Fixtures of the face tests: one engine (one model load) for the session."""

from __future__ import annotations

import pytest

from jikimi.faces import FaceEngine, FaceModels


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    return FaceEngine(FaceModels.bundled())
