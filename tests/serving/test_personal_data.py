"""Personal data (issue 15, item 2): the audit record is the auditor's, names and profiles never reach a log,
and the retention redacts old payloads without breaking the chain or a later request.

F6: ``GET /v1/decisions/{id}`` gave anyone the full record with the account manager's name and the
customer's profile.
"""
from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.support.api import CHECKOUT, NEXT_ACTION, Clients

MANAGER = "Marijke van Oosterhout-Brandsma"
PROFILE = "60_plus"


def _key_account(request_id: str) -> dict:
    """A next-action for a key account: the policy names its account manager in a reason."""
    body = copy.deepcopy(NEXT_ACTION)
    body["request_id"] = request_id
    body["customer"].update(id=f"C-{request_id}", type="business", key_account=True, account_manager=MANAGER,
                            profile=PROFILE)
    body["invoice"].update(id=f"INV-{request_id}", due_date="2026-10-10")
    return body


def test_only_the_auditor_reads_the_record_with_names_and_profile(app) -> None:  # noqa: ANN001
    api = Clients(app)
    decision = api.dunning.post("/v1/decisions/next-action", json=_key_account("pd-1"))
    assert decision.status_code == 200, decision.get_data(as_text=True)
    path = f"/v1/decisions/{decision.get_json()['decision_id']}"
    for caller in (api.anonymous, api.checkout, api.dunning, api.analyst, api.admin):
        r = caller.get(path)
        assert r.status_code in (401, 403) and MANAGER not in r.get_data(as_text=True)
        assert caller.get("/v1/decisions?customer_id=C-pd-1").status_code in (401, 403)
    record = api.auditor.get(path).get_json()
    assert record["request"]["customer"]["account_manager"] == MANAGER  # kept, for the auditor
    assert record["request"]["customer"]["profile"] == PROFILE


def test_names_and_profiles_never_reach_a_log_line(app, caplog, capsys, monkeypatch) -> None:  # noqa: ANN001
    """Every request path, a refused event and a failing ledger write (its SQL error is logged): no name."""
    api = Clients(app)
    runtime = app.extensions["kredo.runtime"]
    with caplog.at_level(logging.DEBUG):
        ok = api.dunning.post("/v1/decisions/next-action", json=_key_account("pd-2"))
        assert MANAGER in str(ok.get_json()["reasons"])  # the answer names the owner, as it should
        api.checkout.post("/v1/decisions/checkout", json={**CHECKOUT, "request_id": "pd-co",
                                                          "customer": {**CHECKOUT["customer"], "profile": PROFILE}})
        api.dunning.post("/v1/events", json={"events": [
            {"event_id": "pd-e1", "type": "customer_updated", "customer_id": "C-pd-e", "customer_type": "business",
             "country": "NL", "account_manager": MANAGER, "profile": "sme", "key_account": True},
            {"event_id": "pd-e2", "type": "payment_received", "customer_id": "C-pd-e", "invoice_id": "nope",
             "at": "2026-01-01T00:00:00", "amount": 5.0}]})
        api.dunning.get("/v1/customers/C-pd-e")
        with runtime.book.engine.begin() as conn:  # the ledger refuses the decision's index row
            conn.execute(sa.text("CREATE TRIGGER refuse_decisions BEFORE INSERT ON decisions "
                                 "BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END"))
        try:
            failed = api.dunning.post("/v1/decisions/next-action", json=_key_account("pd-3"))
        finally:
            with runtime.book.engine.begin() as conn:
                conn.execute(sa.text("DROP TRIGGER refuse_decisions"))
    assert failed.status_code == 200  # the decision is taken and recorded; only its index row is missing, logged
    logged = [r for r in caplog.records if failed.get_json()["decision_id"] in r.getMessage()]
    assert logged and "disk quota exceeded" in caplog.text  # the error itself is there for support
    out = capsys.readouterr()
    for text in (caplog.text, out.out, out.err):
        assert MANAGER not in text and PROFILE not in text


def test_retention_redacts_old_records_and_the_service_stays_consistent(app) -> None:  # noqa: ANN001
    """After ``redact``: the record shows only its hashes, the chain verifies, its request_id is a 409
    and a reminder that names it is refused; newer records are whole."""
    api = Clients(app)
    runtime = app.extensions["kredo.runtime"]
    body = _key_account("pd-old")
    old = api.dunning.post("/v1/decisions/next-action", json=body).get_json()
    report = runtime.audit.redact(datetime.now(UTC) + timedelta(seconds=1))
    assert report.redacted >= 1
    new = api.dunning.post("/v1/decisions/next-action", json=_key_account("pd-new")).get_json()
    record = api.auditor.get(f"/v1/decisions/{old['decision_id']}").get_json()
    assert record["redacted_at"] and record["payload_digest"] and "request" not in record
    assert MANAGER not in str(record)
    assert api.auditor.get(f"/v1/decisions/{new['decision_id']}").get_json()["request"]["customer"]["profile"]
    assert runtime.audit.verify().ok
    replay = api.dunning.post("/v1/decisions/next-action", json=body)
    assert replay.status_code == 409 and replay.get_json()["field"] == "request_id"
    reminder = {"event_id": "pd-rem", "type": "reminder_sent", "customer_id": body["customer"]["id"],
                "invoice_id": body["invoice"]["id"], "at": "2026-11-23T10:00:00",
                "decision_id": old["decision_id"]}
    verdict = api.dunning.post("/v1/events", json={"events": [reminder]}).get_json()["results"][0]
    assert (verdict["status"], verdict["code"], verdict["field"]) == ("refused", "decision_redacted", "decision_id")
