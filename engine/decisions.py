"""One decision, end to end: features -> model scores + SHAP -> rules -> bandit -> ``Decision``.

Why: the decision is the product; it must read the same in the API, in the
backtest and in a notebook. This module is pure orchestration over the ports
of ``engine.ports`` (online store, model, rule engine, experiment; no Flask,
no I/O of its own). It takes the validated requests of ``domain.contract`` and
returns one immutable value holding the typed answer and the typed audit
record (inputs, feature vector, model identity, SHAP values, rules fired,
bandit arm and propensity, timings).

The facts the rules read are built in one place (:func:`checkout_facts`,
:func:`dunning_facts`); the backtest replays history through the same
functions with the offline feature table and batch scores.

Randomness (the bandit's Thompson draw) comes from a generator seeded by the
``request_id``, so recomputing a decision gives the same arm.

Example::

    decision = decide_checkout(request, now, store=store, served=served)
    decision.outcome, decision.answer.available_credit, decision.record.explanation.points
"""
from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from domain.construct import built
from domain.contract import (Bandit, BanditArm, CheckoutAnswer, CheckoutRequest, Customer, Degraded,
                             DunningCustomer, Invoice, NextActionAnswer, NextActionRequest, Reason, Risk)
from domain.errors import InvalidInput, ModelFault
from engine.bandits import Arm, Choice, Context, arms_for_channels
from engine.calendar import Calendar
from engine.ports import Explanation, FeatureStore, ModelInfo, Rules, Served
from engine.reasons import top_order, top_reasons
from engine.rules import CheckoutOutcome, DunningOutcome, SendWindow
from engine.tasks import task_for
from features.definitions import FEATURE_NAMES
from features.transform import InvoiceRequest, vector

TOP_MODEL_REASONS = 3
BANDIT_ACTIONS = ("remind",)  # the actions whose channel and send time the experiment chooses


@dataclass(frozen=True)
class BanditFeedback:
    """What paying the bandit for a reminder needs, kept in the decision's audit record.

    ``POST /v1/events`` reads it back when a ``reminder_sent`` names the decision
    it carried out: which invoice, which arm, with what propensity, chosen by
    whom, in which context.
    """

    invoice_id: str
    arm: Arm
    propensity: float
    policy: str
    experiment: str | None
    group: str | None
    context: Context
    decided_at: float | None = None
    """Epoch seconds of the decision: the reward's 7-day window opens here, not at the send time."""

    def to_dict(self) -> dict[str, Any]:
        return {"invoice_id": self.invoice_id,
                "arm": {"channel": self.arm.channel, "slot": self.arm.slot, "day_type": self.arm.day_type},
                "propensity": self.propensity, "policy": self.policy, "experiment": self.experiment,
                "group": self.group, "context": self.context.to_dict(), "decided_at": self.decided_at}

    @classmethod
    def from_record(cls, payload: Mapping[str, Any]) -> BanditFeedback | None:
        """The feedback of a stored record, or None when the decision chose no arm (or is no next-action)."""
        data = payload.get("bandit") or {}
        if data.get("arm") is None:
            return None
        return cls(invoice_id=str(data["invoice_id"]), arm=Arm(**data["arm"]), propensity=float(data["propensity"]),
                   policy=str(data["policy"]), experiment=data["experiment"], group=data["group"],
                   context=Context.from_dict(data["context"]), decided_at=data.get("decided_at"))


#: The bandit section of a next-action record that chose no arm.
NO_BANDIT: dict[str, Any] = {"invoice_id": None, "arm": None, "propensity": None, "policy": None,
                             "experiment": None, "group": None, "context": None, "decided_at": None}


@dataclass(frozen=True)
class DecisionRecord:
    """Everything an auditor needs beside the request and the answer (``serving`` adds those two).

    A decision taken without the customer's history (``engine.degraded``) has no feature vector, model,
    scores or explanation; its ``degraded`` section says why and what the rules were told instead.
    """

    features: np.ndarray | None
    scores: dict[str, float]
    model: ModelInfo | None
    policy_version: str
    policy_hash: str
    rules_fired: list[str]
    explanation: Explanation | None  # exact SHAP of P(late), stated in the answer's terms
    timings: dict[str, float]
    bandit: BanditFeedback | None = None
    next_action: bool = False
    degraded: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as stored in the audit log (stable field names: auditors' tools read them)."""
        model = self.model
        out: dict[str, Any] = {
            "features": None if self.features is None else dict(zip(FEATURE_NAMES, self.features.tolist())),
            "scores": self.scores,
            "model": None if model is None else {"name": model.name, "version": str(model.version),
                                                 "alias": model.alias, "run_id": model.run_id},
            "policy": {"version": self.policy_version, "hash": self.policy_hash},
            "rules_fired": self.rules_fired,
            "shap": None if self.explanation is None else self.explanation.to_record(FEATURE_NAMES),
            "timings": self.timings,
        }
        if self.next_action:
            out["bandit"] = NO_BANDIT if self.bandit is None else self.bandit.to_dict()
        if self.degraded is not None:
            out["degraded"] = dict(self.degraded)
        return out


@dataclass(frozen=True)
class Decision:
    """The typed answer and the audit record of one decision."""

    kind: str
    outcome: str
    answer: CheckoutAnswer | NextActionAnswer
    record: DecisionRecord


def rng_for(request_id: str) -> np.random.Generator:
    """A generator seeded by the request id: the same request draws the same arm."""
    return np.random.default_rng(int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big"))


class Clock:
    """Milliseconds per stage, for the audit record's timings: wall time (``features_ms``) and
    this thread's CPU time (``features_cpu_ms``); on a shared machine the wall time moves with
    the neighbours' load, the CPU time does not."""

    def __init__(self) -> None:
        self.t, self.cpu = time.perf_counter(), time.thread_time()
        self.ms: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.ms[name] = round((now - self.t) * 1e3, 4)
        self.ms[f"{name[:-3]}_cpu_ms"] = round((cpu - self.cpu) * 1e3, 4)
        self.t, self.cpu = now, cpu


@dataclass(frozen=True)
class _Scored:
    features: dict[str, float]
    x: np.ndarray
    scores: dict[str, float]
    explanation: Explanation
    order: list[int] | None = None  # ``top_order`` of the SHAP points, where a batch sorted its rows at once


def _score(served: Served, store: FeatureStore, customer_id: str, request: InvoiceRequest, now: datetime,
           clock: Clock) -> _Scored:
    feats = store.customer_features(customer_id, request, now)
    x = vector(feats)
    clock.lap("features_ms")
    scores = model_scores(served, x)
    clock.lap("model_ms")
    try:
        explanation = served.model.explain_probability_one(x)
    except Exception as exc:  # noqa: BLE001 - the port's boundary: see model_scores
        raise _fault(served.model_info, f"explaining raised {type(exc).__name__}") from exc
    clock.lap("shap_ms")
    return _Scored(feats, x, scores, explanation)


def model_scores(served: Served, x: np.ndarray) -> dict[str, float]:
    """The served model's scores of one feature vector, or ``ModelFault``.

    Why here: whatever the model does wrong (raises, or answers NaN or infinity) is
    the server's fault, not the caller's; without this a NaN reached the rules'
    fact check and the caller got a 422 "p_late must be a finite number" for a
    well-formed request (issue 15, F5). A model that does this on its probe rows
    is refused at load (``training.probe``); this guards every other row.
    """
    try:
        scores = served.model.predict_one(x)
    except Exception as exc:  # noqa: BLE001 - the port's boundary: any failure of the model is a fault
        raise _fault(served.model_info, f"scoring raised {type(exc).__name__}") from exc
    if not all(math.isfinite(v) for v in scores.values()):
        raise _fault(served.model_info, "a score is not a finite number")
    return scores


def _fault(info: ModelInfo, what: str) -> ModelFault:
    return ModelFault(f"model {info.name} version {info.version}: {what}", field="model")


def _risk(scores: Mapping[str, float], info: ModelInfo) -> Risk:
    return built(Risk, p_late=round(float(scores["p_late"]), 6),
                       p_late_30=round(float(scores["p_late_30"]), 6),
                       expected_days_late=round(float(scores["expected_days_late"]), 3),
                       model=info.name, version=str(info.version), alias=info.alias)


def _reasons(rule_reasons: Any, scored: _Scored) -> list[Reason]:
    rules = [built(Reason, code=r.code, text=r.text, source="rule", contribution=None)
             for r in rule_reasons]
    model = [built(Reason, code=r.code, text=r.text, source="model", contribution=round(r.contribution, 4),
                           log_odds=None if r.log_odds is None else round(r.log_odds, 4))
             for r in top_reasons(FEATURE_NAMES, scored.features, scored.explanation.points, TOP_MODEL_REASONS,
                                  log_odds=scored.explanation.log_odds, order=scored.order)]
    return rules + model


def _record(scored: _Scored, served: Served, outcome: CheckoutOutcome | DunningOutcome, timings: dict[str, float],
            bandit: BanditFeedback | None = None, next_action: bool = False) -> DecisionRecord:
    return DecisionRecord(
        features=scored.x, scores={k: float(v) for k, v in scored.scores.items()}, model=served.model_info,
        policy_version=str(outcome.policy_version), policy_hash=outcome.policy_hash,
        rules_fired=list(outcome.rules_fired), explanation=scored.explanation, timings=timings,
        bandit=bandit, next_action=next_action)


def risk_facts(customer: Customer, feats: Mapping[str, float], scores: Mapping[str, float]) -> dict[str, Any]:
    """Who the customer is, its history, what the ledger knows of its non-payment now (the oldest
    overdue invoice, overdue and disputed shares, broken promises, an open escalation) and the
    model's scores: what ``risk_segments`` and the checkout read."""
    return {
        "customer_type": customer.type, "country": customer.country, "profile": customer.profile or "",
        "customer_size": customer.size or "", "key_account": customer.key_account,
        "is_new_customer": feats["invoices_issued"] == 0, "open_exposure": feats["open_exposure"],
        "overdue_amount": feats["overdue_amount"], "avg_monthly_purchases": feats["avg_monthly_purchases"],
        "invoices_paid": int(feats["invoices_paid"]), "share_paid_late": feats["share_paid_late"],
        "mean_days_late": feats["mean_days_late"], "open_disputes": int(feats["open_disputes"]),
        "max_days_overdue": feats["max_days_overdue"], "overdue_share": feats["overdue_share"],
        "disputed_share": feats["disputed_share"], "broken_promises": int(feats["broken_promises"]),
        "in_escalation": feats["open_escalations"] > 0, "p_late": float(scores["p_late"]),
        "p_late_30": float(scores["p_late_30"]),
        "expected_days_late": float(scores["expected_days_late"]),
    }


def checkout_facts(customer: Customer, order_amount: float, payment_terms_days: int, feats: Mapping[str, float],
                   scores: Mapping[str, float]) -> dict[str, Any]:
    """The facts the checkout rules read: the one builder of the API, the batch path and the backtest."""
    return {**risk_facts(customer, feats, scores), "customer_id": customer.id, "blocked": customer.blocked,
            "order_amount": order_amount, "payment_terms_days": payment_terms_days}


def dunning_facts(customer: DunningCustomer, invoice: Invoice, now: datetime, feats: Mapping[str, float],
                  scores: Mapping[str, float], timezone: str) -> dict[str, Any]:
    """The facts the dunning rules read: the customer's risk facts and the invoice's reminders, disputes,
    promise to pay and payment plan.

    Days past due count in the customer's local date (``timezone``: its country's, from the
    policy), so the same instant gives the same answer whatever UTC offset ``now`` is written in.
    """
    today = now.astimezone(ZoneInfo(timezone)).date()
    reminders = sorted(invoice.reminders, key=lambda r: r.sent_at)
    finals = [r for r in reminders if r.final_notice]
    opened: date | None = invoice.dispute_opened if invoice.disputed else None
    promise, plan = invoice.promise, invoice.payment_plan
    broken = promise is not None and promise.status == "broken"
    missed = plan is not None and plan.status == "missed"
    return {
        **risk_facts(customer, feats, scores),
        "account_manager": customer.account_manager or "",
        **{f"consent_{ch}": value for ch, value in customer.consent},
        "days_past_due": (today - invoice.due_date).days, "amount": invoice.amount,
        "reminders_sent": len(reminders),
        "days_since_last_reminder": (now - reminders[-1].sent_at).days if reminders else 0,
        "final_notice_sent": bool(finals),
        "final_notice_days_ago": (now - finals[-1].sent_at).days if finals else 0,
        "disputed": invoice.disputed,
        "dispute_days_open": (today - opened).days if opened else 0,
        "dispute_type": (invoice.dispute_type or "") if invoice.disputed else "",
        "days_in_dispute": invoice.days_in_resolved_disputes + (
            max(0, (today - max(opened, invoice.due_date)).days) if opened else 0),
        "promise_pending": promise is not None and promise.status == "pending",
        "promise_broken": broken,
        "days_since_promise_broken": (today - promise.broken_since).days if broken and promise.broken_since else 0,
        "under_plan": plan is not None,
        "plan_missed": missed,
        "plan_missed_days": (today - plan.missed_since).days if missed and plan.missed_since else 0,
    }


def checkout_answer(out: CheckoutOutcome, risk: Risk | None, reasons: list[Reason],
                    degraded: Degraded | None = None) -> CheckoutAnswer:
    return built(CheckoutAnswer,
        kind="checkout", outcome=out.outcome, segment=out.segment, profile_segment=out.profile_segment,
        credit_limit=round(float(out.credit_limit), 2), open_exposure=round(float(out.open_exposure), 2),
        available_credit=round(float(out.available_credit), 2), risk=risk, reasons=reasons,
        rules_fired=list(out.rules_fired), policy_version=str(out.policy_version), degraded=degraded)


def order_request(customer: Customer, amount: float, payment_terms_days: int, paperless: bool,
                  issued_at: datetime) -> InvoiceRequest:
    """The invoice (or order) a decision is about, as the feature code path reads it."""
    return InvoiceRequest(amount=amount, payment_terms_days=payment_terms_days, issued_at=issued_at,
                          paperless=paperless, customer_type=customer.type, profile=customer.profile,
                          size=customer.size)


def decide_checkout(request: CheckoutRequest, now: datetime, *, store: FeatureStore, served: Served) -> Decision:
    """May this customer buy this order on credit?"""
    clock = Clock()
    customer, order = request.customer, request.order
    scored = _score(served, store, customer.id,
                    order_request(customer, order.amount, order.payment_terms_days, order.paperless, now), now, clock)
    out = served.rules.evaluate_checkout(checkout_facts(customer, order.amount, order.payment_terms_days,
                                                        scored.features, scored.scores))
    clock.lap("rules_ms")
    answer = checkout_answer(out, _risk(scored.scores, served.model_info), _reasons(out.reasons, scored))
    return Decision("checkout", out.outcome, answer, _record(scored, served, out, clock.ms))


def standing(customer: Customer, now: datetime, *, store: FeatureStore, served: Served) -> CheckoutOutcome:
    """The customer's risk segment, credit limit and available credit today, before any order.

    The same facts and tables as a checkout with an order of zero, so the customer view
    shows exactly what the next checkout would start from.
    """
    feats = store.customer_features(customer.id, order_request(customer, 0.0, 30, False, now), now)
    scores = model_scores(served, vector(feats))
    return served.rules.evaluate_checkout(checkout_facts(customer, 0.0, 30, feats, scores))


def bandit_profile(customer: Customer) -> str:
    """The bandit's context needs a profile: the customer's, else the typical one of its type."""
    return customer.profile or ("sme" if customer.type == "business" else "adult")


def allowed_arms(channels: tuple[str, ...], window: SendWindow) -> tuple[Arm, ...]:
    """The channel x slot x day-type arms whose hour and day type the send window allows."""
    day_types = {"weekend" if day in ("sat", "sun") else "weekday" for day in window.days}
    hours = set(window.allowed_hours)
    return tuple(a for a in arms_for_channels(channels) if a.hour in hours and a.day_type in day_types)


def send_time(arm: Arm, window: SendWindow, earliest: datetime) -> datetime:
    """The first moment at the arm's local hour, on the arm's day type, inside the window, not before ``earliest``."""
    zone = ZoneInfo(window.timezone)
    start = earliest.astimezone(zone)
    for offset in range(15):
        day = start.date() + timedelta(days=offset)
        at = datetime(day.year, day.month, day.day, arm.hour, tzinfo=zone)
        if at >= start and (day.weekday() >= 5) == arm.weekend and window.allows(at):
            return at
    raise InvalidInput(f"arm {arm.key} never fits the send window of {window.country}", field="send_window")


def invoice_request(customer: Customer, invoice: Invoice, tz: Any) -> InvoiceRequest:
    """The invoice as the feature code path reads it (issued at midnight of its issue date)."""
    return order_request(customer, invoice.amount, (invoice.due_date - invoice.issue_date).days, invoice.paperless,
                         datetime.combine(invoice.issue_date, dtime(), tzinfo=tz))


def next_action_outcome(rules: Rules, request: NextActionRequest, feats: Mapping[str, float],
                        scores: Mapping[str, float], calendar: Calendar | None = None) -> DunningOutcome:
    """The policy's answer for an open invoice (the API and the backtest both call this)."""
    zone = rules.send_window(request.customer.country).timezone
    facts = dunning_facts(request.customer, request.invoice, request.now, feats, scores, zone)
    return rules.evaluate_dunning(facts, request.now, calendar)


def decide_next_action(request: NextActionRequest, *, store: FeatureStore, served: Served,
                       known: Sequence[Reason] = (), closed: str | None = None) -> Decision:
    """What do we do next about this open invoice, through which channel, when, in which tone?

    ``known``: what the ledger corrected in the request (reasons shown first); ``closed``: the
    ledger's status of an invoice that is no longer open (``paid``, ``written_off``): the answer
    is ``none``, with the model's scores still recorded for the auditor. An action that leaves
    work to a person (a call, a dispute, an escalation, a review) carries its task.
    """
    clock = Clock()
    customer, invoice, now = request.customer, request.invoice, request.now
    scored = _score(served, store, customer.id, invoice_request(customer, invoice, now.tzinfo), now, clock)
    if closed is not None:
        return _nothing_to_do(request, scored, served, closed, list(known), clock)
    return _next_action(request, scored, served, clock, known)


def decide_next_actions(requests: Sequence[NextActionRequest], *, store: FeatureStore,
                        served: Served) -> list[Decision]:
    """``decide_next_action`` for many open invoices: the same decisions, with the features read in one
    call of the store and the model scoring and explaining them in one call each (the dunning run).

    Timings: the features, model and SHAP stages are the batch's, shared equally by its decisions; so is
    the thread CPU of the rules and the bandit, each taken over all decisions at once (a thread CPU
    read is a system call, 10-12 us in a run on this machine: three a decision cost more than the
    bandit); their wall times are each decision's own.
    """
    if not requests:
        return []
    batch = Clock()
    queries = [(r.customer.id, invoice_request(r.customer, r.invoice, r.now.tzinfo), r.now) for r in requests]
    feats = store.customer_features_many(queries)
    X = np.vstack([vector(f) for f in feats])
    batch.lap("features_ms")
    scores = served.model.predict_many(X)
    batch.lap("model_ms")
    explanations = served.model.explain_probability_many(X)
    orders = top_order(np.vstack([e.points for e in explanations]), TOP_MODEL_REASONS).tolist()
    batch.lap("shap_ms")
    scored = [_Scored(f, x, s, e, order) for f, x, s, e, order in zip(feats, X, scores, explanations, orders)]
    outs, rules_ms = _timed(lambda r, s: _outcome(r, s, served), requests, scored)
    batch.lap("rules_ms")
    picks, bandit_ms = _timed(lambda r, s, o: _pick(r, s, served, o), requests, scored, outs)
    batch.lap("bandit_ms")
    shared = {name: round(ms / len(requests), 4) for name, ms in batch.ms.items()}
    return [_answered(request, s, served, o, pick, {**shared, "rules_ms": rules, "bandit_ms": bandit}, ())
            for request, s, o, pick, rules, bandit in zip(requests, scored, outs, picks, rules_ms, bandit_ms)]


def _timed(step: Any, *columns: Sequence[Any]) -> tuple[list[Any], list[float]]:
    """``step`` of each row of ``columns``, and each one's wall milliseconds (``Clock``'s rounding)."""
    out, ms = [], []
    for row in zip(*columns):
        t = time.perf_counter()
        out.append(step(*row))
        ms.append(round((time.perf_counter() - t) * 1e3, 4))
    return out, ms


@dataclass(frozen=True, slots=True)
class _Pick:
    """What the bandit (or, without arms, the policy's first channel) chose for one decision."""

    choice: Choice | None
    feedback: BanditFeedback | None
    channel: str | None
    send_at: datetime | None


def _next_action(request: NextActionRequest, scored: _Scored, served: Served, clock: Clock,
                 known: Sequence[Reason]) -> Decision:
    """The policy's outcome, the bandit's arm and the answer for one scored open invoice."""
    out = _outcome(request, scored, served)
    clock.lap("rules_ms")
    pick = _pick(request, scored, served, out)
    clock.lap("bandit_ms")
    return _answered(request, scored, served, out, pick, clock.ms, known)


def _outcome(request: NextActionRequest, scored: _Scored, served: Served) -> DunningOutcome:
    return next_action_outcome(served.rules, request, scored.features, scored.scores, served.calendar)


def _pick(request: NextActionRequest, scored: _Scored, served: Served, out: DunningOutcome) -> _Pick:
    """The experiment's arm for a reminder (channel and send time); else the first allowed channel."""
    customer, invoice = request.customer, request.invoice
    channels = tuple(out.allowed_channels)
    arms = allowed_arms(channels, out.send_window) if out.action in BANDIT_ACTIONS else ()
    if arms and served.experiment is not None:
        context = Context(profile=bandit_profile(customer), customer_type=customer.type, segment=out.segment,
                          p_late=float(scored.scores["p_late"]), step=len(invoice.reminders) + 1)
        choice = served.experiment.decide(invoice.id, context, arms, rng_for(request.request_id))
        feedback = BanditFeedback(invoice.id, choice.arm, choice.propensity, choice.policy_name, choice.experiment,
                                  choice.group, context, request.now.timestamp())
        return _Pick(choice, feedback, choice.arm.channel,
                     send_time(choice.arm, out.send_window, out.earliest_send_at))
    channel = channels[0] if channels else None
    return _Pick(None, None, channel, out.earliest_send_at if channel is not None else None)


def _answered(request: NextActionRequest, scored: _Scored, served: Served, out: DunningOutcome, pick: _Pick,
              timings: dict[str, float], known: Sequence[Reason]) -> Decision:
    choice = pick.choice
    bandit = built(Bandit) if choice is None else built(Bandit,
        arm=built(BanditArm, channel=choice.arm.channel, slot=choice.arm.slot, day_type=choice.arm.day_type),
        propensity=choice.propensity, policy=choice.policy_name, experiment=choice.experiment, group=choice.group)
    answer = built(NextActionAnswer,
        kind="next_action", action=out.action, channel=pick.channel, send_at=pick.send_at, tone=out.tone,
        assignee=out.assignee, task=task_for(out, request, scored.scores, served.rules.policy, served.calendar),
        segment=out.segment, step=out.step,
        collection_costs=None if out.collection_costs is None else float(out.collection_costs),
        risk=_risk(scored.scores, served.model_info), bandit=bandit,
        reasons=[*known, *_reasons(out.reasons, scored)], rules_fired=list(out.rules_fired),
        policy_version=str(out.policy_version))
    return Decision("next_action", out.action, answer, _record(scored, served, out, timings, pick.feedback, True))


def _nothing_to_do(request: NextActionRequest, scored: _Scored, served: Served, status: str, known: list[Reason],
                   clock: Clock) -> Decision:
    policy = served.rules.policy
    reason = built(Reason, code=f"ledger.invoice_{status}", source="ledger", contribution=None,
                           text=f"Invoice {request.invoice.id} is {status.replace('_', ' ')} in the "
                                "ledger: nothing to do")
    answer = built(NextActionAnswer,
        kind="next_action", action="none", channel=None, send_at=None, tone=None, assignee=None, task=None,
        segment="", step="none", collection_costs=None, risk=_risk(scored.scores, served.model_info),
        bandit=built(Bandit), reasons=[reason, *known], rules_fired=[], policy_version=str(policy.version))
    record = DecisionRecord(
        features=scored.x, scores={k: float(v) for k, v in scored.scores.items()}, model=served.model_info,
        policy_version=str(policy.version), policy_hash=policy.content_hash, rules_fired=[],
        explanation=scored.explanation, timings=clock.ms, next_action=True)
    return Decision("next_action", "none", answer, record)
