"""The typed decision contract: what a caller asks and what Kredo answers, defined once.

Why: the engine receives these validated requests and returns these answers;
``serving`` only adds the decision id and latency and serialises them, and the
OpenAPI document is generated from the same models. One definition per field,
so the documented contract cannot drift from what the engine computes.

Requests are strict (no "12" for 12, no float for a bool), amounts positive
and bounded, ids of a bounded length and a safe alphabet, times aware. Unknown
fields are refused, so a typo in a field name is a clear 422 rather than a
silently ignored value.

Example::

    CheckoutRequest.model_validate_json(b'{"request_id": "ord-1", "customer": {...}, "order": {...}}')
"""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from domain.vocabulary import CHANNELS, CUSTOMER_TYPES, DAY_TYPES, PROFILES, SIZES, SLOTS, TONES

MAX_AMOUNT = 100_000_000.0

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
    """``POST /v1/decisions/next-action`` with the caller's own state of the invoice.

    When the ledger knows the invoice, the ledger's truth wins where the body
    contradicts it (dispute, reminders sent, open amount, paid), with a reason.
    """

    request_id: Id
    now: AwareDatetime
    customer: DunningCustomer
    invoice: Invoice


class NextActionByInvoice(Strict):
    """``POST /v1/decisions/next-action`` for an invoice the ledger keeps: reminders, disputes and
    payments are read from the ledger, the customer from its master data."""

    request_id: Id
    invoice_id: Id
    now: AwareDatetime | None = Field(None, description="decision time; default: the server clock")


# -- answers (the engine builds them; the API tests validate real answers against them) ------
class Reason(BaseModel):
    code: str
    text: str
    source: Literal["rule", "model", "ledger"]
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


Outcome = Literal["accept", "prepay", "review", "reject"]
Action = Literal["none", "wait", "remind", "call", "pause", "payment_plan", "final_notice", "escalate"]


class CheckoutAnswer(BaseModel):
    """What the engine decided at checkout (the answer without the HTTP layer's id and latency)."""

    kind: Literal["checkout"] = "checkout"
    outcome: Outcome
    segment: str
    profile_segment: str | None
    credit_limit: float
    open_exposure: float
    available_credit: float
    risk: Risk
    reasons: list[Reason]
    rules_fired: list[str]
    policy_version: str


class CheckoutDecision(CheckoutAnswer):
    """``POST /v1/decisions/checkout`` answers this."""

    decision_id: str
    request_id: str
    latency_ms: float


class BanditArm(BaseModel):
    channel: Channel
    slot: Literal[SLOTS]  # type: ignore[valid-type]
    day_type: Literal[DAY_TYPES]  # type: ignore[valid-type]


class Bandit(BaseModel):
    """The experiment's bookkeeping of a next-action (all null when no arm was chosen)."""

    arm: BanditArm | None = None
    propensity: float | None = None
    policy: str | None = None
    experiment: str | None = None
    group: str | None = None


class NextActionAnswer(BaseModel):
    """What the engine decided for an open invoice (the answer without id and latency)."""

    kind: Literal["next_action"] = "next_action"
    action: Action
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


class NextActionDecision(NextActionAnswer):
    """``POST /v1/decisions/next-action`` answers this."""

    decision_id: str
    request_id: str
    latency_ms: float
