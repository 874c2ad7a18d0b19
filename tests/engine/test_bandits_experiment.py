"""The A/B experiment: a fixed, deterministic control group served by the static policy."""
from __future__ import annotations

import numpy as np

from engine.bandits import (Context, Experiment, InProcessState, FixedPreference, ThompsonSampling,
                            arms_for_channels)

CTX = Context("young_family", p_late=0.4)
ALLOWED = arms_for_channels(["email", "sms", "whatsapp"])


def experiment(share: float = 0.1, name: str = "dunning") -> Experiment:
    return Experiment(name=name, policy=ThompsonSampling(state=InProcessState()),
                      control_policy=FixedPreference(), control_share=share)


def test_control_share_is_respected():
    exp = experiment(0.1)
    groups = [exp.group(f"INV-{i:08d}") for i in range(20_000)]
    share = groups.count("control") / len(groups)
    assert 0.09 < share < 0.11
    assert experiment(0.0).group("INV-1") == "bandit" and experiment(1.0).group("INV-1") == "control"


def test_group_is_deterministic_across_instances_and_retries():
    ids = [f"INV-{i}" for i in range(500)]
    a, b = experiment(), experiment()
    assert [a.group(i) for i in ids] == [b.group(i) for i in ids]
    other = experiment(name="another-test")
    assert [a.group(i) for i in ids] != [other.group(i) for i in ids]  # experiments are independent


def test_decide_uses_the_groups_policy():
    exp = experiment(0.3)
    rng = np.random.default_rng(0)
    seen = set()
    for i in range(300):
        invoice = f"INV-{i}"
        choice = exp.decide(invoice, CTX, ALLOWED, rng)
        assert choice.experiment == "dunning" and choice.group == exp.group(invoice)
        seen.add(choice.group)
        if choice.group == "control":
            assert choice.policy_name == "static" and choice.propensity == 1.0
            assert choice.arm == FixedPreference().choose(CTX, ALLOWED, rng).arm
        else:
            assert choice.policy_name == "thompson" and choice.propensity < 1.0
    assert seen == {"bandit", "control"}
    retry = [exp.decide("INV-7", CTX, ALLOWED, rng).group for _ in range(5)]
    assert len(set(retry)) == 1
