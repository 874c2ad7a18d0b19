"""One decision as the audit log keeps it and as the caller reads it: built in one place.

Why: an answer of ``POST /v1/decisions/next-action`` and a decision of the dunning
run are the same kind of fact for an auditor (the request, what the ledger made of
it, features, scores, SHAP, rules, bandit, answer), so both are recorded by this
builder and read back alike.

Example::

    entry, response = decision_entry(body, decision, "dec_...", latency_ms, received, decided_on=request)
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Protocol

from domain.contract import NextActionRequest
from engine.decisions import Decision
from ledger.views import decision_row
from serving.api._body import request_digest
from serving.audit import AuditEntry
from serving.dunning_view import micros


def decision_entry(body: Any, decision: Decision, decision_id: str, latency_ms: float, received: datetime,
                   now: datetime, decided_on: NextActionRequest | None = None,
                   caller: dict[str, str] | None = None) -> tuple[AuditEntry, dict[str, Any]]:
    """The audit entry and the JSON answer of one decision on ``body`` (the request as the caller sent it).

    ``decided_on``: the request as the ledger completed or corrected it (kept beside the caller's);
    ``received``: the server's clock when it was asked, kept beside the business ``now``; ``caller``: the
    API key that asked (its id and role), when one did.
    """
    # the answer's JSON and then the response's own three fields: what the response model dumps, in its field
    # order, without building it (a test holds the two equal)
    request = body.model_dump(mode="json")
    response = {**decision.answer.model_dump(mode="json"), "decision_id": decision_id,
                "request_id": body.request_id, "latency_ms": latency_ms}
    payload = {"request": request, **decision.record.to_dict(), "outcome": decision.outcome, "response": response,
               "received_at": received.isoformat()}
    if caller is not None:
        payload["caller"] = caller
    if decided_on is not None and decided_on is not body:
        payload["decided_on"] = decided_on.model_dump(mode="json")
    return AuditEntry(decision_id, body.request_id, decision.kind, now.isoformat(), payload,
                      request_digest(request)), response


def decision_id_for(request_id: str) -> str:
    """A decision id fixed by its request id (the dunning run's: a resumed run names the same decisions)."""
    return f"dec_{hashlib.sha256(request_id.encode()).hexdigest()[:32]}"


class Recorded(Protocol):
    """An audit entry or a stored record: what the decision index is built from."""

    decision_id: str
    request_id: str
    kind: str
    created_at: str
    payload: dict[str, Any]


def index_row(record: Recorded) -> tuple[Any, ...]:
    """The decision index's row of one decision, from its audit entry or record alone: on the request path and
    when a starting worker re-indexes what another left unwritten (``serving.decision_index``), the same row.

    The customer and invoice are those decided on (the request as the ledger completed it, else as sent);
    ``at_us`` the business time decided for, ``received_us`` the server's receipt time.
    """
    payload = record.payload
    subject = payload.get("decided_on") or payload["request"]
    invoice = subject.get("invoice")
    return decision_row(record.decision_id, record.request_id, record.kind, subject["customer"]["id"],
                        None if invoice is None else invoice["id"], payload["outcome"],
                        micros(datetime.fromisoformat(record.created_at)),
                        micros(datetime.fromisoformat(payload["received_at"])),
                        [reason["text"] for reason in payload["response"]["reasons"]])
