"""Finding the picture inside a frame: padding, letterbox, caption bars, app chrome."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageDraw

from jikimi.media.trim import Box, content_boxes
from jikimi.media.trim import Frame as Variant


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.fromarray(skimage.data.astronaut()).convert("RGB").resize((400, 400))


def near(box: Box, expected: tuple[int, int, int, int], slack: int = 6) -> bool:
    got = (box.left, box.top, box.right, box.bottom)
    return all(abs(a - b) <= slack for a, b in zip(got, expected, strict=True))


def test_a_bare_photo_has_no_box(photo: Image.Image) -> None:
    assert content_boxes(np.asarray(photo)) == {}


def test_tiny_and_flat_pictures_have_no_box() -> None:
    assert content_boxes(np.zeros((10, 10, 3), dtype=np.uint8)) == {}
    assert content_boxes(np.full((300, 200, 3), 128, dtype=np.uint8)) == {}


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (90, 140, 30)])
def test_uniform_padding_is_trimmed(photo: Image.Image, colour: tuple[int, int, int]) -> None:
    canvas = Image.new("RGB", (600, 520), colour)
    canvas.paste(photo, (120, 60))
    boxes = content_boxes(np.asarray(canvas))
    assert near(boxes[Variant.TRIMMED], (120, 60, 520, 460))


def test_noisy_padding_is_trimmed(photo: Image.Image) -> None:
    rng = np.random.default_rng(7)
    canvas = np.clip(rng.normal(40, 6, (480, 640, 3)), 0, 255).astype(np.uint8)
    canvas[40:440, 120:520] = np.asarray(photo)
    boxes = content_boxes(canvas)
    assert near(boxes[Variant.TRIMMED], (120, 40, 520, 440))


def test_a_caption_bar_with_text_is_cut_off(photo: Image.Image) -> None:
    canvas = Image.new("RGB", (400, 480), (255, 255, 255))
    canvas.paste(photo, (0, 80))
    ImageDraw.Draw(canvas).text((30, 20), "when the group chat sees this", fill=(0, 0, 0))
    boxes = content_boxes(np.asarray(canvas))
    assert near(boxes[Variant.FRAMED], (0, 80, 400, 480))


def test_a_picture_in_app_chrome_is_found(photo: Image.Image) -> None:
    """Status bar, app bar, bubbles of text above and below, as in a phone screenshot."""
    canvas = Image.new("RGB", (540, 1000), (236, 229, 221))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 540, 40), fill=(7, 94, 84))
    draw.text((20, 12), "9:41            5G 87%", fill=(255, 255, 255))
    draw.rectangle((0, 40, 540, 120), fill=(0, 128, 105))
    draw.ellipse((16, 56, 64, 104), fill=(180, 180, 180))
    draw.text((80, 70), "Group chat", fill=(255, 255, 255))
    draw.rounded_rectangle((20, 150, 400, 210), 14, fill=(255, 255, 255))
    draw.text((36, 170), "look what they sent", fill=(20, 20, 20))
    draw.rounded_rectangle((100, 232, 520, 680), 14, fill=(220, 248, 198))
    canvas.paste(photo, (110, 240))
    draw.text((440, 650), "10:02", fill=(20, 20, 20))
    draw.rectangle((0, 900, 540, 1000), fill=(240, 240, 240))
    draw.text((40, 940), "Message", fill=(140, 140, 140))
    boxes = content_boxes(np.asarray(canvas))
    assert near(boxes[Variant.FRAMED], (110, 240, 510, 640))


def test_a_box_must_cut_something_and_keep_enough(photo: Image.Image) -> None:
    # a 2-pixel border is not worth a second hash
    canvas = Image.new("RGB", (404, 404), (0, 0, 0))
    canvas.paste(photo, (2, 2))
    assert Variant.TRIMMED not in content_boxes(np.asarray(canvas))
    # a stamp-sized picture on a large flat page is not "the picture"
    page = Image.new("RGB", (1200, 1200), (250, 250, 250))
    page.paste(photo.resize((100, 100)), (550, 550))
    assert content_boxes(np.asarray(page)) == {}


def test_a_photo_whose_edges_are_busy_is_not_peeled(photo: Image.Image) -> None:
    """The edge test alone decides: no line of the frame is flat, so nothing is peeled."""
    rng = np.random.default_rng(3)
    busy = np.asarray(photo).copy()
    busy[:, :2] = rng.integers(0, 256, (busy.shape[0], 2, 3))
    busy[:2] = rng.integers(0, 256, (2, busy.shape[1], 3))
    busy[-2:] = rng.integers(0, 256, (2, busy.shape[1], 3))
    busy[:, -2:] = rng.integers(0, 256, (busy.shape[0], 2, 3))
    assert content_boxes(busy) == {}


def test_a_caption_whose_text_is_close_to_the_picture_is_cut_off(photo: Image.Image) -> None:
    """Big text and a margin of a few lines under it (as meme captions): the margin is
    of one colour, so it is not bridged as a flat band of the picture's own."""
    from PIL import ImageFont

    canvas = Image.new("RGB", (400, 448), (255, 255, 255))
    canvas.paste(photo, (0, 48))
    font = ImageFont.load_default(size=24)
    ImageDraw.Draw(canvas).text((40, 12), "when the group chat", fill=(0, 0, 0), font=font)
    boxes = content_boxes(np.asarray(canvas))
    assert near(boxes[Variant.FRAMED], (0, 48, 400, 448))


def _chat(picture: Image.Image, width: int = 540, height: int = 1000) -> tuple[Image.Image, Box]:
    """``picture`` in a chat bubble (an 8-pixel margin) among app chrome; and where it is."""
    canvas = Image.new("RGB", (width, height), (236, 229, 221))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, 40), fill=(7, 94, 84))
    draw.text((20, 12), "9:41            5G 87%", fill=(255, 255, 255))
    draw.rectangle((0, 40, width, 120), fill=(0, 128, 105))
    draw.text((80, 70), "Group chat", fill=(255, 255, 255))
    x, y = width - picture.width - 30, 240
    draw.rounded_rectangle(
        (x - 8, y - 8, x + picture.width + 8, y + picture.height + 36), 14, fill=(220, 248, 198)
    )
    canvas.paste(picture, (x, y))
    draw.text((x + picture.width - 60, y + picture.height + 10), "10:02", fill=(20, 20, 20))
    draw.rectangle((0, height - 100, width, height), fill=(240, 240, 240))
    draw.text((40, height - 60), "Message", fill=(140, 140, 140))
    return canvas, Box(x, y, x + picture.width, y + picture.height)


def _corners(box: Box) -> tuple[int, int, int, int]:
    return (box.left, box.top, box.right, box.bottom)


def test_a_wide_picture_in_a_tall_screenshot_is_found(photo: Image.Image) -> None:
    """A landscape picture keeps most of a phone screen's width and under a quarter of
    its height: still the picture (what is dropped is a stamp on a page)."""
    canvas, where = _chat(photo.resize((480, 200)))
    boxes = content_boxes(np.asarray(canvas))
    assert near(boxes[Variant.FRAMED], _corners(where))


def test_a_pictures_own_flat_band_stays_in_the_box(photo: Image.Image) -> None:
    """A round subject on a black background (the moon in its sky): the box grows over
    the background up to the bubble, not only over the busy disc."""
    mask = Image.new("L", photo.size, 0)
    ImageDraw.Draw(mask).ellipse((80, 110, 320, 350), fill=255)
    picture = Image.new("RGB", photo.size, (8, 8, 12))
    picture.paste(photo, (0, 0), mask)
    canvas, where = _chat(picture)
    boxes = content_boxes(np.asarray(canvas))
    assert near(boxes[Variant.FRAMED], _corners(where))


def test_the_box_is_placed_at_full_resolution(photo: Image.Image) -> None:
    """Lines are tested on a copy 7 times smaller here; the edges are then found on the
    picture itself, to a pixel (PDQ moves about 20 bits for a 4-pixel strip of frame)."""
    big = photo.resize((1203, 1201))
    canvas = Image.new("RGB", (1403, 1600), (255, 255, 255))
    canvas.paste(big, (101, 213))
    draw = ImageDraw.Draw(canvas)
    draw.text((140, 60), "when the group chat sees this", fill=(0, 0, 0))
    draw.text((140, 1480), "forwarded many times", fill=(0, 0, 0))
    boxes = content_boxes(np.asarray(canvas))
    assert near(boxes[Variant.FRAMED], (101, 213, 1304, 1414), slack=1)


def test_a_gradient_border_is_not_taken_for_the_picture(photo: Image.Image) -> None:
    """A subject on a dark background inside a border that lightens from top to bottom:
    the border's columns are of one colour changing steadily, so the framed box stops at
    the picture's sides (it grew over the border, whose columns are not of one colour)."""
    mask = Image.new("L", photo.size, 0)
    ImageDraw.Draw(mask).ellipse((110, 110, 290, 290), fill=255)
    picture = Image.new("RGB", photo.size, (8, 8, 12))
    picture.paste(photo, (0, 0), mask)
    ramp = np.linspace(100, 160, 560)[:, None, None] * np.ones((1, 560, 3))
    canvas = Image.fromarray(ramp.astype(np.uint8))
    canvas.paste(picture, (80, 80))
    boxes = content_boxes(np.asarray(canvas))
    assert near(boxes[Variant.FRAMED], (80, 80, 480, 480), slack=2)


def test_a_margin_is_compared_with_the_picture_not_with_its_half_edge_line(
    photo: Image.Image,
) -> None:
    """In a smaller work copy the picture's first line is often half caption margin
    (area-averaged). Here that line is drawn as such (no resampling: the picture is
    small): the margin continues it, but not the picture's line under it, so the box
    stops there and keeps the caption out."""
    picture = np.asarray(photo.resize((200, 170))).copy()
    picture[0, ::5] = (250, 250, 250)  # two colours on the line: margin and picture
    picture[0, 1::5] = (250, 250, 250)
    picture[0, 2::5] = (4, 4, 4)
    picture[0, 3::5] = (4, 4, 4)
    picture[0, 4::5] = (4, 4, 4)
    canvas = Image.new("RGB", (200, 200), (0, 0, 0))
    canvas.paste(Image.fromarray(picture), (0, 30))
    ImageDraw.Draw(canvas).text((30, 8), "@channel_name", fill=(255, 255, 255))
    boxes = content_boxes(np.asarray(canvas))
    assert near(boxes[Variant.FRAMED], (0, 30, 200, 200), slack=1)
