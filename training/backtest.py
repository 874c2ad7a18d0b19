"""CreditPolicy backtest: replay a ledger's checkout decisions through two policies and compare.

Why: an analyst must see what a policy change does to acceptance, prepayment,
credit exposed and losses *before* it goes live. Each invoice of the ledger is
re-decided as a checkout as of its issue time, with the customer's history
from ``features.offline.build_feature_table`` (the same feature code path as
training and serving, so no train/serve skew), through the new and the
baseline policy.

Expected loss uses the observed outcome meanwhile (the amount written off;
invoices still open at the end of the ledger are censored and count 0), counted
for invoices the policy would have granted on credit (``accept``; ``review``
is counted as granted too, since a reviewer approves most). A ``scorer``
(e.g. the payment-delay model) may supply ``p_late``, ``p_late_30`` and
``expected_days_late`` per invoice, and optionally ``p_loss`` to replace the
observed loss by a model expectation.

Example::

    result = backtest(load_ledger("var/ledger"), load_policy("new.yaml"), load_policy("rules/default.yaml"))
    print(result.table())
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from domain.errors import InvalidInput
from engine.rules import CreditPolicy, RuleEngine
from features.ledger import Ledger
from features.offline import build_feature_table

Scorer = Callable[[pd.DataFrame], pd.DataFrame]
GRANTED = ("accept", "review")
HISTORY = ("open_exposure", "overdue_amount", "avg_monthly_purchases", "invoices_paid", "share_paid_late",
           "mean_days_late", "open_disputes")
SCORES = ("p_late", "p_late_30", "expected_days_late")


@dataclass(frozen=True)
class BacktestResult:
    """Per-invoice decisions of both policies, a summary per policy and segment, and the changes."""

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


def checkout_facts(ledger: Ledger, scorer: Scorer | None = None) -> pd.DataFrame:
    """One row of checkout facts per invoice, as of its issue time, plus the observed outcome."""
    feats = build_feature_table(ledger)
    inv = ledger.invoices.set_index("invoice_id")
    cust = ledger.customers.set_index("customer_id")
    df = feats[["invoice_id", "customer_id", "issued_at", *HISTORY, "invoices_issued"]].copy()
    c = cust.loc[df["customer_id"]]
    df["customer_type"] = c["type"].to_numpy()
    df["country"] = c["country"].to_numpy()
    df["profile"] = c["profile"].to_numpy()
    df["customer_size"] = c["size"].to_numpy()
    df["key_account"] = c["key_account"].to_numpy(dtype=bool)
    df["is_new_customer"] = df["invoices_issued"].to_numpy() == 0
    i = inv.loc[df["invoice_id"]]
    df["order_amount"] = i["amount"].to_numpy()
    df["payment_terms_days"] = i["payment_terms_days"].to_numpy()
    df["observed_loss"] = np.where(i["written_off_at"].notna().to_numpy(), df["order_amount"], 0.0)
    days_late = (i["paid_at"] - i["due_at"]).dt.total_seconds().to_numpy() / 86_400
    df["observed_days_late"] = days_late
    for name in SCORES:
        df[name] = 0.0
    if scorer is not None:
        scores = scorer(df)
        missing = [s for s in SCORES if s not in scores.columns]
        if missing or len(scores) != len(df):
            raise InvalidInput(f"scorer must return {len(df)} rows with columns {list(SCORES)}; "
                               f"missing {missing}", field="scorer")
        for name in (*SCORES, *(["p_loss"] if "p_loss" in scores.columns else [])):
            df[name] = scores[name].to_numpy(dtype=float)
    return df


def _decide(engine: RuleEngine, rows: list[dict]) -> pd.DataFrame:
    out = [engine.evaluate_checkout(r) for r in rows]
    return pd.DataFrame({"outcome": [o.outcome for o in out], "segment": [o.segment for o in out],
                         "credit_limit": [o.credit_limit for o in out],
                         "rule": [o.rules_fired[-1] for o in out]})


def backtest(ledger: Ledger, new: CreditPolicy, baseline: CreditPolicy, scorer: Scorer | None = None,
             sample: int | None = None, seed: int = 0) -> BacktestResult:
    """Replay every invoice (or a seeded ``sample`` of them) through both policies."""
    facts = checkout_facts(ledger, scorer)
    if sample is not None:
        if sample < 1:
            raise InvalidInput("sample must be at least 1", field="sample")
        facts = facts.sample(n=min(sample, len(facts)), random_state=seed).sort_index()
    fact_cols = ["customer_id", "customer_type", "country", "profile", "customer_size", "key_account",
                 "is_new_customer", "order_amount", "payment_terms_days", *HISTORY, *SCORES]
    rows = facts[fact_cols].to_dict("records")
    decisions = facts[["invoice_id", "customer_id", "issued_at", "order_amount", "observed_loss"]].copy()
    loss = facts["p_loss"] * facts["order_amount"] if "p_loss" in facts else facts["observed_loss"]
    decisions["expected_loss_if_granted"] = loss.to_numpy()
    for tag, policy in (("new", new), ("baseline", baseline)):
        d = _decide(RuleEngine(policy), rows)
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
