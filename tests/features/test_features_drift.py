"""Drift monitoring: PSI, deteriorated customers and the ``kredo features drift`` command."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from domain.errors import InvalidInput
from features.definitions import FEATURE_NAMES
from features.drift import Window, deteriorated_customers, drift_report, psi, snapshots
from ledger.tables import save_ledger
from serving.cli import main
from tests.features.ledgers import tiny_ledger


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, 20_000)
    assert psi(base, rng.normal(0, 1, 20_000)) < 0.01
    assert psi(base, rng.normal(1, 1, 20_000)) > 0.25
    counts = np.zeros(1000)
    assert psi(counts, np.r_[np.zeros(900), np.ones(100)]) > 0.1  # a flag that starts to fire


@pytest.mark.parametrize("text", ["2024-01-01", "2024-13-01:2024-02-01", "2024-02-01:2024-01-01", "a:b"])
def test_bad_window(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Window.parse(text, "train_window")
    assert info.value.field == "train_window"


def test_snapshots_use_only_events_before_each_moment() -> None:
    before, after = snapshots(tiny_ledger(), [pd.Timestamp("2024-01-20"), pd.Timestamp("2024-03-01")])
    assert before.loc["C-1", "disputes_opened"] == 0 and after.loc["C-1", "disputes_opened"] == 1
    assert before.loc["C-1", "invoices_paid"] == 0 and after.loc["C-1", "last_days_late"] == 5.0
    assert list(before.columns) == list(FEATURE_NAMES)


def test_deteriorated_customers_have_reasons() -> None:
    before, now = snapshots(tiny_ledger(), [pd.Timestamp("2024-01-20"), pd.Timestamp("2024-03-01")])
    watch = deteriorated_customers(before, now)
    assert [r["customer_id"] for r in watch] == ["C-1", "C-2"]
    assert "new_dispute" in watch[0]["flags"] and "days_late_rising" not in watch[0]["flags"]  # +5.0 only
    worse = now.copy()
    worse.loc["C-1", "ewm_days_late"] = 12.0
    assert "days_late_rising" in deteriorated_customers(before, worse)[0]["flags"]
    assert watch[1]["flags"] == ["overdue_growing"]  # INV-4 is 37 days past due, partly paid
    assert watch[0]["now"]["open_exposure"] == 3000.0
    near = deteriorated_customers(before, now, limits={"C-1": 3200.0, "C-2": 10_000.0})
    assert "exposure_near_limit" in near[0]["flags"] and "exposure_near_limit" not in near[1]["flags"]
    far = deteriorated_customers(before, now, limits={"C-1": 1e6})
    assert "exposure_near_limit" not in far[0]["flags"]


def test_recession_shows_up_as_drift(small_ledger) -> None:
    # The simulator's recession hits 55-80 % of the year: mid-July to mid-October.
    report = drift_report(small_ledger, Window.parse("2024-01-01:2024-06-01", "train_window"),
                          Window.parse("2024-08-01:2024-11-01", "recent_window"))
    assert report["psi"]["issue_weekday"]["status"] == "stable"
    assert report["psi"]["share_paid_late"]["psi"] > 0.1
    assert "share_paid_late" in report["shifted"]
    assert report["deteriorated"] and all(r["flags"] for r in report["deteriorated"])


def test_cli_drift(tmp_path, capsys) -> None:
    save_ledger(tiny_ledger(), tmp_path / "ledger")
    limits = tmp_path / "limits.csv"
    limits.write_text("customer_id,credit_limit\nC-1,3100\n")
    code = main(["features", "drift", "--ledger", str(tmp_path / "ledger"), "--train-window", "2024-01-01:2024-01-20",
                 "--recent-window", "2024-02-01:2024-10-01", "--limits", str(limits), "--json"])
    assert code == 0
    out = capsys.readouterr().out
    report = json.loads(out.strip().splitlines()[-1])
    assert set(report["psi"]) == set(FEATURE_NAMES)
    assert report["deteriorated"][0]["customer_id"] == "C-1" and "exposure_near_limit" in report["deteriorated"][0]["flags"]
    assert "customers deteriorated" in out


@pytest.mark.parametrize("args, message", [
    (["--train-window", "2024-01-01"], "train_window"),
    (["--train-window", "2030-01-01:2030-02-01"], "no invoices issued in the train window"),
    (["--limits", "/nonexistent.csv"], "limits"),
])
def test_cli_drift_errors(tmp_path, capsys, args: list[str], message: str) -> None:
    save_ledger(tiny_ledger(), tmp_path / "ledger")
    base = {"--train-window": "2024-01-01:2024-01-20", "--recent-window": "2024-02-01:2024-10-01"}
    base.update(dict(zip(args[::2], args[1::2])))
    argv = ["features", "drift", "--ledger", str(tmp_path / "ledger")] + [x for kv in base.items() for x in kv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
