"""The offline feature table: hand-checked values, point-in-time cut, no leakage."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.definitions import FEATURE_NAMES, FEATURES, MONTH_DAYS
from features.offline import build_feature_table
from tests.features.ledgers import shuffle_after, tiny_ledger


def _row(table: pd.DataFrame, invoice_id: str) -> pd.Series:
    return table.set_index("invoice_id").loc[invoice_id]


def test_columns_are_the_contract() -> None:
    table = build_feature_table(tiny_ledger())
    assert list(table.columns) == ["invoice_id", "customer_id", "issued_at", *FEATURE_NAMES]
    assert all(table[n].dtype == np.float64 for n in FEATURE_NAMES)
    assert list(table["invoice_id"]) == ["INV-1", "INV-2", "INV-3", "INV-4", "INV-5"]
    assert set(FEATURES) == set(FEATURE_NAMES) and len(FEATURE_NAMES) == len(set(FEATURE_NAMES))


def test_hand_checked_customer_with_late_payment_and_open_dispute() -> None:
    row = _row(build_feature_table(tiny_ledger()), "INV-3")  # 2024-03-01, a Friday
    expected = {
        "invoices_issued": 2, "invoices_paid": 1, "share_paid_late": 1.0, "mean_days_late": 5.0,
        "p90_days_late": 5.0, "last_days_late": 5.0, "ewm_days_late": 5.0, "days_since_last_payment": 25.0,
        "share_known_late": (1 + 1 + 0.5) / (1 + 1 + 1.0),  # INV-1 paid late, INV-2 open past due
        "write_offs": 0, "disputes_opened": 1, "open_disputes": 1, "open_invoices": 1, "overdue_invoices": 1,
        "open_exposure": 3000.0,
        "overdue_amount": 3000.0, "overdue_1_30": 3000.0, "overdue_31_60": 0.0, "max_days_overdue": 16.0,
        "tenure_days": 60.0, "avg_monthly_purchases": 4000.0 / (60 / MONTH_DAYS), "is_business": 1.0,
        "amount": 500.0, "amount_vs_usual": 0.25, "payment_terms_days": 14.0, "paperless": 1.0,
        "issue_weekday": 4.0, "issue_month": 3.0, "issue_day_of_month": 1.0,
    }
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, abs=1e-12), name


def test_new_customer_gets_defaults() -> None:
    row = _row(build_feature_table(tiny_ledger()), "INV-4")
    for feature in FEATURES.values():
        if feature.entity == "customer":
            assert row[feature.name] == feature.default, feature.name
    assert row["amount_vs_usual"] == 1.0


def test_write_off_and_partial_payment() -> None:
    table = build_feature_table(tiny_ledger())
    early = _row(table, "INV-2")  # INV-1 open and not yet due; no payment yet
    assert (early["open_exposure"], early["overdue_amount"], early["days_since_last_payment"]) == (1000.0, 0.0, -1.0)
    late = _row(table, "INV-5")  # INV-4: 30 paid, rest written off
    assert late["write_offs"] == 1 and late["open_exposure"] == 0 and late["invoices_paid"] == 0
    assert late["share_known_late"] == (1 + 0.5) / (1 + 1.0)  # a write-off is a known late outcome
    assert late["days_since_last_payment"] == 214.0


def test_events_at_the_decision_instant_do_not_count() -> None:
    ledger = tiny_ledger()
    pay = ledger.payments
    pay.loc[pay["payment_id"] == "PAY-2", "paid_at"] = pd.Timestamp("2024-03-01")  # INV-3's issue time
    row = _row(build_feature_table(ledger), "INV-3")
    assert row["invoices_paid"] == 0 and row["open_exposure"] == 600.0 + 3000.0
    assert row["days_since_last_payment"] == pytest.approx(41.0)  # the partial payment of 2024-01-20


@pytest.mark.parametrize("cut", ["2024-04-01", "2024-08-15 12:00:00"])
def test_deleting_or_shuffling_the_future_changes_nothing_before(small_ledger, cut: str) -> None:
    cutoff = pd.Timestamp(cut)
    full = build_feature_table(small_ledger).set_index("invoice_id")
    known = full[full["issued_at"] <= cutoff]
    assert len(known) > 1000
    for variant in (small_ledger.known_at(cutoff), shuffle_after(small_ledger, cutoff, seed=5)):
        other = build_feature_table(variant).set_index("invoice_id").loc[known.index]
        pd.testing.assert_frame_equal(other[list(FEATURE_NAMES)], known[list(FEATURE_NAMES)], check_exact=True)
    # and the future does matter after the cut (the test can fail)
    later = build_feature_table(small_ledger.known_at(cutoff)).set_index("invoice_id")
    assert len(later) < len(full)


def test_deterministic(small_ledger) -> None:
    a, b = build_feature_table(small_ledger), build_feature_table(small_ledger)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
