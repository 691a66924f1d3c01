"""XMP metadata: the IPTC ``DigitalSourceType`` property, and a safe XMP reader.

Midjourney, Google, Meta, Adobe, Shutterstock and others tag their output with
``Iptc4xmpExt:DigitalSourceType = .../trainedAlgorithmicMedia`` in the XMP
packet, the same vocabulary C2PA uses. It is unsigned (anyone can add or strip
it) but it is an explicit declaration by the tool, so a well-formed one is
strong evidence; one recovered from a malformed packet by text search is
moderate.

The XMP reader is shared with :mod:`.generators` (``xmp:CreatorTool``). XMP is
attacker-controlled XML: packets with a DTD are refused (XMP never has one, and
a DTD is where entity-expansion and external-entity attacks live), the size is
capped, and the tree is walked iteratively, so a hostile packet costs bounded
time and never raises out of this module.
"""

from __future__ import annotations

import functools
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from jikimi.detectors.synthetic.base import Checker, SourceType, clean_text, parse_source_type
from jikimi.domain import Evidence, EvidenceKind, Strength
from jikimi.media.picture import Metadata, Picture

log = logging.getLogger(__name__)

MAX_XMP_CHARS: Final = 4 * 1024 * 1024
"""Larger packets are not parsed (JPEG extended XMP stays well below this)."""

RDF: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
IPTC_EXT: Final = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"

PREFIXES: Final = {
    IPTC_EXT: "Iptc4xmpExt",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://ns.useplus.org/ldf/xmp/1.0/": "plus",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#": "stEvt",
}
"""Conventional prefixes, to name properties the way people read them."""

_SOURCE_TYPE_NAMES: Final = frozenset({"digitalsourcetype", "digitalsourcefiletype"})
"""Local names that carry the IPTC source type (the second is its older name)."""

_RDF_SKIPPED_ATTRS: Final = frozenset(
    {f"{{{RDF}}}{n}" for n in ("about", "parseType", "ID", "nodeID", "datatype", "resource")}
)
_DTD_RE: Final = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)

# For packets that do not parse: attribute form ``DigitalSourceType="v"`` and
# element form ``DigitalSourceType ...>v</`` (or ``rdf:resource="v"``), matched
# in a bounded window after each occurrence of the name (at most
# _FALLBACK_MAX_MATCHES of them), so the cost stays linear in the packet's size
# whatever a hostile packet holds.
_FALLBACK_ANCHOR: Final = re.compile("digitalsource", re.IGNORECASE)
_FALLBACK_RE: Final = re.compile(
    r"""DigitalSource(?:File)?Type\s{0,20}=\s{0,20}(["'])(?P<attr>[^"'<>]{1,300})\1"""
    r"""|DigitalSource(?:File)?Type\b(?P<tag>[^<>]{0,300})>(?P<text>[^<]{0,300})""",
    re.IGNORECASE,
)
_FALLBACK_WINDOW: Final = 700
_FALLBACK_MAX_MATCHES: Final = 32
"""A real packet names its source type once or twice; a hostile one, endlessly."""
_RESOURCE_RE: Final = re.compile(r"""resource\s{0,20}=\s{0,20}(["'])([^"']{1,300})\1""")


@dataclass(frozen=True)
class XmpProperty:
    """One simple value in an XMP packet (array items repeat their property)."""

    namespace: str
    name: str
    value: str

    @property
    def qualified(self) -> str:
        """``prefix:name`` with the conventional prefix, else ``{uri}name``."""
        prefix = PREFIXES.get(self.namespace)
        return f"{prefix}:{self.name}" if prefix else f"{{{self.namespace}}}{self.name}"


def xmp_packet(metadata: Metadata) -> str | None:
    """The XMP packet, from the loader or a PNG ``XML:com.adobe.xmp`` text chunk."""
    return metadata.xmp or metadata.text.get("XML:com.adobe.xmp")


@functools.lru_cache(maxsize=4)
def xmp_properties(packet: str) -> tuple[XmpProperty, ...] | None:
    """Every simple property value in ``packet``; None if it is not safe, well-formed XML.

    Cached because several checkers read the same packet during one scan.
    """
    if len(packet) > MAX_XMP_CHARS or _DTD_RE.search(packet):
        return None
    try:
        root = ET.fromstring(packet.strip("\x00 \t\r\n\ufeff"))
    except (ET.ParseError, ValueError):
        return None
    return tuple(_walk(root))


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def _walk(root: ET.Element) -> Iterator[XmpProperty]:
    """Flatten the RDF tree: attributes, element text and ``rdf:resource`` values.

    Items of ``rdf:Bag``/``Seq``/``Alt`` are reported under the property that
    holds the array. Iterative, so deep nesting cannot exhaust the stack.
    """
    stack: list[tuple[ET.Element, str | None]] = [(root, None)]
    while stack:
        element, owner = stack.pop()
        if not isinstance(element.tag, str):  # comments, processing instructions
            continue
        if not element.tag.startswith(f"{{{RDF}}}"):  # rdf:Description, Bag, li ...
            owner = element.tag
        for attr, value in element.attrib.items():
            if attr == f"{{{RDF}}}resource" and owner is not None:
                yield XmpProperty(*_split(owner), value)
            elif attr not in _RDF_SKIPPED_ATTRS and not attr.startswith("{http://www.w3.org/"):
                yield XmpProperty(*_split(attr), value)
        text = (element.text or "").strip()
        if text and owner is not None and len(element) == 0:
            yield XmpProperty(*_split(owner), text)
        stack.extend((child, owner) for child in reversed(element))


def _fallback_source_types(packet: str) -> Iterator[tuple[str, SourceType]]:
    """Source types recovered from a packet that does not parse, by text search."""
    position = 0
    for _ in range(_FALLBACK_MAX_MATCHES):
        anchor = _FALLBACK_ANCHOR.search(packet, position, MAX_XMP_CHARS)
        if anchor is None:
            return
        position = anchor.end()
        match = _FALLBACK_RE.match(packet[anchor.start() : anchor.start() + _FALLBACK_WINDOW])
        if match is None:
            continue
        candidates = [match.group("attr"), match.group("text")]
        resource = _RESOURCE_RE.search(match.group("tag") or "")
        if resource:
            candidates.append(resource.group(2))
        for candidate in candidates:
            source_type = parse_source_type(candidate) if candidate else None
            if source_type is not None:
                yield "DigitalSourceType", source_type


class XmpSourceTypeChecker(Checker):
    """Strong evidence: XMP ``Iptc4xmpExt:DigitalSourceType`` names an AI source type."""

    @classmethod
    def get_name(cls) -> str:
        return "xmp_source_type"

    def check(self, picture: Picture) -> tuple[Evidence, ...]:
        packet = xmp_packet(picture.metadata)
        if not packet:
            return ()
        properties = xmp_properties(packet)
        if properties is None:
            log.info("XMP packet is not well-formed XML; searching it as text")
            found = list(dict.fromkeys(_fallback_source_types(packet)))
            how, strength = " (XMP packet is malformed; found by text search)", Strength.MODERATE
        else:
            found = list(
                dict.fromkeys(
                    (p.qualified, source_type)
                    for p in properties
                    if p.name.lower() in _SOURCE_TYPE_NAMES
                    and (source_type := parse_source_type(p.value)) is not None
                )
            )
            how, strength = "", Strength.STRONG
        return tuple(
            Evidence(
                kind=(
                    EvidenceKind.ALGORITHMIC_MEDIA
                    if source_type is SourceType.ALGORITHMIC
                    else EvidenceKind.IPTC_SOURCE_TYPE
                ),
                strength=source_type.strength(strength),
                detail=(
                    f"XMP {clean_text(name, 100)} declares {source_type.value} "
                    f"({source_type.meaning}){how}"
                ),
            )
            for name, source_type in found
        )
