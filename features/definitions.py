"""Every model feature, defined once: name, meaning, dtype, entity.

Why: training (``features.offline``) and serving (``features.online``) both
compute exactly these features through :func:`features.transform.invoice_features`
semantics, so a model never sees a column at training time that it cannot get
at decision time. ``FEATURE_NAMES`` is the model's input order.

Point in time: a feature of an invoice is computed *as of its issue time*;
only events strictly before that moment count (see ``features.offline``).

Example::

    from features.definitions import FEATURE_NAMES, FEATURES
    FEATURES["p90_days_late"].meaning
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from domain.vocabulary import PROFILES, SIZES

#: ``customer``: the customer's history (events before now); ``record``: who the customer is (the
#: customer record, sent with each decision request); ``invoice``: the invoice or order being decided;
#: ``context``: the decision moment.
Entity = Literal["customer", "record", "invoice", "context"]

#: How many of the most recent days-late values the aggregate keeps (bounded
#: state for ``p90_days_late``; the offline table uses the same window).
RECENT_K = 20
#: Half-life of the time-decayed mean of days late (``ewm_days_late``).
EWM_HALFLIFE_DAYS = 90.0
#: Fixed origin of the decay weights (weights are 2 ** ((t - origin) / half-life)),
#: so the weighted mean does not depend on the order events arrive in.
EWM_ORIGIN = "2000-01-01T00:00:00"
#: An invoice counts as paid once its payments reach its amount minus half a cent.
PAID_TOLERANCE = 0.005
#: Length of a month in days for ``avg_monthly_purchases`` (365.25 / 12).
MONTH_DAYS = 30.4375
#: ``days_since_last_payment`` of a customer who never paid.
NEVER_PAID = -1.0
#: Sizes with a feature of their own; a consumer is ``is_business`` 0 and every ``size_*`` 0.
BUSINESS_SIZES = tuple(s for s in SIZES if s != "consumer")
#: Prior of ``share_known_late`` (Jeffreys: half a late outcome in one pseudo-observation), so a
#: customer with one known outcome is not scored as 0 % or 100 % late.
KNOWN_LATE_PRIOR = 0.5
KNOWN_LATE_PRIOR_WEIGHT = 1.0


@dataclass(frozen=True)
class Feature:
    """One feature: its name, what it means, its dtype and the entity it describes."""

    name: str
    entity: Entity
    meaning: str
    dtype: str = "float64"
    default: float = 0.0  # value for a customer without history


F = Feature
FEATURES_LIST: tuple[Feature, ...] = (
    # customer payment behaviour (from the customer's events before the decision)
    F("invoices_issued", "customer", "invoices issued to the customer before now"),
    F("invoices_paid", "customer", "invoices fully paid before now"),
    F("share_paid_late", "customer", "share of paid invoices whose final payment came after the due date"),
    F("share_known_late", "customer",
      "smoothed share of invoices whose lateness is already known that were late: (paid late + written off + "
      f"open past due + {KNOWN_LATE_PRIOR * KNOWN_LATE_PRIOR_WEIGHT:g}) / (paid + written off + open past due + "
      f"{KNOWN_LATE_PRIOR_WEIGHT:g}); unlike share_paid_late it sees late invoices before they are paid",
      default=KNOWN_LATE_PRIOR),
    F("mean_days_late", "customer", "mean days late (final payment - due date; negative = early) of paid invoices"),
    F("p90_days_late", "customer",
      f"90th percentile (linear interpolation) of days late over the last {RECENT_K} paid invoices"),
    F("last_days_late", "customer", "days late of the most recently paid invoice"),
    F("ewm_days_late", "customer",
      f"time-decayed mean of days late (half-life {EWM_HALFLIFE_DAYS:g} days, by payment time)"),
    F("days_since_last_payment", "customer",
      f"days since the last (partial) payment; {NEVER_PAID:g} if the customer never paid",
      default=NEVER_PAID),
    F("write_offs", "customer", "invoices written off"),
    F("disputes_opened", "customer", "disputes ever opened"),
    F("open_disputes", "customer", "disputes open now (dunning pauses)"),
    F("open_invoices", "customer", "invoices issued and not yet paid or written off"),
    F("overdue_invoices", "customer", "open invoices past their due date"),
    F("open_exposure", "customer", "outstanding amount of open invoices (EUR)"),
    F("overdue_amount", "customer", "outstanding amount of open invoices past their due date (EUR)"),
    F("overdue_1_30", "customer", "outstanding amount 0-30 days past due (EUR)"),
    F("overdue_31_60", "customer", "outstanding amount 30-60 days past due (EUR)"),
    F("overdue_61_90", "customer", "outstanding amount 60-90 days past due (EUR)"),
    F("overdue_90_plus", "customer", "outstanding amount more than 90 days past due (EUR)"),
    F("max_days_overdue", "customer", "days past due of the oldest overdue open invoice (0 if none)"),
    F("tenure_days", "customer", "days since the customer's first invoice"),
    F("avg_monthly_purchases", "customer",
      "invoiced amount before now per month of tenure (at least one month) (EUR)"),
    # who the customer is: the prior for a customer with little history; profile and size all 0 when
    # the request does not say
    F("is_business", "record", "1 for a business customer, 0 for a consumer"),
    *(F(f"profile_{p}", "record", f"1 if the customer's profile is {p}") for p in PROFILES),
    *(F(f"size_{s}", "record", f"1 for a {s} business") for s in BUSINESS_SIZES),
    # the invoice (or order) being decided
    F("amount", "invoice", "invoice amount (EUR)"),
    F("amount_vs_usual", "invoice", "amount / the customer's mean invoice amount so far (1 without history)",
      default=1.0),
    F("payment_terms_days", "invoice", "payment terms in days"),
    F("paperless", "invoice", "1 if the invoice is sent electronically"),
    # context of the decision moment
    F("issue_weekday", "context", "weekday of issue (0 = Monday)"),
    F("issue_month", "context", "month of issue (1..12)"),
    F("issue_day_of_month", "context", "day of month of issue (1..31; salary-timing effects)"),
)
del F

FEATURES: dict[str, Feature] = {f.name: f for f in FEATURES_LIST}
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES_LIST)
AGEING_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("overdue_1_30", 0.0, 30.0),
    ("overdue_31_60", 30.0, 60.0),
    ("overdue_61_90", 60.0, 90.0),
    ("overdue_90_plus", 90.0, float("inf")),
)
"""(feature, lower, upper): an open invoice ``d`` days past due with ``lower < d <= upper``."""
