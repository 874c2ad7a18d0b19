"""Request and response schemas: one set of pydantic models validates and documents.

Why: the OpenAPI document (``GET /openapi.json``) is generated from the very
models that validate requests, so the contract a client reads cannot drift
from what the server enforces. Types are strict (no "12" for 12, no float for
a bool), amounts are positive and bounded, ids have a bounded length and a
safe alphabet, times carry a time zone. Unknown fields are refused, so a typo
in a field name is a clear 422 rather than a silently ignored value.

Example::

    CheckoutRequest.model_validate_json(b'{"request_id": "ord-1", "customer": {...}, "order": {...}}')
"""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from features.ledger import CHANNELS, CUSTOMER_TYPES, DAY_TYPES, PROFILES, SIZES, SLOTS, TONES

MAX_AMOUNT = 100_000_000.0
MAX_EVENTS = 1000

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$",
                          description="identifier: letters, digits and . _ : @ / -; at most 64 characters")]
Amount = Annotated[float, Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="EUR, positive")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. NL")]
Channel = Literal[CHANNELS]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Consent(Strict):
    """Recorded consent per channel; a channel without consent is never used.

    A letter is the legal default (it needs no opt-in), every other channel does.
    """

    email: bool = False
    sms: bool = False
    whatsapp: bool = False
    letter: bool = True
    phone: bool = False


class Customer(Strict):
    """Who asks. An id the online store has never seen is a new customer, not an error.

    ``profile`` and ``size`` are model features (the prior for a customer with
    little history): send them from the customer record; left out, the model
    scores the customer as of unknown profile and size.
    """

    id: Id
    type: Literal[CUSTOMER_TYPES]  # type: ignore[valid-type]
    country: Country
    profile: Literal[PROFILES] | None = None  # type: ignore[valid-type]
    size: Literal[SIZES] | None = None  # type: ignore[valid-type]
    key_account: bool = False
    account_manager: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    blocked: bool = False


class DunningCustomer(Customer):
    consent: Consent = Consent()


class Order(Strict):
    id: Id | None = None
    amount: Amount
    currency: Literal["EUR"]
    payment_terms_days: Annotated[int, Field(ge=0, le=365)] = 30
    paperless: bool = False


class CheckoutRequest(Strict):
    """``POST /v1/decisions/checkout``: may this customer buy this order on credit?"""

    request_id: Id = Field(description="idempotency key: the same id returns the same decision")
    now: AwareDatetime | None = Field(None, description="decision time; default: the server clock")
    customer: Customer
    order: Order


class Reminder(Strict):
    sent_at: AwareDatetime
    channel: Channel
    tone: Literal[TONES] | None = None  # type: ignore[valid-type]
    final_notice: bool = False


class Invoice(Strict):
    id: Id
    amount: Amount
    currency: Literal["EUR"]
    issue_date: date
    due_date: date
    paperless: bool = False
    disputed: bool = False
    dispute_opened: date | None = None
    reminders: Annotated[list[Reminder], Field(max_length=100)] = []

    @model_validator(mode="after")
    def _dates_in_order(self) -> Invoice:
        if self.due_date < self.issue_date:
            raise ValueError("due_date must not be before issue_date")
        return self


class NextActionRequest(Strict):
    """``POST /v1/decisions/next-action``: what do we do next about this invoice?"""

    request_id: Id
    now: AwareDatetime
    customer: DunningCustomer
    invoice: Invoice


class Event(BaseModel):
    """One ledger or reminder event; its fields per ``type`` are checked by ``features.events``."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    event_id: Id
    type: Annotated[str, Field(min_length=1, max_length=64)]


class EventsRequest(Strict):
    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS)]


# -- responses (documented; the API tests validate real answers against them) -----------------
class Reason(BaseModel):
    code: str
    text: str
    source: Literal["rule", "model"]
    contribution: float | None = Field(None, description="model reasons: SHAP contribution in probability "
                                       "points of P(late) (+0.05 = five percentage points)")
    log_odds: float | None = Field(None, description="model reasons: the same contribution in calibrated "
                                   "log-odds of P(late)")


class Risk(BaseModel):
    p_late: float
    p_late_30: float
    expected_days_late: float
    model: str
    version: str
    alias: str | None


class CheckoutDecision(BaseModel):
    decision_id: str
    request_id: str
    kind: Literal["checkout"]
    outcome: Literal["accept", "prepay", "review", "reject"]
    segment: str
    profile_segment: str | None
    credit_limit: float
    open_exposure: float
    available_credit: float
    risk: Risk
    reasons: list[Reason]
    rules_fired: list[str]
    policy_version: str
    latency_ms: float


class Arm(BaseModel):
    channel: Channel
    slot: Literal[SLOTS]  # type: ignore[valid-type]
    day_type: Literal[DAY_TYPES]  # type: ignore[valid-type]


class Bandit(BaseModel):
    arm: Arm | None
    propensity: float | None
    policy: str | None
    experiment: str | None
    group: str | None


class NextActionDecision(BaseModel):
    decision_id: str
    request_id: str
    kind: Literal["next_action"]
    action: Literal["wait", "remind", "call", "pause", "payment_plan", "final_notice", "escalate"]
    channel: Channel | None
    send_at: AwareDatetime | None
    tone: Literal[TONES] | None  # type: ignore[valid-type]
    assignee: str | None
    task: str | None
    segment: str
    step: str
    collection_costs: float | None = Field(description="statutory collection costs (BIK) of a final notice")
    risk: Risk
    bandit: Bandit
    reasons: list[Reason]
    rules_fired: list[str]
    policy_version: str
    latency_ms: float


class EventResult(BaseModel):
    event_id: str
    status: Literal["applied", "duplicate", "refused"]
    code: str | None = None
    reason: str | None = None


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
