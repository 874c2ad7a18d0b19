"""One suite for every LearningPolicy, on both stores: choices, propensities, learning, idempotence."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.bandits import (Arm, Context, LinearThompsonSampling, FixedPreference, ThompsonSampling,
                            UniformRandom, all_arms, arms_for_channels)

CTX = Context(profile="student", customer_type="consumer", segment="high", p_late=0.7, step=1)
ALLOWED = arms_for_channels(["email", "sms", "whatsapp"])
KINDS = ["uniform", "static", "thompson", "linear_ts"]


def make(kind: str, state):
    return {"uniform": lambda: UniformRandom(), "static": lambda: FixedPreference(),
            "thompson": lambda: ThompsonSampling(state=state),
            "linear_ts": lambda: LinearThompsonSampling(state=state)}[kind]()


def teach(policy, n: int = 300, seed: int = 0) -> None:
    """Rewards from a fixed truth in which whatsapp in the evening on weekends is best."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        arm = ALLOWED[i % len(ALLOWED)]
        p = 0.15 + 0.3 * (arm.channel == "whatsapp") + 0.2 * (arm.slot == "evening") + 0.1 * arm.weekend
        policy.update(CTX, arm, float(rng.random() < p), event_id=f"e{i}")


@pytest.mark.parametrize("kind", KINDS)
def test_choice_is_allowed_with_valid_propensity(kind, bandit_state):
    policy = make(kind, bandit_state)
    teach(policy)
    rng = np.random.default_rng(1)
    for _ in range(50):
        choice = policy.choose(CTX, ALLOWED, rng)
        assert choice.arm in ALLOWED and 0.0 < choice.propensity <= 1.0
        assert choice.policy_name == policy.name and choice.group is None
    probs = policy.probabilities(CTX, ALLOWED, rng)
    assert set(probs) == set(ALLOWED) and sum(probs.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_choices(kind, bandit_state):
    policy = make(kind, bandit_state)
    teach(policy)
    runs = [[policy.choose(CTX, ALLOWED, np.random.default_rng(5)).arm for _ in range(20)] for _ in range(2)]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("kind", ["thompson", "linear_ts", "uniform"])
def test_propensity_matches_empirical_frequency(kind, bandit_state):
    policy = make(kind, bandit_state)
    teach(policy, n=60)  # still uncertain: several arms have real probability
    rng = np.random.default_rng(2)
    choices = [policy.choose(CTX, ALLOWED, rng) for _ in range(3000)]
    frequent = [a for a in ALLOWED if sum(c.arm == a for c in choices) >= 100]
    assert frequent
    for arm in frequent:
        frequency = sum(c.arm == arm for c in choices) / len(choices)
        reported = np.mean([c.propensity for c in choices if c.arm == arm])
        assert abs(reported - frequency) < 0.03, (arm, reported, frequency)
        estimated = np.mean([policy.probabilities(CTX, ALLOWED, rng)[arm] for _ in range(40)])
        assert abs(estimated - frequency) < 0.03, (arm, estimated, frequency)


@pytest.mark.parametrize("kind", ["thompson", "linear_ts"])
def test_learning_policies_find_the_best_arm(kind, bandit_state):
    policy = make(kind, bandit_state)
    teach(policy, n=900)
    rng = np.random.default_rng(3)
    picks = [policy.choose(CTX, ALLOWED, rng).arm for _ in range(200)]
    best = Arm("whatsapp", "evening", "weekend")
    assert picks.count(best) / len(picks) > 0.5


@pytest.mark.parametrize("kind", ["thompson", "linear_ts"])
def test_update_twice_counts_once(kind, bandit_state):
    policy = make(kind, bandit_state)
    arm = ALLOWED[0]
    assert policy.update(CTX, arm, 1.0, event_id="REM-1")
    key = policy.state_key(CTX)
    before = bandit_state.read(key)
    assert not policy.update(CTX, arm, 1.0, event_id="REM-1")
    assert bandit_state.read(key) == before
    assert policy.update(CTX, arm, 0.0, event_id="REM-2")
    assert bandit_state.read(key) != before


def test_thompson_state_is_plain_counts(bandit_state):
    policy = ThompsonSampling(state=bandit_state, by=("profile",))
    arm = ALLOWED[0]
    for i, r in enumerate((1, 0, 1)):
        policy.update(CTX, arm, r, event_id=str(i))
    assert bandit_state.read("ts:thompson:student") == {f"{arm.key}:n": 3.0, f"{arm.key}:s": 2.0}
    alpha, beta = policy.posterior(CTX, (arm,))
    assert (alpha[0], beta[0]) == (3.0, 2.0)


def test_linear_statistics_are_sufficient(bandit_state):
    """The posterior built from hash fields equals ridge regression on the raw data."""
    from engine.bandits.linear import features

    policy = LinearThompsonSampling(state=bandit_state, ridge=2.0)
    rng = np.random.default_rng(4)
    xs, ys = [], []
    for i in range(40):
        arm = ALLOWED[int(rng.integers(len(ALLOWED)))]
        ctx = dataclasses.replace(CTX, p_late=float(rng.random()), step=int(rng.integers(1, 4)))
        y = float(rng.random() < 0.4)
        policy.update(ctx, arm, y, event_id=str(i))
        xs.append(features(ctx, (arm,))[0])
        ys.append(y)
    x, y = np.array(xs), np.array(ys)
    expected = np.linalg.solve(x.T @ x + 2.0 * np.eye(x.shape[1]), x.T @ y)
    mean, _ = policy.posterior(CTX)
    assert np.allclose(mean, expected)


def test_two_workers_share_one_bandit(bandit_state):
    a, b = ThompsonSampling(state=bandit_state), ThompsonSampling(state=bandit_state)
    a.update(CTX, ALLOWED[0], 1.0, event_id="x")
    assert b.posterior(CTX, (ALLOWED[0],)) == a.posterior(CTX, (ALLOWED[0],))
    assert b.posterior(CTX, (ALLOWED[0],))[0][0] == 2.0


def test_settings_are_immutable(bandit_state):
    policy = ThompsonSampling(state=bandit_state)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.draws = 5  # type: ignore[misc]


def test_static_takes_first_allowed_in_order():
    policy = FixedPreference.from_keys(["letter|midday|weekday", "email|morning|weekday"])
    rng = np.random.default_rng(0)
    assert policy.choose(CTX, ALLOWED, rng).arm == Arm("email", "morning", "weekday")
    assert policy.choose(CTX, all_arms(), rng).arm == Arm("letter", "midday", "weekday")
    only_sms = arms_for_channels(["sms"])
    choice = policy.choose(CTX, only_sms, rng)
    assert choice.arm == only_sms[0] and choice.propensity == 1.0


def test_arm_keys_round_trip():
    assert len(all_arms()) == 30 and len({a.key for a in all_arms()}) == 30
    assert all(Arm.parse(a.key) == a for a in all_arms())
    assert Arm("email", "morning", "weekday").key == "email|morning|weekday"
    assert hash(Arm("sms", "evening", "weekend")) == hash(Arm.parse("sms|evening|weekend"))


def test_thompson_propensity_is_the_probability_it_chose_with(bandit_state):
    """The logged propensity is P(logged arm) under the policy, whatever generator asks: one table per
    posterior, the same in every process; a reward changes the posterior and so the table."""
    policy = ThompsonSampling(state=bandit_state)
    teach(policy, n=60)
    table = policy.probabilities(CTX, ALLOWED, np.random.default_rng(8))
    assert table == policy.probabilities(CTX, ALLOWED, np.random.default_rng(9))
    assert min(table.values()) >= 1 / (4 * policy.draws + len(ALLOWED))
    for seed in range(20):
        choice = policy.choose(CTX, ALLOWED, np.random.default_rng(seed))
        assert choice.propensity == table[choice.arm]
    policy.update(CTX, ALLOWED[0], 1.0, event_id="one-more")
    assert policy.probabilities(CTX, ALLOWED, np.random.default_rng(8)) != table
