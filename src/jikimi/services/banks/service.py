"""The bank service: its parts, by concern, put together as one object."""

from __future__ import annotations

from jikimi.services.banks.banks import BankOps
from jikimi.services.banks.entries import EntryOps
from jikimi.services.banks.transfer import TransferOps
from jikimi.services.banks.variants import VariantOps


class BankService(BankOps, EntryOps, TransferOps, VariantOps):
    """Create, read, change, share and delete banks; add, list, withdraw, import, export
    entries; compute old entries' variants (``reindex``).

    ``BankService(store, *, settings=None, listener=None)``: ``settings`` gives the
    media limits for ``add_media_entry``; ``listener`` (a
    :class:`~jikimi.services.banks.BankListener`, the matching service) is told after
    each commit which entries started or stopped matching and which banks changed.
    """
