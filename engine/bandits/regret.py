"""Regret on a stream of reminders with known truth: how the benchmark scores policies.

Why: regret needs the truth (the probability that each arm gets the invoice
paid within 7 days), which only a simulator has. The stream carries it as a
matrix, injected by the caller (``bench/bandits.py`` builds it from
``training.simulation.response_probability``), so this module stays pure.

Every policy sees the same stream and the same reward draws (common random
numbers: arm ``a`` at step ``t`` pays iff ``draws[t] < truth[t, a]``), and the
same delayed feedback: decisions are made in batches of ``batch`` reminders
on the state as it was before the batch, and the batch's rewards are learned
after it, as when rewards arrive a week later.

Regret of a decision = best allowed arm's truth - chosen arm's truth
(expected regret, against an oracle that knows each customer's hidden traits).
The truth is P(paid within 7 days of the *decision*), as the live reward counts
it, so an arm whose send slot is days away is worth what it is worth to the
cash; ``delays`` (days from the decision to each arm's send time) also give
each policy's share of reminders sent within 24 hours.

Example::

    results = run([PolicyLearner(ThompsonSampling(state=InProcessState()))], stream, seed=7)
    results["thompson"].regret, results["thompson"].paid_rate
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine.bandits.arms import Arm
from engine.bandits.context import Context
from engine.bandits.policies import LearningPolicy


@dataclass(frozen=True)
class Stream:
    """Reminders to decide: context, allowed arms, truth (n x 30, ``all_arms`` order), reward draws, and
    the days from each decision to each arm's send time (n x 30; zeros when the stream has no clock)."""

    contexts: tuple[Context, ...]
    allowed: tuple[tuple[Arm, ...], ...]
    truth: np.ndarray
    draws: np.ndarray
    delays: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.contexts)

    def best(self) -> np.ndarray:
        """Truth of the best allowed arm per reminder."""
        return np.array([self.truth[t, [a.index for a in arms]].max() for t, arms in enumerate(self.allowed)])


class Learner(Protocol):
    """What the runner needs from a policy (ours or an external library's)."""

    name: str

    def choose_batch(self, contexts: Sequence[Context], allowed: Sequence[tuple[Arm, ...]],
                     rng: np.random.Generator) -> list[Arm]: ...

    def learn_batch(self, contexts: Sequence[Context], arms: Sequence[Arm], rewards: np.ndarray,
                    event_ids: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class PolicyLearner:
    """A Kredo :class:`LearningPolicy` as a :class:`Learner`: one ``choose`` / ``update`` per reminder."""

    policy: LearningPolicy

    @property
    def name(self) -> str:
        return self.policy.name

    def choose_batch(self, contexts, allowed, rng) -> list[Arm]:
        return [self.policy.choose(c, a, rng).arm for c, a in zip(contexts, allowed)]

    def learn_batch(self, contexts, arms, rewards, event_ids) -> None:
        for c, a, r, e in zip(contexts, arms, rewards, event_ids):
            self.policy.update(c, a, float(r), event_id=e)


@dataclass(frozen=True)
class Result:
    """One policy's run: per-reminder regret and rewards."""

    name: str
    regrets: np.ndarray
    rewards: np.ndarray
    delays: np.ndarray
    """Days from each decision to the chosen arm's send time."""

    @property
    def sent_within_24h(self) -> float:
        """Share of reminders that went out within a day of their decision."""
        return float((self.delays <= 1.0).mean())

    @property
    def regret(self) -> float:
        """Cumulative expected regret over the stream."""
        return float(self.regrets.sum())

    @property
    def paid_rate(self) -> float:
        """Share of reminders followed by payment within 7 days of their decision."""
        return float(self.rewards.mean())

    def curve(self) -> np.ndarray:
        return np.cumsum(self.regrets)


def run(learners: Sequence[Learner], stream: Stream, batch: int = 500, seed: int = 7) -> dict[str, Result]:
    """Play every learner on ``stream``; each gets its own generator seeded with ``seed``."""
    best = stream.best()
    n = len(stream)
    out = {}
    for learner in learners:
        rng = np.random.default_rng(seed)
        chosen = np.empty(n, dtype=np.int64)
        for lo in range(0, n, batch):
            hi = min(lo + batch, n)
            ctx, allowed = stream.contexts[lo:hi], stream.allowed[lo:hi]
            arms = learner.choose_batch(ctx, allowed, rng)
            chosen[lo:hi] = [a.index for a in arms]
            p = stream.truth[np.arange(lo, hi), chosen[lo:hi]]
            learner.learn_batch(ctx, arms, (stream.draws[lo:hi] < p).astype(float),
                                [f"r{t}" for t in range(lo, hi)])
        p = stream.truth[np.arange(n), chosen]
        delays = np.zeros(n) if stream.delays is None else stream.delays[np.arange(n), chosen]
        out[learner.name] = Result(learner.name, best - p, (stream.draws < p).astype(float), delays)
    return out
