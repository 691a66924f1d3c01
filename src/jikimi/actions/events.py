"""What a stored Verdict means beyond itself: the events a tenant may subscribe to.

Pure: a Verdict in, ``(event, data)`` pairs out. The data carries ids, hashes'
kinds, decisions and bank names, never imagery, face templates or a victim's
details (a webhook receiver is another system).
"""

from __future__ import annotations

from typing import Any

from jikimi.domain import Action, Verdict

SCAN_HELD = "scan.held"
"""The decision holds or removes the item: it must not go (or stay) live."""
BANK_MATCHED = "bank.matched"
"""The item matched at least one bank entry."""
EVENTS = (SCAN_HELD, BANK_MATCHED)


def events_of(verdict: Verdict) -> list[tuple[str, dict[str, Any]]]:
    """The events a stored Verdict raises (none for an error Verdict)."""
    if verdict.error is not None:
        return []
    base: dict[str, Any] = {"scan": verdict.id, "source": dict(verdict.source)}
    decision = verdict.decision
    if decision is not None:
        base["decision"] = {
            "action": decision.action.value,
            "priority": decision.priority.value,
            "reasons": list(decision.reasons),
        }
    out: list[tuple[str, dict[str, Any]]] = []
    if decision is not None and decision.action.severity >= Action.HOLD.severity:
        out.append((SCAN_HELD, base))
    if verdict.matches:
        matches = [
            {
                "bank": m.bank,
                "bank_id": m.bank_id,
                "bank_kind": None if m.bank_kind is None else m.bank_kind.value,
                "signal": m.signal.value,
                "entry": m.entry,
                "distance": m.distance,
            }
            for m in verdict.matches
        ]
        out.append((BANK_MATCHED, {**base, "matches": matches}))
    return out
