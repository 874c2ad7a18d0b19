"""Linear Thompson sampling over arm factors: the contextual policy.

Why: per-arm Beta bandits learn each of up to 30 arms in each context
separately. The customer's response is (nearly) additive: a channel effect,
an hour effect and a weekend effect on top of the customer's own propensity
to pay. One linear model per profile with features

    phi(context, arm) = [channel one-hot (5), midday, evening, weekend,
                         p_late, step - 1]                  (d = 10)

shares what it learns across arms (a good evening slot is good on every
channel) and across risk segments (p_late is a feature, not a split), so it
needs far fewer reminders to find the best arm. Thompson sampling rather
than UCB on these features: on a 30,000-reminder stream (seed 7, feedback in
batches of 500) LinUCB on the same model had regret 3,485 at its best alpha
(1.0; 4,093 at 0.3, 3,751 at 2.0) against 3,134 for this policy, because a
deterministic score sends a whole batch of look-alike customers to one arm
while rewards are still a week away. ``bench/bandits.py`` compares it with
Beta TS, MABWiser's per-arm LinUCB and Vowpal Wabbit's SquareCB.

Posterior: Bayesian ridge regression, A = ridge * I + sum phi phi^T,
b = sum reward * phi; a decision draws theta ~ N(A^-1 b, exploration^2 A^-1)
and plays the allowed arm with the largest phi^T theta.

State: hash ``lin:{name}:{profile}`` with fields ``A{i}_{j}`` (upper triangle
of sum phi phi^T), ``b{i}`` and ``n``: plain sums, one ``HINCRBYFLOAT`` each.

Example::

    policy = LinearThompsonSampling(state=InProcessState())
    choice = policy.choose(Context("student", p_late=0.7), allowed, rng)
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from engine.bandits.arms import Arm
from engine.bandits.context import KEY_FIELDS, Context
from engine.bandits.policies import SampledPolicy
from engine.bandits.state import BanditState
from domain.errors import InvalidInput
from domain.vocabulary import CHANNELS

ARM_DIM = len(CHANNELS) + 3
DIM = ARM_DIM + 2
_UPPER = np.triu_indices(DIM)
_A_FIELDS = tuple(f"A{i}_{j}" for i, j in zip(*_UPPER))
_B_FIELDS = tuple(f"b{i}" for i in range(DIM))


@cache
def arm_factors(arm: Arm) -> np.ndarray:
    """The arm's part of phi: channel one-hot, midday, evening, weekend (shared with the OPE reward model)."""
    x = np.zeros(ARM_DIM)
    x[CHANNELS.index(arm.channel)] = 1.0
    x[len(CHANNELS)] = arm.slot == "midday"
    x[len(CHANNELS) + 1] = arm.slot == "evening"
    x[len(CHANNELS) + 2] = arm.weekend
    return x


def features(context: Context, arms: tuple[Arm, ...]) -> np.ndarray:
    """phi(context, arm) for each arm, shape (len(arms), DIM)."""
    out = np.empty((len(arms), DIM))
    out[:, :ARM_DIM] = [arm_factors(a) for a in arms]
    out[:, ARM_DIM:] = context.vector()
    return out


@dataclass(frozen=True)
class LinearThompsonSampling(SampledPolicy):
    """Settings: ``by`` (context fields of the model key), ``ridge`` prior, ``exploration``, ``draws``."""

    state: BanditState
    name: str = "linear_ts"
    by: tuple[str, ...] = ("profile",)
    ridge: float = 1.0
    exploration: float = 0.25
    draws: int = 64

    def __post_init__(self) -> None:
        if not self.by or not set(self.by) <= set(KEY_FIELDS):
            raise InvalidInput(f"by must name context fields among {list(KEY_FIELDS)}", field="by")
        if self.ridge <= 0:
            raise InvalidInput("ridge must be positive", field="ridge")
        if self.exploration < 0:
            raise InvalidInput("exploration must be >= 0", field="exploration")
        if not isinstance(self.draws, int) or self.draws < 1:
            raise InvalidInput("draws must be a positive integer", field="draws")

    def state_key(self, context: Context) -> str:
        """The state hash of ``context``'s statistics."""
        return f"lin:{self.name}:{context.key(self.by)}"

    def posterior(self, context: Context) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance (before ``exploration``^2) of theta for this context's model."""
        h = self.state.read(self.state_key(context))
        a = np.zeros((DIM, DIM))
        a[_UPPER] = [h.get(f, 0.0) for f in _A_FIELDS]
        a = a + np.triu(a, 1).T + self.ridge * np.eye(DIM)
        b = np.array([h.get(f, 0.0) for f in _B_FIELDS])
        cov = np.linalg.inv(a)
        return cov @ b, cov

    def _scores(self, context: Context, arms: tuple[Arm, ...], rng: np.random.Generator) -> np.ndarray:
        mean, cov = self.posterior(context)
        root = np.linalg.cholesky((cov + cov.T) / 2)
        theta = mean[:, None] + self.exploration * root @ rng.standard_normal((DIM, self.draws))
        return features(context, arms) @ theta

    def _learn(self, context: Context, arm: Arm, reward: float, event_id: str | None) -> bool:
        x = features(context, (arm,))[0]
        outer = np.outer(x, x)[_UPPER]
        deltas = {f: v for f, v in zip(_A_FIELDS, outer) if v}
        deltas.update({f: v for f, v in zip(_B_FIELDS, reward * x) if v})
        deltas["n"] = 1.0
        once = f"{self.name}:{event_id}" if event_id is not None else None
        return self.state.increment(self.state_key(context), deltas, once)
