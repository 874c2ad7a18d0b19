"""``engine.bandits.report``: the experiments page's numbers from the live state."""
from __future__ import annotations

import pytest

from engine.bandits import Experiment, FixedPreference, InProcessState, ThompsonSampling, all_arms
from engine.bandits.attribution import Attribution
from engine.bandits.context import Context
from engine.bandits.report import difference, experiment_report, wilson


def test_wilson_interval():
    assert wilson(0, 0).value is None
    w = wilson(20, 100)
    assert w.value == 0.2 and w.low == pytest.approx(0.1333, abs=1e-4) and w.high == pytest.approx(0.2888, abs=1e-4)
    assert wilson(0, 10).low == 0.0 and wilson(10, 10).high == pytest.approx(1.0)


def test_difference_of_two_rates():
    d = difference((30, 100), (20, 100))
    assert d.value == pytest.approx(0.1) and d.low < 0.1 < d.high
    assert d.high - d.low == pytest.approx(2 * 1.96 * (0.3 * 0.7 / 100 + 0.2 * 0.8 / 100) ** 0.5, rel=1e-3)
    assert difference((1, 0), (1, 1)).value is None


def test_the_report_reads_the_state_the_policy_learns_into():
    state = InProcessState()
    policy = ThompsonSampling(state=state)
    experiment = Experiment(name="dunning", policy=policy, control_policy=FixedPreference(), control_share=0.1)
    attribution = Attribution(state=state, policies={policy.name: policy})
    arms = all_arms()
    context = Context(profile="adult", segment="high")
    for i in range(40):
        policy.update(context, arms[i % 2], float(i % 4 == 0), event_id=f"e{i}")
    state.increment("exp:dunning:bandit", {"n": 40.0, "s": 10.0})
    state.increment("exp:dunning:control", {"n": 10.0, "s": 1.0})
    report = experiment_report(experiment, attribution, ("high", "low"))
    assert [(c.segment, c.profile, c.pulls) for c in report.contexts] == [("high", "adult", 40)]
    top = report.contexts[0].arms[:2]
    assert {a.arm for a in top} == {arms[0], arms[1]} and [a.pulls for a in top] == [20, 20]
    assert {a.arm: a.rewards for a in top} == {arms[0]: 10.0, arms[1]: 0.0}
    assert sum(a.allocation for a in report.contexts[0].arms) == pytest.approx(1.0)
    assert report.uplift.value == pytest.approx(0.25 - 0.1)
    with pytest.raises(TypeError):
        experiment_report(Experiment(name="x", policy=FixedPreference(), control_policy=FixedPreference()),
                          attribution, ("high",))
