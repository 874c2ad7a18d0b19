"""What a decision runs on, declared once: feature store, scorer, rule engine, experiment, calendar.

Why: ``engine`` is pure logic; the online store (``features.online``), the
payment-delay model (``training.model``), the compiled credit policy
(``engine.rules.RuleEngine``), the bandit experiment
(``engine.bandits.Experiment``) and the public holidays (``engine.calendar.Calendar``)
are handed in. These protocols are the whole of what the decision path may call
on them, so a test double, a batch adapter (the backtest's precomputed features)
or a new backend needs nothing more. ``Served.calendar`` left out (None) counts
weekends only: the service and the batch paths always hand one in.

Example::

    served = Served(model=model, model_info=info, rules=RuleEngine(policy), experiment=None,
                    calendar=PublicHolidays())
    decide_checkout(request, now, store=store, served=served)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from engine.bandits import Arm, Choice, Context
from engine.calendar import Calendar
from engine.rules import CheckoutOutcome, CreditPolicy, DunningOutcome, SendWindow
from features.transform import InvoiceRequest


class FeatureStore(Protocol):
    """The customer's history as features at a moment (``features.online.OnlineStore`` is one)."""

    def customer_features(self, customer_id: str, request: InvoiceRequest,
                          now: datetime | str | None = None) -> dict[str, float]: ...

    def customer_features_many(self, queries: Sequence[tuple[str, InvoiceRequest, datetime | str | None]]
                               ) -> list[dict[str, float]]:
        """``customer_features`` of many (customer, request, now) queries with one read of the store."""


class Explanation(Protocol):
    """Exact SHAP of the served P(late) in the answer's terms (``training.model.Explanation`` is one).

    ``points`` (probability points per feature, ``FEATURE_NAMES`` order) add up to P(late)
    minus the base rate; ``log_odds`` are the same contributions in calibrated log-odds.
    """

    log_odds: np.ndarray
    points: np.ndarray

    def to_record(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The audit record's ``shap`` section: base values, contributions and the link, by name."""


class Scorer(Protocol):
    """The payment-delay model on one feature vector (``FEATURE_NAMES`` order)."""

    def predict_one(self, x: np.ndarray) -> dict[str, float]:
        """Scores by name: ``p_late``, ``p_late_30``, ``expected_days_late`` (and the other heads)."""

    def explain_probability_one(self, x: np.ndarray) -> Explanation:
        """Exact SHAP of ``p_late`` per feature, adding up to the served probability."""

    def predict_many(self, X: np.ndarray) -> list[dict[str, float]]:
        """``predict_one`` of every row of a matrix, in one call and bit for bit the same (the batch path)."""

    def explain_probability_many(self, X: np.ndarray) -> list[Explanation]:
        """``explain_probability_one`` of every row of a matrix, in one call and bit for bit the same."""


class Rules(Protocol):
    """The compiled credit policy (``engine.rules.RuleEngine``)."""

    policy: CreditPolicy

    def evaluate_checkout(self, facts: Mapping[str, object]) -> CheckoutOutcome: ...

    def evaluate_dunning(self, facts: Mapping[str, object], now: datetime | None = None,
                         calendar: Calendar | None = None) -> DunningOutcome: ...

    def send_window(self, country: str, calendar: Calendar | None = None) -> SendWindow:
        """The customer's country's contact hours and time zone (its local date counts days past due)."""


class Experimenting(Protocol):
    """The bandit experiment (``engine.bandits.Experiment``): one arm among the allowed ones."""

    def decide(self, invoice_id: str, context: Context, allowed: Sequence[Arm],
               rng: np.random.Generator) -> Choice: ...


@dataclass(frozen=True)
class ModelInfo:
    """Which registered model is serving (goes into every answer and audit record)."""

    name: str
    version: str
    alias: str | None
    run_id: str | None = None


@dataclass(frozen=True)
class Served:
    """One consistent view for one request: model and its identity, the policy's engine, the experiment,
    and the calendar of public holidays (``domain.calendar.PublicHolidays``).

    A reload builds a new ``Served`` off to the side and swaps one reference, so a
    request never sees half a swap.
    """

    model: Scorer
    model_info: ModelInfo
    rules: Rules
    experiment: Experimenting | None
    calendar: Calendar | None = None
