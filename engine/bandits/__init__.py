"""Bandits for dunning: choose channel x send-time among the arms the rules allow.

Why: a fixed A/B test wastes half its traffic on the worse arm; a bandit
learns while it earns, but only if its bookkeeping is right: propensities
logged with every choice, a fixed control group, delayed rewards attributed
once, state shared by every worker, and off-policy evaluation before rollout.

Modules: ``arms`` (``Arm``, ``all_arms``), ``context`` (``Context``),
``policies`` (``LearningPolicy``, ``Choice``, ``UniformRandom``, ``FixedPreference``),
``thompson`` (Beta-Bernoulli ``ThompsonSampling``), ``linear``
(``LinearThompsonSampling``, the contextual policy), ``state``
(``BanditState``, ``InProcessState``; Redis in ``features.online.bandit_redis``),
``experiment`` (``Experiment``), ``attribution`` (delayed rewards),
``ope`` (IPS, SNIPS, doubly robust), ``logs`` (logged reminders from a ledger),
``regret`` (the benchmark's stream runner).

Example::

    state = InProcessState()
    exp = Experiment(name="dunning", policy=LinearThompsonSampling(state=state),
                     control_policy=FixedPreference())
    choice = exp.decide("INV-1", Context("student", p_late=0.7), arms_for_channels(["email", "sms"]),
                        np.random.default_rng(7))
"""
from engine.bandits.arms import Arm, all_arms, arms_for_channels
from engine.bandits.attribution import Attribution, Settled
from engine.bandits.context import Context
from engine.bandits.experiment import Experiment
from engine.bandits.linear import LinearThompsonSampling
from engine.bandits.policies import Choice, LearningPolicy, FixedPreference, UniformRandom
from engine.bandits.state import BanditState, InProcessState
from engine.bandits.thompson import ThompsonSampling

__all__ = ["Arm", "all_arms", "arms_for_channels", "Attribution", "Settled", "Context",
           "Experiment", "LinearThompsonSampling", "Choice", "LearningPolicy", "FixedPreference", "UniformRandom",
           "BanditState", "InProcessState", "ThompsonSampling"]
