"""Work for people: the task a dunning decision opens, its owner, due date and priority.

Why: a collector's day is a worklist, and the order of that list is money: the
task most likely to turn into a loss comes first. The priority is the amount at
risk times the model's P(> 30 days late), stated with its reason so a collector
sees why a task is on top. The owner follows the policy's ``worklists``: the
account manager of a key account, the department of a dispute's type, the
collection agency an escalation hands over to, the credit desk for a review,
otherwise the collector queue of the customer's risk segment. Due dates are
business days of the customer's country (a collector does not call on Easter
Monday). Pure: the calendar comes through the ``Calendar`` port.

Example::

    task = task_for(outcome, request, scores, policy, calendar)
    task.type, task.owner, task.due, task.priority
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from domain.construct import built
from domain.contract import NextActionRequest, Task
from engine.calendar import Calendar, next_business_day
from engine.rules import CreditPolicy, DunningOutcome

#: Action -> task type, for decisions that leave the work to a person.
ACTION_TASKS = {"call": "call", "escalate": "escalation", "review": "review"}


def task_type(outcome: DunningOutcome, disputed: bool) -> str | None:
    """The kind of task a decision opens (None: the message goes out by itself)."""
    if disputed and outcome.task is not None:
        return "dispute"
    if outcome.action in ACTION_TASKS:
        return ACTION_TASKS[outcome.action]
    return "review" if outcome.task is not None else None


def priority(amount_at_risk: float, p_late_30: float) -> tuple[float, str]:
    """Amount at risk x P(> 30 days late), and the sentence that says so."""
    value = round(amount_at_risk * p_late_30, 2)
    return value, (f"EUR {amount_at_risk:,.2f} at risk x P(>30 days late) {p_late_30:.1%} = {value:,.2f}")


def task_for(outcome: DunningOutcome, request: NextActionRequest, scores: Mapping[str, float],
             policy: CreditPolicy, calendar: Calendar | None) -> Task | None:
    """The task of a next-action decision, or None when no person has to act."""
    invoice, customer = request.invoice, request.customer
    kind = task_type(outcome, invoice.disputed)
    if kind is None:
        return None
    if kind == "dispute":
        route = policy.disputes.route(invoice.dispute_type)
        owner = route.department
        opened = invoice.dispute_opened or request.now.date()
        due = opened + timedelta(days=route.sla_days)
    else:
        owner = _owner(kind, outcome, customer.key_account, customer.account_manager, policy)
        when = outcome.earliest_send_at or request.now
        due = outcome.send_window.local_date(when)
    due = next_business_day(calendar, customer.country, max(due, outcome.send_window.local_date(request.now)))
    p30 = float(scores["p_late_30"])
    value, why = priority(invoice.amount, p30)
    name = outcome.task or kind
    return built(Task, id=None, type=kind, name=name, owner=owner, due=due, priority=value,
                       amount_at_risk=round(invoice.amount, 2), p_late_30=round(p30, 6),
                       reason=f"{why}; {_purpose(kind, name, outcome)}")


def _owner(kind: str, outcome: DunningOutcome, key_account: bool, account_manager: str | None,
           policy: CreditPolicy) -> str:
    if key_account and account_manager and policy.dunning.key_account_assignee:
        return account_manager
    if kind == "escalation":
        return outcome.assignee
    if kind == "review":
        return policy.dunning.worklists.review
    return policy.dunning.worklists.queue(outcome.segment)


def _purpose(kind: str, name: str, outcome: DunningOutcome) -> str:
    step = f" (step {outcome.step})" if outcome.step != "none" else ""
    return {"call": f"call the customer{step}", "escalation": f"hand the invoice over to {outcome.assignee}",
            "dispute": f"solve the dispute ({name})", "review": f"decide by hand ({name}){step}"}.get(kind, name)


