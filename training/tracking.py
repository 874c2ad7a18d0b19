"""Log a training run to MLflow and register its model as ``challenger``.

Why: the audit trail of which model served when starts here. Every run logs
its parameters, every test metric of the model and the baselines, the data
window and a hash of the training data, the feature list, the model (a
self-contained pyfunc, see :func:`log_pyfunc`; input signature =
``FEATURE_NAMES``, input example), a SHAP summary,
calibration, ROC and PR plots (and their numbers, ``curves.json``), and a short HTML report. When a champion
exists it is scored on this run's test rows (``champion.*`` metrics), so the
promotion gate compares both models on the same months.

Example::

    logged = log_run(train(ledger))       # -> LoggedRun(run_id, version, metrics)
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from domain.errors import KredoError
from training import kredo_payment_delay, registry
from training.pipeline import TrainResult, model_predictions, score
from training.report import curve_data, curve_plots, html_report, jsonable, shap_summary_plot

SHAP_SAMPLE = 2_000
#: The run's plotted numbers (``training.report.curve_data``), read by the models page.
CURVES = "curves.json"


@dataclass
class LoggedRun:
    run_id: str
    version: str | None
    metrics: dict[str, dict[str, float]]
    notes: list[str]


def _champion_metrics(result: TrainResult, uri: str | None) -> tuple[dict[str, float] | None, str | None, str]:
    """The current champion scored on this run's test rows, or why it could not be."""
    try:
        champion, info = registry.load_model(f"models:/{registry.MODEL_NAME}@{registry.CHAMPION}", uri)
    except KredoError as exc:
        return None, None, f"no comparable champion ({exc.detail})"
    rows = result.test_rows
    metrics = score(model_predictions(champion, result.dataset.X[rows]), result.dataset, rows)
    return metrics, info.version, f"champion v{info.version} scored on the same test months"


def log_run(result: TrainResult, uri: str | None = None, config_params: dict[str, Any] | None = None,
            register: bool = True, source: str = "ledger") -> LoggedRun:
    """Log ``result`` (see module doc); returns the run id, the registered version and all metrics."""
    import mlflow
    from mlflow.models import infer_signature

    exp = registry.experiment_id(uri)
    dataset, model = result.dataset, result.model
    metrics = dict(result.metrics)
    champion, champion_version, champion_note = _champion_metrics(result, uri)
    if champion is not None:
        metrics["champion"] = champion
    notes = [champion_note, f"source: {source}"]
    notes += [f"{o} is a constant (too few labelled months or one class only)" for o in model.constant_heads_]
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(experiment_id=exp) as run:
        tmpdir = Path(tmp)
        mlflow.log_params({**(config_params or {}), **{f"model.{k}": v for k, v in model.get_params().items()}})
        mlflow.log_params({f"best_iteration.{k}": v for k, v in model.best_iteration_.items()})
        window = dataset.window()
        mlflow.set_tags({"kredo.data_hash": dataset.data_hash(), "kredo.as_of": window["as_of"],
                         "kredo.source": source, "kredo.constant_heads": ",".join(model.constant_heads_),
                         registry.COMPARED_TAG: champion_version or ""})
        mlflow.log_dict(window, "data_window.json")
        mlflow.log_dict({"feature_names": list(model.feature_names_)}, "features.json")
        mlflow.log_dict({"models": jsonable(metrics), "window": window, "notes": notes}, "report.json")
        mlflow.log_metrics({f"{name}.{k}": v for name, m in metrics.items() for k, v in m.items()
                            if not np.isnan(v)})

        rows = result.test_rows
        late_test = dataset.splits.mask("late", "test")[rows]
        y = dataset.labels["late"].to_numpy()[rows][late_test]
        probs = {name: p["late"][late_test] for name, p in result.test_predictions.items()}
        images = curve_plots(y, probs, tmpdir / "plots")
        X_test = dataset.X[rows][late_test]
        sample = X_test.sample(min(SHAP_SAMPLE, len(X_test)), random_state=0)
        contribs = model.explain(sample)[:, :-1]
        images.append(shap_summary_plot(contribs, sample.to_numpy(), list(model.feature_names_), tmpdir / "plots"))
        mlflow.log_dict(curve_data(y, probs, contribs, list(model.feature_names_)), CURVES)
        for path in images:
            mlflow.log_artifact(str(path), "plots")
        facts = {"run": run.info.run_id, **{k: v for k, v in window.items() if k != "heads"},
                 **{f"test months ({h})": ", ".join(w["test"]) for h, w in window["heads"].items()},
                 "training data sha256": dataset.data_hash(), "features": len(model.feature_names_)}
        (tmpdir / "model_report.html").write_text(html_report("Payment-delay model", metrics, facts, images, notes))
        mlflow.log_artifact(str(tmpdir / "model_report.html"))

        saved = model.save(tmpdir / registry.ARTIFACT_KEY)
        example = dataset.X[rows].head(5)
        signature = infer_signature(example.astype("float64"), model.predict(example))
        info = log_pyfunc(saved, signature, example.astype("float64"))
    version = registry.register(info.model_uri, run.info.run_id, uri) if register else None
    return LoggedRun(run_id=run.info.run_id, version=version, metrics=metrics, notes=notes)


def pip_requirements() -> list[str]:
    """``requirements.txt`` of a logged model: what its loader imports, at this environment's versions.

    Kredo itself is not listed: the model loads without it (see :mod:`training.kredo_payment_delay`).
    """
    return [f"{name}=={metadata.version(name)}" for name in kredo_payment_delay.REQUIREMENTS]


def log_pyfunc(saved: Path, signature: Any, input_example: Any) -> Any:
    """Log the saved model directory ``saved`` in the active run as the self-contained pyfunc ``model``.

    The loader module ships as the model's code (``code_paths``), the saved directory as its data, so
    the MLflow model holds no pickle and imports nothing of Kredo; returns MLflow's ``ModelInfo``.
    """
    import mlflow

    return mlflow.pyfunc.log_model(
        name="model", loader_module=kredo_payment_delay.__name__.rpartition(".")[2], data_path=str(saved),
        code_paths=[kredo_payment_delay.__file__], pip_requirements=pip_requirements(), signature=signature,
        input_example=input_example)


def write_report_json(path: str | Path, logged: LoggedRun, window: dict[str, Any]) -> None:
    """The ``--report-json`` file: ``{"models": {name: {metric: value}}, "run_id", "version", ...}``."""
    Path(path).write_text(json.dumps({"models": jsonable(logged.metrics), "run_id": logged.run_id,
                                      "version": logged.version, "window": window, "notes": logged.notes},
                                     indent=2, sort_keys=True))

