"""``sniff``: formats by magic bytes, including videos and common non-media files."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PIL import Image

from jikimi.domain import MediaKind
from jikimi.media import FileFormat, sniff
from jikimi.media.sniff import SNIFF_BYTES

Encode = Callable[..., bytes]


@pytest.mark.parametrize(
    ("pillow_format", "expected", "mime"),
    [
        ("JPEG", FileFormat.JPEG, "image/jpeg"),
        ("PNG", FileFormat.PNG, "image/png"),
        ("WEBP", FileFormat.WEBP, "image/webp"),
        ("GIF", FileFormat.GIF, "image/gif"),
        ("BMP", FileFormat.BMP, "image/bmp"),
        ("TIFF", FileFormat.TIFF, "image/tiff"),
    ],
)
def test_sniffs_images_written_by_pillow(
    cat: Image.Image, encode: Encode, pillow_format: str, expected: FileFormat, mime: str
) -> None:
    data = encode(cat, pillow_format)
    found = sniff(data)
    assert (found.format, found.mime, found.kind) == (expected, mime, MediaKind.IMAGE)
    # a prefix is enough (the CLI sniffs only the first bytes of each file)
    assert sniff(data[:SNIFF_BYTES]).format is expected


def test_format_values_are_the_lowercase_names_used_in_verdicts() -> None:
    assert FileFormat.JPEG == "jpeg"
    assert sniff(b"GIF89a" + bytes(20)).format.value == "gif"


VIDEOS = {
    "mp4": b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",
    "mp4 (mp42)": b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",
    "3gp": b"\x00\x00\x00\x14ftyp3gp5\x00\x00\x00\x00",
    "mov": b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ",
    "old mov": b"\x00\x00\x00\x08wide\x00\x10\x00\x00mdat",
    "webm": bytes.fromhex("1a45dfa39f4286810142f7810142f2810442f381084282847765626d"),
    "mkv": bytes.fromhex("1a45dfa3a34286810142f7810142f2810442f3810842828a6d6174726f736b61"),
    "avi": b"RIFF\x24\x00\x10\x00AVI LIST\x00\x01\x00\x00hdrlavih",
    "flv": b"FLV\x01\x05\x00\x00\x00\x09",
    "wmv": bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"),
}


@pytest.mark.parametrize("name", sorted(VIDEOS))
def test_sniffs_video_containers_as_video(name: str) -> None:
    found = sniff(VIDEOS[name])
    assert found.kind is MediaKind.VIDEO, found
    assert found.mime.startswith("video/")


def test_tells_webm_from_mkv_and_mov_from_mp4() -> None:
    assert sniff(VIDEOS["webm"]).format is FileFormat.WEBM
    assert sniff(VIDEOS["mkv"]).format is FileFormat.MKV
    assert sniff(VIDEOS["mov"]).format is FileFormat.MOV
    assert sniff(VIDEOS["mp4"]).format is FileFormat.MP4


def test_mpeg_transport_stream_needs_two_packets() -> None:
    packet = b"\x47\x40\x00\x10" + bytes(184)
    assert sniff(packet * 3).format is FileFormat.MPEG_TS
    assert sniff(packet[:SNIFF_BYTES]).format is not FileFormat.MPEG_TS


@pytest.mark.parametrize(
    ("data", "expected", "kind"),
    [
        (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic", FileFormat.HEIC, MediaKind.IMAGE),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00mif1avif", FileFormat.AVIF, MediaKind.IMAGE),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avif", FileFormat.AVIF, MediaKind.IMAGE),
        # iPhone, HEIF sample, Samsung burst, HEVC sequence: HEIF; AV1 brands: AVIF
        (b"\x00\x00\x00\x20ftypheic\x00\x00\x00\x00mif1MiHBheic", FileFormat.HEIC, MediaKind.IMAGE),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", FileFormat.HEIC, MediaKind.IMAGE),
        (b"\x00\x00\x00\x18ftypheis\x00\x00\x00\x00mif1heis", FileFormat.HEIC, MediaKind.IMAGE),
        (b"\x00\x00\x00\x18ftypmsf1\x00\x00\x00\x00msf1hevc", FileFormat.HEIC, MediaKind.IMAGE),
        (b"\x00\x00\x00\x18ftypmsf1\x00\x00\x00\x00msf1avis", FileFormat.AVIF, MediaKind.IMAGE),
        (b"\x00\x00\x00\x1cftypavis\x00\x00\x00\x00avismsf1iso8", FileFormat.AVIF, MediaKind.IMAGE),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1MA1B", FileFormat.AVIF, MediaKind.IMAGE),
        # "avif" after the end of the ftyp box is not a compatible brand
        (b"\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1avif", FileFormat.HEIC, MediaKind.IMAGE),
        (b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00", FileFormat.M4A, None),
        (
            b"<?xml version='1.0'?>\n<svg xmlns='http://www.w3.org/2000/svg'>",
            FileFormat.SVG,
            MediaKind.IMAGE,
        ),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", FileFormat.PDF, None),
        (b"PK\x03\x04\x14\x00\x06\x00", FileFormat.ZIP, None),
        (b"\x1f\x8b\x08\x00", FileFormat.GZIP, None),
        (b"\x7fELF\x02\x01\x01", FileFormat.ELF, None),
        (b"MZ\x90\x00\x03", FileFormat.EXE, None),
        (b"ID3\x04\x00\x00", FileFormat.MP3, None),
        (b"RIFF\x24\x08\x00\x00WAVEfmt ", FileFormat.WAV, None),
        (b"  <!DOCTYPE html>\n<html lang=ko>", FileFormat.HTML, None),
        (b"<?xml version='1.0'?><feed/>", FileFormat.XML, None),
        ("안녕하세요, this is a note.\n".encode(), FileFormat.TEXT, None),
        (b"I'm free to go", FileFormat.TEXT, None),  # "free" at offset 4 is not a MOV atom
        (b"Good morning", FileFormat.TEXT, None),  # "G" is not an MPEG-TS sync byte
    ],
)
def test_sniffs_other_files_so_errors_can_name_them(
    data: bytes, expected: FileFormat, kind: MediaKind | None
) -> None:
    found = sniff(data)
    assert (found.format, found.kind) == (expected, kind)
    assert found.description


def test_text_cut_inside_a_multibyte_character_is_still_text() -> None:
    data = ("가" * 40).encode()  # 3 bytes each: 64 is not a multiple of 3
    assert sniff(data[:SNIFF_BYTES]).format is FileFormat.TEXT


@pytest.mark.parametrize(
    "data", [b"", b"\x00" * 1000, bytes(range(256)), b"BM" + bytes(40), b"\xff\xd8"]
)
def test_unknown_bytes_are_unknown_not_an_error(data: bytes) -> None:
    found = sniff(data)
    assert found.format is FileFormat.UNKNOWN
    assert found.kind is None
