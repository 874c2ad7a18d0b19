"""The saved payment-delay model, read and scored with numpy, pandas and xgboost alone.

Why a module that imports nothing of Kredo: the logged MLflow model must load
where Kredo is not installed (batch scoring, ``mlflow models serve``, another
team's notebook). Every logged model ships this file (``code_paths``) as the
top-level module ``kredo_payment_delay`` and names it as its pyfunc
``loader_module``; ``mlflow.pyfunc.load_model(uri)`` puts the model's ``code/``
folder on ``sys.path``, imports it and calls :func:`_load_pyfunc` on the
model's ``data/`` folder. The model's ``requirements.txt`` pins
:data:`REQUIREMENTS`, the distributions imported here. Kredo's own
:class:`training.model.PaymentDelayModel` writes and reads the artifact and
scores batches with the same functions, so both paths give the same numbers.

The artifact (a directory): ``model.json`` (format version, parameters,
feature names, constant heads, Platt calibration, the served period level
folded into each Platt intercept, each probability head's expected
calibrated log-odds over its training rows (the SHAP base value), best
iterations, SHA-256 of each booster file) and one UBJSON booster per output
that has trees, whose node covers are training-row counts (so TreeSHAP's base
value is that stated expectation). Every booster is checked against its
SHA-256 before it is read.

Example::

    model = mlflow.pyfunc.load_model("models:/payment-delay@champion")
    model.predict(features)     # DataFrame: p_late, p_late_30, p_write_off, expected_days_late, days_late_p80
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

OUTPUTS = ("p_late", "p_late_30", "p_write_off", "expected_days_late", "days_late_p80")
PROBABILITIES = OUTPUTS[:3]
FORMAT_VERSION = 2  # 2: covers are training-row counts, expected_log_odds and period_level stored
META_FILE = "model.json"
#: What loading and scoring this module needs: pinned (at the logging environment's versions) in the
#: logged model's ``requirements.txt``. MLflow runs the loader; the others are imported above.
REQUIREMENTS = ("mlflow", "numpy", "pandas", "xgboost")


class ArtifactError(ValueError):
    """A saved model that is missing, altered or unreadable; ``field`` names the output or ``"model"``."""

    def __init__(self, message: str, field: str = "model") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Artifact:
    """Everything a saved model holds; ``boosters[output]`` is None for a constant head."""

    params: dict[str, Any]
    feature_names: tuple[str, ...]
    boosters: dict[str, xgb.Booster | None]
    constants: dict[str, float]
    calibration: dict[str, tuple[float, float]]
    best_iteration: dict[str, int]
    period_level: dict[str, float]       # the served period's log-odds, part of the Platt intercept
    expected_log_odds: dict[str, float]  # mean calibrated log-odds over the training rows (SHAP base)


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def sigmoid_one(z: float) -> float:
    """The logistic function of a Python float, without overflow for large ``|z|``."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True)
class Link:
    """Margins to outputs: probabilities get the Platt map ``sigmoid(a * m + b)``, days ``clip(m, 0, cap)``.

    Held as vectors over :data:`OUTPUTS` for batches, and as Python floats for one row
    (:meth:`one`, the serving path: five numpy calls on five numbers cost more than the arithmetic).
    """

    scale: np.ndarray
    shift: np.ndarray
    is_prob: np.ndarray
    days_cap: float

    @classmethod
    def of(cls, calibration: dict[str, tuple[float, float]], days_cap: float) -> "Link":
        return cls(np.array([calibration.get(o, (1.0, 0.0))[0] for o in OUTPUTS]),
                   np.array([calibration.get(o, (1.0, 0.0))[1] for o in OUTPUTS]),
                   np.array([o in PROBABILITIES for o in OUTPUTS]), float(days_cap))

    def __call__(self, margins: np.ndarray) -> np.ndarray:
        z = margins * self.scale + self.shift
        return np.where(self.is_prob, sigmoid(z), np.clip(margins, 0.0, self.days_cap))

    def one(self, margins: np.ndarray) -> dict[str, float]:
        """The outputs of one row's margins (shape ``(len(OUTPUTS),)``) by name."""
        return {output: sigmoid_one(a * m + b) if prob else min(max(m, 0.0), self.days_cap)
                for output, a, b, prob, m in zip(OUTPUTS, self.scale.tolist(), self.shift.tolist(),
                                                 self.is_prob.tolist(), margins.tolist())}


def head_margins(boosters: dict[str, xgb.Booster | None], constants: dict[str, float],
                 X: np.ndarray) -> np.ndarray:
    """Raw margins of a float32 matrix, shape ``(n, len(OUTPUTS))``: one XGBoost call per head."""
    out = np.empty((len(X), len(OUTPUTS)))
    for j, output in enumerate(OUTPUTS):
        booster = boosters[output]
        out[:, j] = constants[output] if booster is None else booster.inplace_predict(X, predict_type="margin")
    return out


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_artifact(directory: str | Path, artifact: Artifact) -> Path:
    """Write the boosters (UBJSON) and ``model.json`` (see the module doc) into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for output, booster in artifact.boosters.items():
        if booster is not None:
            path = directory / f"{output}.ubj"
            booster.save_model(path)
            files[output] = {"file": path.name, "sha256": sha256(path)}
    meta = {"format_version": FORMAT_VERSION, "params": artifact.params,
            "feature_names": list(artifact.feature_names), "boosters": files, "constants": artifact.constants,
            "calibration": {k: list(v) for k, v in artifact.calibration.items()},
            "period_level": artifact.period_level, "expected_log_odds": artifact.expected_log_odds,
            "best_iteration": artifact.best_iteration}
    (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
    return directory


def read_artifact(directory: str | Path) -> Artifact:
    """Read a saved model; a missing, altered, unreadable or newer-format file raises :class:`ArtifactError`."""
    directory = Path(directory)
    try:
        meta = json.loads((directory / META_FILE).read_text())
        if meta["format_version"] != FORMAT_VERSION:
            raise ArtifactError(f"{directory}: model format {meta['format_version']}, this reader knows "
                                f"{FORMAT_VERSION} only (SHAP base values need training-row covers): retrain",
                                field="format_version")
        constants = {k: float(v) for k, v in meta["constants"].items()}
        boosters: dict[str, xgb.Booster | None] = {}
        for output in OUTPUTS:
            entry = meta["boosters"].get(output)
            if entry is None:
                if output not in constants:
                    raise ArtifactError(f"{directory}: output {output} has neither trees nor a constant")
                boosters[output] = None
                continue
            path = directory / entry["file"]
            if sha256(path) != entry["sha256"]:
                raise ArtifactError(f"{path}: checksum mismatch, the artifact was altered or truncated", field=output)
            booster = xgb.Booster()
            booster.load_model(path)
            boosters[output] = booster
        return Artifact(params=dict(meta["params"]), feature_names=tuple(meta["feature_names"]), boosters=boosters,
                        constants=constants,
                        calibration={k: (float(v[0]), float(v[1])) for k, v in meta["calibration"].items()},
                        best_iteration={k: int(v) for k, v in meta["best_iteration"].items()},
                        period_level={k: float(v) for k, v in meta["period_level"].items()},
                        expected_log_odds={k: float(v) for k, v in meta["expected_log_odds"].items()})
    except ArtifactError:
        raise
    except (OSError, KeyError, TypeError, ValueError, xgb.core.XGBoostError) as exc:
        raise ArtifactError(f"{directory}: corrupt or incomplete model artifact ({type(exc).__name__}: {exc})") \
            from None


class PaymentDelayPyfunc:
    """What ``mlflow.pyfunc.load_model`` wraps: ``predict(frame)`` returns the five outputs, not labels."""

    def __init__(self, artifact: Artifact) -> None:
        self.artifact = artifact
        self.link = Link.of(artifact.calibration, artifact.params["days_cap"])

    def predict(self, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """One row of outputs per input row; columns are picked by name (any order, extra columns ignored)."""
        frame = pd.DataFrame(model_input)
        names = list(self.artifact.feature_names)
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise ArtifactError(f"missing feature columns {missing}", field=missing[0])
        X = frame[names].to_numpy(dtype=np.float32)
        margins = head_margins(self.artifact.boosters, self.artifact.constants, X)
        return pd.DataFrame(self.link(margins), columns=list(OUTPUTS), index=frame.index)


def _load_pyfunc(path: str) -> PaymentDelayPyfunc:
    """MLflow's pyfunc entry point: ``path`` is the model's ``data`` folder, i.e. the saved artifact."""
    return PaymentDelayPyfunc(read_artifact(path))
