"""The ``LearningPolicy`` interface, its ``Choice``, and the two policies that learn nothing.

Why: serving, the experiment, the reward bookkeeping, the benchmark and the
off-policy evaluation all talk to one interface, so any policy can be swapped
in, A/B-tested against the static control or evaluated on old logs.

A policy's settings are immutable (frozen dataclass fields); what it learns
lives in the injected ``BanditState``. Every choice carries its propensity:
the probability that the policy, at that moment, picks that arm among the
allowed ones (exact for :class:`UniformRandom`, :class:`FixedPreference` and
``ThompsonSampling``, which draws from its own probability table; a Monte Carlo
estimate for the policies that sample per decision, see :class:`SampledPolicy`).

Errors (raised at this surface, documented in ``tests/test_bandits_invalid.py``):
``InvalidInput`` with ``field`` 'allowed' (empty, not arms), 'context' (not a
``Context``), 'reward' (not in [0, 1]), 'arm' (not an ``Arm``), 'rng' (not a
``numpy.random.Generator``).

Example::

    policy = UniformRandom()
    choice = policy.choose(Context("student"), all_arms()[:6], np.random.default_rng(1))
    choice.propensity   # 1/6
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from engine.bandits.arms import Arm, all_arms
from engine.bandits.context import Context
from domain.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Choice:
    """The arm chosen, its propensity, and who chose it (policy, experiment, group)."""

    arm: Arm
    propensity: float
    policy_name: str
    experiment: str | None = None
    group: str | None = None

    def to_dict(self) -> dict:
        return {"arm": self.arm.key, "propensity": self.propensity, "policy_name": self.policy_name,
                "experiment": self.experiment, "group": self.group}


def check_allowed(allowed: Sequence[Arm]) -> tuple[Arm, ...]:
    """The allowed arms, without duplicates, in the caller's order; ``InvalidInput`` otherwise."""
    if isinstance(allowed, (str, bytes)) or not isinstance(allowed, Sequence) or not allowed:
        raise InvalidInput("allowed must be a non-empty sequence of arms", field="allowed")
    for a in allowed:
        if not isinstance(a, Arm):
            raise InvalidInput(f"allowed holds {type(a).__name__}, not Arm", field="allowed")
    return tuple(dict.fromkeys(allowed))


def _check(context: Context, rng: np.random.Generator | None = None) -> None:
    if not isinstance(context, Context):
        raise InvalidInput(f"context must be a Context, got {type(context).__name__}", field="context")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise InvalidInput("rng must be a numpy.random.Generator (seed it for reproducible runs)",
                           field="rng")


def check_reward(reward: float) -> float:
    if isinstance(reward, (bool, np.bool_)):
        return float(reward)
    if not isinstance(reward, (int, float, np.integer, np.floating)) or not 0.0 <= float(reward) <= 1.0:
        raise InvalidInput(f"reward must be a number in [0, 1], got {reward!r}", field="reward")
    return float(reward)


class LearningPolicy(ABC):
    """Chooses one allowed arm per decision and learns from delayed rewards."""

    name: str

    def choose(self, context: Context, allowed: Sequence[Arm], rng: np.random.Generator) -> Choice:
        """Pick one of ``allowed`` for ``context``; the ``Choice`` carries the propensity."""
        arms = check_allowed(allowed)
        _check(context, rng)
        index, propensity = self._choose(context, arms, rng)
        return Choice(arms[index], propensity, self.name)

    def probabilities(self, context: Context, allowed: Sequence[Arm],
                      rng: np.random.Generator) -> dict[Arm, float]:
        """P(arm) for every allowed arm under the current state (sums to 1); used by evaluation."""
        arms = check_allowed(allowed)
        _check(context, rng)
        return dict(zip(arms, self._probabilities(context, arms, rng)))

    def update(self, context: Context, arm: Arm, reward: float, event_id: str | None = None) -> bool:
        """Learn that ``arm`` earned ``reward`` in ``context``; once per ``event_id``.

        Returns True when the state changed (False for a replayed event id and
        for policies that learn nothing).
        """
        _check(context)
        if not isinstance(arm, Arm):
            raise InvalidInput(f"arm must be an Arm, got {type(arm).__name__}", field="arm")
        return self._learn(context, arm, check_reward(reward), event_id)

    @abstractmethod
    def _choose(self, context: Context, arms: tuple[Arm, ...], rng: np.random.Generator) -> tuple[int, float]:
        """Index into ``arms`` and its propensity."""

    @abstractmethod
    def _probabilities(self, context: Context, arms: tuple[Arm, ...], rng: np.random.Generator) -> np.ndarray:
        """Probability of each of ``arms``."""

    def _learn(self, context: Context, arm: Arm, reward: float, event_id: str | None) -> bool:
        return False


class SampledPolicy(LearningPolicy):
    """Thompson-style policies: pick the arm with the best posterior draw.

    Propensity method (Monte Carlo, seeded by the caller's ``rng``): draw
    ``draws`` posterior samples of every allowed arm's value at once; the
    chosen arm is the best arm of the first sample (exactly the policy's own
    randomisation) and its propensity is the share of the ``draws`` samples in
    which it is best. Because the first sample counts, the propensity is never
    below ``1 / draws``, so inverse-propensity weights stay finite. For a true
    probability P the reported propensity is (1 + Binomial(draws - 1, P)) / draws:
    bias (1 - P) / draws (at most 1/64 with the default), standard error at
    most ``0.5 / sqrt(draws)``. ``tests/test_bandits_policies.py`` checks it
    against the empirical frequency of choices.
    """

    draws: int

    @abstractmethod
    def _scores(self, context: Context, arms: tuple[Arm, ...], rng: np.random.Generator) -> np.ndarray:
        """Posterior samples of each arm's value, shape (len(arms), draws)."""

    def _choose(self, context: Context, arms: tuple[Arm, ...], rng: np.random.Generator) -> tuple[int, float]:
        best = self._scores(context, arms, rng).argmax(axis=0)
        return int(best[0]), float(np.count_nonzero(best == best[0]) / best.size)

    def _probabilities(self, context: Context, arms: tuple[Arm, ...], rng: np.random.Generator) -> np.ndarray:
        best = self._scores(context, arms, rng).argmax(axis=0)
        return np.bincount(best, minlength=len(arms)) / best.size


@dataclass(frozen=True)
class UniformRandom(LearningPolicy):
    """Every allowed arm equally likely: the logging policy of the simulator, and a baseline."""

    name: str = "uniform"

    def _choose(self, context: Context, arms: tuple[Arm, ...], rng: np.random.Generator) -> tuple[int, float]:
        return int(rng.integers(len(arms))), 1.0 / len(arms)

    def _probabilities(self, context: Context, arms: tuple[Arm, ...], rng: np.random.Generator) -> np.ndarray:
        return np.full(len(arms), 1.0 / len(arms))


def default_order() -> tuple[Arm, ...]:
    """A credit manager's fixed habit: email first, then sms, letter, phone, WhatsApp;
    weekday before weekend; morning, midday, evening."""
    channels = ("email", "sms", "letter", "phone", "whatsapp")
    rank = {a: (channels.index(a.channel), a.weekend, a.hour) for a in all_arms()}
    return tuple(sorted(all_arms(), key=rank.__getitem__))


@dataclass(frozen=True)
class FixedPreference(LearningPolicy):
    """The control group: the first allowed arm in a fixed preference ``order`` (propensity 1).

    Arms missing from ``order`` rank after it, in :func:`all_arms` order, so
    every non-empty allowed set has an answer.
    """

    name: str = "static"
    order: tuple[Arm, ...] = default_order()

    def __post_init__(self) -> None:
        if not self.order or not all(isinstance(a, Arm) for a in self.order):
            raise InvalidInput("order must be a non-empty tuple of arms", field="order")

    @classmethod
    def from_keys(cls, keys: Sequence[str], name: str = "static") -> "FixedPreference":
        """Build from arm keys as written in a rules file ('email|morning|weekday', ...)."""
        return cls(name=name, order=tuple(Arm.parse(k) for k in keys))

    @cached_property
    def _rank(self) -> dict[Arm, int]:
        listed = dict.fromkeys(self.order)
        return {a: i for i, a in enumerate([*listed, *(a for a in all_arms() if a not in listed)])}

    def _choose(self, context: Context, arms: tuple[Arm, ...], rng: np.random.Generator) -> tuple[int, float]:
        return min(range(len(arms)), key=lambda i: self._rank[arms[i]]), 1.0

    def _probabilities(self, context: Context, arms: tuple[Arm, ...], rng: np.random.Generator) -> np.ndarray:
        out = np.zeros(len(arms))
        out[self._choose(context, arms, rng)[0]] = 1.0
        return out
