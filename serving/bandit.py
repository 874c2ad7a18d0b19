"""The dunning experiment the service runs, and the reward bookkeeping behind it.

Why: every worker must choose from, and learn into, the same statistics, so
the bandit state lives where the feature store lives: Redis when ``REDIS_URL``
is set (``features.online.bandit_redis``), in-process otherwise. A fixed
control group (``CONTROL_SHARE`` of invoices, default 10 %) keeps the static
preference order so the bandit's uplift is measured, not assumed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.errors import StoreUnavailable
from engine.bandits import Attribution, Choice, Experiment, InProcessState, FixedPreference, ThompsonSampling
from engine.decisions import BanditFeedback
from ledger.book import Verdict
from serving.audit import AuditLog


@dataclass(frozen=True)
class Bandit:
    experiment: Experiment
    attribution: Attribution


def build(config: dict[str, Any]) -> Bandit:
    """Thompson sampling per (segment, profile) against the static order, on the configured state."""
    if config.get("REDIS_URL"):
        from features.online.bandit_redis import RedisBanditState
        from features.online.redis import client_for

        state: Any = RedisBanditState(client_for(config["REDIS_URL"], config["REDIS_TIMEOUT_S"]))
    else:
        state = InProcessState()
    policy, control = ThompsonSampling(state=state), FixedPreference()
    experiment = Experiment(name=config["EXPERIMENT_NAME"], policy=policy, control_policy=control,
                            control_share=float(config["CONTROL_SHARE"]))
    return Bandit(experiment, Attribution(state=state, policies={policy.name: policy, control.name: control}))


def pay(attribution: Attribution, audit: AuditLog, verdict: Verdict, invoice_status: dict[str, str],
        waiting: set[str] | None) -> int:
    """Feed one booked event to the reward bookkeeping; returns the number of rewards settled.

    ``waiting`` holds the invoices with a pending reminder (asked once per batch; a reminder
    recorded in this batch joins it), so a payment that no reminder waits for costs nothing;
    None when the bandit state could not be asked (``StoreUnavailable`` for a settling payment).

    Times are the event's own (business time, as epoch seconds), so a replayed
    history settles rewards exactly as it did live.
    """
    event, raw = verdict.event, verdict.raw or {}
    assert event is not None
    at = event.at_us / 1e6
    if event.type == "reminder_sent" and raw.get("decision_id"):
        feedback = BanditFeedback.from_record(audit.get(str(raw["decision_id"])).payload)
        if feedback is None:
            return 0
        choice = Choice(feedback.arm, feedback.propensity, feedback.policy, feedback.experiment, feedback.group)
        settled = attribution.record_reminder(event.event_id, feedback.invoice_id, at, feedback.context, choice,
                                              decided_at=feedback.decided_at)
        if waiting is not None:
            waiting.add(feedback.invoice_id)
        return len(settled)
    if event.type == "payment_received" and waiting is None and invoice_status.get(event.invoice_id) == "paid":
        raise StoreUnavailable("the bandit state cannot be reached")
    if event.type == "payment_received" and waiting is not None and event.invoice_id in waiting:
        settled = attribution.payment_received(event.event_id, event.invoice_id, at,
                                               invoice_settled=invoice_status.get(event.invoice_id) == "paid")
        return int(settled is not None)
    return 0
