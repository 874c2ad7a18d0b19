"""A customer's decisions of a day as messages: one reminder listing its invoices, a 14-day letter stays a letter,
and decisions that send nothing (a call, a pause) are in no message."""
from __future__ import annotations

from datetime import UTC, datetime

from engine.consolidation import Decided, consolidate

AT = datetime(2026, 11, 2, 9, tzinfo=UTC)


def decided(invoice: str, action: str = "remind", channel: str | None = "email", days: int = 5,
            customer: str = "C-1", **extra) -> Decided:
    values = {"invoice_id": invoice, "customer_id": customer, "decision_id": f"dec-{invoice}",
              "request_id": f"run:{invoice}", "action": action, "step": f"step-{action}", "segment": "low",
              "channel": channel, "send_at": AT if channel else None, "tone": "friendly", "assignee": "collections",
              "task": None, "amount": 100.0, "collection_costs": None, "days_past_due": days,
              "reasons": ("because",), **extra}
    return Decided(**values)


def test_five_reminders_of_one_customer_are_one_message_led_by_the_oldest() -> None:
    bundles = consolidate([decided(f"I-{n}", days=n, channel="sms" if n == 2 else "email") for n in range(1, 6)])
    (bundle,) = bundles
    assert bundle.lead.invoice_id == "I-5" and [d.invoice_id for d in bundle.riders] == ["I-4", "I-3", "I-2", "I-1"]
    assert (bundle.channel, bundle.kind) == ("email", "reminder")


def test_a_final_notice_leads_and_stays_a_letter() -> None:
    bundles = consolidate([decided("R-1", days=40), decided("F-1", "final_notice", "letter", days=30),
                              decided("P-1", "payment_plan", "email", days=31), decided("F-2", "final_notice", "email")])
    assert [(b.kind, b.channel, b.lead.invoice_id, [r.invoice_id for r in b.riders]) for b in bundles] == [
        ("final_notice", "letter", "F-1", ["R-1"]), ("final_notice", "email", "F-2", ["P-1"])]


def test_customers_are_never_mixed_and_decisions_without_a_message_are_left_out() -> None:
    bundles = consolidate([decided("A-1", customer="A"), decided("B-1", customer="B"), decided("A-2", "wait", None,
                                                                                                customer="A")])
    assert [(b.customer_id, [d.invoice_id for d in b.decided]) for b in bundles] == [("A", ["A-1"]), ("B", ["B-1"])]


def test_calls_pauses_and_escalations_send_nothing() -> None:
    bundles = consolidate([decided("C-1", "call", "phone", days=22, assignee="Anna"), decided("R-1", days=3),
                           decided("E-1", "escalate", "letter", days=50, assignee="collection_agency"),
                           decided("D-1", "pause", None)])
    assert [(b.kind, b.lead.invoice_id, b.riders) for b in bundles] == [("reminder", "R-1", ())]
