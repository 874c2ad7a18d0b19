"""Logged reminders as bandit data: context, allowed arms, logged arm, propensity, reward.

Why: off-policy evaluation and offline training read the reminders a ledger
logged (``ledger.tables.REMINDERS``: arm, propensity, ``paid_within_7d``).
The context is rebuilt from what was known when each reminder was sent,
never from later outcomes:

* ``profile`` and ``customer_type`` from the customers table;
* ``p_late``: the customer's share of earlier invoices not paid by their due
  date, over invoices due before the reminder was sent, smoothed towards 1/2
  as (late + 1) / (due + 2); the risk segment is the credit policy's ``risk_segments`` on it
  (the packaged default policy unless one is given);
* the allowed arms: every slot and day type of the channels the customer
  consented to (plus the logged arm's channel: the log proves it was allowed).

Example::

    logged = from_ledger(load_ledger("var/ledger"))
    train, test = logged.split(0.5)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from domain.errors import LedgerError
from domain.vocabulary import CHANNELS
from engine.bandits.arms import Arm, arms_for_channels
from engine.bandits.context import Context
from engine.rules import RuleEngine, default_rules
from ledger.tables import Ledger


@dataclass(frozen=True)
class Logged:
    """Logged decisions, in the order they were sent."""

    contexts: tuple[Context, ...]
    allowed: tuple[tuple[Arm, ...], ...]
    arms: tuple[Arm, ...]
    propensities: np.ndarray
    rewards: np.ndarray
    reminder_ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.arms)

    def rows(self, index: slice | np.ndarray) -> "Logged":
        idx = np.arange(len(self))[index]
        pick = lambda seq: tuple(seq[i] for i in idx)  # noqa: E731
        return Logged(pick(self.contexts), pick(self.allowed), pick(self.arms), self.propensities[idx],
                      self.rewards[idx], pick(self.reminder_ids))

    def split(self, share: float) -> tuple["Logged", "Logged"]:
        """The first ``share`` of the log (to train on) and the rest (to evaluate on)."""
        cut = int(round(len(self) * share))
        return self.rows(slice(0, cut)), self.rows(slice(cut, None))


def history_p_late(ledger: Ledger, reminders: pd.DataFrame) -> np.ndarray:
    """Leak-free P(late) per reminder from the customer's invoices due before it was sent."""
    inv = ledger.invoices[["customer_id", "due_at", "paid_at"]].copy()
    inv["customer_id"] = inv["customer_id"].astype(object)
    inv["late"] = ~(inv["paid_at"] <= inv["due_at"])  # unpaid (NaT) counts as late
    inv = inv.sort_values(["due_at"], kind="stable")
    inv["due_n"] = inv.groupby("customer_id").cumcount() + 1
    inv["late_n"] = inv.groupby("customer_id")["late"].cumsum()
    left = pd.DataFrame({"sent_at": reminders["sent_at"].to_numpy(),
                         "customer_id": reminders["customer_id"].to_numpy(),
                         "row": np.arange(len(reminders))}).sort_values("sent_at", kind="stable")
    left["customer_id"] = left["customer_id"].astype(object)
    merged = pd.merge_asof(left, inv[["due_at", "customer_id", "due_n", "late_n"]], left_on="sent_at",
                           right_on="due_at", by="customer_id", allow_exact_matches=False)
    merged = merged.sort_values("row")
    late = merged["late_n"].fillna(0).to_numpy(dtype=float)
    due = merged["due_n"].fillna(0).to_numpy(dtype=float)
    return (late + 1.0) / (due + 2.0)


def from_ledger(ledger: Ledger, rules: RuleEngine | None = None) -> Logged:
    """The ledger's logged reminders, sorted by send time; ``LedgerError`` when there are none.

    ``rules`` decides each context's risk segment (default: the packaged default policy).
    """
    segment = (rules or default_rules()).segment
    rem = ledger.reminders.sort_values(["sent_at", "reminder_id"], kind="stable").reset_index(drop=True)
    if rem.empty:
        raise LedgerError("the ledger has no logged reminders to evaluate on", field="reminders")
    customers = ledger.customers.set_index("customer_id")
    missing = ~rem["customer_id"].isin(customers.index)
    if missing.any():
        raise LedgerError(f"reminder for unknown customer {rem['customer_id'][missing].iloc[0]!r}",
                          field="reminders.customer_id")
    cust = customers.loc[rem["customer_id"]]
    consent = cust[[f"consent_{c}" for c in CHANNELS]].to_numpy()
    p_late = history_p_late(ledger, rem)
    arms = tuple(Arm(c, s, d) for c, s, d in zip(rem["channel"], rem["slot"], rem["day_type"]))
    allowed_cache: dict[tuple, tuple[Arm, ...]] = {}
    allowed = []
    for row, arm in zip(consent, arms):
        chans = tuple(c for c, ok in zip(CHANNELS, row) if ok or c == arm.channel)
        allowed.append(allowed_cache.setdefault(chans, arms_for_channels(chans)))
    contexts = tuple(
        Context(profile=p, customer_type=t, p_late=float(q), step=int(s),
                segment=segment({"p_late": float(q), "customer_type": t, "profile": p}))
        for p, t, q, s in zip(cust["profile"], cust["type"], p_late, rem["step"])
    )
    return Logged(contexts, tuple(allowed), arms, rem["propensity"].to_numpy(dtype=float),
                  rem["paid_within_7d"].to_numpy(dtype=float), tuple(rem["reminder_id"]))
