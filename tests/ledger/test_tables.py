"""The data contract refuses bad files and names file, row and column."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from domain.errors import LedgerError
from ledger.tables import INVOICES, load_ledger, save_ledger, validate


@pytest.fixture()
def ledger_dir(tmp_path: Path, small_ledger) -> Path:
    save_ledger(small_ledger, tmp_path, csv=False)
    return tmp_path


def _break(folder: Path, mutate) -> None:
    path = folder / "invoices.parquet"
    df = pd.read_parquet(path)
    mutate(df).to_parquet(path, index=False)


def _refusal(folder: Path) -> LedgerError:
    with pytest.raises(LedgerError) as info:
        load_ledger(folder)
    return info.value


def test_missing_column(ledger_dir: Path) -> None:
    _break(ledger_dir, lambda df: df.drop(columns=["amount"]))
    err = _refusal(ledger_dir)
    assert err.extra["column"] == "amount" and "invoices.parquet" in err.detail and "missing" in err.detail


def test_negative_amount(ledger_dir: Path) -> None:
    def neg(df):
        df.loc[5, "amount"] = -10.0
        return df
    _break(ledger_dir, neg)
    err = _refusal(ledger_dir)
    assert (err.extra["row"], err.extra["column"]) == (5, "amount")


def test_wrong_dtype(ledger_dir: Path) -> None:
    def text(df):
        df["payment_terms_days"] = df["payment_terms_days"].astype(str)
        return df
    _break(ledger_dir, text)
    assert _refusal(ledger_dir).extra["column"] == "payment_terms_days"


def test_due_before_issue(ledger_dir: Path) -> None:
    def swap(df):
        df.loc[7, "due_at"] = df.loc[7, "issued_at"] - pd.Timedelta(days=1)
        return df
    _break(ledger_dir, swap)
    err = _refusal(ledger_dir)
    assert (err.extra["row"], err.extra["column"]) == (7, "due_at") and "before" in err.detail


def test_unparseable_date_in_csv(tmp_path: Path, small_ledger) -> None:
    save_ledger(small_ledger, tmp_path, csv=True)
    for p in tmp_path.glob("*.parquet"):
        p.unlink()
    csv = tmp_path / "invoices.csv"
    lines = csv.read_text().splitlines()
    cells = lines[4].split(",")
    cells[2] = "not-a-date"
    lines[4] = ",".join(cells)
    csv.write_text("\n".join(lines) + "\n")
    err = _refusal(tmp_path)
    assert (err.extra["row"], err.extra["column"]) == (3, "issued_at")


def test_unknown_currency_and_duplicate_key(ledger_dir: Path) -> None:
    def usd(df):
        df.loc[2, "currency"] = "USD"
        return df
    _break(ledger_dir, usd)
    err = _refusal(ledger_dir)
    assert (err.extra["row"], err.extra["column"]) == (2, "currency") and "USD" in err.detail
    df = pd.read_parquet(ledger_dir / "invoices.parquet")
    df.loc[2, "currency"] = "EUR"
    df.loc[9, "invoice_id"] = df.loc[1, "invoice_id"]
    with pytest.raises(LedgerError, match="duplicate key") as info:
        validate(INVOICES, df, "x.parquet")
    assert info.value.extra["row"] == 9


def test_missing_table(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="not a ledger directory"):
        load_ledger(tmp_path / "nope")
    tmp_path.mkdir(exist_ok=True)
    with pytest.raises(LedgerError, match="missing table customers"):
        load_ledger(tmp_path)


def test_rows_pointing_at_unknown_customers_or_invoices(ledger_dir: Path, small_ledger) -> None:
    _break(ledger_dir, lambda df: df.assign(customer_id=df["customer_id"].where(df.index != 3, "C-ghost")))
    err = _refusal(ledger_dir)
    assert err.extra["table"] == "invoices" and err.extra["row"] == 3 and err.extra["column"] == "customer_id"
    assert "'C-ghost' is not in the customers table" in err.detail
    payments = small_ledger.payments.copy()
    payments.loc[0, "invoice_id"] = "INV-ghost"
    with pytest.raises(LedgerError) as info:
        replace(small_ledger, payments=payments).validated()
    assert info.value.extra["table"] == "payments" and info.value.extra["column"] == "invoice_id"
