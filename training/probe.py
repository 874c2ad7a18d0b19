"""Probe rows: what a payment-delay model must score soundly before it may be registered or served.

Why: a model can load and still be unfit to serve. Found by hand (issue 15, F5):
a booster trained on another feature count crashed the reload (a 500, and the
reload thread died); a model with NaN calibration was accepted, and every
decision then answered 422 "p_late must be a finite number", blaming the
client. :func:`check_servable` refuses such a model with a reason
(``ModelError``) at the one door every model passes (``registry.check_artifact``,
called at registration and at every load), so the serving model is never
replaced by one that fails here.

Checks, each with its own reason (besides those of loading: every booster
reads exactly ``feature_names_``, every leaf value is finite, the SHAP base
value is the stored one): every Platt pair, constant, period level and expected
log-odds is finite (and the Platt slope positive, so the map is monotone);
and on each probe row (a new customer; a customer with paid, late and open
invoices) the margins, the outputs (probabilities within [0, 1]) and the exact
explanation are finite, and the explanation adds up to the served P(late).

Example::

    check_servable(PaymentDelayModel.load(path), source="models:/payment-delay/7")
"""
from __future__ import annotations

import math
from datetime import datetime
from functools import cache

import numpy as np

from domain.errors import ModelError
from features.aggregates import CustomerAggregates, CustomerState, fold
from features.transform import InvoiceRequest, invoice_features, vector
from ledger.events import parse_event
from training.kredo_payment_delay import PROBABILITIES
from training.model import EXPLAINED, PaymentDelayModel

_HISTORY = [
    {"event_id": "p1", "type": "invoice_issued", "invoice_id": "I1", "at": "2026-01-05T10:00:00",
     "amount": 400.0, "due_at": "2026-02-04T10:00:00", "payment_terms_days": 30, "paperless": True},
    {"event_id": "p2", "type": "payment_received", "invoice_id": "I1", "at": "2026-02-20T10:00:00", "amount": 400.0},
    {"event_id": "p3", "type": "invoice_issued", "invoice_id": "I2", "at": "2026-03-05T10:00:00",
     "amount": 250.0, "due_at": "2026-04-04T10:00:00", "payment_terms_days": 30, "paperless": True},
    {"event_id": "p4", "type": "payment_received", "invoice_id": "I2", "at": "2026-04-01T10:00:00", "amount": 250.0},
    {"event_id": "p5", "type": "invoice_issued", "invoice_id": "I3", "at": "2026-05-05T10:00:00",
     "amount": 900.0, "due_at": "2026-06-04T10:00:00", "payment_terms_days": 30, "paperless": True},
]


@cache
def probe_rows() -> tuple[np.ndarray, ...]:
    """Feature vectors (``FEATURE_NAMES`` order) of a new customer and of one with history, at 2026-07-01."""
    state = CustomerState()
    for raw in _HISTORY:
        refused = fold(state, parse_event({**raw, "customer_id": "PROBE"}))
        if refused is not None:
            raise ModelError(f"probe history refused: {refused.reason}", field="probe")
    at = datetime(2026, 7, 1, 12)
    rows = []
    for aggregates, kind in ((CustomerAggregates(), "consumer"), (state.aggregates, "business")):
        request = InvoiceRequest(amount=300.0, payment_terms_days=30, issued_at=at, customer_type=kind)
        rows.append(vector(invoice_features(aggregates, request, at)))
    return tuple(rows)


def check_servable(model: PaymentDelayModel, source: str) -> None:
    """Raise ``ModelError`` naming the first reason ``model`` (from ``source``) may not serve."""
    numbers = {**{f"calibration of {o} ({part})": v for o, pair in model.calibration_.items()
                  for part, v in zip(("slope", "intercept"), pair)},
               **{f"constant of {o}": v for o, v in model.constants_.items()},
               **{f"period level of {o}": v for o, v in model.period_level_.items()},
               **{f"expected log-odds of {o}": v for o, v in model.expected_log_odds_.items()}}
    for name, value in numbers.items():
        if not math.isfinite(value):
            raise ModelError(f"{source}: the {name} is not finite ({value})", field="calibration")
    for output, (scale, _) in model.calibration_.items():
        if scale <= 0:
            raise ModelError(f"{source}: the calibration slope of {output} is {scale}, not positive",
                             field="calibration")
    for i, x in enumerate(probe_rows()):
        _score_probe(model, x, f"{source}: probe row {i}")


def _score_probe(model: PaymentDelayModel, x: np.ndarray, where: str) -> None:
    try:
        scores = model.predict_one(x)
        margins = model.forest_.margins(np.asarray(x, dtype=np.float32))
        why = model.explain_probability_one(x)
    except Exception as exc:  # noqa: BLE001 - any failure on a probe row refuses the model
        raise ModelError(f"{where}: scoring raised {type(exc).__name__}", field="model") from None
    if not np.all(np.isfinite(margins)):
        raise ModelError(f"{where}: a margin is not finite ({margins.tolist()})", field="model")
    for name, value in scores.items():
        if not math.isfinite(value) or name in PROBABILITIES and not 0.0 <= value <= 1.0:
            raise ModelError(f"{where}: {name} = {value} is not a finite score in range", field="model")
    if not (np.all(np.isfinite(why.log_odds)) and np.all(np.isfinite(why.points))):
        raise ModelError(f"{where}: the explanation of {EXPLAINED} is not finite", field="shap")
    if abs(why.base_probability + float(why.points.sum()) - scores[EXPLAINED]) > 1e-6:
        raise ModelError(f"{where}: the explanation does not add up to {EXPLAINED}", field="shap")
