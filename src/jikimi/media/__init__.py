"""Media intake: turn untrusted bytes into a :class:`Picture` every analyser can use.

The only way in for pixels. ``sniff`` names a file by its magic bytes,
``read_file`` reads one within the byte limit, ``load`` checks limits and
header and returns a lazily decoded :class:`Picture` (pixels, metadata,
original bytes). Everything a user can get wrong is a typed
:class:`~jikimi.errors.MediaError`.
"""

from jikimi.errors import UnreadableMedia
from jikimi.media.image import SUPPORTED_IMAGES, load
from jikimi.media.limits import MediaLimits, read_file
from jikimi.media.picture import RGB, Metadata, Picture
from jikimi.media.sniff import FileFormat, Sniffed, sniff

__all__ = [
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
]
