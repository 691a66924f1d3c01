"""C2PA Content Credentials that declare AI generation.

Generators that sign their output (OpenAI, Adobe Firefly, Google, Microsoft,
...) write a C2PA manifest whose ``c2pa.actions`` assertion says how the image
came to be; a ``digitalSourceType`` of ``trainedAlgorithmicMedia`` (or
``compositeWithTrainedAlgorithmicMedia`` for AI edits of a real picture) is
the tool's own, signed statement that AI made it.

How much that statement weighs depends on validation (``docs/synthetic.md``):

=====================================================  ========
the active manifest declares it, signature valid         strong
(trusted, or signer not on a configured trust list)
the active manifest declares it, validation failed       moderate
only an ingredient's manifest declares it                moderate
=====================================================  ========

Without configured trust anchors every real signer is "untrusted"; the detail
sentence says so rather than hiding it. A manifest with no AI declaration is
not evidence (and not evidence of a camera either). Reading never touches the
network: remote manifests, OCSP and every host are disabled in the SDK
settings, so a hostile file cannot make a scanner call out.
"""

from __future__ import annotations

import functools
import io
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import c2pa

from jikimi.detectors.synthetic.base import Checker, SourceType, clean_text, parse_source_type
from jikimi.media.picture import Picture
from jikimi.model import Evidence, EvidenceKind, Strength

log = logging.getLogger(__name__)

OFFLINE_SETTINGS: Final[Mapping[str, Any]] = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    # An empty allow-list denies every host: defence in depth should a future
    # SDK version add another fetch.
    "core": {"allowed_network_hosts": []},
}
"""c2pa SDK settings for reading without any network access."""

_MAX_DEPTH: Final = 12
"""How deep into assertion data to look for ``digitalSourceType`` keys."""


class Validation(StrEnum):
    """The SDK's verdict on the manifest store (``Reader.get_validation_state``)."""

    TRUSTED = "Trusted"
    VALID = "Valid"
    INVALID = "Invalid"


@dataclass(frozen=True)
class Declaration:
    """An AI source type found in one manifest."""

    source_type: SourceType
    active: bool
    generator: str | None
    agent: str | None


class C2paChecker(Checker):
    """Strong evidence: a C2PA manifest declaring an AI digital source type."""

    def __init__(self, trust_anchors: str | None = None) -> None:
        """``trust_anchors``: PEM root certificates to report signers as trusted."""
        self.trust_anchors = trust_anchors
        self._context: c2pa.Context | None = None

    @classmethod
    def get_name(cls) -> str:
        return "c2pa"

    def __getstate__(self) -> dict[str, Any]:
        # The SDK context is a native handle: rebuild it lazily after pickling
        # (process pools, Ray actors).
        return {"trust_anchors": self.trust_anchors, "_context": None}

    def context(self) -> c2pa.Context:
        """The offline SDK context, built once on first use."""
        if self._context is None:
            settings: dict[str, Any] = dict(OFFLINE_SETTINGS)
            if self.trust_anchors:
                settings["trust"] = {"user_anchors": self.trust_anchors}
            self._context = c2pa.Context.from_dict(settings)
        return self._context

    def check(self, picture: Picture) -> tuple[Evidence, ...]:
        if not picture.data:
            return ()
        store = self._read(picture)
        if store is None:
            return ()
        return _evidence(*store)

    def _read(self, picture: Picture) -> tuple[dict[str, Any], Validation, list[str]] | None:
        """The manifest store as JSON, its validation state and failure codes."""
        if picture.mime not in _supported_mime_types():
            return None
        try:
            reader = c2pa.Reader.try_create(
                picture.mime, io.BytesIO(picture.data), None, self.context()
            )
            if reader is None:  # no manifest: the common case
                return None
            with reader:
                store = json.loads(reader.json())
                state = _validation(reader.get_validation_state())
                failures = _failure_codes(reader.get_validation_results())
        except (c2pa.C2paError, ValueError, RecursionError) as exc:
            log.info("C2PA manifest unreadable, ignored: %s", clean_text(str(exc), 200))
            return None
        if not isinstance(store, dict):
            return None
        return store, state, failures


@functools.cache
def _supported_mime_types() -> frozenset[str]:
    return frozenset(c2pa.Reader.get_supported_mime_types())


def _validation(state: str | None) -> Validation:
    """The SDK's state string as an enum; anything unknown counts as invalid."""
    try:
        return Validation(state or "")
    except ValueError:
        return Validation.INVALID


def _failure_codes(results: Any) -> list[str]:
    """Validation failure codes of the active manifest."""
    if not isinstance(results, dict):
        return []
    active = results.get("activeManifest")
    failures = active.get("failure", []) if isinstance(active, dict) else []
    return [str(f.get("code")) for f in failures if isinstance(f, dict) and f.get("code")]


def _evidence(
    store: dict[str, Any], state: Validation, failures: list[str]
) -> tuple[Evidence, ...]:
    """One evidence item: the strongest declaration in the store, if any."""
    declarations = list(_declarations(store))
    if not declarations:
        return ()
    best = min(declarations, key=lambda d: (not d.active, d.source_type is SourceType.ALGORITHMIC))
    # A valid claim by the image's own manifest is strong; a broken binding
    # (edited after signing, tampered) or a claim about an ingredient is not.
    sound = best.active and state is not Validation.INVALID
    strength = Strength.STRONG if sound else Strength.MODERATE
    where = "C2PA manifest" if best.active else "C2PA manifest of an ingredient"
    by = f" by '{best.generator}'" if best.generator else ""
    agent = f", action by '{best.agent}'" if best.agent and best.agent != best.generator else ""
    return (
        Evidence(
            kind=EvidenceKind.C2PA,
            strength=best.source_type.strength(strength),
            detail=(
                f"{where}{by} declares digitalSourceType {best.source_type.value} "
                f"({best.source_type.meaning}){agent}; "
                f"{_describe_validation(state, failures, _signer(store))}"
            ),
        ),
    )


def _describe_validation(state: Validation, failures: list[str], signer: str | None) -> str:
    who = f"signer {signer}" if signer else "signer"
    if state is Validation.TRUSTED:
        return f"valid signature, trusted {who}"
    if state is Validation.VALID:
        if "signingCredential.untrusted" in failures:
            return f"valid signature, {who} not on a configured trust list"
        return "valid signature"
    shown = ", ".join(clean_text(code, 60) for code in failures[:3]) or "unknown failure"
    return f"validation failed: {shown}"


def _signer(store: dict[str, Any]) -> str | None:
    """``'name' (issuer 'org')`` of the active manifest's signing certificate."""
    active = _manifests(store).get(str(store.get("active_manifest")))
    info = active.get("signature_info") if active else None
    if not isinstance(info, dict):
        return None
    name = clean_text(str(info.get("common_name") or ""), 60)
    issuer = clean_text(str(info.get("issuer") or ""), 60)
    if name and issuer and issuer != name:
        return f"'{name}' (issuer '{issuer}')"
    return f"'{name or issuer}'" if name or issuer else None


def _manifests(store: dict[str, Any]) -> dict[str, dict[str, Any]]:
    manifests = store.get("manifests")
    if not isinstance(manifests, dict):
        return {}
    return {str(k): v for k, v in manifests.items() if isinstance(v, dict)}


def _declarations(store: dict[str, Any]) -> Iterator[Declaration]:
    """AI source types declared by any manifest in the store."""
    active_label = str(store.get("active_manifest"))
    for label, manifest in _manifests(store).items():
        generator = _generator(manifest)
        assertions = manifest.get("assertions")
        if not isinstance(assertions, list):
            continue
        for assertion in assertions:
            if not isinstance(assertion, dict):
                continue
            for source_type, agent in _source_types(assertion.get("data"), None, 0):
                yield Declaration(source_type, label == active_label, generator, agent)


def _source_types(
    node: Any, agent: str | None, depth: int
) -> Iterator[tuple[SourceType, str | None]]:
    """Every AI ``digitalSourceType`` value in assertion data, with the action's agent.

    Searching all keys (not only ``c2pa.actions``) also finds the IPTC form
    ``Iptc4xmpExt:DigitalSourceType`` in ``stds.iptc`` assertions.
    """
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, list):
        for item in node:
            yield from _source_types(item, agent, depth + 1)
        return
    if not isinstance(node, dict):
        return
    agent = _agent(node.get("softwareAgent")) or agent
    for key, value in node.items():
        if str(key).lower().endswith("digitalsourcetype") and isinstance(value, str):
            source_type = parse_source_type(value)
            if source_type is not None:
                yield source_type, agent
        else:
            yield from _source_types(value, agent, depth + 1)


def _agent(value: Any) -> str | None:
    """An action's ``softwareAgent``: a string (v1) or ``{"name": ...}`` (v2)."""
    if isinstance(value, dict):
        value = value.get("name")
    if not isinstance(value, str):
        return None
    return clean_text(value, 60) or None


def _generator(manifest: dict[str, Any]) -> str | None:
    """The tool that made the claim: ``claim_generator_info`` or ``claim_generator``."""
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict) and info[0].get("name"):
        first = info[0]
        version = f" {first['version']}" if first.get("version") else ""
        return clean_text(f"{first['name']}{version}", 60)
    generator = manifest.get("claim_generator")
    if isinstance(generator, str) and generator:
        return clean_text(generator, 60)
    return None
