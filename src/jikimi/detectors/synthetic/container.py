"""AI-generation evidence in a video file's container: tags, XMP and C2PA.

Video generators and the tools around them leave three kinds of trace in the
container, the same kinds as in images, so the still-image checkers are reused on a
*metadata-only picture* (:func:`container_picture`: the video's bytes, MIME type and
container metadata, and no pixels):

::

    MP4 / MOV / MKV / WebM / AVI bytes
      ├─► C2PA manifest (MP4, MOV, AVI: the SDK reads BMFF/RIFF)  ─► c2pa            strong
      ├─► XMP packet (MP4 ``uuid`` box, MOV ``moov/udta/XMP_``)    ─► xmp_source_type strong
      └─► tags (FFmpeg: ``comment``, ``encoder``, ``description``,
          ``com.apple.quicktime.software`` ..., container and streams)
              ├─► a generation record: ComfyUI's Video Helper Suite
              │   writes the whole workflow as JSON in ``comment``;
              │   A1111-style parameters in ``comment``     ─► generator_metadata  strong
              └─► a known video generator or face-swap tool
                  named in a software or comment tag          ─► generator_metadata  moderate

Signed OpenAI Sora and Google Veo downloads carry C2PA manifests in the MP4;
AnimateDiff and other ComfyUI workflows are saved by Video Helper Suite with the
workflow in the ``comment`` tag. Names of hosted tools (Runway, Pika, Kling, Luma,
Hailuo ...) are matched only by specific patterns and only in software and
comment tags: "Sora" is also a given name and "Luma" a word, and titles are the
uploader's free text. Like every kind of metadata, all of this is easy to strip:
its absence means nothing.

Animated GIF and WebP keep their metadata where still images do; the video
pipeline runs the still-image detector on them instead of this one.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Final

from jikimi.config import Settings
from jikimi.detectors.synthetic import SyntheticDetector
from jikimi.detectors.synthetic.base import clean_text
from jikimi.detectors.synthetic.c2pa import C2paChecker
from jikimi.detectors.synthetic.generators import (
    KNOWN_GENERATORS,
    RECORDS,
    Finding,
    GeneratorMetadataChecker,
    comfyui,
    named_generator,
)
from jikimi.detectors.synthetic.xmp import XmpSourceTypeChecker
from jikimi.domain import Media, Strength, Synthetic
from jikimi.errors import UnsupportedMedia
from jikimi.media.picture import RGB, Metadata, Picture
from jikimi.media.sniff import FileFormat, Sniffed

log = logging.getLogger(__name__)

DEMUXERS: Final[Mapping[FileFormat, str]] = {
    FileFormat.MP4: "mov",
    FileFormat.MOV: "mov",
    FileFormat.WEBM: "matroska",
    FileFormat.MKV: "matroska",
    FileFormat.AVI: "avi",
}
"""Containers whose tags are read (FFmpeg demuxer by sniffed format, never guessed)."""

STREAM_SEPARATOR: Final = ":"
"""Stream tags are keyed ``"stream <index>:<tag>"`` in the metadata text."""

_TOOL_KEYS: Final = frozenset(
    {
        "encoder",
        "encoded_by",
        "software",
        "tool",
        "creation_tool",
        "creator_tool",
        "generator",
        "comment",
        "description",
        "synopsis",
    }
)
"""Tags (last name part, case-insensitive) that name software or describe the file."""

VIDEO_GENERATORS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("OpenAI Sora", r"\bopenai\s+sora\b|\bsora[\s-]?(?:2|turbo)\b|\bsora\.(?:chatgpt\.)?com\b"),
        ("Runway", r"\brunway\s?ml\b|\brunway\s+(?:gen[\s-]?\d|aleph|act[\s-]?(?:one|two))\b"),
        ("Pika", r"\bpika\s?labs\b|\bpika\.art\b|\bpika\s+\d(?:\.\d)?\b"),
        ("Kling", r"\bkling\s?ai\b|\bkling\s+v?\d(?:\.\d)?\b"),
        ("Google Veo", r"\bgoogle\s+veo\b|\bveo[\s-]?\d(?:\.\d)?\b"),
        ("Luma", r"\bluma\s?(?:ai|labs)\b|\bdream\s+machine\b|\bluma\s+ray[\s-]?\d"),
        ("Stable Video Diffusion", r"\bstable[\s_-]?video[\s_-]?diffusion\b|\bsvd[\s_-]?xt\b"),
        ("Hailuo (MiniMax)", r"\bhailuo\b|\bminimax[\s-]?video\b"),
        ("HunyuanVideo", r"\bhunyuan[\s_-]?video\b"),
        ("Wan", r"\bwan[\s_-]?2\.\d\b|\bwan[\s_-]?video\b|\bwanx\b"),
        ("LTX-Video", r"\bltx[\s_-]?video\b|\bltxv\b"),
        ("CogVideoX", r"\bcogvideo"),
        ("Mochi", r"\bmochi[\s-]?1\b|\bgenmo\b"),
        ("Vidu", r"\bvidu\b"),
        ("PixVerse", r"\bpixverse\b"),
        ("Haiper", r"\bhaiper\b"),
        ("Seedance", r"\bseedance\b|\bdreamina\b|\bjimeng\b"),
        ("Hedra", r"\bhedra\b"),
        ("Higgsfield", r"\bhiggsfield\b"),
        ("AnimateDiff", r"\banimatediff\b"),
        ("Deforum", r"\bdeforum\b"),
        ("Synthesia", r"\bsynthesia\b"),
        ("HeyGen", r"\bheygen\b"),
        ("Deep-Live-Cam", r"\bdeep[\s-]?live[\s-]?cam\b"),
    )
)
"""AI video generators, avatar and face-swap tools (image generators and face-swap
tools of :data:`~jikimi.detectors.synthetic.generators.KNOWN_GENERATORS` count too)."""

_TAG_MAX_CHARS: Final = 1_000
"""Only the start of a tag is searched for a tool name (a comment may hold a workflow)."""

_XMP_UUID: Final = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
"""The ``uuid`` box type of XMP in ISO base media files (XMP spec part 3)."""

_MAX_XMP_BYTES: Final = 4 * 1024 * 1024

_COMFY_FIELDS: Final = re.compile(r"in text field '\w+'(?: and text field '\w+')?")
"""Where :func:`~jikimi.detectors.synthetic.generators.comfyui` says it found the graph."""


# --- reading the container ----------------------------------------------------------


def container_metadata(data: bytes, fmt: FileFormat) -> Metadata:
    """Tags of the container and its streams, and the XMP packet; empty when unreadable.

    Metadata is a bonus: a container FFmpeg cannot read tags from, or a malformed XMP
    box, gives empty metadata, never an error (decoding already judged the file).
    """
    return Metadata(text=_tags(data, fmt), xmp=iso_xmp(data) if fmt in _ISO else None)


_ISO: Final = frozenset({FileFormat.MP4, FileFormat.MOV})


def _tags(data: bytes, fmt: FileFormat) -> dict[str, str]:
    demuxer = DEMUXERS.get(fmt)
    if demuxer is None:
        return {}
    import av  # FFmpeg loads only when a video is scanned

    try:
        with av.open(io.BytesIO(data), "r", format=demuxer, metadata_errors="replace") as c:
            tags = {str(k): str(v) for k, v in c.metadata.items()}
            for stream in c.streams:
                for key, value in stream.metadata.items():
                    tags[f"stream {stream.index}{STREAM_SEPARATOR}{key}"] = str(value)
    except Exception as exc:  # FFmpeg's errors, and anything a hostile header causes
        log.info("container tags unreadable, ignored: %s", clean_text(str(exc), 200))
        return {}
    return tags


def iso_xmp(data: bytes) -> str | None:
    """The XMP packet of an MP4 (top-level ``uuid`` box) or MOV (``moov/udta/XMP_``)."""
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind == b"uuid" and data[start : start + 16] == _XMP_UUID:
            return _xmp_text(data[start + 16 : end])
        if kind == b"moov":
            for inner, s, e in _boxes(data, start, end):
                if inner == b"udta":
                    for leaf, s2, e2 in _boxes(data, s, e):
                        if leaf == b"XMP_":
                            return _xmp_text(data[s2:e2])
    return None


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """ISO boxes between ``start`` and ``end``: (type, payload start, payload end)."""
    offset = start
    while offset + 8 <= end:
        size = int.from_bytes(data[offset : offset + 4], "big")
        header = 8
        if size == 1 and offset + 16 <= end:
            size, header = int.from_bytes(data[offset + 8 : offset + 16], "big"), 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            return
        yield data[offset + 4 : offset + 8], offset + header, offset + size
        offset += size


def _xmp_text(raw: bytes) -> str | None:
    if not raw or len(raw) > _MAX_XMP_BYTES:
        return None
    return raw.decode("utf-8", errors="replace").strip("\x00") or None


def container_picture(data: bytes, sniffed: Sniffed, media: Media) -> Picture:
    """The video as the still-image checkers see it: bytes, MIME, metadata, no pixels."""
    return Picture(media, data, sniffed.mime, container_metadata(data, sniffed.format), _no_pixels)


def _no_pixels(_min_side: int) -> RGB:
    raise UnsupportedMedia("Container metadata has no pixels; frames are decoded separately.")


# --- recognisers --------------------------------------------------------------------


def comfyui_video(metadata: Metadata) -> Finding | None:
    """ComfyUI's Video Helper Suite: ``{"prompt": ..., "workflow": ...}`` JSON in ``comment``."""
    for key, value in metadata.text.items():
        if _tag_name(key) != "comment" or not value.lstrip().startswith("{"):
            continue
        try:
            record = json.loads(value)
        except (ValueError, RecursionError):
            continue
        if not isinstance(record, dict):
            continue
        graphs = {
            name: part if isinstance(part, str) else json.dumps(part)
            for name in ("prompt", "workflow")
            if (part := record.get(name)) is not None
        }
        finding = comfyui(Metadata(text=graphs)) if graphs else None
        if finding is not None:
            where = f"in the {_where(key)} (Video Helper Suite)"
            return Finding(finding.strength, _COMFY_FIELDS.sub(where, finding.detail, count=1))
    return None


def named_tool(metadata: Metadata) -> Finding | None:
    """A generator named in a container tag, else in XMP ``CreatorTool`` (as for images)."""
    return named_video_tool(metadata) or named_generator(metadata)


def named_video_tool(metadata: Metadata) -> Finding | None:
    """A known video or image generator, or face-swap tool, named in a software tag."""
    for key, value in metadata.text.items():
        if _tag_name(key) not in _TOOL_KEYS:
            continue
        head = value[:_TAG_MAX_CHARS]
        for name, pattern in (*VIDEO_GENERATORS, *KNOWN_GENERATORS):
            if pattern.search(head):
                return Finding(
                    Strength.MODERATE,
                    f"{_where(key)} names the generator {name}: '{clean_text(value, 60)}'",
                )
    return None


def _tag_name(key: str) -> str:
    """``"stream 0:com.apple.quicktime.software"`` -> ``"software"``."""
    name = key.rpartition(STREAM_SEPARATOR)[2].lower()
    return name.rpartition(".")[2]


def _where(key: str) -> str:
    stream, _, tag = key.rpartition(STREAM_SEPARATOR)
    tag = clean_text(tag, 60)
    return f"{stream} tag '{tag}'" if stream else f"container tag '{tag}'"


# --- the detector ---------------------------------------------------------------------


class ContainerProvenance:
    """Evidence of AI generation in a video container. Build with :meth:`from_settings`."""

    def __init__(self, c2pa: C2paChecker | None = None) -> None:
        self.detector = SyntheticDetector(
            [
                c2pa or C2paChecker(),
                XmpSourceTypeChecker(),
                GeneratorMetadataChecker(records=(comfyui_video, *RECORDS), names=named_tool),
            ]
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ContainerProvenance:
        return cls(C2paChecker.from_settings(settings))

    def inspect(self, data: bytes, sniffed: Sniffed, media: Media) -> Synthetic:
        """The evidence in the container; never raises for a bad file."""
        return self.detector.inspect(container_picture(data, sniffed, media))
