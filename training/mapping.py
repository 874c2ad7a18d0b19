"""Read any invoice CSV into a :class:`ledger.tables.Ledger` through a column mapping.

Why: analysts bring their own exports (ERP, the public IBM accounts-receivable
sample). A small JSON mapping says which column holds which ledger field, so
training, the features and the backtest all see the one ledger contract and
never a CSV dialect. Fields the export lacks come from ``defaults`` and are
named in the result, so a reader of the model report knows what was imputed.

Outcome columns stay outcomes: a ``disputed`` flag becomes a dispute that is
known at the invoice's settlement (the export says *that* it was disputed, not
*when*), so no feature can see it at issue time.

Mapping keys (values are CSV column names)::

    {"invoice_id": "invoiceNumber", "customer_id": "customerID",
     "issued_at": "InvoiceDate", "due_at": "DueDate", "amount": "InvoiceAmount",
     "paid_at": "SettledDate",                        # optional: empty = open
     "written_off_at": null,                          # optional
     "paperless": {"column": "PaperlessBill", "true": ["Electronic"]},  # optional
     "disputed": {"column": "Disputed", "true": ["Yes"]},               # optional
     "country": "countryCode",                        # optional
     "date_format": "%m/%d/%Y",                       # optional, else ISO 8601
     "defaults": {"currency": "EUR", "type": "business", "size": "medium",
                  "sector": "unknown", "profile": "sme"}}

Example::

    ledger = read_invoice_csv("AR.csv", "ar")   # the built-in mapping for the IBM sample
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from domain.errors import InvalidInput, LedgerError
from domain.vocabulary import CHANNELS
from ledger.tables import Ledger, TABLES

REQUIRED = ("invoice_id", "customer_id", "issued_at", "due_at", "amount")
OPTIONAL = ("paid_at", "written_off_at", "paperless", "disputed", "country")
DEFAULTS: dict[str, Any] = {
    "currency": "EUR", "type": "business", "size": "medium", "sector": "unknown", "profile": "sme",
    "paperless": False, "country": "unknown",
    **{f"consent_{ch}": ch in ("email", "letter") for ch in CHANNELS},
}

AR_MAPPING: dict[str, Any] = {
    "invoice_id": "invoiceNumber", "customer_id": "customerID",
    "issued_at": "InvoiceDate", "due_at": "DueDate", "amount": "InvoiceAmount",
    "paid_at": "SettledDate",
    "paperless": {"column": "PaperlessBill", "true": ["Electronic"]},
    "disputed": {"column": "Disputed", "true": ["Yes"]},
    "country": "countryCode",
    "date_format": "%m/%d/%Y",
    "defaults": {"currency": "EUR", "type": "business", "size": "medium", "sector": "unknown",
                 "profile": "sme"},
}
BUILTIN = {"ar": AR_MAPPING}
def load_mapping(spec: str | Mapping[str, Any]) -> dict[str, Any]:
    """A mapping from a built-in name (``ar``), a JSON file, a JSON string or a dict."""
    if isinstance(spec, Mapping):
        mapping = dict(spec)
    elif spec in BUILTIN:
        mapping = dict(BUILTIN[spec])
    else:
        text = spec if spec.lstrip().startswith("{") else Path(spec).read_text() if Path(spec).is_file() else spec
        try:
            mapping = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"mapping is neither a built-in ({', '.join(BUILTIN)}), a JSON file "
                               f"nor JSON: {exc}", field="mapping") from None
    if not isinstance(mapping, dict):
        raise InvalidInput("mapping must be a JSON object", field="mapping")
    missing = [k for k in REQUIRED if not mapping.get(k)]
    if missing:
        raise InvalidInput(f"mapping lacks required fields {missing}", field=f"mapping.{missing[0]}")
    unknown = set(mapping) - set(REQUIRED) - set(OPTIONAL) - {"date_format", "defaults"}
    if unknown:
        raise InvalidInput(f"mapping has unknown fields {sorted(unknown)}", field=f"mapping.{sorted(unknown)[0]}")
    return mapping


def read_invoice_csv(path: str | Path, mapping: str | Mapping[str, Any]) -> Ledger:
    """Read ``path`` through ``mapping`` into a validated ledger (see the module doc)."""
    m = load_mapping(mapping)
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such CSV file", field="csv")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    defaults = {**DEFAULTS, **m.get("defaults", {})}
    fmt = m.get("date_format")

    def column(field: str) -> pd.Series:
        spec = m[field]
        name = spec["column"] if isinstance(spec, dict) else spec
        if name not in raw.columns:
            raise LedgerError(f"{path}: mapping field {field!r} names column {name!r}, which the CSV "
                              f"lacks (columns: {list(raw.columns)})", field=f"mapping.{field}")
        return raw[name].str.strip()

    def dates(field: str) -> pd.Series:
        if not m.get(field):
            return pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]")
        s = column(field).replace("", None)
        parsed = pd.to_datetime(s, format=fmt or "ISO8601", errors="coerce")
        bad = (parsed.isna() & s.notna()).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LedgerError(f"{path}, row {i}, column {m[field]!r}: cannot read date {s.iloc[i]!r}"
                              f" (format {fmt or 'ISO 8601'})", field=field, extra={"row": i})
        return parsed.astype("datetime64[us]")

    def flag(field: str) -> pd.Series:
        spec = m.get(field)
        if not spec:
            return pd.Series(bool(defaults.get(field, False)), index=raw.index)
        truthy = spec.get("true", ["1", "true", "True", "yes", "Yes"]) if isinstance(spec, dict) else \
            ["1", "true", "True", "yes", "Yes"]
        return column(field).isin(truthy)

    amount = pd.to_numeric(column("amount"), errors="coerce")
    if amount.isna().any():
        i = int(np.flatnonzero(amount.isna().to_numpy())[0])
        raise LedgerError(f"{path}, row {i}, column {m['amount']!r}: not a number", field="amount",
                          extra={"row": i})
    issued, due = dates("issued_at"), dates("due_at")
    paid, written_off = dates("paid_at"), dates("written_off_at")
    paid = paid.where(written_off.isna())
    invoices = pd.DataFrame({
        "invoice_id": column("invoice_id"), "customer_id": column("customer_id"),
        "issued_at": issued, "due_at": due, "amount": amount.astype(float),
        "currency": defaults["currency"],
        "payment_terms_days": ((due - issued).dt.days.fillna(0)).astype("int64"),
        "paperless": flag("paperless"), "paid_at": paid, "written_off_at": written_off,
    })
    first = invoices.groupby("customer_id", sort=True)
    customers = pd.DataFrame({"customer_id": first["issued_at"].min().index.astype(object)})
    customers["created_at"] = first["issued_at"].min().to_numpy()
    country = column("country") if m.get("country") else pd.Series(defaults["country"], index=raw.index)
    customers["country"] = country.groupby(invoices["customer_id"]).first().loc[customers["customer_id"]].to_numpy()
    customers["paperless"] = invoices.groupby("customer_id")["paperless"].first().loc[customers["customer_id"]].to_numpy()
    for key in ("type", "sector", "size", "profile"):
        customers[key] = defaults[key]
    customers["account_manager"] = None
    customers["key_account"] = False
    for ch in CHANNELS:
        customers[f"consent_{ch}"] = bool(defaults[f"consent_{ch}"])
    customers = customers[TABLES["customers"].names]

    closed_at = paid.fillna(written_off)
    payments = invoices.loc[paid.notna(), ["invoice_id", "customer_id", "paid_at", "amount"]]
    payments.insert(0, "payment_id", "PAY-" + payments["invoice_id"].astype(str))
    disputed = flag("disputed") & closed_at.notna()
    disputes = pd.DataFrame({
        "dispute_id": "DSP-" + invoices.loc[disputed, "invoice_id"].astype(str),
        "invoice_id": invoices.loc[disputed, "invoice_id"], "customer_id": invoices.loc[disputed, "customer_id"],
        "opened_at": closed_at[disputed], "resolved_at": closed_at[disputed], "reason": "other",
    })
    reminders = pd.DataFrame({c.name: pd.Series(dtype=_EMPTY[c.kind]) for c in TABLES["reminders"].columns})
    ledger = Ledger(customers=customers, invoices=invoices, payments=payments.reset_index(drop=True),
                    disputes=disputes.reset_index(drop=True), reminders=reminders)
    return ledger.validated()


_EMPTY = {"str": object, "int": "int64", "float": "float64", "bool": bool, "datetime": "datetime64[us]",
          "category": object}
