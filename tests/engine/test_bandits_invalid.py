"""Every documented error of the bandit surface: a code and the offending field, never a crash."""
from __future__ import annotations

import numpy as np
import pytest

from engine.bandits import (Arm, Attribution, Choice, Context, Experiment, InProcessState,
                            LinearThompsonSampling, FixedPreference, ThompsonSampling, UniformRandom)
from engine.bandits.offline import evaluate_on_ledger, make_policy
from domain.errors import InvalidInput, KredoError, NotFound

ARM = Arm("email", "morning", "weekday")
CTX = Context("adult")
RNG = np.random.default_rng(0)


def _field(exc_info) -> str | None:
    return exc_info.value.field


@pytest.mark.parametrize("build, field", [
    (lambda: Arm("pigeon", "morning", "weekday"), "arm.channel"),
    (lambda: Arm("email", "noon", "weekday"), "arm.slot"),
    (lambda: Arm("email", "morning", "holiday"), "arm.day_type"),
    (lambda: Arm.parse("email-morning"), "arm"),
    (lambda: Context("pirate"), "context.profile"),
    (lambda: Context("adult", customer_type="alien"), "context.customer_type"),
    (lambda: Context("adult", segment=""), "context.segment"),
    (lambda: Context("adult", p_late=1.5), "context.p_late"),
    (lambda: Context("adult", p_late=float("nan")), "context.p_late"),
    (lambda: Context("adult", step=0), "context.step"),
    (lambda: Context.from_dict({"profile": "adult", "colour": "red"}), "context"),
    (lambda: Context.from_dict({"segment": "low"}), "context.profile"),
    (lambda: ThompsonSampling(state=InProcessState(), by=("shoe_size",)), "by"),
    (lambda: ThompsonSampling(state=InProcessState(), prior=(0.0, 1.0)), "prior"),
    (lambda: ThompsonSampling(state=InProcessState(), draws=0), "draws"),
    (lambda: LinearThompsonSampling(state=InProcessState(), ridge=0.0), "ridge"),
    (lambda: LinearThompsonSampling(state=InProcessState(), exploration=-1.0), "exploration"),
    (lambda: FixedPreference(order=()), "order"),
    (lambda: Experiment(name="", policy=UniformRandom(), control_policy=FixedPreference()), "name"),
    (lambda: Experiment(name="x", policy=UniformRandom(), control_policy=FixedPreference(), control_share=1.5),
     "control_share"),
    (lambda: Experiment(name="x", policy="ts", control_policy=FixedPreference()), "policy"),
])
def test_bad_settings_and_values(build, field):
    with pytest.raises(InvalidInput) as exc:
        build()
    assert _field(exc) == field and exc.value.code == "invalid_input"


@pytest.mark.parametrize("policy", [UniformRandom(), FixedPreference(), ThompsonSampling(state=InProcessState()),
                                    LinearThompsonSampling(state=InProcessState())])
@pytest.mark.parametrize("call, field", [
    (lambda p: p.choose(CTX, [], RNG), "allowed"),
    (lambda p: p.choose(CTX, ["email|morning|weekday"], RNG), "allowed"),
    (lambda p: p.choose(CTX, "email", RNG), "allowed"),
    (lambda p: p.choose({"profile": "adult"}, [ARM], RNG), "context"),
    (lambda p: p.choose(CTX, [ARM], 42), "rng"),
    (lambda p: p.probabilities(CTX, [], RNG), "allowed"),
    (lambda p: p.update(CTX, ARM, 2.0), "reward"),
    (lambda p: p.update(CTX, ARM, "paid"), "reward"),
    (lambda p: p.update(CTX, "email|morning|weekday", 1.0), "arm"),
])
def test_bad_calls(policy, call, field):
    with pytest.raises(InvalidInput) as exc:
        call(policy)
    assert _field(exc) == field


def test_attribution_errors():
    attr = Attribution(state=InProcessState(), policies={"static": FixedPreference()})
    choice = Choice(ARM, 1.0, "static")
    with pytest.raises(InvalidInput) as exc:
        attr.record_reminder("", "INV-1", 0.0, CTX, choice)
    assert _field(exc) == "reminder_id"
    with pytest.raises(InvalidInput) as exc:
        attr.record_reminder("R", "INV-1", "yesterday", CTX, choice)
    assert _field(exc) == "sent_at"
    with pytest.raises(NotFound) as exc:
        attr.record_reminder("R", "INV-1", 0.0, CTX, Choice(ARM, 1.0, "mystery"))
    assert _field(exc) == "choice.policy_name"
    with pytest.raises(InvalidInput) as exc:
        attr.payment_received("E", "INV-1", None)
    assert _field(exc) == "paid_at"
    with pytest.raises(InvalidInput) as exc:
        Experiment(name="x", policy=UniformRandom(), control_policy=FixedPreference()).group("")
    assert _field(exc) == "invoice_id"


def test_offline_errors(small_ledger):
    with pytest.raises(NotFound) as exc:
        make_policy("oracle", InProcessState())
    assert _field(exc) == "policy"
    with pytest.raises(InvalidInput) as exc:
        evaluate_on_ledger(small_ledger, "static", train_share=1.0)
    assert _field(exc) == "train_share"


def test_errors_serialise():
    with pytest.raises(KredoError) as exc:
        Context("adult", p_late=-0.1)
    body = exc.value.to_dict()
    assert body["code"] == "invalid_input" and body["field"] == "context.p_late" and body["status"] == 422
