"""Sealed evidence: bytes kept encrypted at rest, and signed bundles anyone can check.

- :mod:`.keys`: the instance's Ed25519 signing key and the AES key for blobs at rest.
- :mod:`.sealing`: AES-GCM for evidence bytes on disk.
- :mod:`.bundle`: ``bundle.zip`` = the bytes + a manifest + an Ed25519 signature;
  :func:`~.bundle.verify_bundle` checks one offline and says exactly what changed.
"""

from jikimi.evidence.bundle import BundleReport, build_bundle, verify_bundle
from jikimi.evidence.keys import InstanceKey, load_or_create_secret
from jikimi.evidence.sealing import Sealer

__all__ = [
    "BundleReport",
    "InstanceKey",
    "Sealer",
    "build_bundle",
    "load_or_create_secret",
    "verify_bundle",
]
