"""What the live experiment has learnt, for the analyst's experiments page: per context each arm's pulls,
reward rate with an interval and current allocation, and the bandit's uplift over the control group.

Why from the state: the page shows the very statistics the workers choose from
(``ts:{policy}:{context}`` and ``exp:{experiment}:{group}`` hashes, in Redis or in
process), not a copy. The allocation is the policy's own ``probabilities`` (for
Thompson sampling, each arm's chance of drawing the best sample), so it is the
propensity the next decision in that context would log.

Example::

    report = experiment_report(experiment, attribution, segments=("low", "medium", "high"))
    report.uplift.value, report.contexts[0].arms[0].rate
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from domain.vocabulary import PROFILES
from engine.bandits.arms import Arm, all_arms
from engine.bandits.attribution import Attribution
from engine.bandits.context import Context
from engine.bandits.experiment import Experiment
from engine.bandits.thompson import ThompsonSampling

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    value: float | None
    low: float | None
    high: float | None


def wilson(successes: float, n: float, z: float = Z95) -> Interval:
    """The Wilson score interval of a rate (sound for small ``n`` and rates near 0 or 1); empty for n = 0."""
    if n <= 0:
        return Interval(None, None, None)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def difference(a: tuple[float, float], b: tuple[float, float], z: float = Z95) -> Interval:
    """Rate ``a`` minus rate ``b`` (each ``(successes, n)``) with the normal (Wald) interval."""
    (sa, na), (sb, nb) = a, b
    if na <= 0 or nb <= 0:
        return Interval(None, None, None)
    pa, pb = sa / na, sb / nb
    half = z * math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
    return Interval(pa - pb, pa - pb - half, pa - pb + half)


@dataclass(frozen=True)
class ArmStats:
    arm: Arm
    pulls: int
    rewards: float
    rate: Interval
    allocation: float


@dataclass(frozen=True)
class ContextStats:
    segment: str
    profile: str
    pulls: int
    arms: tuple[ArmStats, ...]


@dataclass(frozen=True)
class ExperimentReport:
    name: str
    control_share: float
    contexts: tuple[ContextStats, ...]
    groups: dict[str, Interval]
    group_counts: dict[str, tuple[float, float]]
    uplift: Interval


def experiment_report(experiment: Experiment, attribution: Attribution, segments: tuple[str, ...],
                      seed: int = 7) -> ExperimentReport:
    """The report over every (segment, profile) context that has rewarded pulls, busiest first (the
    experiment's policy is Thompson sampling by segment and profile, as ``serving.bandit`` builds it)."""
    policy, state = experiment.policy, attribution.state
    if not isinstance(policy, ThompsonSampling):
        raise TypeError("the report reads Thompson sampling's statistics")
    arms = tuple(all_arms())
    rng = np.random.default_rng(seed)
    contexts = []
    for segment in segments:
        for profile in PROFILES:
            context = Context(profile=profile, segment=segment)
            stats = state.read(policy.state_key(context))
            pulls = {a.key: stats.get(f"{a.key}:n", 0.0) for a in arms}
            if not sum(pulls.values()):
                continue
            allocation = policy.probabilities(context, arms, rng)
            rows = tuple(ArmStats(a, int(pulls[a.key]), stats.get(f"{a.key}:s", 0.0),
                                  wilson(stats.get(f"{a.key}:s", 0.0), pulls[a.key]), float(allocation[a]))
                         for a in arms)
            contexts.append(ContextStats(segment, profile, int(sum(pulls.values())),
                                         tuple(sorted(rows, key=lambda r: (-r.pulls, -r.allocation)))))
    counts = {g: (attribution.group_stats(experiment.name, g).get("s", 0.0),
                  attribution.group_stats(experiment.name, g).get("n", 0.0)) for g in ("bandit", "control")}
    return ExperimentReport(name=experiment.name, control_share=experiment.control_share,
                            contexts=tuple(sorted(contexts, key=lambda c: -c.pulls)),
                            groups={g: wilson(*counts[g]) for g in counts}, group_counts=counts,
                            uplift=difference(counts["bandit"], counts["control"]))
