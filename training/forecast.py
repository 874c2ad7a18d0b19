"""The cash-in forecast: expected receipts per week from the open invoices, with an interval.

Why: a credit manager plans cash by the week, and the spreadsheet's answer is
the ageing report times last year's collection rates. The payment-delay model
knows more about each invoice than its bucket does (who owes it, how that
customer pays, how long its terms are), so the forecast asks the model, and
shows the spreadsheet's answer beside it. Both come out of one function,
:func:`forecast`, which the API (``GET /v1/forecast``), the page and the
back-test (:func:`backtest`, ``bench/forecast.py``) all run.

The model's forecast. An open invoice's payment time ``D`` (days after its
due date) is a mixture of four segments whose weights are the served model's
calibrated heads, scored on the invoice's features at its issue time (the rows
the model was trained on, ``features.offline``):

=====================  ==========================  ======================================
segment                weight                      shape (from the history before the date)
=====================  ==========================  ======================================
paid on time, D <= 0   ``1 - p_late``              share of the terms left when paid
1-30 days late         ``p_late - p_late_30``      days late of such payments
31-180 days late       ``p_late_30 - p_write_off`` days late of such payments
never (written off)    ``p_write_off``             --
=====================  ==========================  ======================================

The shapes are the empirical distributions of the invoices paid in the
``HISTORY_WEEKS`` before the forecast date. The level: the model serves a
typical month's lateness (period effects, ``training.model``), so the two
lateness heads are shifted in log-odds until their mean over the invoices
whose label settled in the last ``RECENT_WEEKS`` equals what those invoices
did (:func:`level_shift`); without it the back-test's forecasts made in a
downturn were as bad as the baseline's (``docs/forecast.md``). A write-off head
that could not be trained (a constant: no write-off labels yet) is replaced by
P(> 30 days late) times the history's share of such invoices never paid. An invoice still open ``x`` days
after its due date is conditioned on ``D > x``: with ``S`` the mixture's
survival function, ``P(paid in week k) = (S(x + 7(k - 1)) - S(x + 7k)) / S(x)``,
and its expected cash in week ``k`` is its open amount times that. Each invoice
is paid in at most one week, so a week's receipts are a sum of independent
amount-weighted Bernoullis: variance ``sum(a^2 p (1 - p))``, and the interval is
the normal one, mean +- 1.645 sd (90 %), cut at 0. Independence is an
assumption (a downturn moves many customers at once); the back-test measures
how often the interval holds what came in.

The baseline: collection rates by ageing bucket (``ledger.views.AGEING``):
at each of the ``HISTORY_WEEKS`` weekly snapshots before the forecast date,
the share of each bucket's open balance that came in during the k-th week
after it (for week ``k`` only the snapshots whose k-th week was over by the
forecast date); the forecast is each bucket's open balance today times its rates.

What "came in" means, for both and for the back-test: the payments received
in the week on the invoices open at the forecast date (cash from invoices issued
later is not forecast by either). The model pays an invoice's whole open amount
at once; a partial payment is the baseline's advantage.

Example::

    known = ledger.known_at(at)
    result = forecast(known, at, model)
    result.expected_cents[0], result.low_cents[0], result.baseline_cents[0]
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from domain.errors import InvalidInput
from features.definitions import FEATURE_NAMES
from features.offline import build_feature_table
from ledger.tables import Ledger
from ledger.views import AGEING
from training.labels import LabelConfig
from training.pipeline import TrainConfig, train

WEEKS = 12
HISTORY_WEEKS = 52
#: The window of recently settled labels whose rate sets the forecast's level of lateness.
RECENT_WEEKS = 8
MIN_RECENT = 200
#: The two-sided 90 % normal quantile of the interval.
Z90 = 1.6448536269514722
DAY = pd.Timedelta(days=1)
WEEK = pd.Timedelta(days=7)
#: The upper bounds (days past due) of the ageing buckets but the last, for a vectorised lookup.
_BUCKET_BOUNDS = np.array([high for _, _, high in AGEING[:-1]], dtype=float)
BUCKETS = tuple(name for name, _, _ in AGEING)


@dataclass(frozen=True)
class Timing:
    """The history's shapes of the three paying segments, each sorted (module doc)."""

    early: np.ndarray   # share of the terms left when an on-time invoice was paid, in [0, 1]
    late: np.ndarray    # days late of payments 1-30 days late
    later: np.ndarray   # days late of payments more than 30 days late
    never_share: float  # of the invoices more than 30 days late, the share never paid (write-off horizon seen)

    def survival(self, days: np.ndarray, terms: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``S(days)`` of each invoice's mixture; ``days`` is (n, m), ``terms`` (n,), ``weights`` (n, 4)."""
        on_time = _share_below(self.early, -days / np.maximum(terms, 1.0)[:, None])
        late = 1.0 - _share_at_most(self.late, days)
        later = 1.0 - _share_at_most(self.later, days)
        return (weights[:, [0]] * on_time + weights[:, [1]] * late + weights[:, [2]] * later
                + weights[:, [3]])


def _share_below(sample: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.searchsorted(sample, values, side="left") / len(sample)


def _share_at_most(sample: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.searchsorted(sample, values, side="right") / len(sample)


def payment_timing(ledger: Ledger, at: pd.Timestamp, labels: LabelConfig = LabelConfig()) -> Timing:
    """The shapes from the invoices paid in the ``HISTORY_WEEKS`` before ``at``.

    A segment without history is uniform over its range (a new book): on time over the terms,
    late over 1-30 days, later over 31 days to the write-off horizon.
    """
    inv = ledger.invoices
    paid = inv["paid_at"].notna() & (inv["paid_at"] <= at) & (inv["paid_at"] > at - HISTORY_WEEKS * WEEK)
    days = ((inv.loc[paid, "paid_at"] - inv.loc[paid, "due_at"]) / DAY).to_numpy(dtype=float)
    terms = inv.loc[paid, "payment_terms_days"].to_numpy(dtype=float)
    on_time = days <= 0
    grid = np.linspace(0.0, 1.0, 101)
    cut = labels.late_30_days

    def shape(values: np.ndarray, low: float, high: float) -> np.ndarray:
        return np.sort(values) if len(values) else low + grid * (high - low)
    seen = inv["due_at"] + pd.Timedelta(days=labels.write_off_days) <= at
    long_late = seen & ~(inv["paid_at"] <= inv["due_at"] + pd.Timedelta(days=cut))
    never = long_late & ~(inv["paid_at"] <= at)
    return Timing(early=shape(np.clip(-days[on_time] / np.maximum(terms[on_time], 1.0), 0.0, 1.0), 0.0, 1.0),
                  late=shape(days[(days > 0) & (days <= cut)], 0.0, cut),
                  later=shape(days[days > cut], cut, labels.write_off_days),
                  never_share=float(never.sum() / long_late.sum()) if long_late.any() else 0.0)


def level_shift(predicted: np.ndarray, observed: np.ndarray) -> float:
    """The log-odds shift that makes the mean of ``predicted`` equal the mean of ``observed`` (0/1).

    Why: the model serves a typical month's level of lateness (``training.model``, period effects),
    and a forecast is about the coming weeks: when the invoices that fell due lately were late more
    (or less) often than the model said, the open ones will be too. Found by bisection (the mean
    is monotone in the shift); fewer than ``MIN_RECENT`` invoices or a one-class window: no shift.
    """
    if len(observed) < MIN_RECENT or not 0 < observed.mean() < 1:
        return 0.0
    logits = np.log(np.clip(predicted, 1e-9, 1 - 1e-9) / np.clip(1 - predicted, 1e-9, 1))
    target, low, high = float(observed.mean()), -5.0, 5.0
    for _ in range(60):
        mid = (low + high) / 2.0
        low, high = (mid, high) if np.mean(1.0 / (1.0 + np.exp(-(logits + mid)))) < target else (low, mid)
    return (low + high) / 2.0


def _shifted(p: np.ndarray, shift: float) -> np.ndarray:
    logits = np.log(np.clip(p, 1e-9, 1 - 1e-9) / np.clip(1 - p, 1e-9, 1))
    return 1.0 / (1.0 + np.exp(-(logits + shift)))


def recent_levels(known: Ledger, at: pd.Timestamp, table: pd.DataFrame, model: Any,
                  labels: LabelConfig = LabelConfig()) -> dict[str, float]:
    """Per head (``p_late``, ``p_late_30``), the shift of :func:`level_shift` over the invoices whose label
    became final in the ``RECENT_WEEKS`` before ``at`` (due then, resp. due 30 days before then)."""
    inv = known.invoices
    out = {}
    for output, horizon in (("p_late", 0.0), ("p_late_30", labels.late_30_days)):
        final = inv["due_at"] + pd.Timedelta(days=horizon)
        recent = ((final <= at) & (final > at - RECENT_WEEKS * WEEK)).to_numpy()
        if not recent.any():
            out[output] = 0.0
            continue
        ids = inv["invoice_id"].to_numpy(dtype=object)[recent]
        scores = model.predict(table.reindex(ids)[list(FEATURE_NAMES)].to_numpy(dtype=np.float64))
        paid_by = inv["paid_at"].to_numpy()[recent]
        settled = final.to_numpy()[recent]
        late = ~(paid_by <= settled)  # unpaid (NaT) or paid after the horizon
        out[output] = level_shift(scores[output].to_numpy(dtype=float), late.astype(float))
    return out


def segment_weights(scores: pd.DataFrame, never_share: float | None = None) -> np.ndarray:
    """(n, 4) weights of on time, 1-30 late, 31-180 late and never from the calibrated heads.

    ``never_share`` replaces a write-off head that could not be trained (a constant: no write-off
    labels before the date, e.g. a book younger than the 180-day horizon): then P(write-off) is
    P(> 30 days late) times the history's share of such invoices never paid.
    """
    p_late = scores["p_late"].to_numpy(dtype=float)
    p_30 = np.minimum(scores["p_late_30"].to_numpy(dtype=float), p_late)
    p_off = p_30 * never_share if never_share is not None else np.minimum(
        scores["p_write_off"].to_numpy(dtype=float), p_30)
    weights = np.column_stack([1.0 - p_late, p_late - p_30, p_30 - p_off, p_off])
    weights = np.clip(weights, 0.0, None)
    return weights / weights.sum(axis=1, keepdims=True)


def week_probabilities(timing: Timing, scores: pd.DataFrame, days_past_due: np.ndarray, terms: np.ndarray,
                       weeks: int = WEEKS, write_off_head: bool = True) -> np.ndarray:
    """(n, weeks): the probability that each open invoice is paid in each coming week (module doc);
    ``write_off_head=False``: the model's P(write-off) is a constant, use the history's instead."""
    edges = days_past_due[:, None] + 7.0 * np.arange(weeks + 1)[None, :]
    weights = segment_weights(scores, None if write_off_head else timing.never_share)
    survival = timing.survival(edges, terms, weights)
    alive = survival[:, [0]]
    steps = np.clip(survival[:, :-1] - survival[:, 1:], 0.0, None)
    return np.divide(steps, alive, out=np.zeros_like(steps), where=alive > 1e-12)


@dataclass(frozen=True)
class OpenBook:
    """The invoices open at a moment: ids, open amount (EUR), days past due, terms, ageing bucket index."""

    rows: np.ndarray          # positions in ``ledger.invoices``
    invoice_ids: np.ndarray
    open_amount: np.ndarray
    days_past_due: np.ndarray
    terms: np.ndarray
    bucket: np.ndarray


def open_book(ledger: Ledger, at: pd.Timestamp) -> OpenBook:
    """Invoices issued by ``at`` and neither paid nor written off by then, with what was still owed."""
    inv = ledger.invoices
    paid = ledger.payments[ledger.payments["paid_at"] <= at].groupby("invoice_id")["amount"].sum()
    owed = inv["amount"].to_numpy(dtype=float) - inv["invoice_id"].map(paid).fillna(0.0).to_numpy(dtype=float)
    closed = (inv["paid_at"] <= at) | (inv["written_off_at"] <= at)
    is_open = ((inv["issued_at"] <= at) & ~closed).to_numpy() & (owed > 0.005)
    rows = np.flatnonzero(is_open)
    due = inv["due_at"].iloc[rows]
    past_due = ((at - due) / DAY).to_numpy(dtype=float)
    whole_days = ((at.normalize() - due.dt.normalize()) / DAY).to_numpy(dtype=float)
    return OpenBook(rows=rows, invoice_ids=inv["invoice_id"].to_numpy(dtype=object)[rows], open_amount=owed[rows],
                    days_past_due=past_due, terms=inv["payment_terms_days"].to_numpy(dtype=float)[rows],
                    bucket=np.searchsorted(_BUCKET_BOUNDS, whole_days, side="left"))


def weekly_receipts(ledger: Ledger, invoice_ids: np.ndarray, at: pd.Timestamp, weeks: int = WEEKS) -> np.ndarray:
    """EUR received in each of the ``weeks`` weeks after ``at`` on ``invoice_ids`` (what came in)."""
    pay = ledger.payments[ledger.payments["invoice_id"].isin(invoice_ids)]
    offset = ((pay["paid_at"] - at) / DAY).to_numpy(dtype=float)
    week = np.floor(offset / 7.0)
    keep = (offset > 0) & (week < weeks)
    return np.bincount(week[keep].astype(int), weights=pay["amount"].to_numpy(dtype=float)[keep], minlength=weeks)


def bucket_rates(ledger: Ledger, at: pd.Timestamp, weeks: int = WEEKS) -> np.ndarray:
    """(buckets, weeks): the share of each bucket's open balance collected in each later week (module doc).

    The open book of each weekly snapshot is :func:`open_book`'s, computed on arrays made once (a
    snapshot is a few ``bincount`` calls, not a pass over the tables).
    """
    inv = ledger.invoices
    n = len(inv)
    position = pd.Index(inv["invoice_id"].to_numpy(dtype=object)).get_indexer(
        ledger.payments["invoice_id"].to_numpy(dtype=object))
    known = position >= 0
    p_inv = position[known]
    p_at = ledger.payments["paid_at"].to_numpy(dtype="datetime64[us]")[known]
    p_amount = ledger.payments["amount"].to_numpy(dtype=float)[known]
    issued, paid, written_off = (inv[c].to_numpy(dtype="datetime64[us]") for c in ("issued_at", "paid_at",
                                                                                     "written_off_at"))
    due_day = inv["due_at"].dt.normalize().to_numpy(dtype="datetime64[us]")
    amount = inv["amount"].to_numpy(dtype=float)
    day = np.timedelta64(1, "D")
    collected = np.zeros((len(BUCKETS), weeks))
    balance = np.zeros((len(BUCKETS), weeks))
    for back in range(1, HISTORY_WEEKS + 1):
        snapshot = at - back * WEEK
        moment = np.datetime64(snapshot.to_datetime64(), "us")
        before = p_at <= moment
        owed = amount - np.bincount(p_inv[before], weights=p_amount[before], minlength=n)
        is_open = (issued <= moment) & ~((paid <= moment) | (written_off <= moment)) & (owed > 0.005)
        if not is_open.any():
            continue
        bucket = np.searchsorted(_BUCKET_BOUNDS, (np.datetime64(snapshot.normalize().to_datetime64(), "us")
                                                  - due_day) / day, side="left")
        observed = min(back, weeks)  # weeks after the snapshot that were over by ``at``
        offset = (p_at - moment) / day
        week = np.floor(offset / 7.0)
        came = (offset > 0) & (week < observed) & is_open[p_inv]
        cells = bucket[p_inv[came]] * weeks + week[came].astype(int)
        collected += np.bincount(cells, weights=p_amount[came], minlength=len(BUCKETS) * weeks).reshape(
            len(BUCKETS), weeks)
        per_bucket = np.bincount(bucket[is_open], weights=owed[is_open], minlength=len(BUCKETS))
        balance[:, :observed] += per_bucket[:, None]
    return np.divide(collected, balance, out=np.zeros_like(collected), where=balance > 0)


@dataclass(frozen=True)
class Forecast:
    """Expected receipts per week (cents) from the book open at ``at``, the model's with its 90 % interval
    and the ageing-bucket baseline's; ``week_starts[k]`` opens week ``k``."""

    at: pd.Timestamp
    week_starts: tuple[pd.Timestamp, ...]
    expected_cents: np.ndarray
    low_cents: np.ndarray
    high_cents: np.ndarray
    baseline_cents: np.ndarray
    open_cents: int
    open_invoices: int
    invoice_ids: np.ndarray
    model_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The API's answer: one row per week, money in cents and as decimal strings."""
        return {
            "at": self.at.isoformat(), "open_invoices": self.open_invoices, "open_cents": self.open_cents,
            "model_version": self.model_version, "interval": 0.9,
            "weeks": [{"week": k + 1, "starts": start.date().isoformat(),
                       "expected_cents": int(self.expected_cents[k]), "low_cents": int(self.low_cents[k]),
                       "high_cents": int(self.high_cents[k]), "baseline_cents": int(self.baseline_cents[k])}
                      for k, start in enumerate(self.week_starts)],
        }


def _cents(euros: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(euros, dtype=float) * 100.0).astype(np.int64)


def forecast(ledger: Ledger, at: pd.Timestamp, model: Any, weeks: int = WEEKS,
             model_version: str | None = None, level: bool = True) -> Forecast:
    """The model's and the baseline's forecast of the ``weeks`` weeks after ``at`` (module doc).

    ``ledger`` is cut at ``at`` first (nothing later is read); ``model`` is a ``PaymentDelayModel``
    (``predict`` of the feature columns gives ``p_late``, ``p_late_30``, ``p_write_off``).
    """
    if weeks < 1:
        raise InvalidInput("weeks must be at least 1", field="weeks")
    at = pd.Timestamp(at)
    known = ledger.known_at(at)
    book = open_book(known, at)
    starts = tuple(at + k * WEEK for k in range(weeks))
    expected = np.zeros(weeks)
    variance = np.zeros(weeks)
    if len(book.rows):
        table = build_feature_table(known).set_index("invoice_id")
        scores = model.predict(table.reindex(book.invoice_ids)[list(FEATURE_NAMES)].to_numpy(dtype=np.float64))
        if level:
            for output, shift in recent_levels(known, at, table, model).items():
                scores[output] = _shifted(scores[output].to_numpy(dtype=float), shift)
        p = week_probabilities(payment_timing(known, at), scores, book.days_past_due, book.terms, weeks,
                               write_off_head="p_write_off" not in model.constant_heads_)
        expected = book.open_amount @ p
        variance = (book.open_amount ** 2) @ (p * (1.0 - p))
    spread = Z90 * np.sqrt(variance)
    by_bucket = np.bincount(book.bucket, weights=book.open_amount, minlength=len(BUCKETS))
    baseline = by_bucket @ bucket_rates(known, at, weeks)
    return Forecast(at=at, week_starts=starts, expected_cents=_cents(expected),
                    low_cents=_cents(np.maximum(expected - spread, 0.0)), high_cents=_cents(expected + spread),
                    baseline_cents=_cents(baseline), open_cents=int(_cents(book.open_amount).sum()),
                    open_invoices=len(book.rows), invoice_ids=book.invoice_ids, model_version=model_version)


def wape(forecast_cents: np.ndarray, actual_cents: np.ndarray) -> float:
    """Weighted absolute percentage error over the weeks: ``sum |f - a| / sum a``."""
    total = float(np.sum(actual_cents))
    return float(np.sum(np.abs(np.asarray(forecast_cents) - np.asarray(actual_cents)))) / total if total else float("nan")


@dataclass(frozen=True)
class BacktestPoint:
    """One forecast date of the back-test: the forecast, what came in, and the scores of both."""

    forecast: Forecast
    actual_cents: np.ndarray

    @property
    def model_wape(self) -> float:
        return wape(self.forecast.expected_cents, self.actual_cents)

    @property
    def baseline_wape(self) -> float:
        return wape(self.forecast.baseline_cents, self.actual_cents)

    @property
    def coverage(self) -> float:
        """Share of weeks whose receipts fell inside the model's 90 % interval."""
        f = self.forecast
        return float(np.mean((self.actual_cents >= f.low_cents) & (self.actual_cents <= f.high_cents)))

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.forecast.at.date().isoformat(), "open_invoices": self.forecast.open_invoices,
                "open_cents": self.forecast.open_cents, "actual_cents": int(self.actual_cents.sum()),
                "model_wape": self.model_wape, "baseline_wape": self.baseline_wape,
                "coverage_90": self.coverage}


def backtest(ledger: Ledger, dates: Sequence[pd.Timestamp], config: TrainConfig = TrainConfig(),
             weeks: int = WEEKS, level: bool = True) -> list[BacktestPoint]:
    """Forecasts made at past ``dates`` against what came in: a model trained on the ledger as known at
    each date (``Ledger.known_at``: its labels, split and calibration see nothing later), then
    :func:`forecast` exactly as served, and the receipts of the following ``weeks`` weeks.
    ``level=False`` leaves out the recent level (an ablation for the docs; the service always levels)."""
    end = ledger.payments["paid_at"].max()
    points = []
    for at in map(pd.Timestamp, dates):
        if at + weeks * WEEK > end:
            raise InvalidInput(f"the forecast made at {at.date()} needs {weeks} weeks of payments after it; "
                               f"the ledger ends {end.date()}", field="dates")
        known = ledger.known_at(at)
        model = train(known, config, progress=False).model
        result = forecast(known, at, model, weeks, level=level)
        actual = _cents(weekly_receipts(ledger, result.invoice_ids, at, weeks))
        points.append(BacktestPoint(result, actual))
    return points
