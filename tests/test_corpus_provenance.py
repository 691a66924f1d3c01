"""The provenance corpus: 79 real files made by third parties, each scanned as a user would.

Camera makers, C2PA test suites, Firefly, DALL·E, Bing Image Creator, Gemini,
Titan, ComfyUI, AUTOMATIC1111 and its forks, InvokeAI, NovelAI, Fooocus,
SwarmUI and others wrote these files; none was made by this project. The
corpus lives beside the repository (``shared/corpus/provenance``, with
``MANIFEST.csv`` saying which label each file must get and how that is known),
and is never copied into it. Every file must scan without an error and get
exactly its label: ``evidence`` for the 39 AI files, ``no_evidence`` for the
40 others (cameras, C2PA manifests without AI, stripped or re-saved AI
pictures, and the traps: CAWG training permissions, a file named
``comfyui_…``). In CI the corpus is mandatory (``JIKIMI_REQUIRE_CORPUS=1``,
see ``conftest.py``); elsewhere these tests skip when it is absent.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from jikimi.config import Settings
from jikimi.domain import SignalKind, Verdict
from jikimi.pipeline import Scanner

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "provenance"
MANIFEST = CORPUS / "MANIFEST.csv"


def _rows() -> list[dict[str, str]]:
    if not MANIFEST.is_file():
        return []
    with MANIFEST.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


ROWS = _rows()


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    if not ROWS:
        pytest.skip(f"provenance corpus not found at {CORPUS}")
    return Scanner.from_settings(Settings())


@pytest.fixture(scope="module")
def verdicts(scanner: Scanner) -> dict[str, Verdict]:
    """Every file scanned once (batched, as ``jikimi scan`` does)."""
    from jikimi.pipeline import Item

    items = [Item((CORPUS / r["path"]).read_bytes(), {"path": r["path"]}) for r in ROWS]
    return {str(v.source["path"]): v for v in scanner.scan_many(items)}


def test_the_corpus_is_complete() -> None:
    if not ROWS:
        pytest.skip(f"provenance corpus not found at {CORPUS}")
    labels = [r["expected"] for r in ROWS]
    assert (labels.count("evidence"), labels.count("no_evidence")) == (39, 40)
    assert all((CORPUS / r["path"]).is_file() for r in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[r["path"] for r in ROWS])
def test_every_file_gets_its_label(verdicts: dict[str, Verdict], row: dict[str, str]) -> None:
    verdict = verdicts[row["path"]]
    assert verdict.error is None, f"{row['path']}: {verdict.error}"
    assert verdict.synthetic is not None
    found = [(e.kind.value, e.strength.value, e.detail) for e in verdict.synthetic.evidence]
    assert verdict.synthetic.label.value == row["expected"], (row["note"], found)


def test_heic_and_avif_are_hashed_like_their_jpeg(verdicts: dict[str, Verdict]) -> None:
    """The playing-cards photo as JPEG, WebP and AVIF: one picture, one PDQ (within 10 bits)."""

    def pdq(path: str) -> int:
        signal = verdicts[path].signal(SignalKind.PDQ)
        assert signal is not None
        return int(signal.value, 16)

    jpeg = pdq("c2pa/msv_cards.jpg")
    for other in ("c2pa/msv_cards_trusted.avif", "c2pa/msv_cards_trusted.webp"):
        assert (jpeg ^ pdq(other)).bit_count() <= 10, other
    icons = [pdq(f"c2pa/c2pa-ts_trustnxt-icon{s}.heic") for s in ("", "-signed-v2-bmff")]
    assert icons[0] == icons[1]  # same pixels, one signed
