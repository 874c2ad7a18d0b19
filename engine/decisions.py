"""One decision, end to end: features -> model scores + SHAP -> rules -> bandit -> ``Decision``.

Why: the decision is the product; it must read the same in the API, in the
backtest and in a notebook. This module is pure orchestration: the online
store, the model, the rule engine and the experiment are passed in (no Flask,
no I/O of its own), and the result is one immutable value holding both the
answer and everything the audit record needs (inputs, feature vector, model
identity, SHAP values, rules fired, bandit arm and propensity, timings).

Randomness (the bandit's Thompson draw) comes from a generator seeded by the
``request_id``, so recomputing a decision gives the same arm.

Example::

    decision = decide_checkout(request, now, store=store, served=served)
    decision.outcome, decision.answer["available_credit"], decision.record["shap"]
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np

from engine.bandits import Arm, Context, arms_for_channels, segment_for
from engine.errors import InvalidInput
from engine.reasons import top_reasons
from features.definitions import FEATURE_NAMES
from features.transform import InvoiceRequest, vector

TOP_MODEL_REASONS = 3
BANDIT_ACTIONS = ("remind",)  # the actions whose channel and send time the experiment chooses


class Served(Protocol):
    """What a decision runs on (``serving.runtime.Served`` is one)."""

    model: Any
    model_info: Any
    rules: Any
    experiment: Any


@dataclass(frozen=True)
class Decision:
    """The answer (``answer``) and the audit payload (``record``) of one decision."""

    kind: str
    outcome: str
    answer: dict[str, Any]
    record: dict[str, Any]


def rng_for(request_id: str) -> np.random.Generator:
    """A generator seeded by the request id: the same request draws the same arm."""
    return np.random.default_rng(int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big"))


class _Clock:
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


def _score(served: Served, store: Any, customer: Mapping[str, Any], request: InvoiceRequest,
           now: datetime, clock: _Clock) -> tuple[dict[str, float], np.ndarray, dict[str, float], Any]:
    """Features, scores and the explanation of P(late) (a ``training.model.Explanation``)."""
    feats = store.customer_features(customer["id"], request, now)
    x = vector(feats)
    clock.lap("features_ms")
    scores = served.model.predict_one(x)
    clock.lap("model_ms")
    explanation = served.model.explain_probability_one(x)
    clock.lap("shap_ms")
    return feats, x, scores, explanation


def _risk(scores: Mapping[str, float], info: Any) -> dict[str, Any]:
    return {"p_late": round(float(scores["p_late"]), 6), "p_late_30": round(float(scores["p_late_30"]), 6),
            "expected_days_late": round(float(scores["expected_days_late"]), 3),
            "model": info.name, "version": str(info.version), "alias": info.alias}


def _reasons(rule_reasons: Any, x: np.ndarray, explanation: Any) -> list[dict[str, Any]]:
    """Rule reasons, then the largest model contributions in probability points."""
    rules = [{"code": r.code, "text": r.text, "source": "rule", "contribution": None, "log_odds": None}
             for r in rule_reasons]
    return rules + [r.to_dict() for r in top_reasons(FEATURE_NAMES, x, explanation.points, TOP_MODEL_REASONS,
                                                     log_odds=explanation.log_odds)]


def _record(x: np.ndarray, scores: Mapping[str, float], explanation: Any, served: Served, outcome: Any,
            clock: _Clock) -> dict[str, Any]:
    info = served.model_info
    return {
        "features": dict(zip(FEATURE_NAMES, x.tolist())),
        "scores": {k: float(v) for k, v in scores.items()},
        "model": {"name": info.name, "version": str(info.version), "alias": info.alias,
                  "run_id": getattr(info, "run_id", None)},
        "policy": {"version": str(outcome.policy_version), "hash": outcome.policy_hash},
        "rules_fired": list(outcome.rules_fired),
        "shap": explanation.to_record(FEATURE_NAMES),
        "timings": clock.ms,
    }


def checkout_facts(customer: Mapping[str, Any], order: Mapping[str, Any], feats: Mapping[str, float],
                   scores: Mapping[str, float]) -> dict[str, Any]:
    """The flat fact dict the checkout rules read (names fixed by ``engine.rules``)."""
    return {
        "customer_id": customer["id"], "customer_type": customer["type"], "country": customer["country"],
        "profile": customer.get("profile") or "", "customer_size": customer.get("size") or "",
        "is_new_customer": feats["invoices_issued"] == 0, "key_account": customer["key_account"],
        "blocked": customer["blocked"], "order_amount": float(order["amount"]),
        "payment_terms_days": int(order["payment_terms_days"]),
        "open_exposure": feats["open_exposure"], "overdue_amount": feats["overdue_amount"],
        "avg_monthly_purchases": feats["avg_monthly_purchases"], "invoices_paid": int(feats["invoices_paid"]),
        "share_paid_late": feats["share_paid_late"], "mean_days_late": feats["mean_days_late"],
        "open_disputes": int(feats["open_disputes"]), "p_late": float(scores["p_late"]),
        "p_late_30": float(scores["p_late_30"]), "expected_days_late": float(scores["expected_days_late"]),
    }


def decide_checkout(request: Mapping[str, Any], now: datetime, *, store: Any, served: Served) -> Decision:
    """May this customer buy this order on credit? ``request`` is the validated API body."""
    clock = _Clock()
    customer, order = request["customer"], request["order"]
    invoice = InvoiceRequest(amount=float(order["amount"]), payment_terms_days=int(order["payment_terms_days"]),
                             issued_at=now, paperless=bool(order["paperless"]), customer_type=customer["type"],
                             profile=customer.get("profile"), size=customer.get("size"))
    feats, x, scores, explanation = _score(served, store, customer, invoice, now, clock)
    out = served.rules.evaluate_checkout(checkout_facts(customer, order, feats, scores))
    clock.lap("rules_ms")
    answer = {
        "kind": "checkout", "outcome": out.outcome, "segment": out.segment,
        "profile_segment": out.profile_segment, "credit_limit": round(float(out.credit_limit), 2),
        "open_exposure": round(float(out.open_exposure), 2),
        "available_credit": round(float(out.available_credit), 2), "risk": _risk(scores, served.model_info),
        "reasons": _reasons(out.reasons, x, explanation), "rules_fired": list(out.rules_fired),
        "policy_version": str(out.policy_version),
    }
    return Decision("checkout", out.outcome, answer,
                    _record(x, scores, explanation, served, out, clock))


def dunning_facts(request: Mapping[str, Any], now: datetime, scores: Mapping[str, float],
                  segment: str) -> dict[str, Any]:
    """The flat fact dict the dunning rules read, from the invoice's reminder and dispute history."""
    customer, invoice = request["customer"], request["invoice"]
    today = now.date()
    reminders = sorted(invoice["reminders"], key=lambda r: r["sent_at"])
    finals = [r for r in reminders if r["final_notice"]]
    consent = customer["consent"]
    opened: date | None = invoice.get("dispute_opened")
    return {
        "customer_type": customer["type"], "country": customer["country"],
        "profile": customer.get("profile") or "",
        "key_account": customer["key_account"], "account_manager": customer.get("account_manager") or "",
        **{f"consent_{ch}": bool(v) for ch, v in consent.items()},
        "days_past_due": (today - invoice["due_date"]).days, "amount": float(invoice["amount"]),
        "reminders_sent": len(reminders),
        "days_since_last_reminder": (now - reminders[-1]["sent_at"]).days if reminders else 0,
        "final_notice_sent": bool(finals),
        "final_notice_days_ago": (now - finals[-1]["sent_at"]).days if finals else 0,
        "disputed": bool(invoice["disputed"]),
        "dispute_days_open": (today - opened).days if invoice["disputed"] and opened else 0,
        "p_late": float(scores["p_late"]), "expected_days_late": float(scores["expected_days_late"]),
        "segment": segment,
    }


def bandit_profile(customer: Mapping[str, Any]) -> str:
    """The bandit's context needs a profile: the customer's, else the typical one of its type."""
    return customer.get("profile") or ("sme" if customer["type"] == "business" else "adult")


def allowed_arms(channels: tuple[str, ...], window: Any) -> tuple[Arm, ...]:
    """The channel x slot x day-type arms whose hour and day type the send window allows."""
    day_types = {"weekend" if day in ("sat", "sun") else "weekday" for day in window.days}
    hours = set(window.allowed_hours)
    return tuple(a for a in arms_for_channels(channels) if a.hour in hours and a.day_type in day_types)


def send_time(arm: Arm, window: Any, earliest: datetime) -> datetime:
    """The first moment at the arm's local hour, on the arm's day type, inside the window, not before ``earliest``."""
    zone = ZoneInfo(window.timezone)
    start = earliest.astimezone(zone)
    for offset in range(15):
        day = start.date() + timedelta(days=offset)
        at = datetime(day.year, day.month, day.day, arm.hour, tzinfo=zone)
        if at >= start and (day.weekday() >= 5) == arm.weekend and window.allows(at):
            return at
    raise InvalidInput(f"arm {arm.key} never fits the send window of {window.country}", field="send_window")


def decide_next_action(request: Mapping[str, Any], now: datetime, *, store: Any, served: Served) -> Decision:
    """What do we do next about this open invoice, through which channel, when, in which tone?"""
    clock = _Clock()
    customer, invoice = request["customer"], request["invoice"]
    issued = datetime.combine(invoice["issue_date"], dtime(), tzinfo=now.tzinfo)
    req = InvoiceRequest(amount=float(invoice["amount"]),
                         payment_terms_days=(invoice["due_date"] - invoice["issue_date"]).days,
                         issued_at=issued, paperless=bool(invoice["paperless"]), customer_type=customer["type"],
                         profile=customer.get("profile"), size=customer.get("size"))
    feats, x, scores, explanation = _score(served, store, customer, req, now, clock)
    segment = segment_for(float(scores["p_late"]))
    facts = dunning_facts(request, now, scores, segment)
    out = served.rules.evaluate_dunning(facts, now)
    clock.lap("rules_ms")
    choice, context = None, None
    channels = tuple(out.allowed_channels)
    arms = allowed_arms(channels, out.send_window) if out.action in BANDIT_ACTIONS else ()
    if arms and served.experiment is not None:
        context = Context(profile=bandit_profile(customer), customer_type=customer["type"], segment=segment,
                          p_late=float(scores["p_late"]), step=facts["reminders_sent"] + 1)
        choice = served.experiment.decide(invoice["id"], context, arms, rng_for(request["request_id"]))
        channel, send_at = choice.arm.channel, send_time(choice.arm, out.send_window, out.earliest_send_at)
    else:
        channel = channels[0] if channels else None
        send_at = out.earliest_send_at if channel is not None else None
    clock.lap("bandit_ms")
    bandit = {"arm": None if choice is None else {"channel": choice.arm.channel, "slot": choice.arm.slot,
                                                   "day_type": choice.arm.day_type},
              "propensity": None if choice is None else choice.propensity,
              "policy": None if choice is None else choice.policy_name,
              "experiment": None if choice is None else choice.experiment,
              "group": None if choice is None else choice.group}
    answer = {
        "kind": "next_action", "action": out.action, "channel": channel,
        "send_at": send_at.isoformat() if send_at is not None else None, "tone": out.tone,
        "assignee": out.assignee, "task": out.task, "segment": segment, "step": out.step,
        "collection_costs": None if out.collection_costs is None else float(out.collection_costs),
        "risk": _risk(scores, served.model_info), "bandit": bandit,
        "reasons": _reasons(out.reasons, x, explanation), "rules_fired": list(out.rules_fired),
        "policy_version": str(out.policy_version),
    }
    record = _record(x, scores, explanation, served, out, clock)
    record["bandit"] = {**bandit, "context": None if context is None else context.to_dict()}
    return Decision("next_action", out.action, answer, record)
