"""Offline evaluation of a named policy on a ledger's logs (what ``kredo bandit evaluate`` runs).

Why: an analyst asks "what would policy X have earned on our reminders?".
Learning policies are first trained on the earliest ``train_share`` of the
log (replaying the logged arms and rewards into fresh in-process state), then
frozen and evaluated on the later part; fixed policies are evaluated on the
same later part, so every answer is on the same reminders.

Example::

    report = evaluate_on_ledger(ledger, "linear_ts", train_share=0.5, seed=7)
    report["estimates"]["dr"]["value"]
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.bandits.linear import LinearThompsonSampling
from engine.bandits.logs import Logged, from_ledger
from engine.bandits.ope import estimates, mean_weight, target_probabilities
from engine.bandits.policies import FixedPreference, LearningPolicy, UniformRandom
from engine.bandits.state import BanditState, InProcessState
from engine.bandits.thompson import ThompsonSampling
from domain.errors import InvalidInput, NotFound
from ledger.tables import Ledger

POLICIES: dict[str, Callable[[BanditState], LearningPolicy]] = {
    "uniform": lambda state: UniformRandom(),
    "static": lambda state: FixedPreference(),
    "thompson": lambda state: ThompsonSampling(state=state),
    "linear_ts": lambda state: LinearThompsonSampling(state=state),
}


def make_policy(name: str, state: BanditState) -> LearningPolicy:
    """The policy called ``name`` (see ``POLICIES``) on ``state``; ``NotFound`` otherwise."""
    if name not in POLICIES:
        raise NotFound(f"unknown policy {name!r}; expected one of {sorted(POLICIES)}", field="policy")
    return POLICIES[name](state)


def train(policy: LearningPolicy, logged: Logged) -> LearningPolicy:
    """Replay logged arms and rewards into ``policy`` (a no-op for fixed policies)."""
    for c, a, r, rid in zip(logged.contexts, logged.arms, logged.rewards, logged.reminder_ids):
        policy.update(c, a, float(r), event_id=rid)
    return policy


def evaluate_on_ledger(ledger: Ledger, policy_name: str, train_share: float = 0.5, seed: int = 7,
                       z: float = 1.96) -> dict:
    """Estimates (IPS, SNIPS, DR, logging) of ``policy_name`` on the later part of the log, and
    the mean importance weight (near 1 when the log's propensities can be trusted)."""
    if isinstance(train_share, bool) or not isinstance(train_share, (int, float)) or not 0.0 <= train_share < 1.0:
        raise InvalidInput("train_share must be in [0, 1)", field="train_share")
    policy = make_policy(policy_name, InProcessState())
    train_part, test_part = from_ledger(ledger).split(train_share)
    if len(test_part) < 2:
        raise InvalidInput("too few logged reminders after the training share", field="train_share")
    train(policy, train_part)
    pi = target_probabilities(policy, test_part, np.random.default_rng(seed))
    return {"policy": policy_name, "trained_on": len(train_part), "evaluated_on": len(test_part),
            "estimates": {k: e.to_dict() for k, e in estimates(pi, test_part, z, seed).items()},
            "mean_weight": mean_weight(pi, test_part, z).to_dict()}
