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

from engine.bandits import Attribution, Experiment, InProcessState, FixedPreference, ThompsonSampling


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
