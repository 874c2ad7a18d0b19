"""Broken copies of a registered model, registered as new versions: F5's models, made on purpose.

Why: a reload must refuse a model that loads but cannot serve, whatever registered it. Each
breaker copies a registered version's artifact and spoils one thing the way a real mistake would
(a booster trained on another feature set, a calibration that came out NaN, trees whose leaves
overflowed to infinity), then registers the copy as a new version of the same model, bypassing
Kredo's own registration check (``register`` would refuse it, as the tests also show).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xgboost as xgb
import yaml

from training.kredo_payment_delay import sha256
from training.registry import MODEL_NAME, client

BROKEN = ("wrong_feature_count", "nan_calibration", "infinite_leaves")


def _rewrite_booster(saved: Path, meta: dict, output: str, booster: xgb.Booster) -> None:
    path = saved / meta["boosters"][output]["file"]
    booster.save_model(path)
    meta["boosters"][output]["sha256"] = sha256(path)


def _break(saved: Path, kind: str) -> None:
    meta = json.loads((saved / "model.json").read_text())
    if kind == "nan_calibration":
        meta["calibration"]["p_late"] = [float("nan"), meta["calibration"]["p_late"][1]]
    elif kind == "wrong_feature_count":
        rng = np.random.default_rng(5)
        X = rng.normal(size=(400, len(meta["feature_names"]) + 6))
        y = (X[:, -1] > 0).astype(float)  # splits on a feature the model does not have
        _rewrite_booster(saved, meta, "p_late", xgb.train({"objective": "binary:logistic", "max_depth": 2},
                                                          xgb.DMatrix(X, y), 4))
    elif kind == "infinite_leaves":
        booster = xgb.Booster()
        booster.load_model(saved / meta["boosters"]["p_late_30"]["file"])
        model = json.loads(booster.save_raw("json"))
        for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
            leaves = [i for i, left in enumerate(tree["left_children"]) if left < 0]
            for i in leaves:
                tree["split_conditions"][i] = tree["base_weights"][i] = 3.0e38 * 10  # past float32: infinity
        broken = xgb.Booster()
        broken.load_model(bytearray(json.dumps(model).encode()))
        _rewrite_booster(saved, meta, "p_late_30", broken)
    else:
        raise ValueError(kind)
    (saved / "model.json").write_text(json.dumps(meta))


def register_copy(tracking_uri: str, version: str, workdir: Path, kind: str | None = None) -> str:
    """Register a copy of ``version``, broken as ``kind`` (one of ``BROKEN``; None: intact); returns the
    new version."""
    import mlflow

    c = client(tracking_uri)
    base = c.get_model_version(MODEL_NAME, version)
    mlflow.set_tracking_uri(tracking_uri)
    copy = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{MODEL_NAME}/{version}",
                                                    dst_path=str(workdir / (kind or "intact"))))
    if kind is not None:
        data = yaml.safe_load((copy / "MLmodel").read_text())["flavors"]["python_function"]["data"]
        _break(copy / data, kind)
    return str(c.create_model_version(MODEL_NAME, source=str(copy), run_id=base.run_id).version)
