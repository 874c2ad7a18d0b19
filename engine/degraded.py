"""A checkout decided by the credit policy's rules alone, when the online store cannot be read.

Why: Kredo sits in a webshop's checkout; while the online feature store is down
an operator may prefer a conservative answer to a 503 (``DEGRADED_MODE=rules_only``).
The ledger, the system of record, is still readable, so the customer's history
is folded from it (the same fold and transform as the online store: the caller
hands the features in). Conservative here means: every fact that can only make
the decision stricter comes from the ledger (open and overdue amounts, the
oldest overdue invoice, disputes, broken promises, escalations, the share paid
late), while what would *earn* credit is replaced by a new customer's (no
invoices, no monthly purchases: the policy's new-customer caps, the limits the
analysts set for a customer we know nothing about). The model is not consulted:
a degraded mode is for when parts are down, and its scores are told to the rules
as zero, so only the ledger's facts can raise the risk segment.

The answer and the audit record say so (``degraded``: the mode, why, what was
unknown, what the rules were told instead, the ledger's figures), and the first
reason tells a person. Same facts builder as every other checkout
(``engine.decisions.checkout_facts``): pure logic.

Example::

    decide_checkout_rules_only(request, now, rules=served.rules, ledger_features=feats, reason="store_unavailable")
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from domain.contract import CheckoutRequest, Degraded, Reason
from engine.decisions import Clock, Decision, DecisionRecord, checkout_answer, checkout_facts
from engine.ports import Rules

MODE = "rules_only"
UNKNOWN = ("the online store (the ledger's fold was used)", "the model's scores")
#: What would earn credit, replaced by a new customer's (see the module docstring).
ASSUMED_HISTORY = {"invoices_issued": 0.0, "invoices_paid": 0.0, "avg_monthly_purchases": 0.0}
ASSUMED_SCORES = {"p_late": 0.0, "p_late_30": 0.0, "expected_days_late": 0.0}
#: The ledger's facts the rules read as they are (recorded in the audit record).
FROM_LEDGER = ("open_exposure", "overdue_amount", "max_days_overdue", "overdue_share", "disputed_share",
               "open_disputes", "broken_promises", "open_escalations", "share_paid_late", "mean_days_late")


def decide_checkout_rules_only(request: CheckoutRequest, now: datetime, *, rules: Rules,
                               ledger_features: Mapping[str, float], reason: str) -> Decision:
    """The policy's checkout without the model, on the ledger's history made conservative (``reason``: why)."""
    clock = Clock()
    customer, order = request.customer, request.order
    feats = {**ledger_features, **ASSUMED_HISTORY}
    out = rules.evaluate_checkout(checkout_facts(customer, order.amount, order.payment_terms_days, feats,
                                                 ASSUMED_SCORES))
    clock.lap("rules_ms")
    degraded = Degraded.model_construct(mode=MODE, reason=reason, unknown=list(UNKNOWN),
                                        assumed={"is_new_customer": True, **ASSUMED_HISTORY, **ASSUMED_SCORES})
    note = Reason.model_construct(
        code=f"degraded.{MODE}", source="rule", contribution=None,
        text="Online store unavailable: decided by the credit policy alone, with the credit of a customer we do "
             f"not know yet, against the ledger's open EUR {ledger_features['open_exposure']:,.2f}")
    reasons = [note, *(Reason.model_construct(code=r.code, text=r.text, source="rule", contribution=None)
                       for r in out.reasons)]
    ledger = {name: float(ledger_features[name]) for name in FROM_LEDGER}
    record = DecisionRecord(features=None, scores={}, model=None, policy_version=str(out.policy_version),
                            policy_hash=out.policy_hash, rules_fired=list(out.rules_fired), explanation=None,
                            timings=clock.ms, degraded={**degraded.model_dump(), "ledger": ledger})
    return Decision("checkout", out.outcome, checkout_answer(out, None, reasons, degraded), record)
