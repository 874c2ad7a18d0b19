"""The payment-delay model: five XGBoost heads behind one sklearn-style estimator.

Outputs (the serving contract, :data:`OUTPUTS`):

* ``p_late``, ``p_late_30``, ``p_write_off``: calibrated probabilities of the
  binary labels of :mod:`training.labels`;
* ``expected_days_late``: squared-error regression of days late (clipped to
  ``[0, 90]``), i.e. the conditional mean;
* ``days_late_p80``: quantile regression (pinball loss, ``quantile=0.8``), so a
  dunning policy can plan around the 80th percentile.

Calibration: each binary booster is trained with log loss and early
stopping on the validation months; then a monotone Platt map ``p =
sigmoid(a * margin + b)`` is fitted on the validation months
(``calibration_[output] = (a, b)``). The trees are untouched.

Explanations (``explain_probability_one``) are exact TreeSHAP of the served
booster (path-dependent, :class:`training.forest.TreeShap`) carried into the
answer's own terms. The booster's covers are the number of *training rows*
through each node (``training.forest.with_count_covers``, set at training
time), so TreeSHAP's base value is the mean margin over the training rows.
Multiplied by ``a`` the contributions are in *calibrated log-odds*, and the
base value ``a * mean margin + b`` is the expected calibrated log-odds over
the training rows (computed from the rows at training time and stored as
``expected_log_odds_``; the load checks that the trees still give it):
``base + contributions.sum() = logit(p_late)``, exactly, for every answer.
For a credit manager they are also given in *probability points*: each
contribution times ``(p - p_base) / (logit(p) - logit(p_base))`` with
``p_base = sigmoid(base)``, the slope of the calibrated link between the
base and the answer, so they sum exactly to ``p - p_base`` and "+0.05" is
five percentage points; the ranking and the signs are those of the log-odds.
``explain_one`` gives the booster's own margin-space TreeSHAP (what
``shap.TreeExplainer`` computes).

Period effects: the share of late invoices moves with the economy (a
recession lifts every month's rate), and a tree model asked to explain that
from customer features finds calendar proxies (tenure, invoice counts, the
month of issue all grow with time in a ledger that starts on a date) and
extrapolates the period's rate into the future. Given each row's period
(``fit(..., period=, eval_period=)``, any hashable label: the pipeline
passes the month of issue within the customer's sector, see
``training.pipeline.PERIOD_EFFECTS``), a binary head is trained with the
period's log-odds as an offset (``base_margin``, smoothed rate of that head
in that period), so its trees learn who pays later *than its period's
rate*; early stopping and the Platt map see the validation months' offsets
too. The served level is the log-odds of the *median* period of the training
and validation rows (``period_level_``), folded into the Platt intercept
``b`` (the explanation states both): the future month's rate
is unknown, and a typical month is a
better guess than the last months (which may be a recession that has ended)
or the mean (which a few abnormal months move). The price: during a long
downturn the level lags until the downturn is most of the window.
The served booster itself has no offset (``base_score`` 0.5, margin 0), so
TreeSHAP stays exact.

A head whose training or validation months hold one class only (e.g. no
write-offs in a short ledger) is a constant: the smoothed training rate, no
trees; ``constant_heads_`` names them so reports can say so.

Serving: ``predict_one(x)`` and ``explain_probability_one(x)`` evaluate the
trees as numpy arrays extracted once at load (:class:`training.forest.Forest`,
:class:`training.forest.TreeShap`), no pandas, no DMatrix.

Example::

    model = PaymentDelayModel(n_estimators=200, max_depth=4).fit(X, Y, eval_set=(Xv, Yv))
    model.predict_one(X.iloc[0].to_numpy())["p_late"]
    why = model.explain_probability_one(X.iloc[0].to_numpy())
    why.base_log_odds + why.log_odds.sum()       # logit(p_late)
    why.base_probability + why.points.sum()      # p_late
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy.optimize import minimize

from domain.errors import ModelError
from training.forest import Forest, TreeShap, with_count_covers
from training.kredo_payment_delay import (OUTPUTS, PROBABILITIES, Artifact, ArtifactError, Link, head_margins,
                                          read_artifact, sigmoid, sigmoid_one, write_artifact)

HEAD_OF = {"p_late": "late", "p_late_30": "late_30", "p_write_off": "write_off",
           "expected_days_late": "days_late", "days_late_p80": "days_late"}
EXPLAINED = "p_late"


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def fit_platt(margin: np.ndarray, y: np.ndarray, offset: np.ndarray | float = 0.0) -> tuple[float, float]:
    """Fit ``p = sigmoid(a * margin + b + offset)`` by maximum likelihood; ``a`` kept positive (monotone).

    ``offset`` (fixed, per row) is the period effect of each row, see the module doc.
    """
    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
        p = np.clip(sigmoid(ab[0] * margin + ab[1] + offset), 1e-12, 1 - 1e-12)
        g = p - y
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))), np.array([np.mean(g * margin), np.mean(g)])
    res = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B", bounds=[(1e-3, None), (None, None)])
    return float(res.x[0]), float(res.x[1])


@dataclass(frozen=True)
class Explanation:
    """Exact TreeSHAP of one served probability, in its own terms (module doc, "Explanations").

    ``base_log_odds + log_odds.sum() == logit(probability)`` and
    ``base_probability + points.sum() == probability``. ``scale`` and ``shift``
    are the Platt map (``shift`` includes ``period_level``), ``margin_base`` the
    booster's TreeSHAP base value: ``margin = (logit(probability) - shift) / scale``,
    and the booster's own TreeSHAP is ``log_odds / scale``.
    """

    output: str
    probability: float
    base_log_odds: float
    log_odds: np.ndarray
    base_probability: float
    points: np.ndarray
    scale: float
    shift: float
    period_level: float
    margin_base: float

    @classmethod
    def of(cls, output: str, contributions: np.ndarray, margin_base: float, scale: float, shift: float,
           period_level: float) -> "Explanation":
        """From the booster's margin-space TreeSHAP, through the calibrated link."""
        log_odds = contributions * scale
        base = scale * margin_base + shift
        z = base + float(log_odds.sum())
        p, p_base = sigmoid_one(z), sigmoid_one(base)
        return cls(output, p, base, log_odds, p_base, log_odds * _secant_slope(z, base), scale, shift,
                   period_level, margin_base)

    def to_record(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The audit record's ``shap`` section: enough to get from the numbers to the answer alone."""
        return {
            "output": self.output,
            "method": "exact path-dependent TreeSHAP of the served booster; covers = training-row counts",
            "space": f"calibrated log-odds: base_value + sum(contributions) = ln({self.output} / (1 - {self.output}))",
            "base_value": self.base_log_odds,
            "contributions": dict(zip(names, self.log_odds.tolist())),
            "points": {"space": f"probability: base_value + sum(contributions) = {self.output}",
                       "base_value": self.base_probability,
                       "contributions": dict(zip(names, self.points.tolist()))},
            "link": {"formula": "log_odds = scale * margin + shift (shift includes period_level)",
                     "scale": self.scale, "shift": self.shift, "period_level": self.period_level,
                     "margin_base_value": self.margin_base},
        }


def _secant_slope(z: float, base: float) -> float:
    """``(sigmoid(z) - sigmoid(base)) / (z - base)``, stable as ``z -> base`` (then ``p (1 - p)``).

    ``sigmoid(z) - sigmoid(b) = sinh(d / 2) / (2 cosh(z / 2) cosh(b / 2))`` with ``d = z - b``,
    so the slope is ``(sinh(u) / u) / (4 cosh(z / 2) cosh(b / 2))`` with ``u = d / 2``: no
    difference of nearly equal numbers.
    """
    u = (z - base) / 2.0
    ratio = math.sinh(u) / u if abs(u) > 1e-4 else 1.0 + u * u / 6.0
    return ratio / (4.0 * math.cosh(z / 2.0) * math.cosh(base / 2.0))


class PaymentDelayModel:
    """Five heads of payment-delay risk (see the module doc). Parameters only in ``__init__``."""

    def __init__(self, n_estimators: int = 300, max_depth: int = 4, learning_rate: float = 0.1,
                 early_stopping_rounds: int = 30, min_child_weight: float = 5.0, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, quantile: float = 0.8, days_cap: float = 90.0,
                 max_bin: int = 256, n_jobs: int = 2, random_state: int = 7) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.early_stopping_rounds = early_stopping_rounds
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.quantile = quantile
        self.days_cap = days_cap
        self.max_bin = max_bin
        self.n_jobs = n_jobs
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` parameters (what ``save`` writes and ``load`` passes back)."""
        return {k: getattr(self, k) for k in inspect.signature(type(self).__init__).parameters if k != "self"}

    # ------------------------------------------------------------------ fitting
    def _xgb_params(self, output: str, rate: float = 0.5) -> dict[str, Any]:
        """XGBoost parameters of one output; ``rate``: the training rate of a binary head.

        ``min_child_weight`` is a minimum leaf size in rows at a 50 % rate. A leaf's
        hessian is the sum of ``p(1-p)`` over its rows, so for a rare label (1.4 %
        write-offs) the same hessian needs 18x the rows: unscaled, the P(write-off)
        head could not split at all and scored every invoice the same.
        """
        weight = self.min_child_weight * (4.0 * rate * (1.0 - rate) if output in PROBABILITIES else 1.0)
        params = {"max_depth": self.max_depth, "eta": self.learning_rate, "min_child_weight": weight,
                  "subsample": self.subsample, "colsample_bytree": self.colsample_bytree, "tree_method": "hist",
                  "max_bin": self.max_bin, "nthread": self.n_jobs, "seed": self.random_state}
        if output in PROBABILITIES:
            return {**params, "objective": "binary:logistic", "eval_metric": "logloss"}
        if output == "days_late_p80":
            return {**params, "objective": "reg:quantileerror", "quantile_alpha": self.quantile}
        return {**params, "objective": "reg:squarederror", "eval_metric": "rmse"}

    def fit(self, X: pd.DataFrame | np.ndarray, y: pd.DataFrame,
            eval_set: tuple[pd.DataFrame | np.ndarray, pd.DataFrame] | None = None,
            client: Any = None, progress: Any = None, period: np.ndarray | None = None,
            eval_period: np.ndarray | None = None) -> "PaymentDelayModel":
        """Fit every head on the rows where its label is known (NaN in ``y[head]`` = not used).

        ``eval_set`` (the validation months) drives early stopping and calibration;
        ``period`` / ``eval_period`` (e.g. the month of issue of each row of ``X`` /
        the eval rows) switch on period effects for the binary heads (module doc);
        ``client`` (a ``dask.distributed.Client``) trains through ``xgboost.dask``;
        ``progress`` (a tqdm bar) advances once per output.
        """
        X_arr, names = _matrix(X)
        self.feature_names_ = names
        Xv_arr, yv = (_matrix(eval_set[0])[0], eval_set[1]) if eval_set is not None else (None, None)
        if (period is None) != (eval_period is None or eval_set is None):
            raise ModelError("period effects need both period and eval_period (with an eval_set)", field="period")
        self.boosters_: dict[str, xgb.Booster | None] = {}
        self.constants_: dict[str, float] = {}
        self.calibration_: dict[str, tuple[float, float]] = {}
        self.period_level_: dict[str, float] = {}
        self.expected_log_odds_: dict[str, float] = {}
        self.best_iteration_: dict[str, int] = {}
        for output in OUTPUTS:
            head = HEAD_OF[output]
            mask = y[head].notna().to_numpy()
            target = y[head].to_numpy(dtype=float)[mask]
            vmask = yv[head].notna().to_numpy() if yv is not None else np.zeros(0, dtype=bool)
            vtarget = yv[head].to_numpy(dtype=float)[vmask] if yv is not None else np.zeros(0)
            if self._degenerate(output, target, vtarget):
                self.boosters_[output] = None
                self.constants_[output] = self._constant(output, target)
            else:
                params = self._xgb_params(output, rate=float(target.mean()) if output in PROBABILITIES else 0.5)
                offsets = None
                if output in PROBABILITIES and period is not None:
                    offsets = period_offsets(np.asarray(period)[mask], target,
                                             np.asarray(eval_period)[vmask], vtarget)
                    params["base_score"] = 0.5  # margin 0: the offsets carry the level
                booster, mean_margin = with_count_covers(
                    _train(params, X_arr[mask], target, Xv_arr[vmask] if Xv_arr is not None else None, vtarget,
                           self.n_estimators, self.early_stopping_rounds, client,
                           offsets[:2] if offsets is not None else None), X_arr[mask])
                self.boosters_[output] = booster
                self.best_iteration_[output] = booster.num_boosted_rounds()
                if output in PROBABILITIES and len(vtarget):
                    vmargin = np.asarray(booster.inplace_predict(Xv_arr[vmask], predict_type="margin"), dtype=float)
                    if offsets is None:
                        self.calibration_[output] = fit_platt(vmargin, vtarget)
                    else:
                        a, b = fit_platt(vmargin, vtarget, offsets[1])
                        self.calibration_[output] = (a, b + offsets[2])
                        self.period_level_[output] = offsets[2]
                    a, b = self.calibration_[output]
                    self.expected_log_odds_[output] = a * mean_margin + b
            if progress is not None:
                progress.update(1)
        if self.boosters_["p_late"] is None:
            raise ModelError("P(late) cannot be trained: the training or validation months hold one "
                             "class only", field="late")
        self._build_forest()
        return self

    @staticmethod
    def _degenerate(output: str, target: np.ndarray, vtarget: np.ndarray) -> bool:
        if len(target) < 2 or len(vtarget) < 1:
            return True
        if output in PROBABILITIES:
            return not (0 < target.sum() < len(target)) or not (0 < vtarget.sum() < len(vtarget))
        return bool(np.all(target == target[0]))

    def _constant(self, output: str, target: np.ndarray) -> float:
        """Margin of a constant head: the smoothed rate (logit) or the mean / quantile of days late."""
        if output in PROBABILITIES:
            return _logit((float(target.sum()) + 0.5) / (len(target) + 1.0))
        if not len(target):
            return 0.0
        return float(np.quantile(target, self.quantile) if output == "days_late_p80" else target.mean())

    def _build_forest(self) -> None:
        self.forest_ = Forest.from_boosters([self.boosters_[o] for o in OUTPUTS],
                                            [self.constants_.get(o, 0.0) for o in OUTPUTS])
        self.shap_ = TreeShap.from_booster(self.boosters_[EXPLAINED], len(self.feature_names_))
        self._link = Link.of(self.calibration_, self.days_cap)

    @property
    def constant_heads_(self) -> list[str]:
        return [o for o in OUTPUTS if self.boosters_[o] is None]

    # --------------------------------------------------------------- predicting
    def margins(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Raw margins, shape ``(n, len(OUTPUTS))`` (batch path: one XGBoost call per head)."""
        return head_margins(self.boosters_, self.constants_, _matrix(X, self.feature_names_)[0])

    def predict(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        """Every output for a batch, as a DataFrame with columns :data:`OUTPUTS`."""
        return pd.DataFrame(self._link(self.margins(X)), columns=list(OUTPUTS),
                            index=X.index if isinstance(X, pd.DataFrame) else None)

    def predict_one(self, x: np.ndarray) -> dict[str, float]:
        """Every output for one feature vector in ``feature_names_`` order (numpy only)."""
        return self._link.one(self.forest_.margins(self._vector(x)))

    def predict_many(self, X: np.ndarray) -> list[dict[str, float]]:
        """``predict_one`` of every row of ``X`` in one walk of the trees; the same numbers bit for bit (the
        dunning run scores a partition at once and must decide as next-action does)."""
        return [self._link.one(m) for m in self.forest_.margins_many(self._matrix(X))]

    def _matrix(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names_):
            raise ModelError(f"expected a matrix of {len(self.feature_names_)} feature columns, got shape {X.shape}",
                             field="features")
        return X

    def _vector(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.shape != (len(self.feature_names_),):
            raise ModelError(f"expected a vector of {len(self.feature_names_)} features, got shape {x.shape}",
                             field="features")
        return x

    def explain_one(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """Exact TreeSHAP of P(late) in the booster's margin space: ``(contributions, base_value)``.

        ``contributions.sum() + base_value`` is the served booster's margin (what
        ``shap.TreeExplainer`` of the booster gives); ``explain_probability_one`` is the
        same in the answer's terms.
        """
        return self.shap_.explain(self._vector(x)), self.shap_.expected_value

    def explain_probability_one(self, x: np.ndarray) -> Explanation:
        """Exact TreeSHAP of the served P(late) in calibrated log-odds and probability points."""
        a, b = self.calibration_.get(EXPLAINED, (1.0, 0.0))
        return Explanation.of(EXPLAINED, self.shap_.explain(self._vector(x)), self.shap_.expected_value, a, b,
                              self.period_level_.get(EXPLAINED, 0.0))

    def explain_probability_many(self, X: np.ndarray) -> list[Explanation]:
        """``explain_probability_one`` of every row of ``X`` (one batch of TreeSHAP), bit for bit."""
        a, b = self.calibration_.get(EXPLAINED, (1.0, 0.0))
        level, base = self.period_level_.get(EXPLAINED, 0.0), self.shap_.expected_value
        return [Explanation.of(EXPLAINED, row, base, a, b, level) for row in self.shap_.explain_many(self._matrix(X))]

    def explain(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """TreeSHAP of P(late) for a batch: shape ``(n, n_features + 1)``, last column the base value."""
        X_arr, _ = _matrix(X, self.feature_names_)
        return self.boosters_["p_late"].predict(xgb.DMatrix(X_arr), pred_contribs=True)

    # ------------------------------------------------------------- persistence
    def save(self, directory: str | Path) -> Path:
        """Write the boosters (UBJSON) and ``model.json``: the format of :mod:`training.kredo_payment_delay`."""
        return write_artifact(directory, Artifact(
            params=self.get_params(), feature_names=tuple(self.feature_names_), boosters=self.boosters_,
            constants=self.constants_, calibration=self.calibration_, best_iteration=self.best_iteration_,
            period_level=self.period_level_, expected_log_odds=self.expected_log_odds_))

    @classmethod
    def load(cls, directory: str | Path) -> "PaymentDelayModel":
        """Read a saved model; a missing, altered or unreadable file raises ``ModelError``."""
        try:
            artifact = read_artifact(directory)
        except ArtifactError as exc:
            raise ModelError(str(exc), field=exc.field) from None
        try:
            model = cls(**artifact.params)
        except TypeError as exc:
            raise ModelError(f"{directory}: corrupt or incomplete model artifact (TypeError: {exc})",
                             field="model") from None
        model.feature_names_ = artifact.feature_names
        model.boosters_ = artifact.boosters
        model.constants_ = artifact.constants
        model.calibration_ = artifact.calibration
        model.best_iteration_ = artifact.best_iteration
        model.period_level_ = artifact.period_level
        model.expected_log_odds_ = artifact.expected_log_odds
        for output, booster in model.boosters_.items():  # before the forest indexes features by the trees' splits
            if booster is not None and booster.num_features() != len(model.feature_names_):
                raise ModelError(f"{directory}: the {output} booster reads {booster.num_features()} features, the "
                                 f"model declares {len(model.feature_names_)}", field="features")
        model._build_forest()
        model._check_base_value(directory)
        return model

    def _check_base_value(self, source: object) -> None:
        """The trees' TreeSHAP base value must still be the stored training expectation (covers intact)."""
        if EXPLAINED not in self.expected_log_odds_:
            return
        a, b = self.calibration_[EXPLAINED]
        served = a * self.shap_.expected_value + b
        if abs(served - self.expected_log_odds_[EXPLAINED]) > 1e-9:
            raise ModelError(f"{source}: the trees' expected log-odds {served:.9f} differ from the training "
                             f"rows' {self.expected_log_odds_[EXPLAINED]:.9f} (covers altered)", field="covers")


def _matrix(X: pd.DataFrame | np.ndarray, names: tuple[str, ...] | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """A float32 matrix in ``names`` order (a DataFrame is reordered by name; a missing column raises)."""
    if isinstance(X, pd.DataFrame):
        cols = tuple(names) if names is not None else tuple(X.columns)
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise ModelError(f"missing feature columns {missing}", field=missing[0])
        return X[list(cols)].to_numpy(dtype=np.float32), cols
    if names is None:
        from features.definitions import FEATURE_NAMES
        names = FEATURE_NAMES
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise ModelError(f"expected a matrix with {len(names)} feature columns, got shape {arr.shape}",
                         field="features")
    return arr, tuple(names)


def period_offsets(period: np.ndarray, y: np.ndarray, eval_period: np.ndarray,
                   eval_y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-row log-odds of the label's rate in the row's period, for the training and the
    eval rows, and the served level: the median period's log-odds (module doc). Rates are
    Jeffreys-smoothed, so a period with one class only still has a finite offset."""
    periods = np.concatenate([np.asarray(period), np.asarray(eval_period)])
    labels = np.concatenate([y, eval_y]).astype(float)
    codes, index = np.unique(periods, return_inverse=True)
    rate = (np.bincount(index, weights=labels, minlength=len(codes)) + 0.5) / (
        np.bincount(index, minlength=len(codes)) + 1.0)
    log_odds = np.log(rate / (1.0 - rate))
    offset = log_odds[index]
    return offset[:len(y)], offset[len(y):], float(np.median(log_odds))


def _train(params: dict[str, Any], X: np.ndarray, y: np.ndarray, Xv: np.ndarray | None, yv: np.ndarray,
           rounds: int, early_stopping: int, client: Any,
           offsets: tuple[np.ndarray, np.ndarray] | None = None) -> xgb.Booster:
    """Train one booster (in process or on Dask) and cut it to its best iteration.

    ``offsets``: fixed per-row margins (train, eval) the trees are fitted on top of.
    """
    has_valid = Xv is not None and len(yv) > 0
    margin, vmargin = offsets if offsets is not None else (None, None)
    if client is None:
        dtrain = xgb.DMatrix(X, y, base_margin=margin, nthread=params["nthread"])
        evals = [(xgb.DMatrix(Xv, yv, base_margin=vmargin, nthread=params["nthread"]), "valid")] if has_valid else []
        booster = xgb.train(params, dtrain, rounds, evals=evals, verbose_eval=False,
                            early_stopping_rounds=early_stopping if has_valid else None)
    else:
        import dask.array as da
        from xgboost import dask as dxgb

        chunks = max(1, len(X) // max(1, len(client.scheduler_info()["workers"])))
        vchunks = max(1, len(yv))
        dtrain = dxgb.DaskDMatrix(client, da.from_array(X, chunks=(chunks, X.shape[1])),
                                  da.from_array(y, chunks=(chunks,)),
                                  base_margin=None if margin is None else da.from_array(margin, chunks=(chunks,)))
        evals = [(dxgb.DaskDMatrix(client, da.from_array(Xv, chunks=(vchunks, Xv.shape[1])),
                                   da.from_array(yv, chunks=(vchunks,)),
                                   base_margin=None if vmargin is None else da.from_array(vmargin, chunks=(vchunks,))),
                  "valid")] if has_valid else []
        booster = dxgb.train(client, params, dtrain, rounds, evals=evals, verbose_eval=False,
                             early_stopping_rounds=early_stopping if has_valid else None)["booster"]
    if has_valid and hasattr(booster, "best_iteration"):
        booster = booster[: booster.best_iteration + 1]
    return booster
