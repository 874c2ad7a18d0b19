"""The sender: claims due outbox messages, re-checks them at the last moment, renders, delivers, records.

Why this shape: the dunning run queued the message in the same transaction as its
decisions; the sender turns it into an e-mail, a text or a letter that really goes
out, exactly once from the receiver's point of view. A pass

1. claims a batch of due messages (``ledger.outbox.claim``: a lease, so two
   senders never hold the same message; only channels with a connector),
2. reads the facts in bulk (the customer's consent and addresses, each invoice's
   state now) and asks ``engine.delivery.gate``: send, hold (quiet hours: the
   message waits for the window, no attempt spent) or stop (a payment, dispute,
   promise or plan since it was queued: ``withdraw``, which cancels it and
   re-issues the rest of its invoices; a withdrawn consent or a blocked customer:
   cancelled; no address: a dead letter),
3. renders the message with the current templates (``engine.templates``; a final
   notice by letter to a consumer with the statutory 14-day block), delivers it
   through the channel's connector (the message id is the idempotency key),
4. and records every outcome of the batch in one ledger transaction: the status
   and its history, the next attempt of a retry (``engine.delivery.retry_at``;
   dead after the last), and for a sent message the ``reminder_sent`` contact of
   each invoice (``Book.apply``: the contact history and the invoice timeline); then ``on_booked`` hears of
   them (``kredo outbox send`` pays the bandit there, on the shared Redis state, for the lead's arm).

A sender that dies between delivering and recording leaves the message queued
with a lease that runs out; the next pass delivers it again under the same
idempotency key, which the receiver de-duplicates. A withdrawal that lands in the
moment between the last check and the delivery cannot stop what already left: the
message is then recorded as sent anyway, with that said in its history.

Example::

    sender = Sender.from_config(engine, config, policy=lambda: rules)
    report = sender.run_once(now)      # PassReport(claimed=12, sent=11, held=1, ...)
"""
from __future__ import annotations

import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.calendar import PublicHolidays
from domain.errors import KredoError
from engine.bandits import Attribution
from engine.delivery import Backoff, Facts, InvoiceState, Verdict, gate, retry_at
from engine.legal import statutory_interest_rate
from engine.notice import fourteen_day_notice
from engine.rules import RuleEngine
from engine.templates import Key, TemplateHolder, message_context
from ledger import outbox
from ledger import schema as t
from ledger.book import Applied, Book
from ledger.events import iso
from serving.audit import AuditLog
from serving.bandit import pay
from serving.delivery.connectors import Connector, Envelope, Outcome
from serving.delivery.letter import Letter, letter_pdf
from serving.delivery.settings import connectors
from serving.dunning_view import micros, moment

log = logging.getLogger(__name__)
#: Where each channel delivers, from the customer's master data.
ADDRESS = {"email": "email", "sms": "phone", "whatsapp": "phone", "letter": "postal_address"}


@dataclass
class PassReport:
    """What one pass did: how many messages it claimed and what became of them."""

    claimed: int = 0
    outcomes: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"claimed": self.claimed, "outcomes": dict(sorted(self.outcomes.items())),
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class _Done:
    """One message's outcome, recorded with the batch."""

    claimed: outbox.Claimed
    status: str
    detail: str
    attempts: int
    next_attempt_us: int | None = None
    template_version: str | None = None
    content_digest: str | None = None
    moot: tuple[str, ...] = ()


class Sender:
    def __init__(self, engine: Engine, connectors_by_channel: Mapping[str, Connector], templates: TemplateHolder,
                 policy: Callable[[], RuleEngine], config: Mapping[str, Any], owner: str | None = None,
                 on_booked: Callable[[Applied], None] | None = None) -> None:
        self.engine, self.connectors, self.templates = engine, dict(connectors_by_channel), templates
        self.policy, self.on_booked = policy, on_booked
        self.config = config
        self.owner = owner or f"{socket.gethostname()[:40]}:{os.getpid()}"
        self.backoff = Backoff(base_s=float(config["OUTBOX_BACKOFF_S"]),
                               max_attempts=int(config["OUTBOX_MAX_ATTEMPTS"]))
        self.calendar = PublicHolidays()
        self.book = Book(engine)
        self._pool = ThreadPoolExecutor(max(1, int(config["OUTBOX_THREADS"])), thread_name_prefix="outbox")

    @classmethod
    def from_config(cls, engine: Engine, config: Mapping[str, Any], policy: Callable[[], RuleEngine],
                    environ: Mapping[str, str] | None = None,
                    on_booked: Callable[[Applied], None] | None = None) -> Sender:
        """``on_booked``: told of the contacts each batch booked, after it committed (the bandit learns from
        the reminders that really went out: ``serving.bandit.pay``)."""
        return cls(engine, connectors(config, environ), TemplateHolder(config.get("TEMPLATES_DIR")), policy, config,
                   on_booked=on_booked)

    def close(self) -> None:
        self._pool.shutdown()
        for connector in self.connectors.values():
            connector.close()

    # -- one pass ---------------------------------------------------------------------------------
    def run_once(self, now: datetime | None = None, limit: int | None = None) -> PassReport:
        """Claim, check, deliver and record one batch (``OUTBOX_BATCH`` messages at most)."""
        now = now or datetime.now(UTC)
        return self.deliver(self.claim(now, limit), now)

    def claim(self, now: datetime, limit: int | None = None) -> list[outbox.Claimed]:
        """Lease the due messages of the channels this sender can deliver."""
        if not self.connectors:
            return []
        lease_us = int(float(self.config["OUTBOX_LEASE_S"]) * 1e6)
        with self.engine.begin() as conn:
            return outbox.claim(conn, self.owner, micros(now), lease_us, int(limit or self.config["OUTBOX_BATCH"]),
                                channels=sorted(self.connectors))

    def deliver(self, claimed: Sequence[outbox.Claimed], now: datetime) -> PassReport:
        """The last look, the delivery and the record of claimed messages (at ``now``)."""
        started = time.perf_counter()
        report = PassReport(claimed=len(claimed))
        if claimed:
            self.templates.reload()
            known = self._facts(claimed)
            done = list(self._pool.map(lambda pair: self._one(*pair, now), zip(claimed, known, strict=True)))
            self._record(done, now)
            report.outcomes.update(d.status for d in done)
        report.seconds = time.perf_counter() - started
        return report

    def run(self, stop: Callable[[], bool], interval_s: float | None = None,
            passed: Callable[[PassReport], None] | None = None) -> None:
        """Passes until ``stop()``: a full batch is followed at once by the next, otherwise a pause; ``passed``
        hears of every pass that claimed something."""
        pause = float(self.config["OUTBOX_INTERVAL_S"] if interval_s is None else interval_s)
        while not stop():
            try:
                report = self.run_once()
            except (sa.exc.OperationalError, KredoError):
                log.exception("outbox pass failed; trying again in %.1f s", pause)
                time.sleep(pause)
                continue
            if report.claimed and passed is not None:
                passed(report)
            if report.claimed < int(self.config["OUTBOX_BATCH"]):
                time.sleep(pause)

    # -- the last look ----------------------------------------------------------------------------
    def _facts(self, claimed: Sequence[outbox.Claimed]) -> list[tuple[Facts, dict[str, Any], list[dict[str, Any]]]]:
        """Per message, in bulk: the gate's facts, the customer row and the invoice rows."""
        invoice_ids = sorted({i.invoice_id for c in claimed for i in c.items})
        customer_ids = sorted({c.row.customer_id for c in claimed})
        with self.engine.connect() as conn:
            customers = {r.id: dict(r._mapping) for r in conn.execute(
                sa.select(t.customers).where(t.customers.c.id.in_(customer_ids)))}
            invoices = {r.id: dict(r._mapping) for r in conn.execute(
                sa.select(t.invoices).where(t.invoices.c.id.in_(invoice_ids)))}
            committed: dict[str, int] = {}  # invoice -> when its latest open promise or active plan was made (business
            # time, like the message's decided_us: made after the decision, the reminder is moot)
            for r in [*conn.execute(sa.select(t.promises.c.invoice_id, t.promises.c.created_us)
                                    .where(t.promises.c.invoice_id.in_(invoice_ids), t.promises.c.status == "open")),
                      *conn.execute(sa.select(t.plan_invoices.c.invoice_id, t.payment_plans.c.created_us)
                                    .join(t.payment_plans, t.payment_plans.c.id == t.plan_invoices.c.plan_id)
                                    .where(t.plan_invoices.c.invoice_id.in_(invoice_ids),
                                           t.payment_plans.c.status == "active"))]:
                committed[r.invoice_id] = max(committed.get(r.invoice_id, r.created_us), r.created_us)
        rules = self.policy()
        required = set(rules.policy.dunning.consent_required)
        out = []
        for c in claimed:
            cust = customers.get(c.row.customer_id, {})
            states = tuple(InvoiceState(i.invoice_id, invoices[i.invoice_id]["status"] if i.invoice_id in invoices
                                        else "missing", bool(invoices.get(i.invoice_id, {}).get("disputed")),
                                        committed.get(i.invoice_id, -1) > c.row.decided_us) for i in c.items)
            channel = c.row.channel
            window = rules.send_window(cust.get("country") or "", self.calendar)
            facts = Facts(channel, bool(cust.get(f"consent_{channel}")), channel in required,
                          cust.get(ADDRESS[channel]), states, window,
                          legal_letter=c.row.kind == "final_notice", blocked=bool(cust.get("blocked")))
            out.append((facts, cust, [invoices[i.invoice_id] for i in c.items if i.invoice_id in invoices]))
        return out

    def _one(self, c: outbox.Claimed, known: tuple[Facts, dict[str, Any], list[dict[str, Any]]],
             now: datetime) -> _Done:
        facts, cust, invoice_rows = known
        attempts = c.row.attempts
        verdict: Verdict = gate(facts, now)
        if verdict.action == "stop":
            status = "failed" if verdict.dead else "cancelled"
            return _Done(c, status, f"{verdict.code}: {verdict.detail}", attempts, moot=verdict.moot)
        if verdict.action == "hold":
            assert verdict.until is not None
            return _Done(c, "held", f"{verdict.code}: {verdict.detail}", attempts, micros(verdict.until))
        templates = self.templates.current
        try:
            envelope = self._envelope(c, cust, invoice_rows, facts.address or "", now)
        except KredoError as exc:  # a template the check let through fails on this message: a person looks
            return _Done(c, "failed", f"template: {exc.detail}", attempts)
        outcome: Outcome = self.connectors[c.row.channel].deliver(envelope)
        attempts += 1
        if outcome.status == "retry":
            again = retry_at(self.backoff, c.id, attempts, now, outcome.retry_after_s)
            if again is None:
                return _Done(c, "failed", f"dead after {attempts} attempts: {outcome.detail}", attempts)
            return _Done(c, "retry", outcome.detail, attempts, micros(again))
        return _Done(c, outcome.status, outcome.detail, attempts, template_version=templates.version,
                     content_digest=envelope.digest())

    def _envelope(self, c: outbox.Claimed, cust: Mapping[str, Any], invoice_rows: list[dict[str, Any]],
                  address: str, now: datetime) -> Envelope:
        row, lead, cfg = c.row, c.lead, self.config
        language = cust.get("language") or cfg["DEFAULT_LANGUAGE"]
        now_us = micros(now)
        by_id = {r["id"]: r for r in invoice_rows}
        invoices = [{"id": i.invoice_id, "amount_cents": i.amount_cents,
                     "due": moment(by_id[i.invoice_id]["due_us"]).date(),
                     "days_past_due": max(0, (now_us - by_id[i.invoice_id]["due_us"]) // 86_400_000_000),
                     "reference": by_id[i.invoice_id]["payment_reference"]} for i in c.items if i.invoice_id in by_id]
        total = sum(i["amount_cents"] for i in invoices)
        rate = statutory_interest_rate(now.date(), "consumer" if cust.get("type") == "consumer" else "commercial")
        country = (cust.get("country") or "NL").upper()
        notice = fourteen_day_notice(language, total, now.date(), self.calendar, country, rate) \
            if row.kind == "final_notice" else None
        links = {"customer_id": row.customer_id, "message_id": row.id, "amount_cents": str(total),
                 "invoice_ids": ",".join(i["id"] for i in invoices)}
        context = message_context(
            company={"name": cfg["COMPANY_NAME"], "address": cfg["COMPANY_ADDRESS"], "iban": cfg["COMPANY_IBAN"],
                     "phone": cfg["COMPANY_PHONE"], "email": cfg["MAIL_FROM"]},
            customer={"id": row.customer_id, "name": cust.get("name") or row.customer_id, "type": cust.get("type"),
                      "postal_address": cust.get("postal_address")},
            language=language, tone=row.tone or "neutral", step=lead.step, kind=row.kind, channel=row.channel,
            invoices=invoices, today=now.date(), collection_costs_cents=notice.costs_cents if notice else None,
            interest_percent=rate, payment_link=_link(cfg["PAYMENT_LINK"], links),
            unsubscribe_link=_link(cfg["UNSUBSCRIBE_LINK"], links), calendar=self.calendar, country=country)
        key = Key(language, lead.step, row.kind, row.tone or "neutral")
        parts = self.templates.current.render_message(key, row.channel, context)
        envelope = Envelope(row.id, row.channel, address, parts.get("subject"),
                            parts.get("email") or parts.get("short") or parts.get("letter", ""), row.customer_id,
                            context["unsubscribe_link"] if row.channel == "email" else None, language=language)
        if row.channel != "letter":
            return envelope
        subject = self.templates.current.render(key, "subject", context)
        pdf = letter_pdf(Letter(cfg["COMPANY_NAME"], cfg["COMPANY_ADDRESS"], context["customer"]["name"], address,
                                now.date(), subject, parts["letter"], language,
                                notice if cust.get("type") == "consumer" else None))
        return Envelope(row.id, "letter", address, subject, parts["letter"], row.customer_id, None, pdf, language)

    # -- recording --------------------------------------------------------------------------------
    def _record(self, done: Sequence[_Done], now: datetime) -> None:
        """Every outcome of the batch in one transaction; the sent ones' contacts booked with them."""
        now_us = micros(now)
        contacts = []
        with self.engine.begin() as conn:
            for d in done:
                if d.moot:
                    outbox.withdraw(conn, d.moot, "invoice_closed", now_us)
                    continue
                ok = outbox.record(conn, d.claimed.id, self.owner, d.status, now_us, d.detail, attempts=d.attempts,
                                   next_attempt_us=d.next_attempt_us, template_version=d.template_version,
                                   content_digest=d.content_digest)
                if d.status in ("sent", "delivered"):
                    if not ok:  # withdrawn while it was on its way: it left all the same, and the record says so
                        conn.execute(sa.update(t.outbox_messages).where(t.outbox_messages.c.id == d.claimed.id)
                                     .values(status=d.status, status_us=now_us, attempts=d.attempts,
                                             template_version=d.template_version,
                                             content_digest=d.content_digest))
                        outbox.add_history(conn, [(d.claimed.id, d.status, d.attempts,
                                                   f"{d.detail} (withdrawn while it was being sent)")], now_us)
                    contacts += [(c, d.status) for c in self._contacts(d.claimed, now)]
            applied = self.book.apply([c for c, _ in contacts], now_us, conn=conn) if contacts else None
            for status in {s for _, s in contacts}:  # the contact history says what the receiver answered
                conn.execute(sa.update(t.contacts).where(t.contacts.c.id.in_(
                    [c["event_id"] for c, s in contacts if s == status])).values(outcome=status))
        if applied is not None and self.on_booked is not None:
            self.on_booked(applied)

    @staticmethod
    def _contacts(c: outbox.Claimed, now: datetime) -> list[dict[str, Any]]:
        """The ``reminder_sent`` of each invoice of a sent message (event id ``contact_id``: booked once), the
        lead's with its ``decision_id``."""
        at = iso(micros(now)) + "+00:00"
        return [{"event_id": outbox.contact_id(c.id, i.invoice_id), "type": "reminder_sent",
                 "customer_id": c.row.customer_id, "invoice_id": i.invoice_id, "at": at, "channel": c.row.channel,
                 "step": i.step, "tone": c.row.tone, "message_id": c.id, "final_notice": c.row.kind == "final_notice",
                 # the lead's decision chose the channel and time: only its arm is paid (a rider went on the lead's)
                 **({"decision_id": i.decision_id} if i.lead and i.decision_id else {})} for i in c.items]


def _link(pattern: str, values: Mapping[str, str]) -> str:
    """A configured URL pattern filled in (each value URL-quoted)."""
    return pattern.format_map({k: quote(v, safe="") for k, v in values.items()})


def bandit_payer(config: Mapping[str, Any]) -> Callable[[Applied], None] | None:
    """What pays the bandit for the reminders a sender of its own (``kredo worker``) booked: on the shared
    state (Redis) only, where the service's workers read it; without ``REDIS_URL`` the state is one process's,
    so None (a sender inside the service, ``OUTBOX_IN_SERVICE``, pays the service's own: ``payer``)."""
    if not config.get("REDIS_URL"):
        return None
    from serving.audit import AuditLog
    from serving.bandit import build

    return payer(build(dict(config)).attribution, AuditLog.from_url(config["AUDIT_URL"]))


def payer(attribution: Attribution, audit: AuditLog) -> Callable[[Applied], None]:
    """Each booked ``reminder_sent`` of the lead becomes its invoice's pending reminder (``serving.bandit.pay``)."""
    def paid(applied: Applied) -> None:
        for verdict in applied.verdicts:
            if verdict.status == "applied" and verdict.event is not None and verdict.event.type == "reminder_sent":
                try:
                    pay(attribution, audit, verdict, applied.invoice_status, None)
                except KredoError as exc:  # the reminder is booked; the bandit misses one lesson, and says so
                    log.warning("bandit not paid for %s: %s", verdict.event_id, exc.detail)
    return paid
