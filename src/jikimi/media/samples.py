"""Stored samples of a lossless image, for readers of data hidden in the pixels.

Some generators hide their generation record in the lowest bit of each pixel
(AUTOMATIC1111's "stealth pnginfo" extension, NovelAI): it survives in PNG and
in WebP's losslessly coded alpha plane. Reading it needs the samples as stored,
alpha included, which :meth:`Picture.rgb` (alpha flattened, orientation
applied) does not give. Only PNG and WebP are opened, through their Pillow
plugins (never ``Image.open``), after :func:`jikimi.media.load` has checked the
limits; any failure means "no samples", never an error.
"""

from __future__ import annotations

import io
import warnings
from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import ImageFile, PngImagePlugin, WebPImagePlugin

from jikimi.media.picture import Picture
from jikimi.media.sniff import FileFormat

MAX_PIXELS: Final = 36_000_000
"""Larger images are not decoded again for their alpha plane (generators emit ~4 MP)."""

_PLUGINS: Final[dict[str, type[ImageFile.ImageFile]]] = {
    FileFormat.PNG.value: PngImagePlugin.PngImageFile,
    FileFormat.WEBP.value: WebPImagePlugin.WebPImageFile,
}
_ALPHA_MODES: Final = frozenset({"RGBA", "LA"})


def alpha_plane(picture: Picture) -> NDArray[np.uint8] | None:
    """The stored 8-bit alpha channel (height x width) of a PNG or WebP, else None.

    None for other formats, images without an alpha channel (palette
    transparency included), over :data:`MAX_PIXELS`, or that fail to decode.
    """
    plugin = _PLUGINS.get(picture.media.format)
    if plugin is None or not picture.data:
        return None
    if picture.media.width * picture.media.height > MAX_PIXELS:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            im = plugin(io.BytesIO(picture.data))
            if im.mode not in _ALPHA_MODES:
                return None
            im.load()
            plane: NDArray[np.uint8] = np.asarray(im.getchannel("A"), dtype=np.uint8)
        except Exception:
            return None
    return plane
