"""The HTTP-only schemas: event batches, problem documents, audit records.

Why: the decision requests and answers are the engine's contract and live in
``domain.contract``; what only the HTTP layer speaks is defined here, with the
same strictness, and the OpenAPI document is generated from both.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from domain.contract import MAX_AMOUNT, Id, Strict, integer

MAX_EVENTS = 1000
#: the body limit of ``POST /v1/events`` (or ``MAX_CONTENT_LENGTH`` if larger): 1,000 events of 2 KB
MAX_EVENTS_BODY_BYTES = MAX_EVENTS * 2048


_EVENT_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,127}$"
EventRef = Annotated[str, Field(pattern=_EVENT_ID, description="letters, digits and _.:@/+-; at most 128 characters")]
EventTime = Annotated[str, Field(
    min_length=1, max_length=64,
    description="ISO-8601 time (naive: the ledger's business time; with an offset: converted to UTC). "
                "A time before 2000-01-01 or more than the server's date horizon (default 5 years) after its "
                "clock refuses this event alone (status refused, field named); the rest of the batch is applied")]
EventAmount = Annotated[float, Field(
    description=f"EUR; outside the range of the event type or above {MAX_AMOUNT:,.0f} "
                "(or not finite) refuses this event alone")]


class _Event(BaseModel):
    """What every event carries; more fields are allowed and ignored (``features.events`` checks the rest)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    event_id: Id
    customer_id: EventRef
    invoice_id: EventRef
    at: EventTime


class InvoiceIssued(_Event):
    """An invoice was issued; ``amount`` >= 0, ``due_at`` not before ``at``."""

    type: Literal["invoice_issued"]
    amount: EventAmount
    due_at: EventTime
    payment_terms_days: integer() = Field(description="integer >= 0; a negative one refuses this event")  # type: ignore[valid-type]
    paperless: bool


class PaymentReceived(_Event):
    """A payment on an invoice; ``amount`` > 0."""

    type: Literal["payment_received"]
    amount: EventAmount


class InvoiceWrittenOff(_Event):
    type: Literal["invoice_written_off"]


class DisputeOpened(_Event):
    type: Literal["dispute_opened"]


class DisputeResolved(_Event):
    type: Literal["dispute_resolved"]


class ReminderSent(_Event):
    """A reminder went out; naming the ``decision_id`` it carried out feeds the bandit's reward bookkeeping."""

    type: Literal["reminder_sent"]
    decision_id: Annotated[str, Field(max_length=64)] | None = None


Event = Annotated[Union[InvoiceIssued, PaymentReceived, InvoiceWrittenOff, DisputeOpened, DisputeResolved,
                        ReminderSent], Field(discriminator="type")]
"""One ledger or reminder event, by ``type`` (the order of ``features.events.EVENT_TYPES`` when tied)."""


class EventsRequest(Strict):
    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS)]


class EventResult(BaseModel):
    """One event's verdict; a refused one says why (``reason``), in words (``detail``) and where (``field``)."""

    event_id: str
    status: Literal["applied", "duplicate", "refused"]
    code: str | None = None
    reason: str | None = None
    detail: str | None = None
    field: str | None = None


class EventsResponse(BaseModel):
    results: list[EventResult]
    applied: int
    duplicate: int
    refused: int
    rewards: int


class Problem(BaseModel):
    """RFC 9457 problem document plus a stable ``code`` and the offending ``field``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    error_id: str | None = Field(None, description="on a 5xx: the id of the log line that holds the error")


class AuditRecordOut(BaseModel):
    """The full audit record of one decision (inputs, features, model, rules, SHAP, bandit, hashes)."""

    model_config = ConfigDict(extra="allow")

    seq: int
    decision_id: str
    request_id: str
    kind: str
    created_at: str
    prev_hash: str
    hash: str
