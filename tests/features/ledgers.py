"""Small hand-written and transformed ledgers for the feature tests."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ledger.tables import CUSTOMERS, DISPUTES, ESCALATIONS, INVOICES, PAYMENTS, PROMISES, REMINDERS, Ledger


def _frame(table, rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=table.names)
    for col in table.columns:
        if col.kind == "datetime":
            frame[col.name] = pd.to_datetime(frame[col.name]).astype("datetime64[us]")
        elif col.kind in ("int", "float", "bool"):
            frame[col.name] = frame[col.name].astype({"int": "int64", "float": "float64", "bool": bool}[col.kind])
    return frame


def tiny_ledger() -> Ledger:
    """Two customers, hand-checkable: C-1 pays one invoice 5 days late, disputes another."""
    customer = {"country": "NL", "sector": "retail", "size": "small", "profile": "sme", "account_manager": None,
                "key_account": False, "paperless": True, "consent_email": True, "consent_sms": False,
                "consent_whatsapp": False, "consent_letter": True, "consent_phone": True,
                "created_at": "2023-01-01"}
    customers = _frame(CUSTOMERS, [{"customer_id": "C-1", "type": "business", **customer},
                                   {"customer_id": "C-2", "type": "consumer", **customer}])
    inv = [
        ("INV-1", "C-1", "2024-01-01", 30, 1000.0, "2024-02-05", None),
        ("INV-2", "C-1", "2024-01-15", 30, 3000.0, None, None),
        ("INV-3", "C-1", "2024-03-01", 14, 500.0, None, None),
        ("INV-4", "C-2", "2024-01-10", 14, 80.0, None, "2024-08-01"),
        ("INV-5", "C-2", "2024-09-02", 14, 120.0, None, None),
    ]
    invoices = _frame(INVOICES, [
        {"invoice_id": i, "customer_id": c, "issued_at": pd.Timestamp(t),
         "due_at": pd.Timestamp(t) + pd.Timedelta(days=d), "amount": a, "currency": "EUR",
         "payment_terms_days": d, "paperless": True, "paid_at": p, "written_off_at": w}
        for i, c, t, d, a, p, w in inv])
    payments = _frame(PAYMENTS, [
        {"payment_id": "PAY-1", "invoice_id": "INV-1", "customer_id": "C-1", "paid_at": "2024-01-20", "amount": 400.0},
        {"payment_id": "PAY-2", "invoice_id": "INV-1", "customer_id": "C-1", "paid_at": "2024-02-05", "amount": 600.0},
        {"payment_id": "PAY-3", "invoice_id": "INV-4", "customer_id": "C-2", "paid_at": "2024-02-01", "amount": 30.0},
    ])
    disputes = _frame(DISPUTES, [
        {"dispute_id": "DSP-1", "invoice_id": "INV-2", "customer_id": "C-1", "opened_at": "2024-01-20",
         "resolved_at": None, "reason": "quality"},
    ])
    return Ledger(customers=customers, invoices=invoices, payments=payments, disputes=disputes,
                  reminders=_frame(REMINDERS, []))


def shuffle_after(ledger: Ledger, cutoff: pd.Timestamp, seed: int) -> Ledger:
    """Every event time after ``cutoff`` redrawn at random after it (the future scrambled)."""
    rng = np.random.default_rng(seed)
    end = max(ledger.invoices["issued_at"].max(), ledger.payments["paid_at"].max()) + pd.Timedelta(days=30)
    span = (end - cutoff).total_seconds()

    def scramble(s: pd.Series) -> pd.Series:
        late = s > cutoff
        fresh = cutoff + pd.to_timedelta(rng.uniform(1, span, len(s)), unit="s")
        return s.where(~late, pd.Series(fresh, index=s.index).dt.floor("s")).astype("datetime64[us]")

    inv = ledger.invoices.copy()
    for col in ("issued_at", "paid_at", "written_off_at"):
        inv[col] = scramble(inv[col])
    inv["due_at"] = inv["issued_at"] + pd.to_timedelta(inv["payment_terms_days"], unit="D")
    pay = ledger.payments.copy()
    pay["paid_at"] = scramble(pay["paid_at"])
    dis = ledger.disputes.copy()
    for col in ("opened_at", "resolved_at"):
        dis[col] = scramble(dis[col])
    return Ledger(customers=ledger.customers, invoices=inv, payments=pay, disputes=dis, reminders=ledger.reminders)


def with_collections(ledger: Ledger, seed: int, share: float = 0.08) -> Ledger:
    """``ledger`` with promises to pay and escalations on a random ``share`` of its invoices.

    Promises are made 1-20 days after the due date for 20-120 % of the amount, for the same
    day up to 10 days later; escalations come 25-60 days after the due date. Some land on
    invoices already paid by then (the fold refuses those), some are kept, some broken.
    """
    rng = np.random.default_rng(seed)
    inv = ledger.invoices
    picked = inv.iloc[np.flatnonzero(rng.random(len(inv)) < share)]
    made = picked["due_at"] + pd.to_timedelta(rng.uniform(1, 20, len(picked)), unit="D").floor("s")
    promises = _frame(PROMISES, [
        {"promise_id": f"PRM-{i}", "invoice_id": r.invoice_id, "customer_id": r.customer_id, "made_at": m,
         "promised_for": m.floor("D") + pd.Timedelta(days=int(d)), "amount": round(r.amount * f, 2)}
        for i, (r, m, d, f) in enumerate(zip(picked.itertuples(), made, rng.integers(0, 11, len(picked)),
                                             rng.uniform(0.2, 1.2, len(picked))))])
    escalated = inv.iloc[np.flatnonzero(rng.random(len(inv)) < share)]
    escalations = _frame(ESCALATIONS, [
        {"escalation_id": f"ESC-{i}", "invoice_id": r.invoice_id, "customer_id": r.customer_id,
         "escalated_at": (r.due_at + pd.Timedelta(days=float(d))).floor("s")}
        for i, (r, d) in enumerate(zip(escalated.itertuples(), rng.uniform(25, 60, len(escalated))))])
    return Ledger(customers=ledger.customers, invoices=inv, payments=ledger.payments, disputes=ledger.disputes,
                  reminders=ledger.reminders, traits=ledger.traits,
                  promises=promises, escalations=escalations)
