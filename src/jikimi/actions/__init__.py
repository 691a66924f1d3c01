"""Consequences of a Verdict, written with it and delivered later (the design's ``actions``).

::

    ScanService stores Verdicts ─► (same transaction) ActionRecorder.on_stored
        events_of(verdict): scan.held (the decision holds or removes the item),
                            bank.matched (it matched a bank entry)
        ─► one outbox row per event the tenant's webhook subscribes to,
           key webhook:<event>:<scan id> (a retried request never queues it twice)
    WebhookDeliverer (any process, the casework runner's loop)
        claim (lease) ─► POST JSON signed HMAC-SHA256 (X-Jikimi-Signature), with
        Idempotency-Key = the outbox key, through the safe fetcher
        ─► 2xx done │ 4xx failed │ 5xx, timeout: retried with back-off

The pipeline never knows about any of this, and the Verdict and its API stay as
they are: a consequence exists only if the Verdict was stored, and its delivery
is at most once per idempotency key (a receiver that drops repeats of a key
sees each event once even when a deliverer died between the POST and marking
the row done). The cases and review-queue features add their own events here.
"""

from jikimi.actions.events import BANK_MATCHED, EVENTS, SCAN_HELD, events_of
from jikimi.actions.webhooks import ActionRecorder, WebhookDeliverer, WebhookService

__all__ = [
    "BANK_MATCHED",
    "EVENTS",
    "SCAN_HELD",
    "ActionRecorder",
    "WebhookDeliverer",
    "WebhookService",
    "events_of",
]
