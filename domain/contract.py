"""The typed decision contract: what a caller asks and what Kredo answers, defined once.

Why: the engine receives these validated requests and returns these answers;
``serving`` only adds the decision id and latency and serialises them, and the
OpenAPI document is generated from the same models. One definition per field,
so the documented contract cannot drift from what the engine computes.

Requests are strict (no "12" for 12, no float for a bool), amounts positive
and bounded, ids of a bounded length and a safe alphabet, times aware. Unknown
fields are refused, so a typo in a field name is a clear 422 rather than a
silently ignored value.

Every date and time is bounded by a :class:`DateWindow`: not before
2000-01-01, not more than a horizon (default five years, ``DATE_HORIZON_DAYS``)
after the server clock. Why: date arithmetic near year 9999 overflows (a
``now`` of 9999-12-31 minus 14 hours was a 500), and no credit decision is
about the year 1 or 3000. The HTTP layer passes the configured window in the
validation context (``{"window": DateWindow(...)}``); without one, the default
window on the server clock applies. An integer field also takes a JSON number
with no fraction (``30.0``), as JSON Schema's ``integer`` does.

Example::

    CheckoutRequest.model_validate_json(b'{"request_id": "ord-1", "customer": {...}, "order": {...}}')
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, \
    ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from domain.vocabulary import (CHANNELS, CUSTOMER_TYPES, DAY_TYPES, DISPUTE_TYPES, PROFILES, SIZES, SLOTS,
                               TASK_TYPES, TONES)

MAX_AMOUNT = 100_000_000.0
EARLIEST = date(2000, 1, 1)
DEFAULT_HORIZON_DAYS = 1826  # five years after the server clock


@dataclass(frozen=True)
class DateWindow:
    """The dates Kredo accepts: from ``EARLIEST`` to ``horizon_days`` after the server clock.

    ``clock`` is read at each check (tests pass a fixed one).
    """

    horizon_days: int = DEFAULT_HORIZON_DAYS
    clock: Callable[[], datetime] | None = None

    def latest(self) -> datetime:
        now = self.clock() if self.clock is not None else datetime.now(UTC)
        return now + timedelta(days=self.horizon_days)

    def problem(self, value: date | datetime) -> str | None:
        """Why ``value`` is outside the window (a sentence for the 422), or None inside it."""
        latest = self.latest()
        if isinstance(value, datetime):
            moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            early = moment < datetime(EARLIEST.year, EARLIEST.month, EARLIEST.day, tzinfo=UTC)
            late = moment > latest
        else:
            early, late = value < EARLIEST, value > latest.date()
        return f"{self.rule(early, latest)}, got {value.isoformat()}" if early or late else None

    def rule(self, early: bool, latest: datetime) -> str:
        """The bound a value broke: the earliest date, or the horizon after the server clock."""
        if early:
            return f"must not be before {EARLIEST.isoformat()}"
        return (f"must not be more than {self.horizon_days} days after the server clock "
                f"(latest {latest.isoformat(timespec='seconds')})")


def _in_window(value: date | datetime, info: ValidationInfo) -> date | datetime:
    window = (info.context or {}).get("window") or DateWindow()
    problem = window.problem(value)
    if problem is not None:
        raise PydanticCustomError("date_out_of_window", problem)
    return value


def _integral(value: Any) -> Any:
    """``30.0`` is the integer 30 (JSON Schema's ``integer``); ``30.5``, ``"30"`` and ``true`` stay refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_WINDOW_TEXT = "from 2000-01-01 to the server's date horizon (default: 5 years after the server clock)"
Time = Annotated[AwareDatetime, AfterValidator(_in_window), Field(description=f"time-zone-aware; {_WINDOW_TEXT}")]
Day = Annotated[date, AfterValidator(_in_window), Field(description=_WINDOW_TEXT)]


def integer(**bounds: int) -> Any:
    """An integer field with ``bounds`` (``ge``, ``le``) that takes ``30.0`` as 30 (bounds first: they are
    then published as JSON Schema ``minimum``/``maximum``)."""
    return Annotated[int, Field(**bounds), BeforeValidator(_integral)]

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
    payment_terms_days: integer(ge=0, le=365) = 30  # type: ignore[valid-type]
    paperless: bool = False


class CheckoutRequest(Strict):
    """``POST /v1/decisions/checkout``: may this customer buy this order on credit?"""

    request_id: Id = Field(description="idempotency key: the same id returns the same decision")
    now: Time | None = Field(None, description=f"decision time; default: the server clock; {_WINDOW_TEXT}")
    customer: Customer
    order: Order


class Reminder(Strict):
    sent_at: Time
    channel: Channel
    tone: Literal[TONES] | None = None  # type: ignore[valid-type]
    final_notice: bool = False


class PromiseToPay(Strict):
    """The invoice's last promise to pay: ``pending`` until its date plus the policy's grace, then ``kept``
    (paid in full by then) or ``broken`` (from ``broken_since``, the day after the grace)."""

    promised_for: Day
    amount: Amount
    status: Literal["pending", "kept", "broken"] = "pending"
    broken_since: Day | None = None


class PaymentPlan(Strict):
    """The active payment plan covering the invoice: ``on_track`` while its instalments are paid, ``missed``
    from ``missed_since`` (the day after an unpaid instalment's due date plus the policy's grace)."""

    plan_id: Id
    status: Literal["on_track", "missed"] = "on_track"
    missed_since: Day | None = None


class Invoice(Strict):
    id: Id
    amount: Amount
    currency: Literal["EUR"]
    issue_date: Day
    due_date: Day = Field(description=f"not before issue_date; {_WINDOW_TEXT}")
    paperless: bool = False
    disputed: bool = False
    dispute_opened: Day | None = None
    dispute_type: Literal[DISPUTE_TYPES] | None = Field(  # type: ignore[valid-type]
        None, description="the open dispute's type: the policy's disputes.types give its department and SLA")
    days_in_resolved_disputes: integer(ge=0, le=36_500) = Field(  # type: ignore[valid-type]
        0, description="days past due this invoice spent in disputes already resolved (they pause its ladder)")
    promise: PromiseToPay | None = None
    payment_plan: PaymentPlan | None = None
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
    now: Time
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


class Degraded(BaseModel):
    """Set when a decision was taken without part of what it normally reads (docs/reliability.md)."""

    mode: Literal["rules_only"] = Field(description="rules_only: the credit policy's rules alone, no customer "
                                        "history and no model")
    reason: str = Field(description="why, e.g. the online feature store was unavailable")
    unknown: list[str] = Field(description="what the decision could not read")
    assumed: dict[str, float | bool] = Field(description="the facts the rules were given in its place")


Outcome = Literal["accept", "prepay", "review", "reject"]
Action = Literal["none", "wait", "remind", "call", "pause", "payment_plan", "final_notice", "escalate", "review"]


class CheckoutAnswer(BaseModel):
    """What the engine decided at checkout (the answer without the HTTP layer's id and latency)."""

    kind: Literal["checkout"] = "checkout"
    outcome: Outcome
    segment: str
    profile_segment: str | None
    credit_limit: float
    open_exposure: float
    available_credit: float
    risk: Risk | None = Field(description="the model's scores; null in a degraded (rules-only) decision")
    reasons: list[Reason]
    rules_fired: list[str]
    policy_version: str
    degraded: Degraded | None = Field(None, description="null, or how this decision was taken without the "
                                      "customer's history (DEGRADED_MODE=rules_only while the store is down)")


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


class Task(BaseModel):
    """Work for a person that a decision opens: who, by when, and how urgent (and why).

    ``priority`` is the amount at risk times P(> 30 days late), so a worklist sorted by it
    puts first what is most likely to turn into a loss.
    """

    id: str | None = Field(None, description="the task in the worklist (GET /v1/tasks/{id}); null when the "
                           "ledger does not keep the invoice")
    type: Literal[TASK_TYPES]  # type: ignore[valid-type]
    name: str = Field(description="the policy's name of the task (e.g. resolve_dispute) or the type")
    owner: str = Field(description="account manager (key accounts), collector queue of the segment, "
                       "department of the dispute type, or the credit desk")
    due: date
    priority: float = Field(description="amount_at_risk x p_late_30 (EUR)")
    amount_at_risk: float
    p_late_30: float
    reason: str = Field(description="the priority explained, and what the task is for")


class NextActionAnswer(BaseModel):
    """What the engine decided for an open invoice (the answer without id and latency)."""

    kind: Literal["next_action"] = "next_action"
    action: Action
    channel: Channel | None
    send_at: AwareDatetime | None
    tone: Literal[TONES] | None  # type: ignore[valid-type]
    assignee: str | None
    task: Task | None
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
