"""The context a dunning decision is made in: who is reminded, at which step.

Why: the best channel and hour differ by customer group (students answer
WhatsApp in the evening, the 60-plus read letters in the morning). Thompson
sampling keeps one set of arm statistics per context key (default: risk
segment and profile); the contextual policy keeps one linear model per profile
and uses the numeric part, :meth:`Context.vector`, as features.

What the fields are:

* ``profile``: one of ``domain.vocabulary.PROFILES``;
* ``customer_type``: 'business' or 'consumer';
* ``segment``: the risk segment the credit policy's ``risk_segments`` table decided;
* ``p_late``: the payment model's probability that the invoice is paid late (0..1);
* ``step``: the reminder's number on the dunning ladder (1, 2, 3, ...).

Example::

    ctx = Context(profile="student", customer_type="consumer", segment="high", p_late=0.7, step=2)
    ctx.key(("segment", "profile"))   # 'high|student'
    ctx.vector()                      # array([0.7, 1. ])  (p_late, step - 1)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from domain.errors import InvalidInput
from domain.vocabulary import CUSTOMER_TYPES, PROFILES

KEY_FIELDS = ("segment", "profile", "customer_type")


@dataclass(frozen=True, slots=True)
class Context:
    """Who is being reminded and at which step; validated once, here."""

    profile: str
    customer_type: str = "consumer"
    segment: str = "medium"
    p_late: float = 0.5
    step: int = 1

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise InvalidInput(f"unknown profile {self.profile!r}; expected one of {list(PROFILES)}",
                               field="context.profile")
        if self.customer_type not in CUSTOMER_TYPES:
            raise InvalidInput(f"unknown customer_type {self.customer_type!r}; expected one of "
                               f"{list(CUSTOMER_TYPES)}", field="context.customer_type")
        if not isinstance(self.segment, str) or not self.segment or "|" in self.segment:
            raise InvalidInput("segment must be a non-empty label without '|'", field="context.segment")
        if (isinstance(self.p_late, bool) or not isinstance(self.p_late, (int, float))
                or not 0.0 <= self.p_late <= 1.0 or math.isnan(self.p_late)):
            raise InvalidInput(f"p_late must be a number in [0, 1], got {self.p_late!r}",
                               field="context.p_late")
        if isinstance(self.step, bool) or not isinstance(self.step, (int, np.integer)) or self.step < 1:
            raise InvalidInput(f"step must be an integer >= 1, got {self.step!r}", field="context.step")

    def key(self, by: tuple[str, ...]) -> str:
        """The context key over the fields ``by`` (e.g. 'high|student')."""
        return "|".join(str(getattr(self, f)) for f in by)

    def vector(self) -> np.ndarray:
        """The numeric features the contextual policy adds to the arm's: (p_late, step - 1)."""
        return np.array([float(self.p_late), float(self.step - 1)])

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "customer_type": self.customer_type, "segment": self.segment,
                "p_late": float(self.p_late), "step": int(self.step)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Context":
        """Rebuild a context logged with :meth:`to_dict` (pending rewards, audit records)."""
        if not isinstance(data, Mapping):
            raise InvalidInput("context must be an object", field="context")
        unknown = set(data) - {"profile", "customer_type", "segment", "p_late", "step"}
        if unknown:
            raise InvalidInput(f"unknown context fields {sorted(unknown)}", field="context")
        if "profile" not in data:
            raise InvalidInput("context needs a profile", field="context.profile")
        return cls(**data)
