"""The one feature code path: aggregates + request -> features.

Why: training/serving skew is impossible when both sides call the same
function. Serving calls :func:`invoice_features` on the aggregates the online
store returns; the offline table (``features.offline``) computes the same
arithmetic vectorised, and the parity test proves them equal at every
decision moment. Plain Python on a small state: no pandas per request.

Example::

    req = InvoiceRequest(amount=250.0, payment_terms_days=30, issued_at="2024-05-02T10:00:00",
                         paperless=True, customer_type="business")
    feats = invoice_features(store.aggregates("C-00000001"), req)
    x = vector(feats)     # float64, FEATURE_NAMES order
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from domain.errors import InvalidInput
from features.aggregates import CustomerAggregates, days_between
from features.definitions import (AGEING_BUCKETS, BUSINESS_SIZES, FEATURE_NAMES, KNOWN_LATE_PRIOR,
                                  KNOWN_LATE_PRIOR_WEIGHT, MONTH_DAYS, NEVER_PAID)
from ledger.events import to_us
from domain.vocabulary import CUSTOMER_TYPES, PROFILES, SIZES


@dataclass(frozen=True)
class InvoiceRequest:
    """The invoice (or order) being decided; validated on construction.

    ``issued_at``: ISO-8601 string or datetime (naive = business time).
    ``profile`` and ``size`` come from the customer record; ``None`` (not known)
    sets every ``profile_*`` / ``size_*`` feature to 0.
    Raises ``InvalidInput`` naming the offending field.
    """

    amount: float
    payment_terms_days: int
    issued_at: Any
    paperless: bool = False
    customer_type: str = "consumer"
    profile: str | None = None
    size: str | None = None
    issued_us: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        a = self.amount
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a) or a < 0:
            raise InvalidInput(f"amount must be a finite number >= 0 (got {a!r})", field="amount")
        t = self.payment_terms_days
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
            raise InvalidInput(f"payment_terms_days must be an integer >= 0 (got {t!r})",
                               field="payment_terms_days")
        if not isinstance(self.paperless, (bool, np.bool_)):
            raise InvalidInput(f"paperless must be true or false (got {self.paperless!r})", field="paperless")
        if self.customer_type not in CUSTOMER_TYPES:
            raise InvalidInput(f"customer_type must be one of {list(CUSTOMER_TYPES)} (got {self.customer_type!r})",
                               field="customer_type")
        for name, value, allowed in (("profile", self.profile, PROFILES), ("size", self.size, SIZES)):
            if value is not None and value not in allowed:
                raise InvalidInput(f"{name} must be one of {list(allowed)} or null (got {value!r})", field=name)
        object.__setattr__(self, "issued_us", to_us(self.issued_at, "issued_at"))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "InvoiceRequest":
        """Build from a JSON-like mapping; missing required fields are ``InvalidInput``."""
        for name in ("amount", "payment_terms_days", "issued_at"):
            if name not in data:
                raise InvalidInput(f"{name} is required", field=name)
        return cls(amount=data["amount"], payment_terms_days=data["payment_terms_days"],
                   issued_at=data["issued_at"], paperless=data.get("paperless", False),
                   customer_type=data.get("customer_type", "consumer"), profile=data.get("profile"),
                   size=data.get("size"))


def percentile_linear(sorted_values: list[float], q: float) -> float:
    """``q``-quantile with linear interpolation (numpy's default), of sorted values."""
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def invoice_features(agg: CustomerAggregates, request: InvoiceRequest,
                     now: datetime | str | None = None) -> dict[str, float]:
    """All features of ``request`` for a customer with aggregates ``agg`` at ``now``.

    ``now`` defaults to the request's issue time (the decision moment). The
    aggregates must hold only events before ``now`` for the result to be
    point-in-time correct; the online store guarantees this for live traffic.
    """
    return invoice_features_many([(None, agg, request, now)])[0]


def invoice_features_many(queries: Iterable[tuple[str | None, CustomerAggregates, InvoiceRequest,
                                                  datetime | str | None]]) -> list[dict[str, float]]:
    """``invoice_features`` of each ``(customer id, aggregates, request, now)``, the customer's history part
    computed once per customer and moment: a dunning run asks for a customer's invoices together (about four
    each), and the history part is most of the work. A ``None`` id shares nothing."""
    histories: dict[tuple[str, int], dict[str, float]] = {}
    out = []
    for customer_id, agg, request, now in queries:
        now_us = request.issued_us if now is None else to_us(now, "now")
        key = (customer_id, now_us)
        history = histories.get(key) if customer_id is not None else None
        if history is None:
            history = _history(agg, now_us)
            if customer_id is not None:
                histories[key] = history
        out.append(_with_request(history, agg, request))
    return out


def _history(agg: CustomerAggregates, now_us: int) -> dict[str, float]:
    """The features of the customer's history at ``now_us`` (all but the request's own)."""
    paid = agg.invoices_paid
    f: dict[str, float] = {
        "invoices_issued": float(agg.invoices_issued),
        "invoices_paid": float(paid),
        "share_paid_late": agg.paid_late / paid if paid else 0.0,
        "mean_days_late": agg.days_late_sum / paid if paid else 0.0,
        "p90_days_late": percentile_linear(sorted(d for _, _, d in agg.recent), 0.9) if agg.recent else 0.0,
        "last_days_late": agg.recent[-1][2] if agg.recent else 0.0,
        "ewm_days_late": agg.ewm_num / agg.ewm_den if paid else 0.0,
        "days_since_last_payment": (days_between(now_us, agg.last_payment_us)
                                    if agg.last_payment_us is not None else NEVER_PAID),
        "write_offs": float(agg.write_offs),
        "disputes_opened": float(agg.disputes_opened),
        "open_disputes": float(agg.open_disputes),
    }
    exposure = overdue = disputed = max_over = 0.0
    n_overdue = n_escalated = 0
    buckets = dict.fromkeys((name for name, _, _ in AGEING_BUCKETS), 0.0)
    for inv in sorted(agg.open_invoices.items(), key=lambda kv: (kv[1].issued_us, kv[0])):
        outstanding = inv[1].amount - inv[1].paid
        exposure += outstanding
        if inv[1].disputed:
            disputed += outstanding
        n_escalated += inv[1].escalated
        days = days_between(now_us, inv[1].due_us)
        if days > 0:
            n_overdue += 1
            overdue += outstanding
            max_over = max(max_over, days)
            for name, lower, upper in AGEING_BUCKETS:
                if lower < days <= upper:
                    buckets[name] += outstanding
    tenure = days_between(now_us, agg.first_issued_us) if agg.first_issued_us is not None else 0.0
    known_late = float(agg.paid_late + agg.write_offs + n_overdue)
    known = float(paid + agg.write_offs + n_overdue)
    f.update({
        "share_known_late": ((known_late + KNOWN_LATE_PRIOR * KNOWN_LATE_PRIOR_WEIGHT)
                             / (known + KNOWN_LATE_PRIOR_WEIGHT)),
        "open_invoices": float(len(agg.open_invoices)),
        "overdue_invoices": float(n_overdue),
        "open_exposure": exposure,
        "overdue_amount": overdue,
        **buckets,
        "max_days_overdue": max_over,
        "overdue_share": overdue / exposure if exposure > 0 else 0.0,
        "disputed_share": disputed / exposure if exposure > 0 else 0.0,
        "broken_promises": float(agg.broken_promises + sum(1 for p in agg.promises if p[0] <= now_us)),
        "open_escalations": float(n_escalated),
        "tenure_days": tenure,
        "avg_monthly_purchases": agg.amount_sum / max(tenure / MONTH_DAYS, 1.0),
    })
    return f


def _with_request(history: dict[str, float], agg: CustomerAggregates, request: InvoiceRequest) -> dict[str, float]:
    """The history's features and the request's own, in ``FEATURE_NAMES`` order."""
    mean_amount = agg.amount_sum / agg.invoices_issued if agg.invoices_issued else 0.0
    issued = datetime(1970, 1, 1) + timedelta(microseconds=request.issued_us)
    f = {
        **history,
        "is_business": float(request.customer_type == "business"),
        **{f"profile_{p}": float(request.profile == p) for p in PROFILES},
        **{f"size_{z}": float(request.size == z) for z in BUSINESS_SIZES},
        "amount": float(request.amount),
        "amount_vs_usual": request.amount / mean_amount if mean_amount > 0 else 1.0,
        "payment_terms_days": float(request.payment_terms_days),
        "paperless": float(bool(request.paperless)),
        "issue_weekday": float(issued.weekday()),
        "issue_month": float(issued.month),
        "issue_day_of_month": float(issued.day),
    }
    return {name: f[name] for name in FEATURE_NAMES}


def vector(features: Mapping[str, float]) -> np.ndarray:
    """Features as a float64 vector in ``FEATURE_NAMES`` order (the model's input).

    float64 keeps the online vector bit-comparable with the offline table;
    cast to float32 at the model if wanted. A missing feature is ``InvalidInput``.
    """
    missing = [n for n in FEATURE_NAMES if n not in features]
    if missing:
        raise InvalidInput(f"missing features {missing}", field=missing[0])
    return np.fromiter((features[n] for n in FEATURE_NAMES), dtype=np.float64, count=len(FEATURE_NAMES))
