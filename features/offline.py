"""The offline feature table: every invoice's features as of its issue time.

Why: training needs, for each invoice, exactly what serving would have seen
when that invoice was decided. This module computes the fold of
``features.aggregates`` vectorised (sorted keys, ``searchsorted`` as-of
look-ups, segmented cumulative sums; no per-row Python loops) and then the
arithmetic of ``features.transform.invoice_features`` on whole columns. The
parity test replays the ledger into the online stores and checks both sides
agree at every decision moment.

Point in time: for an invoice issued at ``t`` only events strictly before
``t`` count (payments, write-offs, disputes and other invoices issued at the
same instant are not yet known). Events the online store would refuse are
left out the same way here: payments of unknown invoices, before the issue,
after a write-off or after the invoice was paid in full; write-offs of paid
invoices; disputes of unknown invoices.

Example::

    table = build_feature_table(load_ledger("/tmp/ledger"))
    X = table[list(FEATURE_NAMES)].to_numpy()
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.aggregates import EWM_HALFLIFE_US, EWM_ORIGIN_US
from features.definitions import (AGEING_BUCKETS, BUSINESS_SIZES, FEATURE_NAMES, KNOWN_LATE_PRIOR,
                                  KNOWN_LATE_PRIOR_WEIGHT, MONTH_DAYS, NEVER_PAID, PAID_TOLERANCE, RECENT_K)
from ledger.events import US_PER_DAY
from domain.vocabulary import PROFILES
from ledger.tables import Ledger

NEVER = np.iinfo(np.int64).max


def _us(s: pd.Series) -> np.ndarray:
    """Datetime column as int64 microseconds; empty values become ``NEVER``."""
    v = s.to_numpy(dtype="datetime64[us]")
    out = v.astype(np.int64)
    out[np.isnat(v)] = NEVER
    return out


def _group_cumsum(first: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sums restarting at rows where ``first`` is True (rows grouped).

    Adds strictly left to right (one vectorised step per depth in the group),
    the same order the online fold adds, so the sums agree bit for bit.
    """
    n = len(values)
    out = values.astype(np.float64).copy()
    if n == 0:
        return out
    idx = np.arange(n)
    depth = idx - np.maximum.accumulate(np.where(first, idx, 0))
    order = np.argsort(depth, kind="stable")
    bounds = np.cumsum(np.bincount(depth))
    for k in range(1, len(bounds)):
        rows = order[bounds[k - 1]:bounds[k]]
        out[rows] = out[rows - 1] + out[rows]
    return out


def _firsts(groups: np.ndarray) -> np.ndarray:
    """True where a new group starts (rows sorted by group)."""
    out = np.ones(len(groups), dtype=bool)
    out[1:] = groups[1:] != groups[:-1]
    return out


class _Clock:
    """Dense ranks of all timestamps, so (group, time) pairs become one sortable int64 key."""

    def __init__(self, *times: np.ndarray) -> None:
        all_times = np.concatenate(times)
        self.times = np.unique(all_times[all_times != NEVER])
        self.span = np.int64(len(self.times) + 1)

    def key(self, group: np.ndarray, t: np.ndarray) -> np.ndarray:
        """(group, t) -> key; ``NEVER`` sorts after every real time of the group."""
        return group.astype(np.int64) * self.span + np.searchsorted(self.times, t).astype(np.int64)

    def start(self, group: np.ndarray) -> np.ndarray:
        return group.astype(np.int64) * self.span


class _Before:
    """For each query (group, t): the rows of a sorted event table in that group strictly before t."""

    def __init__(self, clock: _Clock, ev_group: np.ndarray, ev_time: np.ndarray,
                 q_group: np.ndarray, q_time: np.ndarray) -> None:
        keys = clock.key(ev_group, ev_time)
        self.pos = np.searchsorted(keys, clock.key(q_group, q_time), side="left")
        self.count = self.pos - np.searchsorted(keys, clock.start(q_group), side="left")
        self.any = self.count > 0
        self.last = np.where(self.any, self.pos - 1, 0)

    def at_last(self, values: np.ndarray, default: float) -> np.ndarray:
        """``values`` of the last row before the query (``default`` when there is none)."""
        if len(values) == 0:
            return np.full(len(self.pos), default, dtype=np.float64)
        return np.where(self.any, values[self.last], default)


def _p90_recent(first: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Per row: p90 (linear) of the last ``RECENT_K`` values of its group up to this row."""
    n = len(days)
    idx = np.arange(n)
    depth = idx - np.maximum.accumulate(np.where(first, idx, 0))
    window = np.full((n, RECENT_K), np.nan)
    for s in range(RECENT_K):
        ok = depth >= s
        window[ok, s] = days[idx[ok] - s]
    window.sort(axis=1)  # NaN last
    count = np.minimum(depth + 1, RECENT_K)
    pos = 0.9 * (count - 1)
    lo = pos.astype(np.int64)
    hi = np.minimum(lo + 1, count - 1)
    lo_v, hi_v = window[idx, lo], window[idx, hi]
    return lo_v + (hi_v - lo_v) * (pos - lo)


def build_feature_table(ledger: Ledger) -> pd.DataFrame:
    """One row per invoice: ``invoice_id, customer_id, issued_at`` + ``FEATURE_NAMES`` (float64).

    Rows keep the ledger's invoice order.
    """
    inv = ledger.invoices
    n = len(inv)
    customers = pd.Index(pd.unique(inv["customer_id"].to_numpy(dtype=object)))
    cust = customers.get_indexer(inv["customer_id"].to_numpy(dtype=object))
    inv_rank = pd.factorize(inv["invoice_id"].to_numpy(dtype=object), sort=True)[0]
    issued_all = _us(inv["issued_at"])
    order = np.lexsort((inv_rank, issued_all, cust))  # decision order: customer, time, invoice id
    code, issued = cust[order], issued_all[order]
    due, amount = _us(inv["due_at"])[order], inv["amount"].to_numpy(dtype=np.float64)[order]
    wo_at = _us(inv["written_off_at"])[order]
    ids = pd.Index(inv["invoice_id"].to_numpy(dtype=object)[order])

    # Payments the online store would apply, per invoice in time order.
    pay = ledger.payments
    p_inv = ids.get_indexer(pay["invoice_id"].to_numpy(dtype=object))
    p_at, p_amt = _us(pay["paid_at"]), pay["amount"].to_numpy(dtype=np.float64)
    ok = p_inv >= 0
    ok[ok] &= (p_at[ok] >= issued[p_inv[ok]]) & (p_at[ok] <= wo_at[p_inv[ok]]) & (p_amt[ok] > 0)
    p_rank = pd.factorize(pay["payment_id"].to_numpy(dtype=object), sort=True)[0]
    sel = np.flatnonzero(ok)
    sel = sel[np.lexsort((p_rank[sel], p_at[sel], p_inv[sel]))]
    p_inv, p_at, p_amt = p_inv[sel], p_at[sel], p_amt[sel]
    p_cum = _group_cumsum(_firsts(p_inv), p_amt)
    done = p_cum >= amount[p_inv] - PAID_TOLERANCE
    first_done = done & (_firsts(p_inv) | ~np.concatenate(([False], done[:-1])))
    keep = ~done | first_done  # payments after the invoice was paid in full are refused online
    p_inv, p_at, p_amt, p_cum, first_done = p_inv[keep], p_at[keep], p_amt[keep], p_cum[keep], first_done[keep]

    paid_at = np.full(n, NEVER)
    paid_at[p_inv[first_done]] = p_at[first_done]
    written_off = (wo_at != NEVER) & (paid_at == NEVER)
    closed = np.where(paid_at != NEVER, paid_at, np.where(written_off, wo_at, NEVER))

    dis = ledger.disputes
    d_inv = ids.get_indexer(dis["invoice_id"].to_numpy(dtype=object))
    d_open, d_res = _us(dis["opened_at"]), _us(dis["resolved_at"])
    d_ok = d_inv >= 0
    d_ok[d_ok] &= d_open[d_ok] >= issued[d_inv[d_ok]]
    d_inv, d_open, d_res = d_inv[d_ok], d_open[d_ok], d_res[d_ok]

    esc = ledger.escalations
    e_inv = ids.get_indexer(esc["invoice_id"].to_numpy(dtype=object))
    e_at = _us(esc["escalated_at"])
    e_ok = e_inv >= 0
    e_ok[e_ok] &= (e_at[e_ok] >= issued[e_inv[e_ok]]) & (e_at[e_ok] < closed[e_inv[e_ok]])
    e_inv, e_at = e_inv[e_ok], e_at[e_ok]
    promise_rows = _promise_rows(ledger.promises, ids, issued, closed)

    clock = _Clock(issued, p_at, wo_at, d_open, d_res, e_at, promise_rows[1], promise_rows[2])
    out: dict[str, np.ndarray] = {}

    # Invoices issued before the decision (the decision table itself, as events).
    hist = _Before(clock, code, issued, code, issued)
    issued_n = hist.count.astype(np.float64)
    amount_sum = hist.at_last(_group_cumsum(_firsts(code), amount), 0.0)
    first_issued = np.where(hist.any, issued[hist.pos - hist.count], NEVER)

    # Invoices paid in full, in (payment time, invoice id) order.
    comp = np.flatnonzero(paid_at != NEVER)
    comp = comp[np.lexsort((inv_rank[order][comp], paid_at[comp], code[comp]))]
    c_code, c_at = code[comp], paid_at[comp]
    c_days = (c_at - due[comp]) / US_PER_DAY
    c_first = _firsts(c_code)
    weight = np.power(2.0, (c_at - EWM_ORIGIN_US) / EWM_HALFLIFE_US)
    paid = _Before(clock, c_code, c_at, code, issued)
    n_paid = paid.count.astype(np.float64)
    safe_paid = np.maximum(n_paid, 1.0)
    out["invoices_issued"] = issued_n
    out["invoices_paid"] = n_paid
    paid_late = paid.at_last(_group_cumsum(c_first, (c_days > 0) * 1.0), 0.0)
    out["share_paid_late"] = np.where(paid.any, paid_late / safe_paid, 0.0)
    out["mean_days_late"] = np.where(paid.any, paid.at_last(_group_cumsum(c_first, c_days), 0.0) / safe_paid, 0.0)
    out["p90_days_late"] = paid.at_last(_p90_recent(c_first, c_days), 0.0)
    out["last_days_late"] = paid.at_last(c_days, 0.0)
    ewm_num = paid.at_last(_group_cumsum(c_first, weight * c_days), 0.0)
    ewm_den = paid.at_last(_group_cumsum(c_first, weight), 1.0)
    out["ewm_days_late"] = np.where(paid.any, ewm_num / ewm_den, 0.0)

    p_order = np.lexsort((p_at, code[p_inv]))  # payments by customer and time
    p_time = p_at[p_order]
    last_pay = _Before(clock, code[p_inv][p_order], p_time, code, issued)
    since = (issued - (p_time[last_pay.last] if len(p_time) else issued)) / US_PER_DAY
    out["days_since_last_payment"] = np.where(last_pay.any, since, NEVER_PAID)

    wo = np.flatnonzero(written_off)
    wo = wo[np.lexsort((wo_at[wo], code[wo]))]
    out["write_offs"] = _Before(clock, code[wo], wo_at[wo], code, issued).count.astype(np.float64)
    d_order = np.lexsort((d_open, code[d_inv]))
    opened = _Before(clock, code[d_inv][d_order], d_open[d_order], code, issued).count
    res_mask = d_res != NEVER
    r_order = np.lexsort((d_res[res_mask], code[d_inv[res_mask]]))
    resolved = _Before(clock, code[d_inv[res_mask]][r_order], d_res[res_mask][r_order], code, issued).count
    out["disputes_opened"] = opened.astype(np.float64)
    out["open_disputes"] = (opened - resolved).astype(np.float64)

    out.update(_open_invoice_features(clock, code, issued, due, amount, closed, p_inv, p_at, p_cum,
                                      (d_inv, d_open, d_res), (e_inv, e_at)))
    b_inv, b_at = _broken_promises(clock, promise_rows, amount, p_inv, p_at, p_cum)
    b_order = np.lexsort((b_at, code[b_inv]))
    out["broken_promises"] = _Before(clock, code[b_inv][b_order], b_at[b_order], code,
                                     issued + 1).count.astype(np.float64)  # deadline at or before the decision
    known_late = paid_late + out["write_offs"] + out["overdue_invoices"]
    known = n_paid + out["write_offs"] + out["overdue_invoices"]
    out["share_known_late"] = ((known_late + KNOWN_LATE_PRIOR * KNOWN_LATE_PRIOR_WEIGHT)
                               / (known + KNOWN_LATE_PRIOR_WEIGHT))

    tenure = np.where(hist.any, (issued - np.where(hist.any, first_issued, issued)) / US_PER_DAY, 0.0)
    out["tenure_days"] = tenure
    out["avg_monthly_purchases"] = amount_sum / np.maximum(tenure / MONTH_DAYS, 1.0)
    record = ledger.customers.set_index("customer_id").reindex(customers)
    out["is_business"] = (record["type"].to_numpy() == "business").astype(np.float64)[code]
    # One-hot per customer first (few rows), then one gather per invoice.
    for column, values in (("profile", PROFILES), ("size", BUSINESS_SIZES)):
        per_customer = record[column].to_numpy()
        for v in values:
            out[f"{column}_{v}"] = (per_customer == v).astype(np.float64)[code]
    out["amount"] = amount
    mean_amount = np.where(hist.any, amount_sum / np.maximum(issued_n, 1.0), 0.0)
    out["amount_vs_usual"] = np.where(mean_amount > 0, amount / np.where(mean_amount > 0, mean_amount, 1.0), 1.0)
    out["payment_terms_days"] = inv["payment_terms_days"].to_numpy(dtype=np.float64)[order]
    out["paperless"] = inv["paperless"].to_numpy(dtype=np.float64)[order]
    when = pd.DatetimeIndex(issued.astype("datetime64[us]"))
    out["issue_weekday"] = when.day_of_week.to_numpy(dtype=np.float64)
    out["issue_month"] = when.month.to_numpy(dtype=np.float64)
    out["issue_day_of_month"] = when.day.to_numpy(dtype=np.float64)

    back = np.empty(n, dtype=np.int64)
    back[order] = np.arange(n)
    table = pd.DataFrame({"invoice_id": inv["invoice_id"].to_numpy(dtype=object),
                          "customer_id": inv["customer_id"].to_numpy(dtype=object),
                          "issued_at": inv["issued_at"].astype("datetime64[us]").to_numpy()})
    for name in FEATURE_NAMES:
        table[name] = out[name].astype(np.float64)[back]
    return table


def _promise_rows(pro: pd.DataFrame, ids: pd.Index, issued: np.ndarray,
                  closed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(invoice, made, deadline, amount) of the promises the online fold applies: the invoice is open
    as the promise is made (payments and write-offs of the same instant come first)."""
    q_inv = ids.get_indexer(pro["invoice_id"].to_numpy(dtype=object))
    made, deadline = _us(pro["made_at"]), _us(pro["promised_for"]) + US_PER_DAY
    ok = q_inv >= 0
    ok[ok] &= (made[ok] >= issued[q_inv[ok]]) & (made[ok] < closed[q_inv[ok]])
    return q_inv[ok], made[ok], deadline[ok], pro["amount"].to_numpy(dtype=np.float64)[ok]


def _broken_promises(clock: _Clock, rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                     amount: np.ndarray, p_inv: np.ndarray, p_at: np.ndarray,
                     p_cum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(invoice, deadline) of every broken promise, as the online fold judges them.

    A promise asks the invoice's paid total to reach what was paid when it was made plus the
    promised amount (or the invoice's amount, if less); it is kept when the payment that
    reaches it comes before the end of the promised day, and broken at that moment otherwise.
    """
    q_inv, made, deadline, promised = rows
    before = _Before(clock, p_inv, p_at, q_inv, made + 1).at_last(p_cum, 0.0)  # payments at or before it
    threshold = np.minimum(before + promised, amount[q_inv]) - PAID_TOLERANCE
    broken = _first_reaching(p_inv, p_cum, p_at, q_inv, threshold) >= deadline
    return q_inv[broken], deadline[broken]


def _first_reaching(p_inv: np.ndarray, p_cum: np.ndarray, p_at: np.ndarray, q_inv: np.ndarray,
                    threshold: np.ndarray) -> np.ndarray:
    """Per query: the time of its invoice's first payment whose cumulative total reaches ``threshold``
    (``NEVER`` if none does). Cumulative totals grow within an invoice, so one sort finds it: the
    payments and the queries sorted together by (invoice, total), a query before a payment of the
    same total, the first payment after a query is the one that reaches it, if it is its invoice's."""
    n_pay, size = len(p_inv), len(p_inv) + len(q_inv)
    if n_pay == 0 or len(q_inv) == 0:
        return np.full(len(q_inv), NEVER)
    group = np.concatenate((p_inv, q_inv))
    kind = np.concatenate((np.ones(n_pay, dtype=np.int8), np.zeros(len(q_inv), dtype=np.int8)))
    order = np.lexsort((kind, np.concatenate((p_cum, threshold)), group))
    next_pay = np.minimum.accumulate(np.where(order < n_pay, np.arange(size), size)[::-1])[::-1]
    rank = np.empty(size, dtype=np.int64)
    rank[order] = np.arange(size)
    at = next_pay[rank[n_pay:]]
    pay = order[np.minimum(at, size - 1)]
    found = (at < size) & (pay < n_pay) & (group[pay] == q_inv)
    return np.where(found, p_at[np.minimum(pay, n_pay - 1)], NEVER)


def _open_invoice_features(clock: _Clock, code: np.ndarray, issued: np.ndarray, due: np.ndarray,
                           amount: np.ndarray, closed: np.ndarray, p_inv: np.ndarray, p_at: np.ndarray,
                           p_cum: np.ndarray, disputes: tuple[np.ndarray, np.ndarray, np.ndarray],
                           escalations: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """Exposure, overdue count and amount, ageing buckets, oldest overdue, disputed and escalated
    shares, per decision.

    Pairs every decision ``i`` with the customer's invoices ``j`` open at its
    time (issued before it, not closed before it) and sums their outstanding
    amounts in the invoices' issue order, as the online transform does.
    """
    n = len(code)
    dkey = clock.key(code, issued)
    lo = np.searchsorted(dkey, dkey, side="right")  # decisions strictly after j's issue
    hi = np.searchsorted(dkey, clock.key(code, closed), side="right")  # ... and at or before its closing
    counts = np.maximum(hi - lo, 0)
    total = int(counts.sum())
    pair_j = np.repeat(np.arange(n), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    pair_i = np.repeat(lo, counts) + offsets
    by_decision = np.argsort(pair_i, kind="stable")
    pair_i, pair_j = pair_i[by_decision], pair_j[by_decision]

    paid = _Before(clock, p_inv, p_at, pair_j, issued[pair_i]).at_last(p_cum, 0.0)
    outstanding = amount[pair_j] - paid
    days = (issued[pair_i] - due[pair_j]) / US_PER_DAY
    overdue = days > 0
    d_inv, d_open, d_res = disputes
    o_order = np.lexsort((d_open, d_inv))
    res = d_res != NEVER
    r_order = np.lexsort((d_res[res], d_inv[res]))
    disputed = (_Before(clock, d_inv[o_order], d_open[o_order], pair_j, issued[pair_i]).count
                - _Before(clock, d_inv[res][r_order], d_res[res][r_order], pair_j, issued[pair_i]).count) > 0
    e_inv, e_at = escalations
    e_order = np.lexsort((e_at, e_inv))
    escalated = _Before(clock, e_inv[e_order], e_at[e_order], pair_j, issued[pair_i]).any
    exposure = np.bincount(pair_i, weights=outstanding, minlength=n)
    overdue_amount = np.bincount(pair_i, weights=np.where(overdue, outstanding, 0.0), minlength=n)
    disputed_amount = np.bincount(pair_i, weights=np.where(disputed, outstanding, 0.0), minlength=n)
    safe = np.where(exposure > 0, exposure, 1.0)
    out = {
        "open_invoices": np.bincount(pair_i, minlength=n).astype(np.float64),
        "overdue_invoices": np.bincount(pair_i, weights=overdue * 1.0, minlength=n),
        "open_exposure": exposure,
        "overdue_amount": overdue_amount,
        "overdue_share": np.where(exposure > 0, overdue_amount / safe, 0.0),
        "disputed_share": np.where(exposure > 0, disputed_amount / safe, 0.0),
        "open_escalations": np.bincount(pair_i, weights=escalated * 1.0, minlength=n),
    }
    for name, lower, upper in AGEING_BUCKETS:
        in_bucket = (days > lower) & (days <= upper)
        out[name] = np.bincount(pair_i, weights=np.where(in_bucket, outstanding, 0.0), minlength=n)
    max_over = np.zeros(n)
    np.maximum.at(max_over, pair_i, np.where(overdue, days, 0.0))
    out["max_days_overdue"] = max_over
    return out
