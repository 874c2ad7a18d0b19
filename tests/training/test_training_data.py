"""Training data: CSV mapping, censored labels, the purged time split, metrics, history baselines."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from domain.errors import InvalidInput, LedgerError
from tests.support.data import AR_SAMPLE as AR
from training.baselines import history_baselines
from training.labels import make_labels
from training.mapping import AR_MAPPING, read_invoice_csv
from training.metrics import classification_metrics, expected_calibration_error, pinball_loss
from training.pipeline import TrainConfig, build_dataset
from training.split import time_split


def test_ar_sample_reads_into_a_valid_ledger() -> None:
    ledger = read_invoice_csv(AR, "ar")
    raw = pd.read_csv(AR, dtype=str)
    assert len(ledger.invoices) == 2466 and len(ledger.customers) == 100
    assert ledger.invoices["invoice_id"].iloc[0] == raw["invoiceNumber"].iloc[0]  # leading zeros kept
    lab = make_labels(ledger)
    known = lab["late"].notna()
    assert abs(lab.loc[known, "late"].mean() - (raw["DaysLate"].astype(int) > 0).mean()) < 0.01
    # Disputed is an outcome: known at settlement, never before the invoice is paid.
    d = ledger.disputes.merge(ledger.invoices, on="invoice_id")
    assert len(d) == (raw["Disputed"] == "Yes").sum()
    assert (d["opened_at"] == d["paid_at"]).all()


def test_mapping_errors_name_the_field(tmp_path) -> None:
    with pytest.raises(InvalidInput) as err:
        read_invoice_csv(AR, {"invoice_id": "invoiceNumber"})
    assert err.value.field.startswith("mapping.")
    with pytest.raises(InvalidInput) as err:
        read_invoice_csv(AR, {**AR_MAPPING, "colour": "x"})
    assert err.value.field == "mapping.colour"
    with pytest.raises(LedgerError) as err:
        read_invoice_csv(AR, {**AR_MAPPING, "amount": "Amount"})
    assert err.value.field == "mapping.amount" and "lacks" in err.value.detail
    bad = tmp_path / "bad.csv"
    pd.read_csv(AR, dtype=str).head(5).assign(InvoiceDate=["1/2/2013", "31/31/2013", "1/2/2013", "1/2/2013",
                                                            "1/2/2013"]).to_csv(bad, index=False)
    with pytest.raises(LedgerError) as err:
        read_invoice_csv(bad, json.dumps(AR_MAPPING))
    assert err.value.field == "issued_at" and err.value.extra["row"] == 1
    with pytest.raises(InvalidInput):
        read_invoice_csv(AR, "{not json")


def _ledger(invoices: list[dict], as_of: str):
    """A one-customer ledger from a few invoices (times in days after 2024-01-01)."""
    from ledger.tables import Ledger, TABLES

    t0 = pd.Timestamp("2024-01-01")
    inv = pd.DataFrame([{
        "invoice_id": f"I{i}", "customer_id": "C1", "issued_at": t0 + pd.Timedelta(days=r["issued"]),
        "due_at": t0 + pd.Timedelta(days=r["issued"] + 30), "amount": 100.0, "currency": "EUR",
        "payment_terms_days": 30, "paperless": True,
        "paid_at": t0 + pd.Timedelta(days=r["paid"]) if r.get("paid") is not None else pd.NaT,
        "written_off_at": t0 + pd.Timedelta(days=r["wo"]) if r.get("wo") is not None else pd.NaT,
    } for i, r in enumerate(invoices)])
    empty = {n: pd.DataFrame({c: pd.Series(dtype=object) for c in TABLES[n].names})
             for n in ("customers", "payments", "disputes", "reminders")}
    return Ledger(invoices=inv, **empty), pd.Timestamp(as_of)


def test_labels_follow_the_censoring_rule() -> None:
    ledger, as_of = _ledger([
        {"issued": 0, "paid": 20},      # paid early, fully observed
        {"issued": 0, "paid": 45},      # 15 days late
        {"issued": 0, "wo": 210},       # written off
        {"issued": 210, "paid": 215},   # paid early but not yet due at as_of: censored
        {"issued": 210},                # open, not due yet: censored
        {"issued": 190},                # open and 7 days overdue at as_of: late is a fact
    ], "2024-08-15")
    lab = make_labels(ledger, as_of=as_of).set_index("invoice_id")
    assert lab.loc["I0", "late"] == 0 and lab.loc["I1", "late"] == 1 and lab.loc["I2", "late"] == 1
    assert np.isnan(lab.loc["I3", "late"]) and np.isnan(lab.loc["I4", "late"])  # early payers are not kept
    assert lab.loc["I5", "late"] == 1 and np.isnan(lab.loc["I5", "late_30"])
    assert lab.loc["I1", "days_late"] == pytest.approx(15.0) and lab.loc["I2", "days_late"] == 90.0
    assert lab.loc["I2", "write_off"] == 1 and lab.loc["I0", "write_off"] == 0
    assert lab.loc["I3", "late_value"] == 0  # a fact for history baselines
    assert lab.loc["I1", "late_determined_at"] == pd.Timestamp("2024-01-31")


def test_history_baselines_see_only_earlier_facts() -> None:
    ledger, as_of = _ledger([
        {"issued": 0, "paid": 45},      # late, known on its due date (day 30)
        {"issued": 20, "paid": 40},     # issued before invoice 0 turned late: no history yet
        {"issued": 50, "paid": 60},     # sees I0 late (day 30) and I1 on time? I1 paid day 40 -> yes
    ], "2024-12-31")
    lab = make_labels(ledger, as_of=as_of)
    last, mean = history_baselines(lab, "late", prior=0.25)
    assert last[1] == 0.25 and mean[1] == 0.25
    assert last[2] == 0.0 and mean[2] == pytest.approx((1 + 0 + 0.25) / 3)


def test_time_split_is_ordered_and_purged(small_ledger) -> None:
    lab = make_labels(small_ledger)
    splits = time_split(lab, valid_months=2, test_months=2)
    month = lab["issued_at"].dt.to_period("M")
    for head in ("late", "late_30"):
        parts = {p: month[splits.mask(head, p)] for p in ("train", "valid", "test")}
        assert parts["train"].max() < parts["valid"].min() <= parts["valid"].max() < parts["test"].min()
        test_start = parts["test"].min().start_time
        learnt = splits.mask(head, "train") | splits.mask(head, "valid")
        assert (lab.loc[learnt, f"{head}_final_at"] <= test_start).all()
        assert lab.loc[splits.mask(head, "test"), head].notna().all()
    with pytest.raises(InvalidInput):
        time_split(lab, valid_months=6, test_months=6)


def test_period_effects_label_each_row_by_month_and_sector(small_ledger) -> None:
    dataset = build_dataset(small_ledger, TrainConfig())
    sector = small_ledger.customers.set_index("customer_id")["sector"]
    row = dataset.labels.iloc[5]
    expected_month = row["issued_at"].strftime("%Y-%m")
    assert dataset.periods("month")[5] == expected_month
    assert dataset.periods("month_sector")[5] == f"{expected_month}|{sector[row['customer_id']]}"
    assert dataset.periods("none") is None
    with pytest.raises(InvalidInput) as info:
        TrainConfig(period_effects="weekly")
    assert info.value.field == "period_effects"


def test_metrics() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    y = (rng.random(200_000) < p).astype(float)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, np.clip(p + 0.2, 0, 1)) > 0.1
    m = classification_metrics(y, p)
    assert 0.8 < m["roc_auc"] < 0.9 and m["brier"] == pytest.approx(1 / 6, abs=0.01)
    assert np.isnan(classification_metrics(np.zeros(5), np.full(5, 0.1))["roc_auc"])
    assert pinball_loss(np.array([10.0, 0.0]), np.array([0.0, 10.0]), 0.8) == pytest.approx((8 + 2) / 2)
