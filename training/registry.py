"""The MLflow model registry for ``payment-delay``: register, load, promote, roll back.

Why: serving must know which model decided what, and analysts must not be
able to put a worse model in front of customers by accident. A new model is
registered as ``challenger``; ``promote`` moves ``champion`` only when the
challenger, scored on the same test months as the champion, is not worse in
AUC and calibration than a tolerance; the previous champions are kept in a
tag so ``rollback`` is one command. Every model is checked twice: its input
signature must equal ``FEATURE_NAMES`` and its artifact must load with intact
checksums — at registration and again at load.

Default store: SQLite under ``mlruns/`` in the repository (artifacts in
``mlruns/artifacts``), so the registry works with no server;
``MLFLOW_TRACKING_URI`` (or ``tracking_uri=``) switches to a server. A SQLite
store folder can be moved or copied: :func:`relocate` points it at its new
place the first time Kredo opens it (see ``docs/models.md``).

Example::

    model, info = load_model("models:/payment-delay@champion")
    info.version, model.predict_one(x)["p_late"]
"""
from __future__ import annotations

import json
import math
import os
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from engine.ports import ModelInfo
from domain.errors import Conflict, InvalidInput, ModelError, NotFound
from training.model import PaymentDelayModel
from training.probe import check_servable

MODEL_NAME = "payment-delay"
EXPERIMENT = "payment-delay"
CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "kredo.champion_history"
COMPARED_TAG = "kredo.compared_champion_version"
#: The saved model's folder name inside a logged model (``data/payment_delay``).
ARTIFACT_KEY = "payment_delay"
AUC_TOLERANCE = 0.005
ECE_TOLERANCE = 0.01


def default_tracking_uri() -> str:
    """The embedded store: ``mlruns/mlflow.db`` under the working directory (as ``kredo serve`` reads it)."""
    return f"sqlite:///{Path.cwd() / 'mlruns' / 'mlflow.db'}"


def tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``MLFLOW_TRACKING_URI``, else the SQLite store under ``mlruns/``."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def client(uri: str | None = None) -> Any:
    """An ``MlflowClient`` on the resolved store (creating the SQLite folder if needed, relocating a moved one)."""
    import mlflow

    resolved = tracking_uri(uri)
    if resolved.startswith("sqlite:///"):
        db = Path(resolved.removeprefix("sqlite:///"))
        db.parent.mkdir(parents=True, exist_ok=True)
        relocate(db)
    mlflow.set_tracking_uri(resolved)
    return mlflow.MlflowClient(tracking_uri=resolved)


def experiment_id(uri: str | None = None) -> str:
    """The ``payment-delay`` experiment; on SQLite its artifacts go next to the database."""
    c = client(uri)
    exp = c.get_experiment_by_name(EXPERIMENT)
    if exp is not None:
        return exp.experiment_id
    uri = tracking_uri(uri)
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).resolve().parent / "artifacts").as_uri()
    return c.create_experiment(EXPERIMENT, artifact_location=location)


#: Where MLflow's SQL schema keeps artifact locations: (table, column, extra condition).
_LOCATIONS = (("experiments", "artifact_location", ""), ("runs", "artifact_uri", ""),
              ("logged_models", "artifact_location", ""), ("model_versions", "storage_location", ""),
              ("model_versions", "source", ""), ("trace_tags", "value", " AND key = 'mlflow.artifactLocation'"))


def relocate(db: Path) -> bool:
    """Point a moved SQLite store at the ``artifacts`` folder beside its database; True if it rewrote anything.

    Why: MLflow stores every local artifact location as an absolute path (it resolves a relative one
    against the working directory when the experiment is created), so a moved or copied ``mlruns/``
    would still read, and write, the old folder. Kredo's SQLite store keeps its artifacts in
    ``artifacts/`` next to ``mlflow.db`` (:func:`experiment_id`), so the ``payment-delay``
    experiment's location names the folder the store was created in. When that is not the database's
    folder and an ``artifacts`` folder came along, every location under the old folder (file URI or
    plain path) is rewritten to the same place under the new one, in one transaction; a store whose
    artifacts stayed behind (only ``mlflow.db`` copied) is left alone. The database then is an
    ordinary MLflow store again: any MLflow client, Kredo or not, reads it at its new place.
    """
    root = db.resolve().parent
    if not db.is_file() or not (root / "artifacts").is_dir():
        return False
    try:
        with closing(sqlite3.connect(db, isolation_level=None, timeout=30)) as con:
            if _moved_from(con, root) is None:
                return False
            con.execute("BEGIN IMMEDIATE")
            old = _moved_from(con, root)  # again under the write lock: another process may have done it
            if old is None:
                con.execute("ROLLBACK")
                return False
            prefixes = ((old + "/", root.as_uri() + "/"), (unquote(urlparse(old).path) + "/", str(root) + "/"))
            for table, column, condition in _LOCATIONS:
                for before, after in prefixes:
                    con.execute(f"UPDATE {table} SET {column} = ? || substr({column}, ?) "  # noqa: S608 - constants
                                f"WHERE substr({column}, 1, ?) = ?{condition}",
                                (after, len(before) + 1, len(before), before))
            con.execute("COMMIT")
    except sqlite3.Error as exc:
        raise ModelError(f"{db}: the store's artifact locations could not be checked or rewritten "
                         f"({type(exc).__name__}: {exc}); a store moved here is rewritten once, with write access",
                         field="model") from None
    return True


def _moved_from(con: sqlite3.Connection, root: Path) -> str | None:
    """The folder (file URI) the store was created in, from the experiment's ``<folder>/artifacts``,
    when it is not ``root``; None when the store is where it was created (or not Kredo's layout)."""
    if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'experiments'").fetchone() is None:
        return None
    row = con.execute("SELECT artifact_location FROM experiments WHERE name = ?", (EXPERIMENT,)).fetchone()
    if row is None or not row[0].startswith("file:///") or not row[0].endswith("/artifacts"):
        return None
    old = row[0].removesuffix("/artifacts")
    return None if old == root.as_uri() else old


def _saved_model_dir(model_uri: str, local: Path, meta: Any) -> Path:
    """The saved model inside a downloaded MLflow model: the pyfunc's ``data`` folder, or for models
    logged before the pyfunc was self-contained (it imported Kredo), the ``payment_delay`` artifact."""
    conf = meta.flavors.get("python_function", {})
    if conf.get("data"):
        return local / conf["data"]
    legacy = (conf.get("artifacts") or {}).get(ARTIFACT_KEY)
    if legacy:
        return local / legacy["path"]
    raise ModelError(f"{model_uri}: not a payment-delay model (its pyfunc flavour holds no saved model)",
                     field="model")


def check_artifact(model_uri: str) -> tuple[PaymentDelayModel, Path]:
    """Download ``model_uri`` and refuse it unless its signature is ``FEATURE_NAMES``, it loads and it
    scores the probe rows soundly (``training.probe``)."""
    import mlflow
    from mlflow.models import Model

    from features.definitions import FEATURE_NAMES

    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
        meta = Model.load(str(local / "MLmodel"))
    except Exception as exc:  # noqa: BLE001 — any store failure means the artifact is unusable
        raise ModelError(f"{model_uri}: cannot read the model artifact ({type(exc).__name__}: {exc})",
                         field="model") from None
    if meta.signature is None:
        raise ModelError(f"{model_uri}: the model has no input signature", field="signature")
    names = tuple(meta.signature.inputs.input_names())
    if names != FEATURE_NAMES:
        missing = [n for n in FEATURE_NAMES if n not in names]
        extra = [n for n in names if n not in FEATURE_NAMES]
        raise ModelError(f"{model_uri}: input signature does not match FEATURE_NAMES (missing {missing}, "
                         f"unexpected {extra}{', order differs' if not missing and not extra else ''})",
                         field="signature", extra={"missing": missing, "unexpected": extra})
    try:
        model = PaymentDelayModel.load(_saved_model_dir(model_uri, local, meta))
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - an artifact that breaks the loader is a refused model, not a crash
        raise ModelError(f"{model_uri}: the saved model does not load ({type(exc).__name__})", field="model") from None
    if tuple(model.feature_names_) != FEATURE_NAMES:
        raise ModelError(f"{model_uri}: the model's feature_names_ differ from FEATURE_NAMES", field="signature")
    check_servable(model, model_uri)
    return model, local


def register(model_uri: str, run_id: str, uri: str | None = None) -> str:
    """Check the logged model, register it as a new version with alias ``challenger``; returns the version."""
    import mlflow

    check_artifact(model_uri)
    c = client(uri)
    version = mlflow.register_model(model_uri, MODEL_NAME, tags={"kredo.run_id": run_id}).version
    c.set_registered_model_alias(MODEL_NAME, CHALLENGER, str(version))
    return str(version)


_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


def load_model(uri: str = f"models:/{MODEL_NAME}@{CHAMPION}",
               tracking_uri: str | None = None) -> tuple[PaymentDelayModel, ModelInfo]:
    """Load a registered model by alias or version, checked like at registration."""
    match = _URI.match(uri)
    if not match:
        raise InvalidInput(f"{uri!r} is not models:/NAME@ALIAS or models:/NAME/VERSION", field="uri")
    c = client(tracking_uri)
    from mlflow.exceptions import MlflowException

    try:
        mv = (c.get_model_version_by_alias(match["name"], match["alias"]) if match["alias"]
              else c.get_model_version(match["name"], match["version"]))
    except MlflowException as exc:
        raise NotFound(f"{uri}: no such registered model version ({exc.message})", field="uri") from None
    model, _ = check_artifact(f"models:/{match['name']}/{mv.version}")
    return model, ModelInfo(name=match["name"], version=str(mv.version), alias=match["alias"], run_id=mv.run_id)


def version_of(c: Any, alias: str) -> Any | None:
    """The model version behind ``alias`` (None when the alias is not set)."""
    from mlflow.exceptions import MlflowException

    try:
        return c.get_model_version_by_alias(MODEL_NAME, alias)
    except MlflowException:
        return None


def _unservable(version: Any | None) -> str | None:
    """Why a registered version can no longer be loaded, or None when it can (or there is none)."""
    if version is None:
        return None
    try:
        check_artifact(f"models:/{MODEL_NAME}/{version.version}")
    except ModelError as exc:
        return exc.detail
    return None


def _history(c: Any) -> list[str]:
    return json.loads(c.get_registered_model(MODEL_NAME).tags.get(HISTORY_TAG, "[]"))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class GateResult:
    promoted: bool
    version: str
    previous: str | None
    reason: str


def gate(metrics: dict[str, float], auc_tolerance: float = AUC_TOLERANCE,
         ece_tolerance: float = ECE_TOLERANCE) -> tuple[bool, str]:
    """Is the challenger not worse than the champion (both scored on the same test months)?"""
    ch_auc, cp_auc = metrics.get("xgboost.late.roc_auc", math.nan), metrics.get("champion.late.roc_auc", math.nan)
    ch_ece, cp_ece = metrics.get("xgboost.late.ece", math.nan), metrics.get("champion.late.ece", math.nan)
    if any(math.isnan(v) for v in (ch_auc, cp_auc, ch_ece, cp_ece)):
        return False, "the run has no champion scores on its test months"
    problems = []
    if ch_auc < cp_auc - auc_tolerance:
        problems.append(f"ROC-AUC {ch_auc:.4f} < champion {cp_auc:.4f} - tolerance {auc_tolerance}")
    if ch_ece > cp_ece + ece_tolerance:
        problems.append(f"ECE {ch_ece:.4f} > champion {cp_ece:.4f} + tolerance {ece_tolerance}")
    if problems:
        return False, "; ".join(problems)
    return True, (f"ROC-AUC {ch_auc:.4f} vs champion {cp_auc:.4f}, ECE {ch_ece:.4f} vs {cp_ece:.4f} "
                  f"(tolerances {auc_tolerance}, {ece_tolerance})")


def promote(uri: str | None = None, auc_tolerance: float = AUC_TOLERANCE,
            ece_tolerance: float = ECE_TOLERANCE) -> GateResult:
    """Make the challenger champion if it passes the gate; otherwise raise ``Conflict`` with why."""
    c = client(uri)
    challenger = version_of(c, CHALLENGER)
    if challenger is None:
        raise Conflict("no challenger to promote: train a model first (kredo train)", field="challenger")
    champion = version_of(c, CHAMPION)
    check_artifact(f"models:/{MODEL_NAME}/{challenger.version}")
    retired = _unservable(champion)
    if champion is None:
        reason = "no champion yet"
    elif retired is not None:
        # A champion that no longer fits FEATURE_NAMES (the feature set changed) cannot be served
        # nor scored on today's features; serving already refuses it, so there is nothing to compare.
        reason = f"champion v{champion.version} can no longer be served ({retired})"
    else:
        run = c.get_run(challenger.run_id)
        compared = run.data.tags.get(COMPARED_TAG)
        if compared != str(champion.version):
            raise Conflict(f"challenger v{challenger.version} was scored against champion "
                           f"v{compared or 'none'}, but the champion is v{champion.version}: retrain so both "
                           f"are scored on the same test months", field="challenger")
        ok, reason = gate(run.data.metrics, auc_tolerance, ece_tolerance)
        if not ok:
            raise Conflict(f"challenger v{challenger.version} refused: {reason}", field="challenger",
                           extra={"version": str(challenger.version), "champion": str(champion.version)})
    history = _history(c) + ([str(champion.version)] if champion is not None else [])
    c.set_registered_model_tag(MODEL_NAME, HISTORY_TAG, json.dumps(history))
    c.set_registered_model_alias(MODEL_NAME, CHAMPION, str(challenger.version))
    c.delete_registered_model_alias(MODEL_NAME, CHALLENGER)
    c.set_model_version_tag(MODEL_NAME, str(challenger.version), "kredo.promoted_at", _now())
    return GateResult(True, str(challenger.version), str(champion.version) if champion else None, reason)


def rollback(uri: str | None = None) -> GateResult:
    """Give ``champion`` back to the previous champion (refused when there is none)."""
    c = client(uri)
    history = _history(c) if version_of(c, CHAMPION) is not None else []
    if not history:
        raise Conflict("no previous champion to roll back to", field="champion")
    current = version_of(c, CHAMPION)
    previous = history.pop()
    check_artifact(f"models:/{MODEL_NAME}/{previous}")
    c.set_registered_model_alias(MODEL_NAME, CHAMPION, previous)
    c.set_registered_model_tag(MODEL_NAME, HISTORY_TAG, json.dumps(history))
    c.set_model_version_tag(MODEL_NAME, str(current.version), "kredo.rolled_back_at", _now())
    return GateResult(True, previous, str(current.version), f"champion v{current.version} rolled back")


def list_versions(uri: str | None = None) -> list[dict[str, Any]]:
    """Every version with its aliases and headline test metrics (newest first)."""
    c = client(uri)
    versions = c.search_model_versions(f"name='{MODEL_NAME}'")
    aliases: dict[str, list[str]] = {}
    if versions:
        for alias, version in c.get_registered_model(MODEL_NAME).aliases.items():
            aliases.setdefault(str(version), []).append(alias)
    rows = []
    for mv in sorted(versions, key=lambda v: int(v.version), reverse=True):
        metrics = c.get_run(mv.run_id).data.metrics
        rows.append({"version": str(mv.version), "aliases": sorted(aliases.get(str(mv.version), [])),
                     "run_id": mv.run_id, "created": datetime.fromtimestamp(mv.creation_timestamp / 1000,
                                                                            timezone.utc).isoformat(timespec="seconds"),
                     "late.roc_auc": metrics.get("xgboost.late.roc_auc"), "late.ece": metrics.get("xgboost.late.ece"),
                     "late.brier": metrics.get("xgboost.late.brier")})
    return rows
