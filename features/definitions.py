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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from domain.vocabulary import MONTH_NAMES, PROFILES, SIZES, WEEKDAY_NAMES

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


def _days(v: float) -> str:
    n = round(abs(v))
    return f"{n} day" if n == 1 else f"{n} days"


def _eur(v: float) -> str:
    return f"EUR {v:,.0f}"


def _count(one: str, many: str, suffix: str) -> Callable[[float], str]:
    return lambda v: f"{round(v)} {one if round(v) == 1 else many} {suffix}"


def _lateness(template: str) -> Callable[[float], str]:
    def phrase(v: float) -> str:
        return template.format(when="on time" if round(v) == 0 else f"{_days(v)} {'late' if v > 0 else 'early'}")
    return phrase


def _flag(yes: str, no: str) -> Callable[[float], str]:
    return lambda v: yes if v >= 0.5 else no


Known = Callable[[Mapping[str, float]], str | None]


def _without_payments(features: Mapping[str, float]) -> str | None:
    return "no payment history yet" if features["invoices_paid"] == 0 else None


def _first_invoice(features: Mapping[str, float]) -> str | None:
    return "first invoice" if features["invoices_issued"] == 0 else None


def _no_known_outcome(features: Mapping[str, float]) -> str | None:
    known = features["invoices_paid"] + features["write_offs"] + features["overdue_invoices"]
    return "no invoice with a known outcome yet" if known == 0 else None


@dataclass(frozen=True)
class Feature:
    """One feature: its name, what it means, its dtype, the entity it describes, and how a reason reads it.

    ``phrase`` renders a value in plain words ("pays 18 days late on average");
    ``unknown`` says, from the whole feature vector, when the value is only a
    default for lack of history ("no payment history yet"), so a reason never
    describes a history the customer does not have.
    """

    name: str
    entity: Entity
    meaning: str
    phrase: Callable[[float], str]
    dtype: str = "float64"
    default: float = 0.0  # value for a customer without history
    unknown: Known | None = None

    def describe(self, value: float, features: Mapping[str, float]) -> str:
        """The plain-words reading of ``value`` in the context of the whole feature vector."""
        told = self.unknown(features) if self.unknown is not None else None
        return told if told is not None else self.phrase(float(value))


F = Feature
NO_PAY, FIRST = _without_payments, _first_invoice
FEATURES_LIST: tuple[Feature, ...] = (
    # customer payment behaviour (from the customer's events before the decision)
    F("invoices_issued", "customer", "invoices issued to the customer before now",
      _count("invoice", "invoices", "issued before"), unknown=FIRST),
    F("invoices_paid", "customer", "invoices fully paid before now", _count("invoice", "invoices", "paid so far"),
      unknown=NO_PAY),
    F("share_paid_late", "customer", "share of paid invoices whose final payment came after the due date",
      lambda v: f"paid {v:.0%} of invoices late", unknown=NO_PAY),
    F("share_known_late", "customer",
      "smoothed share of invoices whose lateness is already known that were late: (paid late + written off + "
      f"open past due + {KNOWN_LATE_PRIOR * KNOWN_LATE_PRIOR_WEIGHT:g}) / (paid + written off + open past due + "
      f"{KNOWN_LATE_PRIOR_WEIGHT:g}); unlike share_paid_late it sees late invoices before they are paid",
      lambda v: f"{v:.0%} of invoices with a known outcome late or unpaid", default=KNOWN_LATE_PRIOR,
      unknown=_no_known_outcome),
    F("mean_days_late", "customer", "mean days late (final payment - due date; negative = early) of paid invoices",
      _lateness("pays {when} on average"), unknown=NO_PAY),
    F("p90_days_late", "customer",
      f"90th percentile (linear interpolation) of days late over the last {RECENT_K} paid invoices",
      _lateness("pays {when} in the worst 10% of recent invoices"), unknown=NO_PAY),
    F("last_days_late", "customer", "days late of the most recently paid invoice",
      _lateness("paid the last invoice {when}"), unknown=NO_PAY),
    F("ewm_days_late", "customer",
      f"time-decayed mean of days late (half-life {EWM_HALFLIFE_DAYS:g} days, by payment time)",
      _lateness("pays {when} recently"), unknown=NO_PAY),
    F("days_since_last_payment", "customer",
      f"days since the last (partial) payment; {NEVER_PAID:g} if the customer never paid",
      lambda v: "has never paid an invoice" if v < 0 else f"last payment {_days(v)} ago", default=NEVER_PAID,
      unknown=FIRST),
    F("write_offs", "customer", "invoices written off", _count("invoice", "invoices", "written off"), unknown=FIRST),
    F("disputes_opened", "customer", "disputes ever opened", _count("dispute", "disputes", "opened before"),
      unknown=FIRST),
    F("open_disputes", "customer", "disputes open now (dunning pauses)", _count("dispute", "disputes", "open now")),
    F("open_invoices", "customer", "invoices issued and not yet paid or written off",
      _count("invoice", "invoices", "open")),
    F("overdue_invoices", "customer", "open invoices past their due date", _count("invoice", "invoices", "overdue")),
    F("open_exposure", "customer", "outstanding amount of open invoices (EUR)", lambda v: f"{_eur(v)} outstanding"),
    F("overdue_amount", "customer", "outstanding amount of open invoices past their due date (EUR)",
      lambda v: f"{_eur(v)} overdue"),
    F("overdue_1_30", "customer", "outstanding amount 0-30 days past due (EUR)",
      lambda v: f"{_eur(v)} up to 30 days overdue"),
    F("overdue_31_60", "customer", "outstanding amount 30-60 days past due (EUR)",
      lambda v: f"{_eur(v)} 31-60 days overdue"),
    F("overdue_61_90", "customer", "outstanding amount 60-90 days past due (EUR)",
      lambda v: f"{_eur(v)} 61-90 days overdue"),
    F("overdue_90_plus", "customer", "outstanding amount more than 90 days past due (EUR)",
      lambda v: f"{_eur(v)} more than 90 days overdue"),
    F("max_days_overdue", "customer", "days past due of the oldest overdue open invoice (0 if none)",
      lambda v: "nothing overdue" if v <= 0 else f"oldest overdue invoice {_days(v)} past due"),
    F("overdue_share", "customer", "share of the open exposure that is past its due date (0 without exposure)",
      lambda v: f"{v:.0%} of the open amount overdue"),
    F("disputed_share", "customer", "share of the open exposure on invoices with an open dispute",
      lambda v: f"{v:.0%} of the open amount disputed"),
    F("broken_promises", "customer", "promises to pay whose day passed without the promised amount paid",
      _count("promise", "promises", "to pay broken")),
    F("open_escalations", "customer", "open invoices handed over to collections (an agency or a lawyer)",
      _count("invoice", "invoices", "in collections")),
    F("tenure_days", "customer", "days since the customer's first invoice",
      lambda v: "a new customer" if v <= 0 else f"customer for {_days(v)}",
      unknown=lambda f: "a new customer: first invoice" if f["invoices_issued"] == 0 else None),
    F("avg_monthly_purchases", "customer",
      "invoiced amount before now per month of tenure (at least one month) (EUR)",
      lambda v: f"buys {_eur(v)} a month on average",
      unknown=lambda f: "no purchases yet" if f["invoices_issued"] == 0 else None),
    # who the customer is: the prior for a customer with little history; profile and size all 0 when
    # the request does not say
    F("is_business", "record", "1 for a business customer, 0 for a consumer",
      _flag("a business customer", "a consumer")),
    *(F(f"profile_{p}", "record", f"1 if the customer's profile is {p}",
        _flag(f"profile {p.replace('_', ' ')}", f"profile not {p.replace('_', ' ')}")) for p in PROFILES),
    *(F(f"size_{s}", "record", f"1 for a {s} business", _flag(f"a {s} business", f"not a {s} business"))
      for s in BUSINESS_SIZES),
    # the invoice (or order) being decided
    F("amount", "invoice", "invoice amount (EUR)", lambda v: f"amount {_eur(v)}"),
    F("amount_vs_usual", "invoice", "amount / the customer's mean invoice amount so far (1 without history)",
      lambda v: f"amount is {v:.1f}x the customer's usual invoice", default=1.0,
      unknown=lambda f: "first invoice: no usual amount yet" if f["invoices_issued"] == 0 else None),
    F("payment_terms_days", "invoice", "payment terms in days", lambda v: f"payment terms of {_days(v)}"),
    F("paperless", "invoice", "1 if the invoice is sent electronically",
      _flag("invoiced electronically", "invoiced on paper")),
    # context of the decision moment
    F("issue_weekday", "context", "weekday of issue (0 = Monday)",
      lambda v: f"issued on a {WEEKDAY_NAMES[int(v) % 7]}"),
    F("issue_month", "context", "month of issue (1..12)", lambda v: f"issued in {MONTH_NAMES[(int(v) - 1) % 12]}"),
    F("issue_day_of_month", "context", "day of month of issue (1..31; salary-timing effects)",
      lambda v: f"issued on day {int(v)} of the month"),
)
del F, NO_PAY, FIRST

FEATURES: dict[str, Feature] = {f.name: f for f in FEATURES_LIST}
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES_LIST)
AGEING_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("overdue_1_30", 0.0, 30.0),
    ("overdue_31_60", 30.0, 60.0),
    ("overdue_61_90", 60.0, 90.0),
    ("overdue_90_plus", 90.0, float("inf")),
)
"""(feature, lower, upper): an open invoice ``d`` days past due with ``lower < d <= upper``."""
