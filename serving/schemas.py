"""The HTTP-only schemas: event batches, problem documents, audit records.

Why: the decision requests and answers are the engine's contract and live in
``domain.contract``; what only the HTTP layer speaks is defined here, with the
same strictness, and the OpenAPI document is generated from both.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel

from domain.contract import Amount, Day, Id, Strict, Time
from domain.vocabulary import DISPUTE_TYPES

MAX_EVENTS = 1000
#: the body limit of ``POST /v1/events`` (or ``MAX_CONTENT_LENGTH`` if larger): 1,000 events of 2 KB
MAX_EVENTS_BODY_BYTES = MAX_EVENTS * 2048


class Event(BaseModel):
    """One ledger event. Every field is judged per event by the ledger (``ledger.book``), so one bad
    event is refused with a code and its field while the rest of its batch is booked.

    Common fields: ``event_id`` (unique; the same id twice is a duplicate), ``type``, ``customer_id``,
    ``invoice_id``, ``at`` (ISO-8601). Per type: ``invoice_issued``: ``amount``, ``due_at``,
    ``payment_terms_days``, ``paperless``, optional ``payment_reference``, ``legal_entity_id``;
    ``payment_received``: ``amount``, optional ``reference``, ``iban``; ``dispute_opened``: optional
    ``reason`` (price, quantity, quality, not_received, duplicate, other), ``owner``;
    ``dispute_resolved``, ``invoice_written_off``: nothing more; ``reminder_sent``: optional
    ``decision_id`` (the next-action it carried out), ``channel``, ``step``, ``tone``, ``final_notice``;
    ``promise_made`` (a promise to pay; schema ``PromiseMade``): ``promised_for``, ``amount``;
    ``plan_agreed`` (a payment plan; schema ``PlanAgreed``, no ``invoice_id``): ``invoice_ids``, ``instalments``;
    ``customer_updated`` (no ``invoice_id``): master data ``customer_type``, ``country``, ``profile``,
    ``size``, ``sector``, ``name``, ``account_manager``, ``key_account``, ``paperless``, ``blocked``,
    ``credit_limit``, ``legal_entity_id``, ``parent_id``, ``ibans``, ``consent_<channel>``.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    event_id: str | None = Field(None, description="unique per event; required (refused per event when missing)")
    type: str | None = Field(None, description="event type; required")


class PromiseMade(BaseModel):
    """``promise_made``: the customer promises to pay ``amount`` of ``invoice_id`` by ``promised_for``. Dunning
    waits until that date plus the policy's grace (``dunning.promises.grace_days``); the promise is kept when the
    invoice received that amount by then, broken otherwise (a broken promise is a risk fact and a task).

    Refused (per event): ``unknown_invoice``, ``customer_mismatch``, ``before_issue``, ``invoice_closed``,
    ``promise_open`` (a promise of this invoice whose date has not passed), ``invalid_field`` (``promised_for``
    before ``at``; ``amount`` not positive or above the open amount)."""

    event_id: str
    type: Literal["promise_made"]
    customer_id: str
    invoice_id: str
    at: str = Field(description="when the promise was made (ISO-8601)")
    promised_for: str = Field(description="the date it will be paid by (ISO-8601 date or time)")
    amount: float = Field(gt=0, description="EUR, at most the invoice's open amount")


class Instalment(BaseModel):
    due_at: str = Field(description="ISO-8601; not before the plan was agreed nor before the instalment ahead")
    amount: float = Field(gt=0, description="EUR")


class PlanAgreed(BaseModel):
    """``plan_agreed``: a payment plan over ``invoice_ids`` (all of the customer, open), its instalments in due
    order adding up to at least their open amount. Dunning follows the plan: no reminders while its instalments
    are paid; an instalment unpaid past its due date plus the grace is reminded, and if still unpaid
    ``dunning.payment_plans.cancel_after_days`` later the plan is cancelled and the ladder resumes.

    Refused (per event): ``unknown_invoice``, ``customer_mismatch``, ``before_issue``, ``invoice_closed``,
    ``plan_active`` (an invoice already under an active plan), ``invalid_field`` (``invoice_ids``,
    ``instalments``: empty, too many, out of order, or adding up to less than the open amount)."""

    event_id: str
    type: Literal["plan_agreed"]
    customer_id: str
    at: str
    invoice_ids: Annotated[list[str], Field(min_length=1, max_length=100)]
    instalments: Annotated[list[Instalment], Field(min_length=1, max_length=120)]


#: Event types documented with a schema of their own (components of the OpenAPI document; the batch itself is
#: judged event by event, so ``EventsRequest`` lists them as ``Event``).
EVENT_SCHEMAS = (PromiseMade, PlanAgreed)


class EventsRequest(Strict):
    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS)]


class EventResult(BaseModel):
    """The verdict on one event: ``code`` and ``field`` say why it was refused (or what was noted)."""

    event_id: str | None
    status: Literal["applied", "duplicate", "refused"]
    code: str | None = None
    field: str | None = None
    reason: str | None = None
    detail: str | None = None


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
    """The full audit record of one decision (inputs, features, model, rules, SHAP, bandit, the calling key's
    id and role, hashes); past the audit retention only the columns, hashes and ``redacted_at`` remain."""

    model_config = ConfigDict(extra="allow")

    seq: int
    decision_id: str
    request_id: str
    kind: str
    created_at: str
    prev_hash: str
    hash: str
    payload_digest: str | None = Field(None, description="SHA-256 of the payload text the hash covers (null: a "
                                                         "record from before payload digests, hashed by its text)")
    redacted_at: str | None = Field(None, description="set when the payload was redacted past the retention")


# -- the book (read API) ---------------------------------------------------------------------
class Ageing(BaseModel):
    """Open balances (EUR) by days past due on the report date."""

    current: float
    d1_30: float = Field(alias="1_30")
    d31_60: float = Field(alias="31_60")
    d61_90: float = Field(alias="61_90")
    d90_plus: float = Field(alias="90_plus")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class Standing(BaseModel):
    """What the credit policy says about the customer today (no order: the customer's own standing)."""

    segment: str | None
    profile_segment: str | None
    credit_limit: float | None
    available_credit: float | None
    reasons: list[str]


class InvoiceSummary(BaseModel):
    id: str
    status: Literal["open", "paid", "written_off"]
    issued_at: str
    due_at: str
    amount: float
    open_amount: float
    days_past_due: int
    disputed: bool
    payment_reference: str | None = None


class DecisionSummary(BaseModel):
    decision_id: str
    request_id: str
    kind: str
    customer_id: str
    invoice_id: str | None
    outcome: str
    at: str
    received_at: str
    reasons: list[str]


class CustomerOverview(BaseModel):
    """``GET /v1/customers/{id}``: the customer's whole standing on one page."""

    id: str
    name: str | None
    customer_type: str | None
    country: str | None
    profile: str | None
    size: str | None
    sector: str | None
    account_manager: str | None
    key_account: bool
    blocked: bool
    consent: dict[str, bool]
    credit_limit_override: float | None
    standing: Standing
    exposure: float
    overdue: float
    ageing: Ageing
    open_items: int
    open_disputes: int
    last_decisions: list[DecisionSummary]


class TimelineEntry(BaseModel):
    at: str
    kind: Literal["issued", "payment", "dispute_opened", "dispute_resolved", "reminder", "final_notice", "call",
                  "letter", "decision", "written_off", "escalation", "promise", "task", "message"]
    text: str
    amount: float | None = None
    ref: str | None = None


class InvoiceDetail(InvoiceSummary):
    """``GET /v1/invoices/{id}``: the invoice and everything that happened to it, in time order."""

    customer_id: str
    timeline: list[TimelineEntry]


class InvoiceList(BaseModel):
    customer_id: str
    status: str | None
    invoices: list[InvoiceSummary]


class DecisionPage(BaseModel):
    """``GET /v1/decisions``: newest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    decisions: list[DecisionSummary]
    next_cursor: str | None


# -- the dunning run -------------------------------------------------------------------------------
class DunningRunRequest(Strict):
    """``POST /v1/dunning/runs``: run the day (``date``, default: today on the server clock); ``dry_run``
    decides and counts without writing anything."""

    date: Day | None = None
    dry_run: bool = False


class DunningRunSummary(BaseModel):
    """Decisions per action, channel (``none``: no channel), segment and assignee."""

    actions: dict[str, int]
    channels: dict[str, int]
    segments: dict[str, int]
    assignees: dict[str, int]


class DunningRunReport(BaseModel):
    """What the day's run did: its decisions, the messages it queued in the outbox and the tasks it opened
    (dry run: would queue and open). ``created`` false: the day had been run; this is what that run did."""

    run_id: str
    date: str
    dry_run: bool
    created: bool
    invoices: int = Field(description="open invoices decided")
    skipped: int = Field(description="open invoices of customers without master data (not dunned)")
    messages: int
    tasks: int
    summary: DunningRunSummary
    promises: dict[str, int] = Field(description="promises to pay found kept or broken")
    plans: dict[str, int] = Field(description="payment plans completed or cancelled")
    partitions: int
    workers: int
    seconds: float
    partition_p50_s: float = Field(description="median wall seconds of a partition (deciding and writing it)")
    cpu_seconds: dict[str, float] = Field(description="CPU seconds per stage")


# -- the worklist ----------------------------------------------------------------------------
class TaskOut(BaseModel):
    """A task for a person: ``GET /v1/tasks/{id}`` and the rows of a worklist."""

    id: str
    type: str
    owner: str
    customer_id: str | None
    invoice_id: str | None
    due: str = Field(description="the business day it is due (ISO date)")
    priority: float = Field(description="amount at risk x P(>30 days late), EUR")
    status: Literal["open", "done"]
    reason: str = Field(description="the priority explained, and what the task is for")
    created_at: str


class MessageItem(BaseModel):
    invoice_id: str
    decision_id: str | None
    step: str
    amount: float
    collection_costs: float | None
    lead: bool


class MessageStatus(BaseModel):
    """One step of a message's history: a status, or ``retry``/``held`` (still queued, tried again later)."""

    at: str
    status: str
    attempt: int
    detail: str | None


class MessageOut(BaseModel):
    """An outbox message: what the run queued, where the sender has it, and everything it went through."""

    id: str
    run_id: str | None
    customer_id: str
    kind: str
    channel: str
    tone: str | None
    status: Literal["queued", "sent", "delivered", "bounced", "failed", "cancelled"]
    reason: str | None
    attempts: int
    send_at: str
    next_attempt_at: str | None
    status_at: str
    template_version: str | None
    content_digest: str | None   # sha256 of the address, subject, text and PDF that left (``Envelope.digest``)
    replaces: str | None
    items: list[MessageItem]
    history: list[MessageStatus]


class MessagePage(BaseModel):
    """``GET /v1/messages``: by id; pass ``next_cursor`` as ``cursor`` for the next page."""

    messages: list[MessageOut]
    next_cursor: str | None


class TaskPage(BaseModel):
    """``GET /v1/tasks``: highest priority first; pass ``next_cursor`` as ``cursor`` for the next page."""

    tasks: list[TaskOut]
    next_cursor: str | None


class Instalment(Strict):
    due_date: Day
    amount: Amount


class PromiseTerms(Strict):
    date: Day = Field(description="the day the customer promised to pay by")
    amount: Amount


class _Outcome(Strict):
    outcome_id: Id = Field(description="idempotency key: the same id and body books once")
    at: Time | None = Field(None, description="when it happened; default: the server clock")
    by: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    note: Annotated[str, Field(max_length=500)] | None = None


class Reached(_Outcome):
    outcome: Literal["reached"]


class NotReached(_Outcome):
    outcome: Literal["not_reached"]
    retry_on: Day | None = Field(None, description="when to try again; default: the next business day")


class PromiseToPay(_Outcome):
    outcome: Literal["promise_to_pay"]
    promise: PromiseTerms


class DisputeRaised(_Outcome):
    outcome: Literal["dispute_raised"]
    dispute_type: Literal[DISPUTE_TYPES]  # type: ignore[valid-type]


class PaymentPlanAgreed(_Outcome):
    outcome: Literal["payment_plan_agreed"]
    instalments: Annotated[list[Instalment], Field(min_length=1, max_length=60)]


class WrongContact(_Outcome):
    outcome: Literal["wrong_contact"]


Outcome = Reached | NotReached | PromiseToPay | DisputeRaised | PaymentPlanAgreed | WrongContact


class TaskOutcomeRequest(RootModel[Annotated[Outcome, Field(discriminator="outcome")]]):
    """``POST /v1/tasks/{id}/outcome``: what happened, with what each outcome needs: ``promise_to_pay`` a
    ``promise`` (date, amount), ``dispute_raised`` a ``dispute_type``, ``payment_plan_agreed`` its
    ``instalments``, ``not_reached`` optionally ``retry_on``."""


class TaskOutcomeResult(BaseModel):
    """The task after its outcome, the events booked for it, and a follow-up task (a wrong contact)."""

    task: TaskOut
    outcome: str
    events: list[EventResult]
    follow_up: TaskOut | None = None


class ForecastWeek(BaseModel):
    """One week of the cash-in forecast: receipts expected (the model's, its 90 % interval, the
    ageing-bucket baseline's), in cents."""

    week: int
    starts: str
    expected_cents: int
    low_cents: int
    high_cents: int
    baseline_cents: int


class ForecastOut(BaseModel):
    """``GET /v1/forecast``: the 12 weeks after ``at`` from the invoices open then (``training.forecast``)."""

    entity: str | None
    at: str
    open_invoices: int
    open_cents: int
    model_version: str | None
    interval: float
    weeks: list[ForecastWeek]
    book_version: int | None = Field(description="the ledger's last booked event (its seq) the forecast was "
                                     "computed on; null: a book without events")
    computed_at: str = Field(description="when the forecast was computed (UTC, ISO 8601)")
    current: bool = Field(description="false: the book, the model or the default day moved on since it was "
                          "computed; this is the newest kept forecast, and a new one is being computed")


# -- the receivables report (GET /v1/reports/receivables; the dashboard page draws the same object) --
class Figure(BaseModel):
    """An amount (EUR) and the open items that make it up."""

    amount: float
    items: int


class HolderOut(BaseModel):
    name: str = Field(description="the account manager or the task owner ('-': none)")
    open: Figure
    overdue: Figure


class ExposureOut(BaseModel):
    customer_id: str
    name: str | None
    open: Figure
    overdue: float
    worst_bucket: str


class WorsenedOut(BaseModel):
    customer_id: str
    name: str | None
    was: str = Field(description="the bucket of its oldest open item at the last check ('none': nothing open)")
    now: str
    overdue: float


class TrendPointOut(BaseModel):
    month: str
    receivables: float
    sales: float
    dso: float | None


class ReceivablesReport(BaseModel):
    """The receivables of one legal entity or all (``entity`` null) on the book's date (``as_of``)."""

    as_of: str
    entity: str | None
    entities: list[str] = Field(description="the legal entities with open items ('-': invoices without one)")
    outstanding: Figure
    overdue: Figure
    ageing: dict[str, Figure] = Field(description="open balances by bucket: current, 1_30, 31_60, 61_90, 90_plus")
    disputed: dict[str, Figure] = Field(description="the disputed part of each bucket (also inside it)")
    dso: float | None = Field(description="days sales outstanding, countback method")
    best_possible_dso: float | None
    add: float | None = Field(description="average days delinquent: DSO - best possible DSO")
    cei: float | None = Field(description="collection effectiveness index over the last 30 days, %")
    at_risk_rate: float | None = Field(description="share of the receivables more than 90 days past due")
    trend: list[TrendPointOut] = Field(description="the last 12 month-ends (the last one: the report date)")
    disputes: dict[str, dict[str, Figure]] = Field(description="open disputes by type, then age in days")
    account_managers: list[HolderOut]
    collectors: list[HolderOut]
    largest_exposures: list[ExposureOut]
    worsened: list[WorsenedOut] = Field(description="customers whose oldest open item moved to a later bucket "
                                                    "since the last check (30 days before)")


class ReceivableRow(BaseModel):
    invoice_id: str
    customer_id: str
    name: str | None
    account_manager: str | None
    legal_entity_id: str | None
    issued_at: str
    due_at: str
    amount: float
    open_amount: float
    days_past_due: int
    bucket: str
    disputed: bool
    dispute_type: str | None
    dispute_age: str | None


class ReceivableRows(BaseModel):
    """The open invoices behind a figure of the report, largest open balance first (at most 500), and what
    all of them add up to (``total``: the figure itself)."""

    as_of: str
    total: Figure
    rows: list[ReceivableRow]
