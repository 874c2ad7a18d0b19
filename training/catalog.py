"""What the model registry holds, as the analyst's models page reads it.

Why here, beside the registry: the page compares the champion and the challenger
on the figures their training runs logged (every test metric of the model and of
the baselines on the same test months, the plotted numbers of ``curves.json``,
``training.tracking``) and shows who was champion when (the registry's history
tag, the versions' ``kredo.promoted_at`` / ``kredo.rolled_back_at`` tags); the
promote and rollback buttons call :func:`training.registry.promote` and
:func:`training.registry.rollback`, the CLI's gate, nothing else.

Example::

    entry = champion_and_challenger(uri)["champion"]
    entry.metrics["xgboost"]["late.roc_auc"], entry.curves["shap_importance"][:3]
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training import registry
from training.baselines import BASELINES
from training.pipeline import CANDIDATE
from training.tracking import CURVES

#: The models a run scores on its test months, in the order the page lists them.
SCORED = (CANDIDATE, "champion", *BASELINES)
#: The figures the page compares (``<label>.<metric>`` of ``training.pipeline.score``), lower or higher better.
FIGURES = (("late.roc_auc", "higher"), ("late.brier", "lower"), ("late.ece", "lower"),
           ("late_30.roc_auc", "higher"), ("write_off.roc_auc", "higher"), ("days_late.mae", "lower"),
           ("days_late.pinball_80", "lower"))


@dataclass(frozen=True)
class Entry:
    """One registered version: its aliases, run, test metrics per scored model, plotted numbers and notes."""

    version: str
    aliases: tuple[str, ...]
    run_id: str
    created: str
    metrics: dict[str, dict[str, float]]
    curves: dict[str, Any] | None
    tags: dict[str, str] = field(default_factory=dict)


def _entry(c: Any, mv: Any, aliases: dict[str, list[str]]) -> Entry:  # noqa: ANN401 - MLflow objects
    run = c.get_run(mv.run_id)
    metrics: dict[str, dict[str, float]] = {}
    for key, value in run.data.metrics.items():
        model, _, figure = key.partition(".")
        if model in SCORED:
            metrics.setdefault(model, {})[figure] = value
    return Entry(version=str(mv.version), aliases=tuple(sorted(aliases.get(str(mv.version), []))),
                 run_id=mv.run_id, created=str(mv.creation_timestamp), metrics=metrics,
                 curves=_curves(c, mv.run_id), tags=dict(mv.tags or {}))


#: Each run's ``curves.json`` once read, by run id (ids are unique across stores): a finished run's artifacts
#: do not change, and downloading two of them into temp folders was most of every models page's time.
_KEPT_CURVES: dict[str, dict[str, Any]] = {}


def _curves(c: Any, run_id: str) -> dict[str, Any] | None:  # noqa: ANN401 - an MlflowClient
    """The run's ``curves.json``, or None for a run logged before runs logged it."""
    from mlflow.exceptions import MlflowException

    if run_id in _KEPT_CURVES:
        return _KEPT_CURVES[run_id]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = c.download_artifacts(run_id, CURVES, tmp)
        except (MlflowException, OSError):
            return None
        curves = _KEPT_CURVES[run_id] = json.loads(Path(path).read_text())
        return curves


def _aliases(c: Any) -> dict[str, list[str]]:  # noqa: ANN401 - an MlflowClient
    out: dict[str, list[str]] = {}
    for alias, version in c.get_registered_model(registry.MODEL_NAME).aliases.items():
        out.setdefault(str(version), []).append(alias)
    return out


def champion_and_challenger(uri: str | None = None) -> dict[str, Entry | None]:
    """The versions behind the ``champion`` and ``challenger`` aliases (None where an alias is unset)."""
    c = registry.client(uri)
    if not c.search_model_versions(f"name='{registry.MODEL_NAME}'"):
        return {registry.CHAMPION: None, registry.CHALLENGER: None}
    aliases = _aliases(c)
    out: dict[str, Entry | None] = {}
    for alias in (registry.CHAMPION, registry.CHALLENGER):
        mv = registry.version_of(c, alias)
        out[alias] = None if mv is None else _entry(c, mv, aliases)
    return out


def history(uri: str | None = None) -> list[dict[str, Any]]:
    """Every version, newest first: aliases, when it was promoted and rolled back, and whether it was champion
    before (the registry's history, oldest first, is the champions that were replaced)."""
    c = registry.client(uri)
    versions = c.search_model_versions(f"name='{registry.MODEL_NAME}'")
    if not versions:
        return []
    aliases = _aliases(c)
    former = json.loads(c.get_registered_model(registry.MODEL_NAME).tags.get(registry.HISTORY_TAG, "[]"))
    rows = []
    for mv in sorted(versions, key=lambda v: int(v.version), reverse=True):
        tags = dict(mv.tags or {})
        rows.append({"version": str(mv.version), "aliases": ", ".join(sorted(aliases.get(str(mv.version), []))),
                     "promoted_at": tags.get("kredo.promoted_at"), "rolled_back_at": tags.get("kredo.rolled_back_at"),
                     "former_champion": str(mv.version) in former})
    return rows
