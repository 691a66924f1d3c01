"""What API replicas sharing one database must agree on, checked when a process starts.

Replicas share the database and the blob store, never a disk. The keys that seal
evidence and sign bundles must therefore be the same in every process, and must
come from the settings (a secret store, ``JIKIMI_EVIDENCE_KEY`` and
``JIKIMI_INSTANCE_KEY``) rather than being made on first use in each data
directory. A replica that made its own would seal evidence no other replica can
open and sign bundles with a key nobody pinned.

The database keeps only each key's fingerprint (``shared_state``: ``key:<name>``),
never the key: the first process to start records it, and every later process
whose key differs refuses to start with a message naming the setting. Keeping
the keys themselves in the database would put the key beside the data it
protects, in the same backups.

Face templates carry their key's id on every row already: a replica with another
face key reports ``template_key`` errors instead of matching nobody (set the same
``JIKIMI_FACE_KEY`` everywhere; ``JIKIMI_FACE_KEY_REQUIRED=1`` refuses the file
fallback).
"""

from __future__ import annotations

from collections.abc import Mapping

from jikimi.errors import ConfigError
from jikimi.services._common import now
from jikimi.store import Store
from jikimi.store import shared as shared_repo

SETTING_OF = {"evidence": "JIKIMI_EVIDENCE_KEY", "instance": "JIKIMI_INSTANCE_KEY"}


def pin_key_fingerprints(store: Store, fingerprints: Mapping[str, str]) -> None:
    """Record each key's fingerprint, or check it against the recorded one.

    Raises ConfigError naming the first key that differs from what the other
    processes of this database use.
    """
    with store.session(write=True) as s, s.begin():
        recorded = {
            name: shared_repo.pin(s, f"key:{name}", fingerprint, now())
            for name, fingerprint in fingerprints.items()
        }
    for name, fingerprint in fingerprints.items():
        if recorded[name] != fingerprint:
            setting = SETTING_OF.get(name, name)
            raise ConfigError(
                f"this process's {name} key (id {fingerprint}) is not the one the other "
                f"processes of this database use (id {recorded[name]}): give every replica "
                f"the same key ({setting}, from your secret store)"
            )
