"""Thompson sampling with Beta-Bernoulli arms, one independent bandit per context key.

Why: the simplest bandit that learns while it earns. Each (context key, arm)
has a Beta(prior_a + successes, prior_b + failures) posterior over its paid
rate; each decision plays the arm with the best posterior draw, so an arm is
tried in proportion to the chance that it is the best one.

State: hash ``ts:{name}:{context key}`` with fields ``{arm key}:n`` (rewards
observed) and ``{arm key}:s`` (sum of rewards), one ``HINCRBYFLOAT`` each.

Example::

    policy = ThompsonSampling(state=InProcessState())
    choice = policy.choose(ctx, allowed, rng)
    policy.update(ctx, choice.arm, 1.0, event_id="REM-1")
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.bandits.arms import Arm
from engine.bandits.context import KEY_FIELDS, Context
from engine.bandits.policies import SampledPolicy
from engine.bandits.state import BanditState
from domain.errors import InvalidInput


@dataclass(frozen=True)
class ThompsonSampling(SampledPolicy):
    """Settings: ``by`` (context fields of the key), Beta ``prior``, Monte Carlo ``draws``."""

    state: BanditState
    name: str = "thompson"
    by: tuple[str, ...] = ("segment", "profile")
    prior: tuple[float, float] = (1.0, 1.0)
    draws: int = 64

    def __post_init__(self) -> None:
        if not self.by or not set(self.by) <= set(KEY_FIELDS):
            raise InvalidInput(f"by must name context fields among {list(KEY_FIELDS)}", field="by")
        if len(self.prior) != 2 or min(self.prior) <= 0:
            raise InvalidInput("prior must be two positive numbers (alpha, beta)", field="prior")
        if not isinstance(self.draws, int) or self.draws < 1:
            raise InvalidInput("draws must be a positive integer", field="draws")

    def state_key(self, context: Context) -> str:
        """The state hash of ``context``'s statistics (``{arm key}:n``, ``{arm key}:s``)."""
        return f"ts:{self.name}:{context.key(self.by)}"

    def posterior(self, context: Context, arms: tuple[Arm, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Beta parameters (alpha, beta) of each arm in this context."""
        h = self.state.read(self.state_key(context))
        n = np.array([h.get(f"{a.key}:n", 0.0) for a in arms])
        s = np.array([h.get(f"{a.key}:s", 0.0) for a in arms])
        return self.prior[0] + s, self.prior[1] + n - s

    def _scores(self, context: Context, arms: tuple[Arm, ...], rng: np.random.Generator) -> np.ndarray:
        alpha, beta = self.posterior(context, arms)
        return rng.beta(alpha[:, None], beta[:, None], size=(len(arms), self.draws))

    def _learn(self, context: Context, arm: Arm, reward: float, event_id: str | None) -> bool:
        once = f"{self.name}:{event_id}" if event_id is not None else None
        return self.state.increment(self.state_key(context), {f"{arm.key}:n": 1.0, f"{arm.key}:s": reward}, once)
