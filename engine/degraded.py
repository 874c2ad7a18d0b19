"""A checkout decided by the credit policy's rules alone, when the customer's history cannot be read.

Why: Kredo sits in a webshop's checkout; while the online feature store is down
an operator may prefer a conservative answer to a 503 (``DEGRADED_MODE=rules_only``).
Conservative here means two things. The model is not consulted: its inputs (the
customer's history) are unknown, and a score of made-up features would look
like knowledge in the audit record. And every customer is treated as one we do
not know yet, so the policy's own rules for new customers bound the credit
(the caps the analysts set for exactly that case) against what the ledger, the
system of record and still readable, says is open, overdue and disputed. The
rules are told zero for what cannot be known (the model's scores, the share
paid late, days late, monthly purchases): none of it can lift the credit above
a new customer's, while the ledger's open exposure, overdue amount and open
disputes still count against it.

The answer and the audit record say so (``degraded``: the mode, why, what was
unknown, what the rules were told instead, the ledger's figures), and the first
reason tells a person. Same facts builder as every other checkout
(``engine.decisions.checkout_facts``): pure logic, the ledger's figures are
handed in.

Example::

    decide_checkout_rules_only(request, now, rules=served.rules,
                               standing=LedgerStanding(293.27, 293.27, 3), reason="store_unavailable")
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from domain.contract import CheckoutRequest, Degraded, Reason
from engine.decisions import Clock, Decision, DecisionRecord, checkout_answer, checkout_facts
from engine.ports import Rules

MODE = "rules_only"
UNKNOWN = ("the customer's payment history (online features)", "the model's scores")
#: What the rules are told in place of what cannot be read (see the module docstring).
ASSUMED_HISTORY = {"invoices_issued": 0.0, "invoices_paid": 0.0, "avg_monthly_purchases": 0.0, "share_paid_late": 0.0,
                   "mean_days_late": 0.0}
ASSUMED_SCORES = {"p_late": 0.0, "p_late_30": 0.0, "expected_days_late": 0.0}


@dataclass(frozen=True)
class LedgerStanding:
    """What the ledger knows of the customer at the decision time: open and overdue EUR, open disputes."""

    open_exposure: float
    overdue_amount: float
    open_disputes: int


def decide_checkout_rules_only(request: CheckoutRequest, now: datetime, *, rules: Rules, standing: LedgerStanding,
                               reason: str) -> Decision:
    """The policy's checkout for a customer whose history is unknown (``reason``: why, e.g. an error code)."""
    clock = Clock()
    customer, order = request.customer, request.order
    feats = {**ASSUMED_HISTORY, "open_exposure": standing.open_exposure, "overdue_amount": standing.overdue_amount,
             "open_disputes": standing.open_disputes}
    out = rules.evaluate_checkout(checkout_facts(customer, order.amount, order.payment_terms_days, feats,
                                                 ASSUMED_SCORES))
    clock.lap("rules_ms")
    degraded = Degraded.model_construct(mode=MODE, reason=reason, unknown=list(UNKNOWN),
                                        assumed={"is_new_customer": True, **ASSUMED_HISTORY, **ASSUMED_SCORES})
    note = Reason.model_construct(
        code=f"degraded.{MODE}", source="rule", contribution=None,
        text="Payment history unavailable: decided by the credit policy alone, as for a customer we do not know "
             f"yet, against the ledger's open EUR {standing.open_exposure:,.2f}")
    reasons = [note, *(Reason.model_construct(code=r.code, text=r.text, source="rule", contribution=None)
                       for r in out.reasons)]
    record = DecisionRecord(features=None, scores={}, model=None, policy_version=str(out.policy_version),
                            policy_hash=out.policy_hash, rules_fired=list(out.rules_fired), explanation=None,
                            timings=clock.ms, degraded={**degraded.model_dump(), "ledger": asdict(standing)})
    return Decision("checkout", out.outcome, checkout_answer(out, None, reasons, degraded), record)
