"""Off-policy evaluation: what would a policy have earned on logs of another policy?

Why: before a new policy reaches customers, analysts estimate its paid rate
from reminders a different (logging) policy sent, using the propensities the
log carries. Three estimators, each with a 95 % confidence interval (normal
approximation over per-reminder terms, CLT; ``z`` to change the level):

* IPS: mean of pi(a|x) / mu(a|x) * r. Unbiased, high variance.
* self-normalised IPS: sum(w r) / sum(w); slightly biased, much steadier;
  its interval comes from the delta method (terms w (r - V) / mean(w)).
* doubly robust: a reward model q(x, a) (logistic regression on the arm
  factors per profile, cross-fitted on two halves of the log) plus the IPS
  correction of its error; unbiased if either part is right, lowest variance.

And one diagnostic, the mean importance weight pi(a|x) / mu(a|x): 1 in
expectation whenever the log's propensities are the true probabilities of its
arms (and the target stays inside the log's support). IPS / SNIPS is exactly
this mean, so an interval that excludes 1 says the two disagree because the
log's propensities are wrong, not because of the target policy.

Example::

    logged = from_ledger(ledger)
    est = evaluate(FixedPreference(), logged, np.random.default_rng(7))
    est["dr"].value, est["dr"].lo, est["dr"].hi
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from engine.bandits.arms import all_arms
from engine.bandits.context import Context
from engine.bandits.linear import ARM_DIM, arm_factors
from engine.bandits.logs import Logged
from engine.bandits.policies import LearningPolicy
from domain.vocabulary import PROFILES

_ARM_PARTS = np.array([arm_factors(a) for a in all_arms()])


@dataclass(frozen=True)
class Estimate:
    """A policy value estimate with its confidence interval."""

    estimator: str
    value: float
    lo: float
    hi: float
    n: int

    def to_dict(self) -> dict:
        return asdict(self)

    def covers(self, value: float) -> bool:
        return self.lo <= value <= self.hi


def _clt(name: str, value: float, terms: np.ndarray, z: float) -> Estimate:
    half = z * float(np.std(terms, ddof=1)) / np.sqrt(len(terms))
    return Estimate(name, float(value), float(value - half), float(value + half), len(terms))


def target_probabilities(policy: LearningPolicy, logged: Logged, rng: np.random.Generator) -> np.ndarray:
    """pi(a | x) for every logged context, shape (n, 30) in ``all_arms`` order (0 if not allowed)."""
    out = np.zeros((len(logged), len(all_arms())))
    for t, (c, allowed) in enumerate(zip(logged.contexts, logged.allowed)):
        for arm, p in policy.probabilities(c, allowed, rng).items():
            out[t, arm.index] = p
    return out


def _logged_index(logged: Logged) -> np.ndarray:
    return np.fromiter((a.index for a in logged.arms), dtype=np.int64, count=len(logged))


def _weights(pi: np.ndarray, logged: Logged) -> np.ndarray:
    """pi(a|x) / mu(a|x) of each logged arm."""
    return pi[np.arange(len(logged)), _logged_index(logged)] / logged.propensities


def mean_weight(pi: np.ndarray, logged: Logged, z: float = 1.96) -> Estimate:
    """The mean importance weight (expected 1 on an honest log), with its interval."""
    w = _weights(pi, logged)
    return _clt("mean_weight", w.mean(), w, z)


def ips(pi: np.ndarray, logged: Logged, z: float = 1.96) -> Estimate:
    terms = _weights(pi, logged) * logged.rewards
    return _clt("ips", terms.mean(), terms, z)


def snips(pi: np.ndarray, logged: Logged, z: float = 1.96) -> Estimate:
    w = _weights(pi, logged)
    if w.sum() <= 0:
        return Estimate("snips", float("nan"), float("nan"), float("nan"), len(logged))
    value = float((w * logged.rewards).sum() / w.sum())
    return _clt("snips", value, w * (logged.rewards - value) / w.mean(), z)


def _design(contexts: tuple[Context, ...], arm_parts: np.ndarray) -> np.ndarray:
    """Reward-model features: profile one-hot x arm factors, plus p_late, step - 1, business."""
    n = len(contexts)
    prof = np.zeros((n, len(PROFILES)))
    prof[np.arange(n), [PROFILES.index(c.profile) for c in contexts]] = 1.0
    inter = (prof[:, :, None] * arm_parts[:, None, :]).reshape(n, len(PROFILES) * ARM_DIM)
    extra = np.array([(c.p_late, c.step - 1, c.customer_type == "business") for c in contexts], dtype=float)
    return np.hstack([prof, inter, extra])


def reward_model(logged: Logged, folds: int = 2, seed: int = 7) -> np.ndarray:
    """Cross-fitted q(x, a) for every row and arm, shape (n, 30): each fold is predicted by a
    model fitted on the other folds, so the model never scores the rows it learned from."""
    n = len(logged)
    fold = np.random.default_rng(seed).permutation(n) % folds
    x_logged = _design(logged.contexts, _ARM_PARTS[_logged_index(logged)])
    q = np.zeros((n, len(all_arms())))
    for k in range(folds):
        train, test = fold != k, fold == k
        y = logged.rewards[train]
        if y.min() == y.max():
            q[test] = y[0]
            continue
        model = LogisticRegression(C=1.0, max_iter=1000).fit(x_logged[train], y)
        ctx = tuple(c for c, keep in zip(logged.contexts, test) if keep)
        for a in range(len(all_arms())):
            q[test, a] = model.predict_proba(_design(ctx, np.repeat(_ARM_PARTS[a:a + 1], len(ctx), 0)))[:, 1]
    return q


def doubly_robust(pi: np.ndarray, logged: Logged, q: np.ndarray, z: float = 1.96) -> Estimate:
    rows, idx = np.arange(len(logged)), _logged_index(logged)
    w = _weights(pi, logged)
    terms = (pi * q).sum(axis=1) + w * (logged.rewards - q[rows, idx])
    return _clt("dr", terms.mean(), terms, z)


def evaluate(policy: LearningPolicy, logged: Logged, rng: np.random.Generator, z: float = 1.96,
             seed: int = 7) -> dict[str, Estimate]:
    """IPS, SNIPS and DR estimates of ``policy``'s paid rate on ``logged``, plus the logging
    policy's own (on-policy) rate for comparison."""
    return estimates(target_probabilities(policy, logged, rng), logged, z, seed)


def estimates(pi: np.ndarray, logged: Logged, z: float = 1.96, seed: int = 7) -> dict[str, Estimate]:
    """:func:`evaluate` on given target probabilities ``pi`` (so a caller can reuse them)."""
    return {
        "ips": ips(pi, logged, z),
        "snips": snips(pi, logged, z),
        "dr": doubly_robust(pi, logged, reward_model(logged, seed=seed), z),
        "logging": _clt("logging", logged.rewards.mean(), logged.rewards, z),
    }
