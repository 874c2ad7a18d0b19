"""Policy backtest: replay a ledger's decisions through two credit policies and compare.

Why: an analyst must see what a policy change does *before* it goes live: to
acceptance, prepayment, credit exposed and losses at checkout, and to actions,
channels, legal letters and collection costs in dunning. The replay runs the
real decision path: the facts come from ``engine.decisions`` (the one fact
builder the API uses), the features from the same feature code (the offline
table at checkout, proven equal to the online store; the online store itself,
fed the ledger's events in time order, for dunning), and the scores from the
champion model (``kredo backtest`` loads it; ``scorer=None`` replays the rules
on zero scores). A test proves the replay gives exactly the API's answers.

Checkout: every invoice is re-decided as a checkout at its issue time.
Expected loss uses the observed outcome (the amount written off; invoices
still open at the end are censored and count 0), counted for invoices the
policy would have granted on credit (``accept``; ``review`` counts as granted,
since a reviewer approves most), or ``p_loss`` from the scorer if it gives one.

Dunning: every invoice still open ``d`` days after its due date, for each ``d``
in ``DUNNING_CHECKPOINTS``, is re-decided as a next-action with its open amount,
logged reminders and disputes as of that moment (no bandit: the channel is the
policy's first allowed one).

Example::

    result = backtest(load_ledger("var/ledger"), load_policy("new.yaml"), load_policy(default), scorer=scorer)
    print(result.table())
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from domain.calendar import PublicHolidays
from domain.contract import Consent, Customer, DunningCustomer, Invoice, NextActionRequest, Reminder
from domain.errors import InvalidInput
from domain.vocabulary import CHANNELS
from engine.decisions import checkout_facts, invoice_request, next_action_outcome
from engine.rules import CreditPolicy, RuleEngine
from features.definitions import FEATURE_NAMES
from ledger.book import cents
from ledger.events import ledger_to_events
from ledger.tables import Ledger
from features.offline import build_feature_table
from features.online import MemoryStore

Scorer = Callable[[pd.DataFrame], pd.DataFrame]
GRANTED = ("accept", "review")
SCORES = ("p_late", "p_late_30", "expected_days_late")
#: Days past due at which the dunning replay asks for the next action.
DUNNING_CHECKPOINTS = (1, 8, 15, 22, 30, 45, 60)
#: The local hour of a dunning checkpoint (business time, as the ledger's times are).
CHECKPOINT_HOUR = 10


def model_scorer(model: object) -> Scorer:
    """A scorer from the payment-delay model: batch ``predict`` over the feature columns."""
    def score(features: pd.DataFrame) -> pd.DataFrame:
        return model.predict(features[list(FEATURE_NAMES)].to_numpy(dtype=np.float64))  # type: ignore[attr-defined]
    return score


def business_time(naive: datetime) -> datetime:
    """A ledger time as the aware moment the API receives (the ledger's naive times are read as UTC)."""
    return naive.replace(tzinfo=UTC)


@dataclass(frozen=True)
class BacktestResult:
    """Per-invoice checkout decisions of both policies, a summary per policy and segment, and the changes."""

    decisions: pd.DataFrame
    summary: pd.DataFrame
    changed_customers: pd.DataFrame
    new_version: str
    baseline_version: str

    def table(self, top: int = 10) -> str:
        """The comparison as plain text (what ``kredo backtest`` prints)."""
        lines = [f"policy {self.new_version} (new) vs {self.baseline_version} (baseline), "
                 f"{len(self.decisions):,} checkout decisions replayed", "",
                 self.summary.to_string(index=False, float_format=lambda v: f"{v:,.3f}"), ""]
        changed = int((self.decisions["outcome_new"] != self.decisions["outcome_baseline"]).sum())
        lines.append(f"decisions that change: {changed:,}; customers affected: {len(self.changed_customers):,}")
        if len(self.changed_customers):
            lines += ["", self.changed_customers.head(top).to_string(index=False)]
        return "\n".join(lines)


def _scores(table: pd.DataFrame, scorer: Scorer | None) -> pd.DataFrame:
    if scorer is None:
        return pd.DataFrame(0.0, index=table.index, columns=list(SCORES))
    scores = scorer(table)
    missing = [s for s in SCORES if s not in scores.columns]
    if missing or len(scores) != len(table):
        raise InvalidInput(f"scorer must return {len(table)} rows with columns {list(SCORES)}; missing {missing}",
                           field="scorer")
    return scores.set_axis(table.index)


def _customers(ledger: Ledger) -> dict[str, DunningCustomer]:
    """The ledger's customer records as the contract's customers (built once, trusted: the ledger is validated)."""
    out: dict[str, DunningCustomer] = {}
    for row in ledger.customers.itertuples(index=False):
        consent = Consent.model_construct(**{ch: bool(getattr(row, f"consent_{ch}")) for ch in CHANNELS})
        out[row.customer_id] = DunningCustomer.model_construct(
            id=row.customer_id, type=row.type, country=row.country, profile=row.profile, size=row.size,
            key_account=bool(row.key_account),
            account_manager=row.account_manager if isinstance(row.account_manager, str) else None, blocked=False,
            consent=consent)
    return out


def replay_table(ledger: Ledger, scorer: Scorer | None = None) -> pd.DataFrame:
    """One row per invoice: its features as of its issue time, the scores, and the observed outcome."""
    table = build_feature_table(ledger)
    scores = _scores(table, scorer)
    inv = ledger.invoices.set_index("invoice_id").loc[table["invoice_id"]]
    table["order_amount"] = inv["amount"].to_numpy()
    table["payment_terms_days"] = inv["payment_terms_days"].to_numpy()
    table["observed_loss"] = np.where(inv["written_off_at"].notna().to_numpy(), table["order_amount"], 0.0)
    table["observed_days_late"] = (inv["paid_at"] - inv["due_at"]).dt.total_seconds().to_numpy() / 86_400
    for name in scores.columns:
        table[name] = scores[name].to_numpy(dtype=float)
    return table


def _decide_checkouts(rules: RuleEngine, table: pd.DataFrame, customers: dict[str, DunningCustomer]) -> pd.DataFrame:
    feats = table[list(FEATURE_NAMES)].to_dict("records")
    scores = table[list(SCORES)].to_dict("records")
    out = [rules.evaluate_checkout(checkout_facts(customers[c], float(a), int(t), f, s))
           for c, a, t, f, s in zip(table["customer_id"], table["order_amount"], table["payment_terms_days"],
                                    feats, scores)]
    return pd.DataFrame({"outcome": [o.outcome for o in out], "segment": [o.segment for o in out],
                         "credit_limit": [o.credit_limit for o in out],
                         "rule": [o.rules_fired[-1] for o in out]})


def backtest(ledger: Ledger, new: CreditPolicy, baseline: CreditPolicy, scorer: Scorer | None = None,
             sample: int | None = None, seed: int = 0) -> BacktestResult:
    """Replay every invoice (or a seeded ``sample`` of them) as a checkout through both policies."""
    table = replay_table(ledger, scorer)
    if sample is not None:
        if sample < 1:
            raise InvalidInput("sample must be at least 1", field="sample")
        table = table.sample(n=min(sample, len(table)), random_state=seed).sort_index()
    customers = _customers(ledger)
    decisions = table[["invoice_id", "customer_id", "issued_at", "order_amount", "observed_loss"]].copy()
    loss = table["p_loss"] * table["order_amount"] if "p_loss" in table else table["observed_loss"]
    decisions["expected_loss_if_granted"] = loss.to_numpy()
    for tag, policy in (("new", new), ("baseline", baseline)):
        d = _decide_checkouts(RuleEngine(policy), table, customers)
        for col in d.columns:
            decisions[f"{col}_{tag}"] = d[col].to_numpy()
    summary = pd.concat([_summary(decisions, "new", new.version), _summary(decisions, "baseline", baseline.version)])
    return BacktestResult(decisions, summary.reset_index(drop=True), _changes(decisions), new.version,
                          baseline.version)


def _summary(d: pd.DataFrame, tag: str, version: str) -> pd.DataFrame:
    seg = d[f"segment_{tag}"]
    rows = []
    for name, part in [*d.groupby(seg, sort=True), ("all", d)]:
        outcome = part[f"outcome_{tag}"]
        granted = outcome.isin(GRANTED)
        rows.append({
            "policy": tag, "version": version, "segment": name, "decisions": len(part),
            "accept_rate": float((outcome == "accept").mean()), "prepay_rate": float((outcome == "prepay").mean()),
            "review_rate": float((outcome == "review").mean()), "reject_rate": float((outcome == "reject").mean()),
            "credit_exposed": float(part.loc[granted, "order_amount"].sum()),
            "expected_loss": float(part.loc[granted, "expected_loss_if_granted"].sum()),
        })
    return pd.DataFrame(rows)


def _changes(d: pd.DataFrame) -> pd.DataFrame:
    changed = d[d["outcome_new"] != d["outcome_baseline"]]
    if changed.empty:
        return pd.DataFrame(columns=["customer_id", "decisions_changed", "baseline", "new", "amount"])
    g = changed.groupby("customer_id", sort=False)
    out = pd.DataFrame({
        "decisions_changed": g.size(),
        "baseline": g["outcome_baseline"].agg(lambda s: s.value_counts().idxmax()),
        "new": g["outcome_new"].agg(lambda s: s.value_counts().idxmax()),
        "amount": g["order_amount"].sum(),
    }).reset_index()
    return out.sort_values(["amount", "customer_id"], ascending=[False, True]).reset_index(drop=True)


# ---- dunning ----

def dunning_requests(ledger: Ledger, checkpoints: tuple[int, ...] = DUNNING_CHECKPOINTS,
                     sample: int | None = None, seed: int = 0) -> list[NextActionRequest]:
    """The next-action requests history implies: each invoice open ``d`` days past due, for each checkpoint,
    with the reminders sent and the dispute open at that moment; in time order."""
    inv = ledger.invoices
    reminders = {k: g.sort_values("sent_at") for k, g in ledger.reminders.groupby("invoice_id", sort=False)}
    disputes = {k: g.sort_values("opened_at") for k, g in ledger.disputes.groupby("invoice_id", sort=False)}
    payments = {k: g for k, g in ledger.payments.groupby("invoice_id", sort=False)}
    customers = _customers(ledger)
    out: list[NextActionRequest] = []
    for row in inv.itertuples(index=False):
        due = row.due_at.to_pydatetime()
        closed = row.paid_at if pd.notna(row.paid_at) else row.written_off_at
        for d in checkpoints:
            moment = datetime(due.year, due.month, due.day, CHECKPOINT_HOUR) + timedelta(days=d)
            if pd.notna(closed) and closed.to_pydatetime() <= moment:
                break
            out.append(_request(row, moment, customers[row.customer_id], reminders.get(row.invoice_id),
                                disputes.get(row.invoice_id), payments.get(row.invoice_id)))
    out.sort(key=lambda r: (r.now, r.request_id))
    if sample is not None and sample < len(out):
        keep = np.sort(np.random.default_rng(seed).choice(len(out), size=sample, replace=False))
        out = [out[i] for i in keep]
    return out


def _request(row: object, moment: datetime, customer: DunningCustomer, reminders: pd.DataFrame | None,
             disputes: pd.DataFrame | None, payments: pd.DataFrame | None) -> NextActionRequest:
    sent = [] if reminders is None else [
        Reminder.model_construct(sent_at=business_time(r.sent_at.to_pydatetime()), channel=r.channel, tone=r.tone,
                                 final_notice=False)
        for r in reminders.itertuples(index=False) if r.sent_at.to_pydatetime() < moment]
    opened = None
    if disputes is not None:
        for dsp in disputes.itertuples(index=False):
            open_then = dsp.opened_at.to_pydatetime() < moment and (
                pd.isna(dsp.resolved_at) or dsp.resolved_at.to_pydatetime() >= moment)
            if open_then:
                opened = dsp.opened_at.date()
    paid = 0 if payments is None else sum(cents(a) for a, at in zip(payments["amount"], payments["paid_at"])
                                          if at.to_pydatetime() < moment)
    open_amount = (cents(row.amount) - paid) / 100  # type: ignore[attr-defined] - at the moment, as the ledger keeps it
    invoice = Invoice.model_construct(
        id=row.invoice_id, amount=open_amount, currency="EUR", issue_date=row.issued_at.date(),  # type: ignore[attr-defined]
        due_date=row.due_at.date(), paperless=bool(row.paperless), disputed=opened is not None,  # type: ignore[attr-defined]
        dispute_opened=opened, reminders=sent)
    return NextActionRequest.model_construct(request_id=f"bt:{row.invoice_id}:{moment:%Y%m%d}",  # type: ignore[attr-defined]
                                             now=business_time(moment), customer=customer, invoice=invoice)


def _replayed_features(ledger: Ledger, requests: list[NextActionRequest]) -> Iterator[dict[str, float]]:
    """The online store's features at each request's moment, the ledger's events applied in time order."""
    store = MemoryStore()
    events = ledger_to_events(ledger, include_reminders=False)
    at = np.array([e["at"] for e in events], dtype="datetime64[us]")
    done = 0
    for request in requests:
        end = int(np.searchsorted(at, np.datetime64(request.now.replace(tzinfo=None), "us"), side="left"))
        if end > done:
            store.apply(events[done:end])
            done = end
        yield store.customer_features(request.customer.id, invoice_request(request.customer, request.invoice,
                                                                           request.now.tzinfo), request.now)


def dunning_backtest(ledger: Ledger, new: CreditPolicy, baseline: CreditPolicy,
                     scorer: Scorer | None = None, sample: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Per next-action request of history: action, step, channel, tone, collection costs under both policies."""
    requests = dunning_requests(ledger, sample=sample, seed=seed)
    feats = pd.DataFrame(list(_replayed_features(ledger, requests)), columns=list(FEATURE_NAMES))
    scores = _scores(feats, scorer)
    engines = {"new": RuleEngine(new), "baseline": RuleEngine(baseline)}
    calendar = PublicHolidays()
    rows = []
    for request, f, s in zip(requests, feats.to_dict("records"), scores.to_dict("records")):
        row = {"request_id": request.request_id, "invoice_id": request.invoice.id,
               "customer_id": request.customer.id, "now": request.now, "amount": request.invoice.amount,
               "days_past_due": (request.now.date() - request.invoice.due_date).days}
        for tag, rules in engines.items():
            out = next_action_outcome(rules, request, f, s, calendar)
            row.update({f"action_{tag}": out.action, f"step_{tag}": out.step, f"segment_{tag}": out.segment,
                        f"channel_{tag}": out.allowed_channels[0] if out.allowed_channels else None,
                        f"tone_{tag}": out.tone, f"rules_{tag}": "|".join(out.rules_fired),
                        f"collection_costs_{tag}": float(out.collection_costs or 0.0)})
        rows.append(row)
    return pd.DataFrame(rows)


def dunning_summary(d: pd.DataFrame) -> pd.DataFrame:
    """Per policy: decisions, share per action, final notices (the legal letter), collection costs charged."""
    out = []
    for tag in ("new", "baseline"):
        action = d[f"action_{tag}"]
        row = {"policy": tag, "decisions": len(d), "final_notices": int((action == "final_notice").sum()),
               "collection_costs": float(d[f"collection_costs_{tag}"].sum())}
        row.update({f"share_{a}": float((action == a).mean()) for a in sorted(set(action))})
        out.append(row)
    return pd.DataFrame(out).fillna(0.0)
