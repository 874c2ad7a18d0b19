"""Monitoring: feature drift (PSI) and customers whose risk deteriorated.

Why: a model trained on last year's payment behaviour degrades quietly when a
recession shifts it, and existing customers turn risky between reviews
("watch existing customers"). :func:`population_stability` compares the
feature distribution of recent invoices with the training window;
:func:`deteriorated_customers` compares every customer's features at the last
check with now, through the same online code path serving uses.

Example::

    report = drift_report(ledger, Window.parse("2024-01-01:2024-12-31", "train_window"),
                          Window.parse("2025-06-01:2025-07-01", "recent_window"))
    report["psi"]["mean_days_late"]["psi"]
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from domain.errors import InvalidInput
from features.definitions import FEATURE_NAMES, FEATURES
from ledger.events import frame_to_events, ledger_event_frame
from ledger.tables import Ledger
from features.offline import build_feature_table
from features.online.memory import MemoryStore
from features.transform import InvoiceRequest

PSI_MODERATE, PSI_MAJOR = 0.1, 0.25
BINS = 10
_EPS = 1e-4
DAYS_LATE_RISE = 5.0      # days: the time-decayed mean of days late rose by at least this much
LIMIT_SHARE = 0.9         # exposure at or above 90 % of the credit limit
EXPOSURE_MONTHS = 3.0     # without limits: exposure above three months of usual purchases
OVERDUE_DAYS = 30.0       # overdue amount grew and the oldest overdue invoice is this late


@dataclass(frozen=True)
class Window:
    """A half-open time window [start, end)."""

    start: pd.Timestamp
    end: pd.Timestamp

    @classmethod
    def parse(cls, text: str, field: str) -> "Window":
        """``"2024-01-01:2024-07-01"`` -> Window; ``InvalidInput`` naming ``field`` otherwise."""
        parts = text.split(":") if isinstance(text, str) else []
        if len(parts) != 2:
            raise InvalidInput(f"expected START:END dates (YYYY-MM-DD:YYYY-MM-DD), got {text!r}", field=field)
        try:
            start, end = pd.Timestamp(parts[0]), pd.Timestamp(parts[1])
        except ValueError:
            raise InvalidInput(f"not a date in {text!r}", field=field) from None
        if not start < end:
            raise InvalidInput(f"window start must be before its end ({text!r})", field=field)
        return cls(start, end)

    def mask(self, times: pd.Series) -> np.ndarray:
        return ((times >= self.start) & (times < self.end)).to_numpy()


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = BINS) -> float:
    """Population stability index of ``actual`` against ``expected``.

    Bins ``(e[i-1], e[i]]`` at the deciles of ``expected`` (merged where values repeat, so a
    count or a flag gets one bin per value); empty bins are smoothed by 1e-4.
    """
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))
    e = np.bincount(np.searchsorted(edges, expected, side="left"), minlength=len(edges) + 1) / len(expected)
    a = np.bincount(np.searchsorted(edges, actual, side="left"), minlength=len(edges) + 1) / len(actual)
    e, a = np.maximum(e, _EPS), np.maximum(a, _EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def population_stability(table: pd.DataFrame, train: Window, recent: Window) -> dict[str, dict[str, Any]]:
    """PSI per feature between invoices issued in ``train`` and in ``recent``."""
    masks = {"train_window": train.mask(table["issued_at"]), "recent_window": recent.mask(table["issued_at"])}
    for field, mask in masks.items():
        if not mask.any():
            raise InvalidInput(f"no invoices issued in the {field.replace('_', ' ')}", field=field)
    old, new = table.loc[masks["train_window"]], table.loc[masks["recent_window"]]
    out = {}
    for name in FEATURE_NAMES:
        value = psi(old[name].to_numpy(), new[name].to_numpy())
        out[name] = {"psi": round(value, 6), "status": "major" if value >= PSI_MAJOR else
                     "moderate" if value >= PSI_MODERATE else "stable",
                     "train_mean": float(old[name].mean()), "recent_mean": float(new[name].mean())}
    return out


def snapshots(ledger: Ledger, moments: list[pd.Timestamp]) -> list[pd.DataFrame]:
    """Every customer's customer-level features at each moment (sorted), via the online fold.

    One replay into an in-process store; at each moment, all events strictly
    before it are applied and every customer is read with a neutral request.
    """
    frame = ledger_event_frame(ledger, include_reminders=False)
    events = frame_to_events(frame)
    at = frame["at"].to_numpy()
    ids = ledger.customers["customer_id"].tolist()
    types = ledger.customers["type"].tolist()
    store, done, out = MemoryStore(), 0, []
    for moment in moments:
        upto = int(np.searchsorted(at, np.datetime64(moment.to_datetime64(), "us"), side="left"))
        store.apply(events[done:upto])
        done = upto
        request = lambda t: InvoiceRequest(0.0, 0, moment.to_pydatetime(), False, t)  # noqa: E731
        feats = store.customer_features_many([(c, request(t), None) for c, t in zip(ids, types)])
        out.append(pd.DataFrame(feats, index=pd.Index(ids, name="customer_id")))
    return out


def deteriorated_customers(before: pd.DataFrame, now: pd.DataFrame,
                           limits: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """Customers whose risk features got worse between two snapshots, with the reasons.

    Flags: ``days_late_rising``, ``new_dispute``, ``new_write_off``,
    ``overdue_growing``, and ``exposure_near_limit`` (with ``limits``) or
    ``exposure_high`` (exposure above three months of usual purchases).
    """
    b, n = before.loc[now.index], now
    flags = {
        "days_late_rising": (n["ewm_days_late"] - b["ewm_days_late"] >= DAYS_LATE_RISE) & (n["ewm_days_late"] > 0)
                            & (n["invoices_paid"] > b["invoices_paid"]),
        "new_dispute": n["disputes_opened"] > b["disputes_opened"],
        "new_write_off": n["write_offs"] > b["write_offs"],
        "overdue_growing": (n["overdue_amount"] > b["overdue_amount"]) & (n["max_days_overdue"] >= OVERDUE_DAYS),
    }
    if limits is not None:
        limit = pd.Series(limits, dtype=float).reindex(n.index)
        flags["exposure_near_limit"] = (n["open_exposure"] >= LIMIT_SHARE * limit).fillna(False)
    else:
        flags["exposure_high"] = (n["open_exposure"] > EXPOSURE_MONTHS * n["avg_monthly_purchases"]) & (
            n["open_exposure"] > b["open_exposure"])
    table = pd.DataFrame(flags)
    hit = table.any(axis=1)
    shown = ("ewm_days_late", "open_disputes", "write_offs", "open_exposure", "overdue_amount", "max_days_overdue")
    out = []
    for cust in table.index[hit]:
        out.append({"customer_id": cust, "flags": [f for f in table.columns if table.at[cust, f]],
                    "before": {k: round(float(b.at[cust, k]), 2) for k in shown},
                    "now": {k: round(float(n.at[cust, k]), 2) for k in shown}})
    out.sort(key=lambda r: (-len(r["flags"]), -r["now"]["open_exposure"], r["customer_id"]))
    return out


def drift_report(ledger: Ledger, train: Window, recent: Window,
                 limits: Mapping[str, float] | None = None) -> dict[str, Any]:
    """PSI per feature (train vs recent invoices) and customers deteriorated since the end of ``train``."""
    table = build_feature_table(ledger)
    stability = population_stability(table, train, recent)
    before, now = snapshots(ledger, [train.end, recent.end])
    customer_features = [f.name for f in FEATURES.values() if f.entity == "customer"]
    watch = deteriorated_customers(before[customer_features], now[customer_features], limits)
    return {"train_window": [str(train.start), str(train.end)], "recent_window": [str(recent.start), str(recent.end)],
            "psi": stability, "shifted": [k for k, v in stability.items() if v["status"] != "stable"],
            "last_check": str(train.end), "now": str(recent.end), "deteriorated": watch}
