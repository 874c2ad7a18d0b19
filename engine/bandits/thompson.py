"""Thompson sampling with Beta-Bernoulli arms, one independent bandit per context key.

Why: the simplest bandit that learns while it earns. Each (context key, arm)
has a Beta(prior_a + successes, prior_b + failures) posterior over its paid
rate; each decision plays the arm with the best posterior draw, so an arm is
tried in proportion to the chance that it is the best one.

State: hash ``ts:{name}:{context key}`` with fields ``{arm key}:n`` (rewards
observed) and ``{arm key}:s`` (sum of rewards), one ``HINCRBYFLOAT`` each.

Choice and propensity (one table per posterior): the probability that each
allowed arm has the best posterior draw is estimated once per distinct set of
Beta parameters from ``draws`` joint posterior samples (a generator seeded by
the parameters themselves, so every process, the API and the dunning run, gets
the same table), smoothed: ``(wins + SMOOTHING) / (draws + SMOOTHING x arms)``, so every
arm keeps a chance of at least ``1 / (4 x draws + arms)``. A decision then draws
its arm from that table with one uniform of the caller's ``rng``. The logged
propensity is therefore exactly the probability of the logged arm under the
policy that chose it (what IPS needs), and the table differs from ideal
Thompson sampling by at most ``0.5 / sqrt(draws)`` standard error per arm
(0.031 with the default 256). Why: a dunning run decides thousands of
reminders on one unchanged state (rewards arrive days later), so the sampling
is paid once per (context key, allowed arms), not 64 x arms Beta draws per
reminder; tables are kept for the last ``TABLES`` posteriors of the process.
Why 256 and not more: the API pays a table on its first decision after a
reward changed the posterior, about 70 ns per arm and draw (0.23 ms for 8
arms, 0.63 ms for 30); 1,024 draws put that decision at 0.75-2.3 ms, over
the decision's latency budget (``bench/bandits.py``, docs/bandits.md).

Example::

    policy = ThompsonSampling(state=InProcessState())
    choice = policy.choose(ctx, allowed, rng)
    policy.update(ctx, choice.arm, 1.0, event_id="REM-1")
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engine.bandits.arms import Arm
from engine.bandits.context import KEY_FIELDS, Context
from engine.bandits.policies import LearningPolicy
from engine.bandits.state import BanditState
from domain.errors import InvalidInput


#: Probability tables kept per process (one per distinct posterior and allowed-arm list).
TABLES = 4096
#: The pseudo-count every arm's wins start from: a floor of 1 / (4 x draws + arms) under every arm (what
#: 1,024 draws with a pseudo-count of 1 gave) for a total smoothing of arms / (4 x draws + arms); a
#: pseudo-count of 1 on 256 draws spread 10 % of the choices evenly over 30 arms, and that exploration
#: cost 8 % more regret (bench/bandits.py: 13,141 against 12,132).
SMOOTHING = 0.25


@lru_cache(maxsize=TABLES)
def best_arm_table(alpha: tuple[float, ...], beta: tuple[float, ...], draws: int) -> tuple[np.ndarray, np.ndarray]:
    """P(arm i has the best draw) of independent Beta(alpha_i, beta_i) arms, and its running sum.

    ``draws`` joint samples from a generator seeded by the parameters, smoothed (see the module
    docstring). Read-only arrays: the cache shares them between decisions.
    """
    seed = hashlib.sha256(np.array([alpha, beta], dtype=np.float64).tobytes() + draws.to_bytes(8, "big")).digest()
    rng = np.random.default_rng(int.from_bytes(seed[:8], "big"))
    a, b = np.array(alpha)[:, None], np.array(beta)[:, None]
    best = rng.beta(a, b, size=(len(alpha), draws)).argmax(axis=0)
    p = (np.bincount(best, minlength=len(alpha)) + SMOOTHING) / (draws + SMOOTHING * len(alpha))
    cumulative = np.cumsum(p)
    p.flags.writeable = cumulative.flags.writeable = False
    return p, cumulative


@dataclass(frozen=True)
class ThompsonSampling(LearningPolicy):
    """Settings: ``by`` (context fields of the key), Beta ``prior``, Monte Carlo ``draws`` of the probability
    table (see the module docstring)."""

    state: BanditState
    name: str = "thompson"
    by: tuple[str, ...] = ("segment", "profile")
    prior: tuple[float, float] = (1.0, 1.0)
    draws: int = 256

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

    def table(self, context: Context, arms: tuple[Arm, ...]) -> tuple[np.ndarray, np.ndarray]:
        """The probability of each of ``arms`` in this context, and its running sum (``best_arm_table``)."""
        alpha, beta = self.posterior(context, arms)
        return best_arm_table(tuple(alpha.tolist()), tuple(beta.tolist()), self.draws)

    def _choose(self, context: Context, arms: tuple[Arm, ...], rng: np.random.Generator) -> tuple[int, float]:
        p, cumulative = self.table(context, arms)
        index = min(int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")), len(arms) - 1)
        return index, float(p[index])

    def _probabilities(self, context: Context, arms: tuple[Arm, ...], rng: np.random.Generator) -> np.ndarray:
        return self.table(context, arms)[0]

    def _learn(self, context: Context, arm: Arm, reward: float, event_id: str | None) -> bool:
        once = f"{self.name}:{event_id}" if event_id is not None else None
        return self.state.increment(self.state_key(context), {f"{arm.key}:n": 1.0, f"{arm.key}:s": reward}, once)
