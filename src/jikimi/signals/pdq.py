"""PDQ: Meta's 256-bit perceptual hash of a still image, and its 8 dihedral variants.

PDQ is the hash that banks of known abusive images are exchanged in (ThreatExchange,
StopNCII, NCMEC), so what matters most is that our value for an image is close to the
value the *reference* C++ implementation computes for it; speed comes second. The
hashing itself is the reference C++ code through the ``pdqhash`` binding. What we
control is the pixels we hand it, and that is where the time goes.

How the reference prepares pixels
    ``pdq/cpp/io/pdqio.cpp`` (``pdqHash256FromFile``) decodes the whole file and, if
    either side exceeds 512 px, resizes it to 512 x 512 with CImg's default
    nearest-neighbour interpolation (sample ``i`` of ``n`` is pixel ``floor(i*n/512)``),
    then hashes. ``threatexchange``'s Python hasher (the path HMA uses) skips that
    resize and hashes every pixel. ``expected.csv`` is reference output: emulating
    the resize reproduces it (0 bits on 14 of 15 files), skipping it does not
    (``c.png`` 10 bits off).

What we do (see :func:`reference_pixels`)
    1. ``picture.rgb(min_side=DECODE_MIN_SIDE)``: a JPEG is decoded at the smallest
       DCT scale (1/1, 1/2, 1/4, 1/8) whose shorter side is still >= 768 px; other
       formats decode at full size. A 12 MP JPEG then costs a quarter of its
       pixels to decode, and none of it to filter at full size.
    2. the reference's nearest-neighbour resize to 512 x 512, same sample positions;
    3. ``pdqhash``. Bits are written most significant first: hex digit 0 holds bits
       255..252, as the reference's ``Hash256::format`` and ``threatexchange``'s
       conversion both do (the tests compare with the latter).

Measured (pdqhash 0.2.8, Pillow 13 with libjpeg-turbo)
    * conformance photos (``expected.csv``, 15 files): worst 2 bits
      (``sharpen-a-lot.jpg``), the 14 others 0. ``threatexchange``: worst 10.
    * 126 generated photos (9 scikit-image photos, 4:3 / 9:16 / 1:1 / 21:9, 1-12 MP,
      Gaussian noise sigma 0-10, JPEG q90), bits to the reference pipeline (full
      decode, 512 resize, pdqhash), by decode floor; ``python -m bench.pdq --sweep``
      reproduces this table:

      ==============  =====  ====  ====
      min_side        worst  mean  p95
      ==============  =====  ====  ====
      256             22     4.6   10
      384             10     2.3   6
      512             10     1.4   6
      **768**         8      1.0   4
      1024            8      0.7   4
      threatexchange  20     7.7   14
      ==============  =====  ====  ====

      768 keeps every photo within 8 bits of the reference, far inside the
      reference-vs-``threatexchange`` spread. Against 512 it decodes one DCT step
      finer when the shorter side is in [1024, 1536), [2048, 3072) or [4096, 6144)
      px (1920 x 1080, 4000 x 3000): about +8 ms on a 4000 x 3000 file, still
      ~12x faster than ``threatexchange`` (``python -m bench.pdq``). Quality
      equals the reference's on every file measured.
    * a box (area) filter to 512 px in place of the nearest-neighbour resize is
      *further* from the reference (worst 6 bits on conformance, 10 on the large
      photos): the reference's output includes its aliasing, so we copy it.

Costs of copying the reference
    Nearest-neighbour sampling aliases. The 1-bit dithered copy of the bridge photo
    (``modes/1.png``) is 12 bits from the original (2 without the resize), and the
    rotated/flipped bridge files are up to 18 bits from the original's dihedral
    hash for their transform (8 without the resize). PDQ's dihedral hashes are
    approximate anyway: a transformed image is up to 16 bits from its slot even
    at 512 px, where no resize happens. All stay under the match threshold (31).

Orientation: ``Picture`` pixels have EXIF orientation applied; the reference and
``threatexchange`` ignore it. For a file with an orientation tag, their hash is
therefore close to one of our :meth:`PdqSignal.dihedral_hashes` rather than to our
main hash (the 8 EXIF orientations are exactly the 8 dihedral transforms), so
matching through the dihedral hashes covers both.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

import numpy as np
import pdqhash

from jikimi.domain import DEFAULT_PDQ_THRESHOLD, Signal, SignalKind
from jikimi.media.picture import RGB, Picture
from jikimi.signals.base import HammingDistance, PictureHasher

REFERENCE_SIDE: Final = 512
"""The reference CLI's ``DOWNSAMPLE_DIMS``: larger images are resized to this square."""

DECODE_MIN_SIDE: Final = 768
"""Shortest side we let a JPEG be DCT-downscaled to (measured above)."""

LOW_QUALITY: Final = 50
"""Quality below this is "low quality" (DESIGN.md): recorded as is, never dropped."""


class DihedralTransform(StrEnum):
    """The 8 rotations and mirror images, in the order :meth:`dihedral_hashes` returns.

    Names follow the reference C++ (``pdqDihedralHash256esFromFloatLuma``). Each
    hash is that of the original image after the transform, written with numpy
    on an ``H x W x 3`` array ``a``:
    """

    ORIGINAL = "original"
    """``a``"""
    ROTATE_90 = "rotate_90"
    """``np.rot90(a, 1)``: a quarter turn counter-clockwise."""
    ROTATE_180 = "rotate_180"
    """``np.rot90(a, 2)``"""
    ROTATE_270 = "rotate_270"
    """``np.rot90(a, 3)``: a quarter turn clockwise."""
    FLIP_X = "flip_x"
    """``a[::-1]``: mirrored top to bottom."""
    FLIP_Y = "flip_y"
    """``a[:, ::-1]``: mirrored left to right."""
    FLIP_PLUS_1 = "flip_plus_1"
    """``a.transpose(1, 0, 2)``: mirrored about the main diagonal."""
    FLIP_MINUS_1 = "flip_minus_1"
    """``np.rot90(a, 2).transpose(1, 0, 2)``: mirrored about the anti-diagonal."""


class PdqSignal(HammingDistance, PictureHasher):
    """PDQ (64 hex digits). Matches at 31 bits or fewer unless a bank overrides it."""

    HEX_LENGTH = 64
    DEFAULT_THRESHOLD = DEFAULT_PDQ_THRESHOLD

    @classmethod
    def get_name(cls) -> SignalKind:
        return SignalKind.PDQ

    @classmethod
    def hash_picture(cls, picture: Picture) -> Signal:
        """The PDQ hash and quality (0-100; kept even when below :data:`LOW_QUALITY`)."""
        bits, quality = pdqhash.compute(reference_pixels(picture))
        return Signal(type=SignalKind.PDQ, value=_to_hex(bits), quality=int(quality))

    @classmethod
    def dihedral_hashes(cls, picture: Picture) -> tuple[str, ...]:
        """The 8 hashes in :class:`DihedralTransform` order, computed in one pass.

        Costs about one extra hash, so the pipeline asks for them only when a bank
        lookup needs them (rotated or mirrored re-uploads, EXIF orientation).
        """
        vectors, _quality = pdqhash.compute_dihedral(reference_pixels(picture))
        return tuple(_to_hex(v) for v in vectors)


def reference_pixels(picture: Picture) -> RGB:
    """The pixels the reference would hash, from the cheapest adequate decode."""
    return reference_resize(picture.rgb(min_side=DECODE_MIN_SIDE))


def reference_resize(rgb: RGB) -> RGB:
    """The reference CLI's resize: to 512 x 512 nearest-neighbour if a side exceeds 512.

    Like the reference, this squashes the aspect ratio (PDQ ends at 64 x 64 anyway)
    and may stretch a short side up by repeating pixels.
    """
    height, width = rgb.shape[:2]
    if height <= REFERENCE_SIDE and width <= REFERENCE_SIDE:
        return rgb
    steps = np.arange(REFERENCE_SIDE)
    rows = steps * height // REFERENCE_SIDE
    cols = steps * width // REFERENCE_SIDE
    # ``take`` twice: 4x faster than one fancy index over both axes.
    resized: RGB = rgb.take(rows, axis=0).take(cols, axis=1)
    return resized


def _to_hex(bits: Any) -> str:
    """256 bits (most significant first, as ``pdqhash`` returns them) as 64 hex digits."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()
