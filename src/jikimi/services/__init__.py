"""Services: the one place that owns transactions, roles and tenant isolation.

Doors (the HTTP API, the CLI) authenticate a caller into a
:class:`~jikimi.domain.Principal` and call these; they never touch the store.
Every method checks the role first (:class:`~jikimi.errors.Forbidden`), then
visibility (:class:`~jikimi.errors.NotFound` for another tenant's things, so
nothing about them leaks), and runs in its own transaction::

    store = Store.from_settings(settings); migrate(settings)
    tenants = TenantService(store)      # operator (CLI): create(name) -> (Tenant, IssuedKey)
    keys = KeyService(store)            # authenticate(secret) -> Principal; issue/list/revoke
    banks = BankService(store, settings=settings, listener=match_service)
    report = banks.import_rows(principal, "KCSC_TAKEDOWNS",
                               read_rows(open("hashes.csv", "rb")), on_progress=bar.update)
    record = banks.import_file(principal, "KCSC_TAKEDOWNS", open("hashes.csv", "rb"))
    record = banks.import_file(..., resume=True)   # after a crash: go on where it stopped

What the bank service's signatures mean beyond their names:

- ``BankService(store, *, settings=None, listener=None)``: ``settings`` gives
  the media limits for ``add_media_entry``; ``listener`` (a
  :class:`~jikimi.services.banks.BankListener`, i.e. the MatchService) is told
  after each commit which entries started/stopped matching and which banks
  changed.
- Bank references (``name`` / ``bank`` parameters) accept a bank name (own
  bank first, then one shared with the caller) or a ``bnk_…`` id; two shared
  banks with the same name are a :class:`~jikimi.errors.Conflict` asking for
  the id.
- Extra methods: ``BankService.unshare``; ``TenantService.get(name)`` and
  ``TenantService.issue_key(tenant_name, role, name)`` (operator recovery when a
  tenant has lost its admin keys).
- ``list_entries(principal, bank, cursor=None, limit=100, *, status=None)``
  returns an :class:`~jikimi.domain.EntryPage` (``entries``, ``next_cursor``).
- ``add_media_entry(principal, bank, data, meta: EntryMeta | None)`` adds a PDQ
  entry; ``media_sha256`` is recorded always, the image itself only if the bank
  keeps evidence.
- ``import_rows(principal, bank, rows, on_progress=None, *, source=None,
  batch_size=20000)``: ``rows`` are :class:`~jikimi.domain.ImportRow` /
  :class:`~jikimi.domain.RowError` from :func:`importing.read_rows` or plain
  dicts; :class:`~jikimi.domain.ImportReport` also has ``rows`` and
  ``error_count`` (``errors`` keeps the first 1,000). Imports commit per batch
  (each batch all-or-nothing); re-running a file is safe. Batches are 20,000
  rows, not ~5,000: measured on SQLite, 5,000-row commits rewrite the unique
  index's pages four times as often and 1 M rows took ~2x longer.
- Withdrawn hashes stay in the bank as tombstones: adding the same hash again
  is a ``Conflict`` (single add) or a duplicate (import). Export writes the
  active entries only.
- ``export(principal, bank, fmt: RowFormat)`` with ``RowFormat`` = csv, json,
  jsonl; needs the ``bank_transfer`` permission (admin, curator).
- Roles: :data:`jikimi.domain.ROLE_PERMISSIONS` is the matrix; curators may
  also read scans.
- ``Settings.database_url`` is a ``str`` (default derived from ``data_dir``),
  not ``str | None``; ``max_upload_bytes`` defaults to ``max_bytes``.
"""

from __future__ import annotations

from jikimi.services.banks import BankListener, BankService
from jikimi.services.banks.rows import read_rows, write_rows
from jikimi.services.keys import KeyService
from jikimi.services.tenants import TenantService

__all__ = [
    "BankListener",
    "BankService",
    "KeyService",
    "TenantService",
    "read_rows",
    "write_rows",
]
