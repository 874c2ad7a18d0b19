"""Online equals offline at every decision moment; the future never leaks into the past.

Parity runs on a 20,000-customer ledger over 9 months (~165k invoices,
~400k events), for both stores: large enough to hold every kind of history
(partial payments, disputes, write-offs after 180 days, same-instant events), small enough
that the Redis replay stays well under a minute on 2 cores.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.definitions import FEATURE_NAMES
from ledger.events import to_us
from features.offline import build_feature_table
from features.online.replay import online_feature_table
from tests.features.ledgers import shuffle_after, with_collections
from training.simulation import SimulationConfig, simulate

TOL = 1e-9


@pytest.fixture(scope="module")
def big_ledger():
    return simulate(SimulationConfig(customers=20_000, months=9, seed=23))


@pytest.fixture(scope="module")
def big_offline(big_ledger) -> pd.DataFrame:
    return build_feature_table(big_ledger)


def assert_same(online: pd.DataFrame, offline: pd.DataFrame) -> None:
    """Every feature of every invoice equal within 1e-9 (relative above 1, absolute below)."""
    assert list(online["invoice_id"]) == list(offline["invoice_id"])
    a, b = online[list(FEATURE_NAMES)].to_numpy(), offline[list(FEATURE_NAMES)].to_numpy()
    bad = np.abs(a - b) > TOL * np.maximum(1.0, np.abs(b))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        pytest.fail(f"{int(bad.sum())} mismatches; first {offline['invoice_id'].iloc[i]} "
                    f"{FEATURE_NAMES[j]}: online {a[i, j]!r} offline {b[i, j]!r}")


def test_parity_on_20000_customers(store, big_ledger, big_offline) -> None:
    online, problems = online_feature_table(store, big_ledger)
    assert problems == []
    assert len(online) > 100_000
    assert_same(online, big_offline)
    # the ledger exercises every part of the state
    for name in ("open_disputes", "write_offs", "overdue_90_plus", "p90_days_late", "days_since_last_payment"):
        assert (big_offline[name] > 0).any(), name


def test_parity_with_promises_escalations_and_disputes(store, small_ledger) -> None:
    """The non-payment facts checkout reads (overdue and disputed shares, broken promises, open
    escalations) are point-in-time exact offline: the online fold gives the same at every decision."""
    ledger = with_collections(small_ledger, seed=3)
    online, problems = online_feature_table(store, ledger)
    offline = build_feature_table(ledger)
    assert_same(online, offline)
    assert {p.reason for p in problems} == {"invoice_closed"}  # promises and escalations after the payment
    assert 0 < len(problems) < len(ledger.promises) + len(ledger.escalations)
    for name in ("overdue_share", "disputed_share", "broken_promises", "open_escalations"):
        assert (offline[name] > 0).sum() > 20, name
    assert (offline["broken_promises"] >= 2).any()


@pytest.mark.parametrize("variant", ["deleted", "shuffled"])
def test_online_features_ignore_the_future(store, small_ledger, variant: str) -> None:
    cutoff = pd.Timestamp("2024-07-01 08:00:00")
    changed = small_ledger.known_at(cutoff) if variant == "deleted" else shuffle_after(small_ledger, cutoff, seed=2)
    online, problems = online_feature_table(store, changed)
    assert all(to_us(_event_time(changed, r.event_id)) > to_us(cutoff) for r in problems)
    reference = build_feature_table(small_ledger).set_index("invoice_id")
    known = reference.index[reference["issued_at"] <= cutoff]
    got = online.set_index("invoice_id").loc[known]
    assert_same(got.reset_index(), reference.loc[known].reset_index())


def _event_time(ledger, event_id: str) -> pd.Timestamp:
    kind, ref = event_id.split(":", 1)
    tables = {"invoice_issued": ("invoices", "invoice_id", "issued_at"),
              "invoice_written_off": ("invoices", "invoice_id", "written_off_at"),
              "payment_received": ("payments", "payment_id", "paid_at"),
              "dispute_opened": ("disputes", "dispute_id", "opened_at"),
              "dispute_resolved": ("disputes", "dispute_id", "resolved_at")}
    table, key, col = tables[kind]
    frame = getattr(ledger, table)
    return frame.loc[frame[key] == ref, col].iloc[0]
