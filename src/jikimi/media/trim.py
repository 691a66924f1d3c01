"""Where the picture is inside a frame: borders, letterbox bars, caption bars, app chrome.

Re-shared images come back inside something: letterbox bars to fit a square,
a caption bar above or below, a screenshot's status bar, app bar and chat
bubbles, a browser window's tabs and side bar. A global perceptual hash
(PDQ) sees the frame as part of the image and moves 60 to 120 bits away from
the original's hash. Cutting the frame off before hashing brings it back.

The test is a property of each line (row or column) alone, not of its
neighbours or of the original, so the same photo trims the same way whether
it arrives bare or framed: bank and query side meet at the same box.

A line is *flat* when at least ``share`` of its pixels are within
:data:`TOLERANCE` (per channel) of the line's median colour:

- uniform and near-uniform padding (a colour, with noise or a slow gradient)
  is flat in every line, with any share;
- a caption bar is flat with text on it: the letters cover well under half of
  each line;
- app chrome (status bar, app bar, message bubbles, a window's tab strip and
  side bar) is flat line by line too, the colours changing from one line to
  the next.

Lines are peeled from each side while flat, rows then columns (columns tested
only over the rows that remain), repeated until nothing changes: a picture in
a chat bubble loses the phone's rows first, then the chat's columns beside it.

The framed box then grows back over the picture's own lines (``_extend``: a
busy line, or a line of one colour that continues the one inside it), and both
boxes have their edges placed again on the full picture (``_refine``): the work
copy is up to seven times smaller, and a strip of frame a few pixels wide moves
PDQ by 20 bits or more.

Two boxes come out (:func:`content_boxes`): ``trimmed`` with ``share`` 0.9
(only padding-like borders go), and ``framed`` with 0.5 (frames with text and
chrome go too). A box that keeps nearly all of the picture (every side within
:data:`MIN_CUT` of the edge) is not returned, nor one that keeps too little of it
(:data:`MIN_KEEP`): what remains of a mostly flat picture (a page of text) is not
the picture.

What it cannot do: a frame with photographic content (a photo collage, a
video call grid), a picture on a textured background, rotated pictures (the
corners of a tilted photo are not lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from math import ceil
from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from jikimi.domain import Variant
from jikimi.media.picture import RGB

WORK_SIDE: Final = 224
"""Lines are tested on a copy at most this long (area-averaged): fast, and JPEG noise
averages out. Boxes are mapped back to the full picture."""

TOLERANCE: Final = 24
"""Per-channel distance (0-255) from a line's median colour that still counts as that colour."""

MIN_CUT: Final = 0.02
"""A box must cut at least this share of the width or the height to be worth a hash."""

MIN_KEEP: Final = 0.25
"""A box is dropped when the geometric mean of its shares of the width and of the
height is under this (it keeps less than 1/16 of the area), or when it keeps less than
half of this share of either side (a sliver). The mean, not each side: a landscape
picture in a phone screenshot keeps 80 % of the width and under a quarter of the
height."""

MAX_ROUNDS: Final = 4


class Frame(StrEnum):
    """Which test found a box; its value is the :class:`~jikimi.domain.Variant` it makes."""

    TRIMMED = Variant.TRIMMED.value
    FRAMED = Variant.FRAMED.value


TRIM_SHARE: Final = 0.9
FRAME_SHARE: Final = 0.8
FRAME_TOLERANCE: Final = 10
UNIFORM_SHARE: Final = 0.95
"""A line with this share of one colour can stop a framed box from growing (see ``_extend``)."""
_SENTINEL: Final = np.int16(32767)
"""Sorts after every pixel value (pixels here are int16 in 0..255)."""
CONTINUE_SHARE: Final = 0.5
"""A line of one colour continues its neighbour when this share of it is of the
neighbour's colours, pixel by pixel (see ``_extend``)."""
GAP_SHARE: Final = 0.03
"""Flat runs up to this share of the lines, between busy ones, count as busy."""


@dataclass(frozen=True)
class Box:
    """A region of a picture in pixels: ``[left, right) x [top, bottom)``."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def of(self, rgb: RGB) -> RGB:
        """The pixels of this box (a view)."""
        region: RGB = rgb[self.top : self.bottom, self.left : self.right]
        return region

    def of_plane(self, plane: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """The same region of a one-channel plane of the same size (a video's luma)."""
        region: NDArray[np.uint8] = plane[self.top : self.bottom, self.left : self.right]
        return region


def content_boxes(rgb: RGB) -> dict[Frame, Box]:
    """The boxes worth hashing besides the whole picture (none for most pictures).

    A picture none of whose four outermost lines is flat (most photos) has no frame
    to peel: that is checked first, on the lines alone, so plain scans stay cheap.
    """
    height, width = rgb.shape[:2]
    if height < 16 or width < 16 or not _any_edge_flat(rgb):
        return {}
    out: dict[Frame, Box] = {}
    for frame in Frame:
        box = _find(rgb, frame)
        if box is not None and _worth_it(box, width, height) and box not in out.values():
            out[frame] = box
    return out


def _any_edge_flat(rgb: RGB) -> bool:
    """Whether some outermost row or column is flat by either test."""
    edges = (rgb[:1], rgb[-1:], rgb[:, :1].transpose(1, 0, 2), rgb[:, -1:].transpose(1, 0, 2))
    return any(
        bool(_flat_lines(edge.astype(np.int16), frame, axis=1)[0])
        for edge in edges
        for frame in Frame
    )


def _find(rgb: RGB, frame: Frame) -> Box | None:
    height, width = rgb.shape[:2]
    if height < 16 or width < 16:
        return None
    small, scale_y, scale_x = _work_copy(rgb)
    found = peel(small, frame)
    if found is None:
        return None
    top, bottom, left, right = found
    box = Box(
        left=round(left * scale_x),
        top=round(top * scale_y),
        right=min(width, round(right * scale_x)),
        bottom=min(height, round(bottom * scale_y)),
    )
    if scale_x == scale_y == 1.0:
        return box
    return _refine(rgb, box, 2 * ceil(max(scale_x, scale_y)) + 1)


def peel(small: NDArray[np.int16], frame: Frame) -> tuple[int, int, int, int] | None:
    """``(top, bottom, left, right)`` of the content, in ``small``'s pixels."""
    top, bottom, left, right = 0, small.shape[0], 0, small.shape[1]
    for _ in range(MAX_ROUNDS):
        before = (top, bottom, left, right)
        region = small[top:bottom, left:right]
        top, bottom = _pick(region, frame, 1, top)
        if bottom - top < 2:
            return None
        region = small[top:bottom, left:right]
        left, right = _pick(region, frame, 0, left)
        if right - left < 2:
            return None
        if (top, bottom, left, right) == before:
            break
    if frame is Frame.FRAMED:
        top, bottom, left, right = _extend(small, top, bottom, left, right)
    return top, bottom, left, right


def _pick(region: NDArray[np.int16], frame: Frame, axis: int, offset: int) -> tuple[int, int]:
    """The kept range of ``region``'s lines along ``axis`` (absolute positions)."""
    flat = _flat_lines(region, frame, axis)
    if frame is Frame.TRIMMED:
        return _inner(flat, offset)
    return _longest_run(flat, offset, _uniform_lines(region, axis))


def _uniform_lines(pixels: NDArray[np.int16], axis: int) -> NDArray[np.bool_]:
    """For each line along ``axis``, whether it is of one colour (:data:`UNIFORM_SHARE`)."""
    median = np.median(pixels, axis=axis, keepdims=True)
    near = (np.abs(pixels - median) <= FRAME_TOLERANCE).all(axis=2)
    uniform: NDArray[np.bool_] = near.mean(axis=axis) >= UNIFORM_SHARE
    return uniform


def _extend(
    small: NDArray[np.int16], top: int, bottom: int, left: int, right: int
) -> tuple[int, int, int, int]:
    """Grow the box back over the picture's own lines.

    The longest run stops at the picture's own flat bands too (a dark ground, a
    sky, a black background); the frame around a picture is of one colour right
    next to it (a bubble, a panel, a bar), and differs from the picture's edge. So
    the box grows over every line that is not of one colour, and over a line of
    one colour that continues the line inside it (:func:`_continues`: the same
    dark ground one line further), until a line of one colour that does not.
    """
    height, width = small.shape[:2]
    before = None
    # until no side grows: a side's lines get longer when the sides across grow, and a
    # line of one colour over a small core's span can be busy over the picture's width.
    # A line is compared with the second line inside, not the first: in the work copy
    # the picture's edge line is often half frame (area-averaged), and a margin of one
    # colour continues that half
    while before != (top, bottom, left, right):
        before = (top, bottom, left, right)
        while top > 0 and _grows(small[top - 1, left:right], small[top + 1, left:right]):
            top -= 1
        while bottom < height and _grows(small[bottom, left:right], small[bottom - 2, left:right]):
            bottom += 1
        while left > 0 and _grows(small[top:bottom, left - 1], small[top:bottom, left + 1]):
            left -= 1
        while right < width and _grows(small[top:bottom, right], small[top:bottom, right - 2]):
            right += 1
    return top, bottom, left, right


def _grows(line: NDArray[np.int16], inner: NDArray[np.int16]) -> bool:
    """Whether ``line`` (``(n, 3)``) belongs with the picture ``inner`` is a line of."""
    return not _uniform(line) or _continues(line, inner)


def _uniform(line: NDArray[np.int16]) -> bool:
    """Whether one line (``(n, 3)``) is of one colour (:func:`_uniform_lines`), or of one
    colour changing steadily along it: a gradient border's line across the gradient.

    The ramp is read from the medians of the line's two halves, so the few pixels of
    other colours that :func:`_uniform_lines` allows (text, a rounded corner) do not
    tilt it.
    """
    if _uniform_lines(line[np.newaxis], axis=1)[0]:
        return True
    half = len(line) // 2
    if half < 2:
        return False
    slope = (np.median(line[half:], axis=0) - np.median(line[:half], axis=0)) / half
    ramp = slope * np.arange(len(line))[:, np.newaxis]
    flattened = np.rint(line - ramp).astype(np.int16)
    return bool(_uniform_lines(flattened[np.newaxis], axis=1)[0])


def _continues(line: NDArray[np.int16], inner: NDArray[np.int16]) -> bool:
    """Whether ``line`` is, pixel by pixel, mostly the colour of its neighbour ``inner``
    (:data:`CONTINUE_SHARE` of it within :data:`FRAME_TOLERANCE`): a picture's flat
    band going on, not the step from the picture's edge to its frame."""
    near = (np.abs(line - inner) <= FRAME_TOLERANCE).all(axis=-1)
    return bool(near.mean() >= CONTINUE_SHARE)


def _refine(rgb: RGB, box: Box, reach: int) -> Box:
    """The box's edges placed at full resolution (the work copy is up to 7 times smaller).

    Each edge moves, within ``reach`` pixels, to the step between the picture and a
    line of one colour (:func:`_edge`); an edge with no such step nearby stays.
    """
    height, width = rgb.shape[:2]
    top, bottom = _span(rgb[:, box.left : box.right], box.top, box.bottom, height, reach)
    cols = rgb[top:bottom, :].transpose(1, 0, 2)
    left, right = _span(cols, box.left, box.right, width, reach)
    return Box(left=left, top=top, right=right, bottom=bottom)


def _span(lines: RGB, low: int, high: int, size: int, reach: int) -> tuple[int, int]:
    """The picture's first and past-the-last line along ``lines`` (``size`` of them),
    each edge of ``[low, high)`` placed by :func:`_edge` within ``reach``."""
    first = _edge(lines, low, low - reach, min(low + reach, high - 1))
    last = _edge(lines, high - 1, min(high - 1 + reach, size - 1), max(high - 1 - reach, first))
    return first, last + 1


def _edge(lines: RGB, edge: int, outer: int, inner: int) -> int:
    """The picture's outermost line near ``edge``, looking from ``inner`` towards ``outer``.

    The first line of one colour met on the way, whose inner neighbour it does not
    continue, is the frame: the picture ends at that neighbour.
    """
    step = -1 if outer < inner else 1
    outer = max(0, min(outer, len(lines) - 1))
    for at in range(inner + step, outer + step, step):
        line, before = lines[at].astype(np.int16), lines[at - step].astype(np.int16)
        if _uniform(line) and not _continues(line, before):
            return at - step
    return edge


def _work_copy(rgb: RGB) -> tuple[NDArray[np.int16], float, float]:
    height, width = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BOX))
    else:
        small = rgb
    return (
        small.astype(np.int16),
        height / small.shape[0],
        width / small.shape[1],
    )


def _flat_lines(pixels: NDArray[np.int16], frame: Frame, axis: int) -> NDArray[np.bool_]:
    """For each line along ``axis`` (1: rows, 0: columns), whether it is flat."""
    tolerance = TOLERANCE if frame is Frame.TRIMMED else FRAME_TOLERANCE
    first = np.median(pixels, axis=axis, keepdims=True)
    near = np.abs(pixels - first).max(axis=2) <= tolerance
    if frame is Frame.TRIMMED:
        trimmed: NDArray[np.bool_] = near.mean(axis=axis) >= TRIM_SHARE
        return trimmed
    # a frame's lines have two colours (background and ink, or two panels): the
    # second is the (lower) median of the pixels unlike the first, found by sorting
    # them ahead of a sentinel (np.nanmedian does the same ten times slower)
    far = ~near
    rest = np.sort(np.where(far[..., None], pixels, _SENTINEL), axis=axis)
    count = far.sum(axis=axis, keepdims=True)[..., None]  # (lines, 1, 1) or (1, lines, 1)
    second = np.take_along_axis(rest, np.maximum(count - 1, 0) // 2, axis)
    second = np.where(count > 0, second, -999)  # a line all of the first colour has none
    near2 = np.abs(pixels - second).max(axis=2) <= tolerance
    framed: NDArray[np.bool_] = (near | near2).mean(axis=axis) >= FRAME_SHARE
    return framed


def _longest_run(
    flat: NDArray[np.bool_], offset: int, uniform: NDArray[np.bool_] | None = None
) -> tuple[int, int]:
    """The longest run of lines that are not flat (the picture among the chrome).

    A short flat gap is bridged (a picture's own wall or pole), unless a line in it
    is of one colour (``uniform``): that is the margin between a caption's text and
    the picture, and bridging it kept the text rows with the picture.
    """
    busy = np.concatenate(([0], (~flat).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(busy))
    if not len(edges):
        return offset, offset
    starts, ends = edges[::2], edges[1::2]
    # a few flat lines inside a picture (a wall, a pole) do not split it
    gap = max(2, round(GAP_SHARE * len(flat)))
    runs = [[int(starts[0]), int(ends[0])]]
    for start, end in zip(starts[1:], ends[1:], strict=True):
        bridged = uniform is None or not uniform[runs[-1][1] : start].any()
        if start - runs[-1][1] <= gap and bridged:
            runs[-1][1] = int(end)
        else:
            runs.append([int(start), int(end)])
    first, last = max(runs, key=lambda run: run[1] - run[0])
    return offset + first, offset + last


def _inner(flat: NDArray[np.bool_], offset: int) -> tuple[int, int]:
    """The range left after dropping flat lines from both ends (absolute positions)."""
    rest = np.flatnonzero(~flat)
    if not len(rest):
        return offset, offset
    return offset + int(rest[0]), offset + int(rest[-1]) + 1


def _worth_it(box: Box, width: int, height: int) -> bool:
    across, down = box.width / width, box.height / height
    if across * down < MIN_KEEP**2 or min(across, down) < MIN_KEEP / 2:
        return False
    return box.width <= (1 - MIN_CUT) * width or box.height <= (1 - MIN_CUT) * height
