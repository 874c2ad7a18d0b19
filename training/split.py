"""Time-based splits by issue month, purged so the future never reaches the past.

Why: a random split lets the model learn next quarter's recession from
invoices of the same customers in the same weeks, and reports an AUC nobody
will see in production. Here training uses the oldest months, early stopping
and calibration the next ``valid_months``, and the last ``test_months`` are
scored once. Two purges keep it honest:

* a training or validation invoice counts only if its label was final
  (``due_at + horizon``) before the first test month. So no label the model
  learns from was settled by events of the test months (a customer's late
  payment in the test months cannot teach the model about that customer's
  earlier invoices). Purging train labels at the validation start as well
  would leave the 90- and 180-day labels without training rows on a
  one-year ledger; the validation months only pick the number of trees and
  the calibration, so the purge guards the test months, where it matters;
* a month is *eligible* for a label only when at least ``min_known_share`` of
  its invoices have that label observed (censoring, see :mod:`training.labels`);
  the test window is the last eligible months, so each label is scored on the
  latest months where it is actually known; train and validation months are
  the months whose labels were (almost all) final before the test window,
  which leaves a gap before the test months for the long-horizon labels.

Features are computed as of each invoice's issue time (``features.offline``),
so a customer's later invoices never feed its earlier rows.

Example::

    splits = time_split(labels, valid_months=2, test_months=2)
    splits.windows["late"]["test"]        # ['2024-11', '2024-12']
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from domain.errors import InvalidInput
from training.labels import HEADS

PARTS = ("train", "valid", "test")


@dataclass
class Splits:
    """``part[head]``: per label row, ``"train"``, ``"valid"``, ``"test"`` or ``""`` (unused)."""

    part: dict[str, np.ndarray]
    windows: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def mask(self, head: str, part: str) -> np.ndarray:
        return self.part[head] == part



def time_split(labels: pd.DataFrame, valid_months: int = 2, test_months: int = 2,
               min_known_share: float = 0.9) -> Splits:
    """Assign every labelled invoice of every head to train, valid or test (see module doc)."""
    if valid_months < 1 or test_months < 1:
        raise InvalidInput("valid_months and test_months must be at least 1", field="test_months")
    month = labels["issued_at"].dt.to_period("M")
    parts: dict[str, np.ndarray] = {}
    windows: dict[str, dict[str, list[str]]] = {}
    for head in HEADS:
        known = labels[head].notna()
        part = np.full(len(labels), "", dtype=object)
        parts[head], windows[head] = part, {p: [] for p in PARTS}
        test = _eligible(known, month, min_known_share)[-test_months:]
        if len(test) < test_months:
            continue
        settled = known & (labels[f"{head}_final_at"] <= test[0].start_time)
        before = _eligible(settled, month, min_known_share)
        before = before[before < test[0]]
        if len(before) < valid_months + 1:
            continue
        valid, train = before[-valid_months:], before[:-valid_months]
        part[(settled & month.isin(train)).to_numpy()] = "train"
        part[(settled & month.isin(valid)).to_numpy()] = "valid"
        part[(known & month.isin(test)).to_numpy()] = "test"
        windows[head] = {"train": [str(train[0]), str(train[-1])], "valid": [str(m) for m in valid],
                         "test": [str(m) for m in test]}
    if not all((parts["late"] == p).any() for p in PARTS):
        raise InvalidInput(
            f"too little history for a time split: need {valid_months + test_months + 1} months with "
            f"observed P(late) labels, with invoices in each window", field="ledger")
    return Splits(parts, windows)


def _eligible(known: pd.Series, month: pd.Series, min_known_share: float) -> pd.PeriodIndex:
    """Months (sorted) in which at least ``min_known_share`` of the invoices have ``known`` labels."""
    share = known.groupby(month).mean()
    return share.index[share.to_numpy() >= min_known_share].sort_values()
