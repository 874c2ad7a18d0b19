"""Request bodies and helpers the API tests share (fixtures are in ``tests/serving/conftest.py``)."""
from __future__ import annotations

import shutil
from pathlib import Path

from serving import create_app

CHECKOUT = {"request_id": "ord-1", "customer": {"id": "C-1", "type": "business", "country": "NL"},
            "order": {"amount": 1250.0, "currency": "EUR", "payment_terms_days": 30}}
NEXT_ACTION = {"request_id": "na-1", "now": "2026-11-23T10:00:00+01:00",
               "customer": {"id": "C-1", "type": "consumer", "country": "NL",
                            "consent": {"email": True, "sms": True, "whatsapp": False, "letter": True,
                                        "phone": True}},
               "invoice": {"id": "INV-1", "amount": 300.0, "currency": "EUR", "issue_date": "2026-10-01",
                           "due_date": "2026-10-31", "disputed": False, "reminders": []}}


def make_app(champion: dict[str, str], tmp_path: Path, history: Path | None = None, **overrides):  # noqa: ANN201
    """An app on the champion, with its own audit log and ledger (a copy of ``history``'s, when given)."""
    if history is not None:
        shutil.copy(history, tmp_path / "ledger.db")
    config = {"AUDIT_URL": f"sqlite:///{tmp_path}/audit.db", "LEDGER_URL": f"sqlite:///{tmp_path}/ledger.db",
              "REDIS_URL": None,
              "MLFLOW_TRACKING_URI": champion["tracking"], "MODEL_URI": champion["uri"],
              "POLICY_PATH": "rules/default.yaml", "RELOAD_INTERVAL_S": 0, **overrides}
    return create_app(config)


def known_customer(small_ledger) -> dict[str, str]:
    row = small_ledger.customers.iloc[3]
    return {"id": row.customer_id, "type": row.type, "country": row.country}


def schema_of(name: str) -> dict:
    from serving.openapi import document

    doc = document()
    return {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
