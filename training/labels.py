"""Payment-delay labels with honest censoring.

Why: at the end of the data many invoices are still open, and the ones that
are open are exactly the late ones. Keeping the already-paid recent invoices
and dropping the open ones would teach the model that recent invoices are
paid on time. So each label has a *follow-up horizon* ``h`` (days after the
due date by which its value is settled whatever happens), and an invoice
carries a label only when its whole horizon is observed: ``due_at + h <=
as_of``. Otherwise the label is NaN (unknown), never a guess.

=============  ==================================================  =========
label          value                                               horizon
=============  ==================================================  =========
``late``       not paid by the due date (written off counts)       0 days
``late_30``    not paid within 30 days after the due date          30 days
``write_off``  written off                                         180 days
``days_late``  days late, clipped to ``[0, days_cap]`` (90)         90 days
=============  ==================================================  =========

``determined_at`` is when a label's value became a fact (an early payment
settles ``late = 0`` at once); history baselines use it to see only what was
known at an invoice's issue time.

Example::

    lab = make_labels(ledger)          # as_of = the last event in the ledger
    lab["late"].mean()                 # share late among invoices with a known label
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ledger.tables import Ledger

HEADS = ("late", "late_30", "write_off", "days_late")
BINARY_HEADS = ("late", "late_30", "write_off")
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class LabelConfig:
    """Thresholds and follow-up horizons (days after the due date)."""

    late_30_days: float = 30.0
    write_off_days: float = 180.0
    days_cap: float = 90.0

    def horizon(self, head: str) -> float:
        return {"late": 0.0, "late_30": self.late_30_days, "write_off": self.write_off_days,
                "days_late": self.days_cap}[head]


def data_end(ledger: Ledger) -> pd.Timestamp:
    """The last moment the ledger has seen: its latest event of any kind."""
    stamps = [ledger.invoices[c].max() for c in ("issued_at", "paid_at", "written_off_at")]
    stamps += [ledger.payments["paid_at"].max(), ledger.disputes["opened_at"].max(),
               ledger.disputes["resolved_at"].max()]
    if len(ledger.reminders):
        stamps.append(ledger.reminders["sent_at"].max())
    return pd.Timestamp(max(s for s in stamps if pd.notna(s)))


def make_labels(ledger: Ledger, as_of: pd.Timestamp | None = None,
                config: LabelConfig = LabelConfig()) -> pd.DataFrame:
    """One row per invoice (ledger order): ``invoice_id, customer_id, issued_at, due_at``,
    each label (NaN when censored), ``<label>_final_at`` (``due_at + horizon``: the label
    is known for every invoice from then on), ``<label>_determined_at`` and
    ``<label>_value`` (the value once it is a fact, even before ``final_at``; for history only)."""
    inv = ledger.invoices
    as_of = data_end(ledger) if as_of is None else pd.Timestamp(as_of)
    due = inv["due_at"]
    paid = inv["paid_at"].where(inv["paid_at"] <= as_of)
    written_off = inv["written_off_at"].notna() & (inv["written_off_at"] <= as_of)
    closed_at = paid.fillna(inv["written_off_at"].where(written_off))
    # Days late as far as known: exact when paid, unbounded when written off, a lower bound when open.
    lower = ((paid.fillna(as_of) - due) / DAY).to_numpy(dtype=float)
    lower = np.where(written_off, np.inf, lower)
    out = inv[["invoice_id", "customer_id", "issued_at", "due_at"]].copy()
    values = {
        "late": (lower > 0).astype(float),
        "late_30": (lower > config.late_30_days).astype(float),
        "write_off": written_off.to_numpy(dtype=float),
        "days_late": np.clip(lower, 0.0, config.days_cap),
    }
    for head in HEADS:
        final_at = due + pd.Timedelta(days=config.horizon(head))
        known = (final_at <= as_of).to_numpy()
        out[head] = np.where(known, values[head], np.nan)
        out[f"{head}_final_at"] = final_at
        determined_at = closed_at.where(closed_at < final_at, final_at)
        out[f"{head}_determined_at"] = determined_at
        out[f"{head}_value"] = np.where((determined_at <= as_of).to_numpy(), values[head], np.nan)
    out.attrs["as_of"] = as_of
    return out
