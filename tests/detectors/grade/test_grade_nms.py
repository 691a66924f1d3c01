"""Our vectorised NMS keeps exactly what ``cv2.dnn.NMSBoxes`` keeps, in the same order.

NudeNet calls OpenCV's NMS; we do not (it needs Python lists of boxes), so ours
must match it on every kind of input: random boxes, boxes on an integer grid
(IoUs exactly at the threshold), identical boxes, empty boxes and tied scores.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jikimi.detectors.grade.model import nms


def opencv(boxes: np.ndarray, scores: np.ndarray, score_thr: float, iou_thr: float) -> list[int]:
    kept = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), score_thr, iou_thr)
    return [int(i) for i in np.asarray(kept).reshape(-1)]


def ours(boxes: np.ndarray, scores: np.ndarray, score_thr: float, iou_thr: float) -> list[int]:
    return [int(i) for i in nms(boxes, scores, score_thr, iou_thr)]


@pytest.mark.parametrize("seed", range(40))
def test_random_float_boxes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    xy = rng.uniform(0, 300, (n, 2))
    wh = rng.uniform(0, 150, (n, 2))
    boxes = np.hstack([xy, wh])
    scores = rng.uniform(0, 1, n).astype(np.float32)
    iou_thr = float(rng.choice([0.0, 0.3, 0.45, 0.5, 0.7, 1.0]))
    score_thr = float(rng.choice([0.0, 0.25, 0.5]))
    want = opencv(boxes, scores, score_thr, iou_thr)
    assert ours(boxes, scores, score_thr, iou_thr) == want


@pytest.mark.parametrize("seed", range(40))
def test_integer_grid_boxes_ties_and_exact_thresholds(seed: int) -> None:
    """Small integer boxes hit IoU values like exactly 0.5 and 1/3; scores tie often."""
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(2, 120))
    boxes = np.hstack([rng.integers(0, 8, (n, 2)), rng.integers(0, 5, (n, 2))]).astype(float)
    scores = rng.choice(np.array([0.25, 0.5, 0.75, 0.9], dtype=np.float32), n)
    for iou_thr in (0.0, 1 / 3, 0.45, 0.5, 1.0):
        want = opencv(boxes, scores, 0.25, iou_thr)
        assert ours(boxes, scores, 0.25, iou_thr) == want, iou_thr


def test_identical_and_empty_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 0, 0], [5, 5, 0, 0], [20, 20, 0, 4]])
    scores = np.array([0.9, 0.9, 0.8, 0.7, 0.6], dtype=np.float32)
    want = opencv(boxes.astype(float), scores, 0.25, 0.45)
    assert ours(boxes.astype(float), scores, 0.25, 0.45) == want
    # The duplicate is dropped, and so are later empty boxes: OpenCV counts two
    # empty boxes as identical (Jaccard distance 0), wherever they are.
    assert want == [0, 2]


def test_no_candidates() -> None:
    boxes = np.array([[0.0, 0.0, 5.0, 5.0]])
    assert ours(boxes, np.array([0.25], np.float32), 0.25, 0.45) == []
    assert ours(np.zeros((0, 4)), np.zeros(0, np.float32), 0.25, 0.45) == []


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-50, 400, allow_nan=False, width=32),
            st.floats(-50, 400, allow_nan=False, width=32),
            st.floats(0, 200, allow_nan=False, width=32),
            st.floats(0, 200, allow_nan=False, width=32),
            st.floats(0, 1, allow_nan=False, width=32),
        ),
        max_size=60,
    ),
    st.sampled_from([0.0, 0.25, 0.45, 0.9]),
)
def test_matches_opencv_on_arbitrary_boxes(
    rows: list[tuple[float, float, float, float, float]], iou_thr: float
) -> None:
    boxes = np.array([r[:4] for r in rows], dtype=float).reshape(-1, 4)
    scores = np.array([r[4] for r in rows], dtype=np.float32)
    assert ours(boxes, scores, 0.25, iou_thr) == opencv(boxes, scores, 0.25, iou_thr)
