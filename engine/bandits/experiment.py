"""An A/B experiment with a fixed control group: uplift is measured, not assumed.

Why: a bandit's paid rate says little on its own; a fixed share of traffic
(``control_share``, default 10 %) keeps the static rules policy, and the
difference between the groups is the bandit's uplift. The group is a pure
function of the experiment name and the invoice id (SHA-256), so a retried
request, another worker or another host puts the invoice in the same group,
and every reminder of one invoice stays in one group.

Example::

    exp = Experiment(name="dunning-2026", policy=ThompsonSampling(state=state),
                     control_policy=FixedPreference())
    choice = exp.decide("INV-00000042", ctx, allowed, rng)
    choice.group     # 'bandit' or 'control'
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from engine.bandits.arms import Arm
from engine.bandits.context import Context
from engine.bandits.policies import Choice, LearningPolicy
from domain.errors import InvalidInput

GROUPS = ("bandit", "control")


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """``control_share`` of invoices get ``control_policy``, the rest ``policy``."""

    name: str
    policy: LearningPolicy
    control_policy: LearningPolicy
    control_share: float = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInput("experiment name must be a non-empty string", field="name")
        if (isinstance(self.control_share, bool) or not isinstance(self.control_share, (int, float))
                or not 0.0 <= self.control_share <= 1.0):
            raise InvalidInput("control_share must be a number in [0, 1]", field="control_share")
        for field in ("policy", "control_policy"):
            if not isinstance(getattr(self, field), LearningPolicy):
                raise InvalidInput(f"{field} must be a LearningPolicy", field=field)

    def group(self, invoice_id: str) -> str:
        """'control' or 'bandit' for this invoice; the same answer every time, on every host."""
        if not isinstance(invoice_id, str) or not invoice_id:
            raise InvalidInput("invoice_id must be a non-empty string", field="invoice_id")
        digest = hashlib.sha256(f"{self.name}\x00{invoice_id}".encode()).digest()
        return "control" if int.from_bytes(digest[:8], "big") / 2**64 < self.control_share else "bandit"

    def policy_for(self, group: str) -> LearningPolicy:
        return self.control_policy if group == "control" else self.policy

    def decide(self, invoice_id: str, context: Context, allowed: Sequence[Arm],
               rng: np.random.Generator) -> Choice:
        """The group's policy chooses; the ``Choice`` names the experiment and group.

        The propensity is the group policy's: given the invoice, the group is
        fixed, so it is the probability of the arm for this decision.
        """
        group = self.group(invoice_id)
        choice = self.policy_for(group).choose(context, allowed, rng)
        return replace(choice, experiment=self.name, group=group)
