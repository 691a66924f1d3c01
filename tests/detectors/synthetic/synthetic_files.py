"""Builders of test files, written the way the real tools write them.

PNG text chunks, EXIF big-endian with a UTF-16BE UserComment like piexif (and so
AUTOMATIC1111), XMP packets; all in memory. Imported by the synthetic tests
(pytest puts this folder on ``sys.path``; the module name is unique on purpose).
"""

from __future__ import annotations

import datetime
import functools
import importlib.util
import io
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import c2pa
import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from numpy.typing import NDArray
from PIL import ExifTags, Image, PngImagePlugin

CONFORMANCE = Path(__file__).resolve().parents[4] / "shared" / "conformance"
PHOTOS = sorted(
    p
    for p in (CONFORMANCE / "pdq").rglob("*")
    if p.suffix.lower() in {".jpg", ".png", ".webp"} and p.stat().st_size > 2000
)
"""ThreatExchange's conformance photos (the bridge and its edits, one in many modes)."""

Array = NDArray[np.uint8]


def encode_png(
    rgb: Array, text: Mapping[str, str] | None = None, itxt: Mapping[str, str] | None = None
) -> bytes:
    """A PNG with tEXt chunks (``text``) and iTXt chunks (``itxt``, UTF-8)."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    for key, value in (itxt or {}).items():
        info.add_itxt(key, value)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def exif_block(ifd0: Mapping[int, Any], exif_ifd: Mapping[int, Any] | None = None) -> bytes:
    """EXIF bytes, big-endian ("MM") as piexif (and so AUTOMATIC1111) writes them."""
    exif = Image.Exif()
    exif.endian = ">"
    for tag, value in ifd0.items():
        exif[tag] = value
    if exif_ifd:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        sub.update(exif_ifd)
    data = exif.tobytes()
    assert data.startswith(b"Exif\x00\x00MM")
    return data


def encode_jpeg(
    rgb: Array, exif: bytes | None = None, xmp: bytes | None = None, quality: int = 90
) -> bytes:
    options: dict[str, Any] = {"quality": quality}
    if exif is not None:
        options["exif"] = exif
    if xmp is not None:
        options["xmp"] = xmp
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", **options)
    return buf.getvalue()


def encode_webp(rgb: Array, exif: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "WEBP", quality=90, exif=exif or b"")
    return buf.getvalue()


def user_comment_utf16be(text: str) -> bytes:
    """An EXIF UserComment exactly as ``piexif.helper.UserComment.dump(text, "unicode")``."""
    return b"UNICODE\x00" + text.encode("utf-16-be")


def xmp_packet(description_attrs: str = "", body: str = "") -> bytes:
    """A minimal XMP packet with the IPTC extension and xmp namespaces declared."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about=""'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"'
        f" {description_attrs}>{body}</rdf:Description>"
        "</rdf:RDF></x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


# --- C2PA --------------------------------------------------------------------------

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


@dataclass(frozen=True)
class Chain:
    """A test CA and an end-entity signing certificate, PEM encoded."""

    root_pem: bytes
    chain_pem: bytes
    key_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "jikimi test CA"),
        ]
    )


def make_chain(ocsp_url: str | None = None) -> Chain:
    """An ECDSA P-256 root and a C2PA-capable end-entity certificate signed by it.

    C2PA wants a v3 end-entity certificate (not self-signed) with the
    digitalSignature key usage and an EKU from its list (emailProtection here).
    """
    now = datetime.datetime.now(datetime.UTC)
    validity = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=30))
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("jikimi test root"))
        .issuer_name(_name("jikimi test root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("Test Diffusion Service"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
    )
    if ocsp_url is not None:
        access = x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
        )
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), False)
    cert = builder.sign(root_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    return Chain(
        root_pem=root.public_bytes(pem),
        chain_pem=cert.public_bytes(pem) + root.public_bytes(pem),
        key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


INGREDIENT_LABEL = "parent-image"
DIGITAL_CREATION = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCreation"


def manifest(
    source_type: str | None = TRAINED,
    generator: str = "Test Diffusion",
    label: str = "c2pa.actions",
    action: str = "c2pa.created",
) -> dict[str, Any]:
    """A manifest definition with one action (``c2pa.created`` needs a source type;
    ``c2pa.opened`` refers to the ingredient that :func:`sign` adds)."""
    step: dict[str, Any] = {"action": action, "softwareAgent": {"name": generator}}
    if action == "c2pa.opened":
        step["parameters"] = {"ingredientIds": [INGREDIENT_LABEL]}
    if source_type is not None:
        step["digitalSourceType"] = source_type
    return {
        "claim_generator_info": [{"name": generator, "version": "2.0"}],
        "title": "image",
        "assertions": [{"label": label, "data": {"actions": [step]}}],
    }


def sign(
    data: bytes,
    mime: str,
    chain: Chain,
    definition: dict[str, Any],
    remote_url: str | None = None,
    ingredient: bytes | None = None,
) -> bytes:
    """``data`` with a C2PA manifest signed by ``chain`` (no TSA, no network).

    ``remote_url``: do not embed; point to the manifest at that URL instead.
    ``ingredient``: a signed asset added as the parent ingredient.
    """
    info = c2pa.C2paSignerInfo(b"es256", chain.chain_pem, chain.key_pem, None)
    context = c2pa.Context.from_dict(
        {
            "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
            "core": {"allowed_network_hosts": []},
            "builder": {"thumbnail": {"enabled": False}},
        }
    )
    with (
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder(definition, context=context) as builder,
    ):
        if remote_url is not None:
            builder.set_no_embed()
            builder.set_remote_url(remote_url)
        if ingredient is not None:
            builder.add_ingredient(
                {"title": "parent", "relationship": "parentOf", "label": INGREDIENT_LABEL},
                mime,
                io.BytesIO(ingredient),
            )
        out = io.BytesIO()
        builder.sign(signer, mime, io.BytesIO(data), out)
    context.close()
    return out.getvalue()


# --- invisible-watermark ------------------------------------------------------------


@functools.cache
def package_max_dct() -> ModuleType:
    """The ``invisible-watermark`` package's ``imwatermark/maxDct.py``, loaded by path.

    ``import imwatermark`` runs its ``__init__``, which imports the RivaGAN method
    and so torch, which jikimi does not install. The dwtDct method lives in
    ``maxDct.py`` alone and needs only numpy, OpenCV and PyWavelets, so loading
    that one file with ``spec_from_file_location`` gives the package's real
    encoder and decoder without ``__init__``.
    """
    site = next(Path(p) for p in sys.path if (Path(p) / "imwatermark" / "maxDct.py").exists())
    spec = importlib.util.spec_from_file_location(
        "_imwatermark_maxdct", site / "imwatermark" / "maxDct.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def embed_watermark(rgb: Array, bits: tuple[int, ...], floats: bool = False) -> Array:
    """``rgb`` watermarked by the package's dwtDct encoder with ``bits``.

    ``EmbedMaxDct(bits, wmLen=len(bits))`` with its default ``scales=[0, 36, 36]``
    and ``block=4`` is what ``WatermarkEncoder.encode(image, "dwtDct")`` builds;
    the encoder takes BGR. ``floats``: as diffusers' and Stability's SDXL
    pipelines do it, on float32 pixels in 0..255, then clamped and rounded.
    """
    bgr: Any = np.ascontiguousarray(rgb[:, :, ::-1])
    encoder = package_max_dct().EmbedMaxDct(list(bits), wmLen=len(bits))
    if floats:
        out = encoder.encode(bgr.astype(np.float32))
        return np.clip(np.round(out[:, :, ::-1]), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(encoder.encode(bgr.copy())[:, :, ::-1])


def package_decode(rgb: Array, length: int) -> NDArray[np.bool_]:
    """The bits the package's own dwtDct decoder reads from ``rgb``."""
    decoder = package_max_dct().EmbedMaxDct([], wmLen=length)
    return np.asarray(decoder.decode(np.ascontiguousarray(rgb[:, :, ::-1])), dtype=bool)
