"""SHAP contributions in plain words: "pays 18 days late on average (+0.05)".

Why: a credit manager, a customer service agent and an auditor must read why
the model thought what it thought without knowing feature names or log-odds.
Each feature has one phrase that renders its *value*; the signed SHAP
contribution follows in brackets in *probability points* of paying late
(``training.model.Explanation.points``: they add up to the answer's P(late)
minus the base rate), so "+0.05" is five percentage points towards late
payment and "-" away from it. The reasons are the ``k`` largest contributions
by absolute size; each also carries its calibrated log-odds, which rank the
same way.

Example::

    top_reasons(("mean_days_late",), np.array([18.0]), np.array([0.05]), k=1)
    # [ModelReason(code="model.mean_days_late", text="pays 18 days late on average (+0.05)", ...)]
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from features.definitions import BUSINESS_SIZES
from features.ledger import PROFILES

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def _days(v: float) -> str:
    n = round(abs(v))
    return f"{n} day" if n == 1 else f"{n} days"


def _eur(v: float) -> str:
    return f"EUR {v:,.0f}"


def _count(v: float, one: str, many: str) -> str:
    n = round(v)
    return f"{n} {one if n == 1 else many}"


def _lateness(template: str) -> Callable[[float], str]:
    def phrase(v: float) -> str:
        if round(v) == 0:
            return template.format(when="on time")
        return template.format(when=f"{_days(v)} {'late' if v > 0 else 'early'}")
    return phrase


def _flag(yes: str, no: str) -> Callable[[float], str]:
    return lambda v: yes if v >= 0.5 else no


PHRASES: dict[str, Callable[[float], str]] = {
    "invoices_issued": lambda v: f"{_count(v, 'invoice', 'invoices')} issued before",
    "invoices_paid": lambda v: f"{_count(v, 'invoice', 'invoices')} paid so far",
    "share_paid_late": lambda v: f"paid {v:.0%} of invoices late",
    "share_known_late": lambda v: f"{v:.0%} of invoices with a known outcome late or unpaid",
    "mean_days_late": _lateness("pays {when} on average"),
    "p90_days_late": _lateness("pays {when} in the worst 10% of recent invoices"),
    "last_days_late": _lateness("paid the last invoice {when}"),
    "ewm_days_late": _lateness("pays {when} recently"),
    "days_since_last_payment": lambda v: ("has never paid an invoice" if v < 0
                                          else f"last payment {_days(v)} ago"),
    "write_offs": lambda v: f"{_count(v, 'invoice', 'invoices')} written off",
    "disputes_opened": lambda v: f"{_count(v, 'dispute', 'disputes')} opened before",
    "open_disputes": lambda v: f"{_count(v, 'dispute', 'disputes')} open now",
    "open_invoices": lambda v: f"{_count(v, 'invoice', 'invoices')} open",
    "open_exposure": lambda v: f"{_eur(v)} outstanding",
    "overdue_amount": lambda v: f"{_eur(v)} overdue",
    "overdue_invoices": lambda v: f"{_count(v, 'invoice', 'invoices')} overdue",
    "overdue_1_30": lambda v: f"{_eur(v)} up to 30 days overdue",
    "overdue_31_60": lambda v: f"{_eur(v)} 31-60 days overdue",
    "overdue_61_90": lambda v: f"{_eur(v)} 61-90 days overdue",
    "overdue_90_plus": lambda v: f"{_eur(v)} more than 90 days overdue",
    "max_days_overdue": lambda v: ("nothing overdue" if v <= 0 else f"oldest overdue invoice {_days(v)} past due"),
    "tenure_days": lambda v: ("a new customer" if v <= 0 else f"customer for {_days(v)}"),
    "avg_monthly_purchases": lambda v: f"buys {_eur(v)} a month on average",
    "is_business": _flag("a business customer", "a consumer"),
    **{f"profile_{p}": _flag(f"profile {p.replace('_', ' ')}", f"profile not {p.replace('_', ' ')}")
       for p in PROFILES},
    **{f"size_{z}": _flag(f"a {z} business", f"not a {z} business") for z in BUSINESS_SIZES},
    "amount": lambda v: f"amount {_eur(v)}",
    "amount_vs_usual": lambda v: f"amount is {v:.1f}x the customer's usual invoice",
    "payment_terms_days": lambda v: f"payment terms of {_days(v)}",
    "paperless": _flag("invoiced electronically", "invoiced on paper"),
    "issue_weekday": lambda v: f"issued on a {_WEEKDAYS[int(v) % 7]}",
    "issue_month": lambda v: f"issued in {_MONTHS[(int(v) - 1) % 12]}",
    "issue_day_of_month": lambda v: f"issued on day {int(v)} of the month",
}


@dataclass(frozen=True)
class ModelReason:
    """One model reason: a stable code, the sentence, the signed contribution in probability
    points and, when known, in calibrated log-odds."""

    code: str
    text: str
    feature: str
    value: float
    contribution: float
    log_odds: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "text": self.text, "source": "model",
                "contribution": round(self.contribution, 4),
                "log_odds": None if self.log_odds is None else round(self.log_odds, 4)}


def phrase(feature: str, value: float) -> str:
    """The plain-words rendering of one feature value (the name itself if no phrase is known)."""
    render = PHRASES.get(feature)
    return render(float(value)) if render is not None else f"{feature.replace('_', ' ')} = {value:g}"


def top_reasons(names: Sequence[str], values: np.ndarray, contributions: np.ndarray,
                k: int = 3, min_abs: float = 0.005, log_odds: np.ndarray | None = None) -> list[ModelReason]:
    """The ``k`` largest ``contributions`` (probability points; by absolute value, at least
    ``min_abs``, i.e. one point once rounded), largest first; ``log_odds`` ride along."""
    order = np.argsort(-np.abs(contributions), kind="stable")[:k]
    return [ModelReason(f"model.{names[i]}", f"{phrase(names[i], values[i])} ({contributions[i]:+.2f})",
                        names[i], float(values[i]), float(contributions[i]),
                        None if log_odds is None else float(log_odds[i]))
            for i in order if abs(contributions[i]) >= min_abs]
