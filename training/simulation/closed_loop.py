"""A closed loop on the simulator: a window of the period replayed under a dunning policy, customers answering.

Why: the only proof that a collections workflow collects cash is to let it act and see what the customers
do. The simulator knows each invoice's payment without any reminder (``simulate_with_truth``) and how a
customer answers a contact (``response_probability``, the same truth its logged history was drawn from: the
chance that the contact gets the invoice paid within the week). Unlike the log's rule
(``response.after_reminder``, which makes a logged reward exactly that chance), a contact here never delays
a payment: one that fails leaves it where it was, so a policy is not punished for a nudge to a customer who
was about to pay. :class:`World` holds the window's open invoices; a policy (Kredo's
workflow through its own API in ``bench/closed_loop.py``, or :func:`static_ladder` here) contacts customers,
and the world moves their payments. Both policies meet the same customers with the same random numbers:
the draw of a contact is seeded by (seed, invoice, how many contacts it had), so what differs is only what
each policy did.

Times are naive UTC, as in the simulator's tables; a contact's local hour and weekday (what the response
reads) are those of the customer's country.

Example::

    ledger, truth = simulate_with_truth(SimulationConfig(customers=500, months=9, seed=5))
    world = World(ledger, truth, window_start(ledger, 90), 90, seed=5)
    for day in world.days():
        for contact in static_ladder(world, day):
            world.contact(*contact)
    world.figures()["dso"]
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from engine.legal import collection_costs
from engine.receivables import (average_days_delinquent, best_possible_dso, collection_effectiveness,
                                dso_countback)
from ledger.tables import Ledger
from training.simulation.response import PAY_AFTER_MIN_DAYS, WINDOW_DAYS, response_probability
from training.simulation.simulator import WRITE_OFF_AFTER_DAYS

DAY_S = 86_400.0
ZONES = {"NL": "Europe/Amsterdam", "BE": "Europe/Brussels", "DE": "Europe/Berlin", "FR": "Europe/Paris",
         "GB": "Europe/London"}
#: The static ladder an ERP runs: every customer the same steps, by email (a letter without email consent),
#: at 10:00 local on business days, one message per invoice, no calls, no learning.
STATIC_STEPS = ((1, "reminder_1", "friendly", "reminder"), (14, "reminder_2", "neutral", "reminder"),
                (28, "final_notice", "firm", "final_notice"), (45, "escalate", "firm", "escalate"))
STATIC_HOUR = 10
#: A letter is received the next day; the 14-day term runs from the day after receipt (art. 6:96 lid 6 BW).
LETTER_TERM_DAYS = 16
MONTH_DAYS = 30  # DSO counts back in 30-day months from the window's end


def window_start(ledger: Ledger, days: int) -> datetime:
    """Midnight ``days`` before the end of the simulated period (the window ends where the period does)."""
    issued = ledger.invoices["issued_at"].max()
    end = (pd.Timestamp(issued).normalize() + pd.Timedelta(days=1)).to_pydatetime()
    return end - timedelta(days=days)


def history(ledger: Ledger, start: datetime) -> Ledger:
    """The ledger as it stood at ``start``: what a policy knows when the window opens."""
    cut = pd.Timestamp(start)
    inv = ledger.invoices[ledger.invoices["issued_at"] < cut].copy()
    for col in ("paid_at", "written_off_at"):
        inv[col] = inv[col].where(inv[col] < cut)
    dis = ledger.disputes[ledger.disputes["opened_at"] < cut].copy()
    dis["resolved_at"] = dis["resolved_at"].where(dis["resolved_at"] < cut)
    return Ledger(customers=ledger.customers, invoices=inv.reset_index(drop=True),
                  payments=ledger.payments[ledger.payments["paid_at"] < cut].reset_index(drop=True),
                  disputes=dis.reset_index(drop=True),
                  reminders=ledger.reminders[ledger.reminders["sent_at"] < cut].reset_index(drop=True),
                  traits=ledger.traits)


@dataclass(frozen=True)
class Contact:
    """One action that reached (or tried to reach) a customer about an invoice."""

    invoice_id: str
    at: datetime
    channel: str
    tone: str
    kind: str                      # reminder / final_notice / payment_plan / escalate / call
    success: bool                  # the truth's draw: paid within 7 days of it
    step: int


@dataclass(frozen=True)
class CallResult:
    """What a collector's call came to: ``not_reached``, ``reached``, or ``promise_to_pay`` by ``promised``."""

    outcome: str
    promised: date | None = None


def _s(t: datetime | pd.Timestamp | np.datetime64) -> float:
    return float(pd.Timestamp(t).value) / 1e9  # naive times are UTC


class World:
    """The customers of a window and the open invoices they owe, with when each will be paid.

    The window's invoices are those open at its start and those issued in it. Each starts at the payment the
    truth gives it without reminders from the window's start on (an invoice whose unreminded payment lay
    before the start, yet was open then, because a logged reminder failed, starts at the payment the log gave
    it); every contact moves it by the truth's rule."""

    def __init__(self, ledger: Ledger, truth: pd.DataFrame, start: datetime, days: int, seed: int) -> None:
        self.start, self.end, self.seed = start, start + timedelta(days=days), seed
        self.n_days = days
        inv = ledger.invoices.merge(truth, on="invoice_id", how="left", validate="one_to_one")
        start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(self.end)
        closed_before = ((inv["paid_at"] < start_ts) | (inv["written_off_at"] < start_ts)).to_numpy()
        keep = (inv["issued_at"] < end_ts).to_numpy() & ~closed_before
        inv = inv[keep].reset_index(drop=True)
        self.invoice_ids = inv["invoice_id"].to_numpy()
        self.index = {v: i for i, v in enumerate(self.invoice_ids)}
        self.customer_ids = inv["customer_id"].to_numpy()
        self.issued_s = _seconds(inv["issued_at"])
        self.due_s = _seconds(inv["due_at"])
        natural = self.due_s + inv["natural_days"].to_numpy() * DAY_S
        logged = self.due_s + inv["logged_days"].to_numpy() * DAY_S
        pay = np.where((natural >= _s(start)) | (self.issued_s >= _s(start)), natural, logged)
        self.pay_s = np.maximum(pay, self.issued_s + 3600.0)
        self.write_off_s = self.due_s + WRITE_OFF_AFTER_DAYS * DAY_S
        paid_before = ledger.payments[ledger.payments["paid_at"] < start_ts].groupby("invoice_id")["amount"].sum()
        amount = np.round(inv["amount"].to_numpy() * 100).astype(np.int64)
        self.amount_cents = amount
        self.paperless = inv["paperless"].to_numpy().astype(bool)
        self.open_cents = amount - np.round(inv["invoice_id"].map(paid_before).fillna(0.0).to_numpy() * 100
                                            ).astype(np.int64)
        customers = ledger.customers.set_index("customer_id")
        traits = ledger.traits.set_index("customer_id").loc[self.customer_ids].reset_index()
        self.traits = traits
        self.country = customers.loc[self.customer_ids, "country"].to_numpy()
        self.consumer = (customers.loc[self.customer_ids, "type"] == "consumer").to_numpy()
        self.consent_email = customers.loc[self.customer_ids, "consent_email"].to_numpy().astype(bool)
        dis = ledger.disputes[ledger.disputes["invoice_id"].isin(self.index)]
        self.disputes = [(self.index[r.invoice_id], _s(r.opened_at),
                          None if pd.isna(r.resolved_at) else _s(r.resolved_at)) for r in dis.itertuples()]
        self.contacts = np.zeros(len(inv), dtype=np.int64)
        self.log: list[Contact] = []
        self._emitted: set[str] = set()
        self.sales_history = ledger.invoices[["issued_at", "amount"]]

    # -- what the customers do -------------------------------------------------------------------------
    def days(self) -> Iterator[date]:
        for k in range(self.n_days):
            yield (self.start + timedelta(days=k)).date()

    def closed_at(self, i: int) -> float:
        """When invoice ``i`` leaves the book (paid or written off), in epoch seconds."""
        return min(self.pay_s[i], self.write_off_s[i])

    def is_open(self, i: int, at: float) -> bool:
        return self.issued_s[i] <= at < self.closed_at(i)

    def disputed(self, i: int, at: float) -> bool:
        return any(j == i and opened <= at and (resolved is None or at < resolved)
                   for j, opened, resolved in self._disputes_of(i))

    def _disputes_of(self, i: int) -> list[tuple[int, float, float | None]]:
        if not hasattr(self, "_by_invoice"):
            self._by_invoice: dict[int, list] = {}
            for d in self.disputes:
                self._by_invoice.setdefault(d[0], []).append(d)
        return self._by_invoice.get(i, [])

    def _draw(self, i: int, k: int, n: int) -> np.ndarray:
        return np.random.default_rng([self.seed, i, k]).random(n)

    def contact(self, invoice_id: str, at: datetime, channel: str, tone: str, kind: str) -> Contact | None:
        """A contact reaches the customer about one invoice; returns it, or None when the invoice is no
        longer open (paid or written off before it arrived: it is not a contact)."""
        i = self.index[invoice_id]
        t = _s(at)
        at = _naive(t)
        if not self.is_open(i, t):
            return None
        k = int(self.contacts[i])
        self.contacts[i] += 1
        step = min(k + 1, 4)
        local = pd.Timestamp(at, tz="UTC").tz_convert(ZoneInfo(ZONES.get(self.country[i], "Europe/Amsterdam")))
        p = float(response_probability(self.traits.iloc[[i]], np.array([channel]), np.array([local.hour]),
                                       np.array([local.weekday()]), np.array([tone]), step)[0])
        u = self._draw(i, k, 2)
        success = bool(u[0] < p)
        window = PAY_AFTER_MIN_DAYS + u[1] * (WINDOW_DAYS - PAY_AFTER_MIN_DAYS)
        if success:  # paid within the week of the contact; a contact that fails leaves the payment where it was
            self.pay_s[i] = min(self.pay_s[i], max(t + window * DAY_S, t + 60.0))
        done = Contact(invoice_id, at, channel, tone, kind, success, step)
        self.log.append(done)
        return done

    def call(self, invoice_id: str, at: datetime) -> CallResult:
        """A collector calls about one invoice: reached as often as the customer takes the phone
        (``resp_phone``); a reached customer answers like any contact, and promises the day the truth says
        they will pay, or (half of those who will not) promises in three days and breaks it."""
        i = self.index[invoice_id]
        if not self.is_open(i, _s(at)):
            return CallResult("reached")
        u = np.random.default_rng([self.seed, i, 10_000 + int(self.contacts[i])]).random(2)
        reach = 1.0 / (1.0 + np.exp(-(float(self.traits["resp_phone"].iloc[i]) + 0.5)))
        if u[0] >= reach:
            return CallResult("not_reached")
        done = self.contact(invoice_id, at, "phone", "neutral", "call")
        if done is not None and done.success:
            return CallResult("promise_to_pay", _naive(self.pay_s[i]).date())
        if u[1] < 0.5:
            return CallResult("promise_to_pay", (at + timedelta(days=3)).date())
        return CallResult("reached")

    # -- what the ledger hears -------------------------------------------------------------------------
    def events_until(self, until: datetime) -> list[dict]:
        """The events of the window's invoices dated before ``until`` not handed out yet, in time order:
        issues, disputes opened and resolved, payments (of the whole open amount) and write-offs."""
        u, s0, out = _s(until), _s(self.start), []
        closed = np.minimum(self.pay_s, self.write_off_s)
        for i in np.flatnonzero((self.issued_s >= s0) & (self.issued_s < u)):
            inv = self.invoice_ids[i]
            out.append((self.issued_s[i], {
                "event_id": f"w-iss-{inv}", "type": "invoice_issued", "customer_id": self.customer_ids[i],
                "invoice_id": inv, "amount": self.amount_cents[i] / 100, "due_at": _iso(self.due_s[i]),
                "payment_terms_days": int(round((self.due_s[i] - self.issued_s[i]) / DAY_S)),
                "paperless": bool(self.paperless[i]), "at": _iso(self.issued_s[i])}))
        for i in np.flatnonzero((closed >= s0) & (closed < min(u, _s(self.end)))):
            inv, paid = self.invoice_ids[i], self.pay_s[i] <= self.write_off_s[i]
            out.append((closed[i], {
                "event_id": f"w-{'pay' if paid else 'wo'}-{inv}",
                "type": "payment_received" if paid else "invoice_written_off", "customer_id": self.customer_ids[i],
                "invoice_id": inv, "at": _iso(closed[i]), **({"amount": self.open_cents[i] / 100} if paid else {})}))
        for n, (i, opened, resolved) in enumerate(self.disputes):
            inv, cust = self.invoice_ids[i], self.customer_ids[i]
            if _s(self.start) <= opened < u and opened < self.closed_at(i):  # nobody disputes a paid invoice
                out.append((opened, {"event_id": f"w-dis-{inv}-{n}", "type": "dispute_opened", "customer_id": cust,
                                     "invoice_id": inv, "at": _iso(opened), "reason": "other"}))
            if resolved is not None and _s(self.start) <= resolved < u and resolved < self.closed_at(i):
                out.append((resolved, {"event_id": f"w-res-{inv}-{n}", "type": "dispute_resolved",
                                       "customer_id": cust, "invoice_id": inv, "at": _iso(resolved)}))
        fresh = [(t, e) for t, e in out if e["event_id"] not in self._emitted]
        self._emitted.update(e["event_id"] for _, e in fresh)
        return [e for _, e in sorted(fresh, key=lambda pair: (pair[0], pair[1]["event_id"]))]

    # -- how it went -----------------------------------------------------------------------------------
    def figures(self) -> dict[str, float]:
        """The window's receivables figures (``engine.receivables``) and what the policy spent on them."""
        s0, s1 = _s(self.start), _s(self.end)
        open_at = lambda t: (self.issued_s < t) & (np.minimum(self.pay_s, self.write_off_s) >= t)  # noqa: E731
        closing = open_at(s1)
        closing_cents = int(self.open_cents[closing].sum())
        current_cents = int(self.open_cents[closing & (self.due_s > s1)].sum())
        opening_cents = int(self.open_cents[open_at(s0)].sum())
        sales = self.sales_history
        issued = _seconds(sales["issued_at"])
        cents = np.round(sales["amount"].to_numpy() * 100).astype(np.int64)
        window_sales = int(cents[(issued >= s0) & (issued < s1)].sum())
        months = [(int(cents[(issued >= s1 - (k + 1) * MONTH_DAYS * DAY_S) & (issued < s1 - k * MONTH_DAYS * DAY_S)]
                       .sum()), MONTH_DAYS) for k in range(12)]
        dso = dso_countback(closing_cents, months)
        best = best_possible_dso(current_cents, months[0][0], MONTH_DAYS)
        due_in = (self.due_s >= s0) & (self.due_s < s1)
        paid_s = np.where(self.pay_s <= self.write_off_s, self.pay_s, np.inf)
        paid_in = (paid_s >= s0) & (paid_s < s1)
        contacts = self.log
        letters = sum(c.channel == "letter" for c in contacts)
        return {
            "invoices": float(len(self.invoice_ids)),
            "dso": round(dso, 2),
            "add": round(average_days_delinquent(dso, best), 2),
            "cei": round(collection_effectiveness(opening_cents, window_sales, closing_cents, current_cents), 2),
            "paid_within_terms": round(float((paid_s[due_in] <= self.due_s[due_in]).mean()), 4),
            "cash_collected_eur": round(float(self.open_cents[paid_in].sum()) / 100, 2),
            "closing_receivables_eur": closing_cents / 100,
            "overdue_closing_eur": (closing_cents - current_cents) / 100,
            "contacts": float(len(contacts)),
            "contacts_per_paid_invoice": round(len(contacts) / max(int(paid_in.sum()), 1), 3),
            "letters": float(letters),
            "calls": float(sum(c.kind == "call" for c in contacts)),
            "collection_costs_charged_eur": self._costs_charged(),
        }

    def _costs_charged(self) -> float:
        """BIK costs on consumer invoices still unpaid when their final notice's 14-day term ran out in the
        window: what the notice said would be charged, and now is."""
        total = 0.0
        charged: set[str] = set()
        for c in self.log:
            i = self.index[c.invoice_id]
            expires = _s(c.at) + LETTER_TERM_DAYS * DAY_S
            if (c.kind == "final_notice" and self.consumer[i] and c.invoice_id not in charged
                    and expires < _s(self.end) and self.closed_at(i) > expires):
                charged.add(c.invoice_id)
                total += float(collection_costs(self.open_cents[i] / 100))
        return round(total, 2)


def static_ladder(world: World, day: date) -> list[tuple[str, datetime, str, str, str]]:
    """The day's contacts of the static ladder (business days only): each open, undisputed, overdue invoice
    gets the highest step it has reached and not had yet, by email (or letter), at 10:00 local time."""
    if day.weekday() >= 5:
        return []
    if not hasattr(world, "_static_done"):
        world._static_done = np.zeros(len(world.invoice_ids), dtype=np.int64)  # type: ignore[attr-defined]
    done = world._static_done  # type: ignore[attr-defined]
    out = []
    for i in range(len(world.invoice_ids)):
        zone = ZoneInfo(ZONES.get(world.country[i], "Europe/Amsterdam"))
        at = datetime(day.year, day.month, day.day, STATIC_HOUR, tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
        t = _s(at)
        if not world.is_open(i, t) or world.disputed(i, t):
            continue
        dpd = (day - _naive(world.due_s[i]).date()).days
        reached = [n for n, (from_day, *_rest) in enumerate(STATIC_STEPS, start=1) if dpd >= from_day]
        if not reached or reached[-1] <= done[i]:
            continue
        n = reached[-1]
        done[i] = n
        _from, _step, tone, kind = STATIC_STEPS[n - 1]
        channel = "email" if world.consent_email[i] and kind == "reminder" else "letter"
        out.append((world.invoice_ids[i], at, channel, tone, kind))
    return out


def _seconds(column: pd.Series) -> np.ndarray:
    """A column of naive UTC times as float epoch seconds, whatever its resolution."""
    return column.to_numpy().astype("datetime64[us]").astype(np.int64) / 1e6


def _naive(seconds: float) -> datetime:
    """Epoch seconds as the naive UTC time the simulator's tables use."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def _iso(seconds: float) -> str:
    return _naive(seconds).isoformat()
