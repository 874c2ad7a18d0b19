"""Baselines trained and scored on exactly the model's split.

Why: a model is worth serving only if it beats what a credit manager already
does. Three baselines, for every label:

* ``last_invoice``: the label of the customer's most recent invoice whose
  outcome was already a fact at this invoice's issue time (``<label>_determined_at``
  strictly before ``issued_at``); customers without one get the training rate;
* ``customer_mean``: the mean of all such labels of the customer so far
  (the training rate, as one pseudo-observation, smooths short histories);
* ``logistic``: a logistic regression (linear regression for days late) on the
  same features as the model, median-imputed and standardised.

The history baselines read *labels* (what happened to earlier invoices), not
features, so they need no feature code of their own. The 80th percentile of
a history baseline is the customer's own history (last value, or the running
mean) — a deliberately simple planner to beat.

Example::

    preds = fit_predict_baselines(labels, features, splits, feature_names)
    preds["logistic"]["late"]        # P(late) for every row (NaN where unused)
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from training.labels import BINARY_HEADS, HEADS
from training.split import Splits

BASELINES = ("last_invoice", "customer_mean", "logistic")


def history_baselines(labels: pd.DataFrame, head: str, prior: float) -> tuple[np.ndarray, np.ndarray]:
    """``(last, mean)`` of the customer's earlier ``head`` labels known before each issue time."""
    known = pd.DataFrame({"customer_id": labels["customer_id"], "at": labels[f"{head}_determined_at"],
                          "value": labels[f"{head}_value"]}).dropna()
    known = known.sort_values("at", kind="stable")
    known["cum_sum"] = known.groupby("customer_id")["value"].cumsum()
    known["cum_n"] = known.groupby("customer_id").cumcount() + 1
    query = pd.DataFrame({"customer_id": labels["customer_id"], "at": labels["issued_at"],
                          "row": np.arange(len(labels))}).sort_values("at", kind="stable")
    hit = pd.merge_asof(query, known, on="at", by="customer_id", allow_exact_matches=False)
    hit = hit.sort_values("row")
    last = hit["value"].fillna(prior).to_numpy(dtype=float)
    mean = ((hit["cum_sum"].fillna(0.0) + prior) / (hit["cum_n"].fillna(0.0) + 1.0)).to_numpy(dtype=float)
    return last, mean


def fit_predict_baselines(labels: pd.DataFrame, X: np.ndarray, splits: Splits,
                          random_state: int = 7) -> dict[str, dict[str, np.ndarray]]:
    """Predictions of every baseline for every head on every row: ``{baseline: {head: array}}``."""
    out: dict[str, dict[str, np.ndarray]] = {b: {} for b in BASELINES}
    for head in HEADS:
        train = splits.mask(head, "train")
        y = labels[head].to_numpy(dtype=float)
        prior = float(y[train].mean()) if train.any() else 0.0
        out["last_invoice"][head], out["customer_mean"][head] = history_baselines(labels, head, prior)
        out["logistic"][head] = _linear(head, X, y, train, prior, random_state)
    return out


def _linear(head: str, X: np.ndarray, y: np.ndarray, train: np.ndarray, prior: float,
            random_state: int) -> np.ndarray:
    """Logistic (binary heads) or ridge (days late) regression on the features."""
    one_class = head in BINARY_HEADS and not (0 < y[train].sum() < train.sum())
    if train.sum() < 2 or one_class:
        return np.full(len(X), prior)
    if head in BINARY_HEADS:
        model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                              LogisticRegression(max_iter=500, random_state=random_state))
        model.fit(X[train], y[train])
        return model.predict_proba(X)[:, 1]
    model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), Ridge(alpha=1.0))
    model.fit(X[train], y[train])
    return np.clip(model.predict(X), 0.0, None)
