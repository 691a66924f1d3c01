"""C2PA Content Credentials that declare AI generation.

Generators that sign their output (OpenAI, Adobe Firefly, Google, Microsoft,
...) write a C2PA manifest whose ``c2pa.actions`` assertion says how the image
came to be; a ``digitalSourceType`` of ``trainedAlgorithmicMedia`` (or
``compositeWithTrainedAlgorithmicMedia`` for AI edits of a real picture) is
the tool's own, signed statement that AI made it. Not every generator writes
one, so two more declarations count (see :class:`Basis`): an assertion whose
label declares AI (Adobe Firefly's ``com.adobe.generative-ai``), and an AI
generator's signed identity, as claim generator of a manifest that made or
changed the content (Microsoft Image Creator) or as the software agent of a
content action (generative fill: ``c2pa.placed`` by Firefly). Permissions
about training on the asset (CAWG ``training-mining``) never count, and
``algorithmicMedia`` (no trained model) is reported as its own, non-AI kind.

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
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Final

import c2pa

from jikimi.detectors.synthetic.base import Checker, SourceType, clean_text, parse_source_type
from jikimi.detectors.synthetic.generators import KNOWN_GENERATORS
from jikimi.domain import Evidence, EvidenceKind, Strength
from jikimi.media.picture import Picture

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


class Basis(IntEnum):
    """What a declaration rests on, most explicit first (the order evidence is chosen in)."""

    SOURCE = 0  # digitalSourceType trainedAlgorithmicMedia / compositeWith...
    ASSERTION = 1  # an assertion that declares AI by its label (com.adobe.generative-ai)
    TOOL = 2  # the claim generator or an action's software agent is an AI generator
    ALGORITHMIC = 3  # digitalSourceType algorithmicMedia: not AI, reported on its own


@dataclass(frozen=True)
class Declaration:
    """A declaration of AI generation found in one manifest."""

    what: str
    basis: Basis
    active: bool
    generator: str | None
    agent: str | None


AI_ASSERTIONS: Final[Mapping[str, str]] = {
    "com.adobe.generative-ai": "Adobe's declaration of generative-AI output",
}
"""Assertion labels that declare AI generation by themselves. CAWG and C2PA
``training-mining`` assertions are *permissions* about training on the asset
(``cawg.ai_generative_training: notAllowed``), not generation, and never count."""

NON_CONTENT_ACTIONS: Final = frozenset(
    {
        "c2pa.opened",
        "c2pa.published",
        "c2pa.converted",
        "c2pa.transcoded",
        "c2pa.repackaged",
        "c2pa.redacted",
        "c2pa.removed",
        "c2pa.watermarked",
        "c2pa.edited.metadata",
    }
)
"""Actions that do not make or change the pictured content."""

C2PA_GENERATORS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        (
            "Microsoft Image Creator",
            r"\bmicrosoft\s+responsible\s+ai\b|\bimage\s+creator\s+from\s+(?:microsoft\s+)?designer\b"
            r"|\bbing\s+image\s+creator\b",
        ),
        ("Amazon Titan", r"\btitan\s+image\s+generator\b|\bamazon\s+nova\s+canvas\b"),
    )
)
"""Generators as they name themselves in C2PA claims (with
:data:`~jikimi.detectors.synthetic.generators.KNOWN_GENERATORS`)."""


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
    """One evidence item: the strongest AI declaration in the store, else ``algorithmicMedia``."""
    declarations = list(_declarations(store))
    validation = _describe_validation(state, failures, _signer(store))
    ai = [d for d in declarations if d.basis is not Basis.ALGORITHMIC]
    if not ai:
        if not declarations:
            return ()
        best = min(declarations, key=lambda d: not d.active)
        return (
            Evidence(
                kind=EvidenceKind.ALGORITHMIC_MEDIA,
                strength=Strength.WEAK,
                detail=f"{_sentence(best)}; {validation}",
            ),
        )
    best = min(ai, key=lambda d: (not d.active, d.basis))
    # A valid claim by the image's own manifest is strong; a broken binding
    # (edited after signing, tampered, an invalid certificate) or a claim about
    # an ingredient is not. Trust changes the strength, never whether it counts.
    sound = best.active and state is not Validation.INVALID
    return (
        Evidence(
            kind=EvidenceKind.C2PA,
            strength=Strength.STRONG if sound else Strength.MODERATE,
            detail=f"{_sentence(best)}; {validation}",
        ),
    )


def _sentence(d: Declaration) -> str:
    where = "C2PA manifest" if d.active else "C2PA manifest of an ingredient"
    by = f" by '{d.generator}'" if d.generator else ""
    agent = f", action by '{d.agent}'" if d.agent and d.agent != d.generator else ""
    return f"{where}{by} {d.what}{agent}"


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
    """AI (and ``algorithmicMedia``) declarations made by any manifest in the store."""
    active_label = str(store.get("active_manifest"))
    for label, manifest in _manifests(store).items():
        active = label == active_label
        generator = _generator(manifest)
        assertions = manifest.get("assertions")
        if not isinstance(assertions, list):
            continue
        assertions = [a for a in assertions if isinstance(a, dict)]
        for assertion in assertions:
            for source_type, agent in _source_types(assertion.get("data"), None, 0):
                basis = Basis.ALGORITHMIC if source_type is SourceType.ALGORITHMIC else Basis.SOURCE
                what = f"declares digitalSourceType {source_type.value} ({source_type.meaning})"
                yield Declaration(what, basis, active, generator, agent)
        yield from _ai_assertions(assertions, active, generator)
        yield from _ai_tools(manifest, assertions, active, generator)


def _ai_assertions(
    assertions: list[dict[str, Any]], active: bool, generator: str | None
) -> Iterator[Declaration]:
    """Assertions whose label itself declares AI generation (Adobe Firefly's, 2023 on)."""
    for assertion in assertions:
        label = _bare_label(assertion.get("label"))
        meaning = AI_ASSERTIONS.get(label)
        if meaning is not None:
            what = f"carries the assertion '{label}' ({meaning}), without a digitalSourceType"
            yield Declaration(what, Basis.ASSERTION, active, generator, None)


def _ai_tools(
    manifest: dict[str, Any], assertions: list[dict[str, Any]], active: bool, generator: str | None
) -> Iterator[Declaration]:
    """An AI generator that signed the claim, or that performed an action on the content.

    Microsoft's Image Creator and early Firefly signed their output without a
    digitalSourceType: the signed identity of the tool is the declaration. The
    claim generator counts when its manifest records a content action (it made
    or changed the pixels); a ``softwareAgent`` counts on any content action
    (generative fill is ``c2pa.placed`` by Firefly inside a Photoshop manifest).
    """
    actions = [a for a in _actions(assertions) if a.get("action") not in NON_CONTENT_ACTIONS]
    for step in actions:
        agent = _agent(step.get("softwareAgent"))
        named = ai_generator(agent) if agent else None
        if named is not None:
            action = clean_text(str(step.get("action")), 40)
            what = (
                f"records action {action} by '{agent}' (the AI generator {named}), "
                "without a digitalSourceType"
            )
            yield Declaration(what, Basis.TOOL, active, generator, None)
            return
    for name in _generator_names(manifest):
        named = ai_generator(name)
        if named is not None and actions:
            first = clean_text(str(actions[0].get("action")), 40)
            shown = clean_text(name, 60)
            what = (
                f"was signed for the AI generator {named} (claim generator '{shown}', "
                f"action {first}), without a digitalSourceType"
            )
            agent = _agent(actions[0].get("softwareAgent"))
            yield Declaration(what, Basis.TOOL, active, None, agent)
            return


def _actions(assertions: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The steps of every ``c2pa.actions`` / ``c2pa.actions.v2`` assertion."""
    for assertion in assertions:
        if _bare_label(assertion.get("label")) != "c2pa.actions":
            continue
        data = assertion.get("data")
        steps = data.get("actions") if isinstance(data, dict) else None
        for step in steps if isinstance(steps, list) else ():
            if isinstance(step, dict):
                yield step


def _bare_label(label: Any) -> str:
    """An assertion label without its version (``.v2``) or instance (``__1``) suffix."""
    return _LABEL_SUFFIX.sub("", str(label or ""))


_LABEL_SUFFIX: Final = re.compile(r"(?:\.v\d+)?(?:__\d+)?$")


def ai_generator(text: str) -> str | None:
    """The AI generator named by a C2PA claim generator or software agent, or None.

    Claim generators are written ``Name_With_Underscores/1.0 lib/0.1``: underscores
    count as spaces. Only generator names count, never editors or cameras.
    """
    head = text[:_NAME_MAX_CHARS].replace("_", " ")
    for name, pattern in (*C2PA_GENERATORS, *KNOWN_GENERATORS):
        if pattern.search(head):
            return name
    return None


_NAME_MAX_CHARS: Final = 300


def _generator_names(manifest: dict[str, Any]) -> Iterator[str]:
    info = manifest.get("claim_generator_info")
    for item in info if isinstance(info, list) else ():
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            yield item["name"]
    generator = manifest.get("claim_generator")
    if isinstance(generator, str):
        yield generator


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
