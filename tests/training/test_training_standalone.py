"""The logged MLflow model stands alone: it loads without Kredo, and its store survives a move.

The slow test builds a clean venv (``python -m venv``, no system site-packages), installs only the
model's ``requirements.txt`` offline from wheels repacked from this venv (``tests/support/wheelhouse``)
and scores in a subprocess that cannot import Kredo.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import Model

from domain.errors import ModelError
from tests.support.wheelhouse import build_wheelhouse
from training import kredo_payment_delay, registry
from training.runs import train_and_log
from training.pipeline import TrainConfig
from training.simulation import SimulationConfig, simulate
from training.tracking import log_pyfunc

CHAMPION = f"models:/{registry.MODEL_NAME}@{registry.CHAMPION}"
# Small and fast (a few seconds): enough rows for every head but write-off to have trees.
LEDGER = SimulationConfig(customers=800, months=12, seed=5)
CONFIG = TrainConfig(n_estimators=15, min_child_weight=10.0)
KREDO_PACKAGES = ("engine", "features", "training", "serving", "rules", "kredo")


def db_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(scope="module")
def ledger():
    return simulate(LEDGER)


@pytest.fixture(scope="module")
def store(ledger, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A store folder laid out like ``mlruns/`` with a champion, and feature rows to score."""
    folder = tmp_path_factory.mktemp("store") / "mlruns"
    result, _ = train_and_log(ledger, CONFIG, db_uri(folder), progress=False)
    registry.promote(db_uri(folder))
    X = result.dataset.X.sample(200, random_state=0).astype("float64")
    X.iloc[::7, 3] = np.nan  # missing values take the booster's default direction in both paths
    return folder, X


def local_model(folder: Path) -> Path:
    mlflow.set_tracking_uri(db_uri(folder))
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=CHAMPION))


def kredo_outputs(folder: Path, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Kredo's own predictions: the batch path and the serving path (``predict_one``)."""
    model, _ = registry.load_model(tracking_uri=db_uri(folder))
    one = np.array([list(model.predict_one(row).values()) for row in X[list(model.feature_names_)].to_numpy()])
    return model.predict(X).to_numpy(), one


def test_the_logged_model_names_its_own_code_and_requirements(store) -> None:
    folder, _ = store
    local = local_model(folder)
    conf = Model.load(str(local / "MLmodel")).flavors["python_function"]
    assert conf["loader_module"] == "kredo_payment_delay" and conf["code"] == "code"
    assert (local / conf["code"] / "kredo_payment_delay.py").read_text() == Path(kredo_payment_delay.__file__).read_text()
    requirements = (local / "requirements.txt").read_text().split()
    assert requirements == [f"{n}=={metadata.version(n)}" for n in ("mlflow", "numpy", "pandas", "xgboost")]
    # Every module the shipped code imports is the standard library or a listed requirement.
    tree = ast.parse((local / conf["code"] / "kredo_payment_delay.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    third_party = imported - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party == {"numpy", "pandas", "xgboost"}


SCORE = """
import importlib.util, json, sys
import mlflow, numpy as np, pandas as pd
kredo = [m for m in {packages!r} if importlib.util.find_spec(m) is not None]
assert not kredo, f"Kredo is importable in the clean venv: {{kredo}}"
columns = json.loads(open(sys.argv[2]).read())
frame = pd.DataFrame(np.load(sys.argv[1]), columns=columns)
out = mlflow.pyfunc.load_model({uri!r}).predict(frame)
np.save(sys.argv[3], out.to_numpy())
print(json.dumps(list(out.columns)))
"""


@pytest.mark.slow
def test_the_model_loads_and_predicts_in_a_clean_venv_with_only_its_requirements(store, tmp_path) -> None:
    folder, X = store
    requirements = (local_model(folder) / "requirements.txt").read_text().split()
    timings = {}
    start = time.monotonic()
    build_wheelhouse(requirements, tmp_path / "wheels")
    timings["wheels"] = time.monotonic() - start
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-index", "--no-compile",
                    "--disable-pip-version-check", "--find-links", str(tmp_path / "wheels"), *requirements],
                   check=True)
    timings["venv"] = time.monotonic() - start - timings["wheels"]
    np.save(tmp_path / "X.npy", X.to_numpy())
    (tmp_path / "columns.json").write_text(json.dumps(list(X.columns)))
    (tmp_path / "score.py").write_text(SCORE.format(packages=KREDO_PACKAGES, uri=CHAMPION))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "MLFLOW_TRACKING_URI": db_uri(folder)}
    run = subprocess.run([str(python), str(tmp_path / "score.py"), str(tmp_path / "X.npy"),
                          str(tmp_path / "columns.json"), str(tmp_path / "out.npy")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    timings["score"] = time.monotonic() - start - timings["wheels"] - timings["venv"]
    print("clean venv timings (s):", {k: round(v, 1) for k, v in timings.items()})
    assert json.loads(run.stdout.strip().splitlines()[-1]) == list(kredo_payment_delay.OUTPUTS)
    standalone = np.load(tmp_path / "out.npy")
    batch, one = kredo_outputs(folder, X)
    np.testing.assert_allclose(standalone, batch, rtol=0, atol=1e-6)
    np.testing.assert_allclose(standalone, one, rtol=0, atol=1e-6)
    assert np.unique(standalone[:, 0]).size > 10  # a real model, not a constant


def test_the_store_still_serves_after_its_folder_moved(ledger, tmp_path) -> None:
    """Copy the whole store folder to a new place, delete the old one, load the champion from the new one."""
    old, new = tmp_path / "old" / "mlruns", tmp_path / "new" / "mlruns"
    result, _ = train_and_log(ledger, CONFIG, db_uri(old), progress=False)
    registry.promote(db_uri(old))
    X = result.dataset.X.head(100)
    before, _ = kredo_outputs(old, X)
    shutil.copytree(old, new)
    shutil.rmtree(old)

    model, info = registry.load_model(tracking_uri=db_uri(new))
    assert info.version == "1" and info.alias == registry.CHAMPION
    np.testing.assert_array_equal(model.predict(X).to_numpy(), before)
    # The store is an ordinary MLflow store at its new place: plain MLflow reads it, new runs write there.
    mlflow.set_tracking_uri(db_uri(new))
    np.testing.assert_allclose(mlflow.pyfunc.load_model(CHAMPION).predict(X).to_numpy(), before, rtol=0, atol=1e-12)
    c = mlflow.MlflowClient(db_uri(new))
    experiment = c.get_experiment_by_name(registry.EXPERIMENT)
    assert experiment.artifact_location == (new / "artifacts").as_uri()
    (run,) = c.search_runs([experiment.experiment_id])
    assert run.info.artifact_uri == f"{(new / 'artifacts').as_uri()}/{run.info.run_id}/artifacts"
    assert {a.path for a in c.list_artifacts(run.info.run_id)} >= {"plots", "report.json", "model_report.html"}
    assert not old.exists()


def test_a_moved_store_that_cannot_be_rewritten_is_refused_with_why(ledger, tmp_path, monkeypatch) -> None:
    """On a read-only volume the rewrite fails: a ``ModelError`` (which serving reports), not a crash."""
    old, new = tmp_path / "old" / "mlruns", tmp_path / "new" / "mlruns"
    registry.experiment_id(db_uri(old))
    shutil.copytree(old, new)
    (new / "artifacts").mkdir(exist_ok=True)
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda db, **kw: connect(f"{Path(db).as_uri()}?mode=ro", uri=True, **kw))
    with pytest.raises(ModelError, match="could not be checked or rewritten .*readonly"):
        registry.client(db_uri(new))


def test_a_copied_database_without_its_artifacts_is_left_alone(store, tmp_path) -> None:
    folder, _ = store
    (tmp_path / "db").mkdir()
    shutil.copy(folder / "mlflow.db", tmp_path / "db" / "mlflow.db")
    assert registry.relocate(tmp_path / "db" / "mlflow.db") is False
    assert registry.load_model(tracking_uri=db_uri(tmp_path / "db"))[1].version == "1"  # still the original's


LEGACY_ENTRY = '''
import mlflow


class Legacy(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


mlflow.models.set_model(Legacy())
'''


def test_a_model_logged_before_it_was_self_contained_still_serves(store, tmp_path) -> None:
    """Models logged by earlier Kredo kept the saved model as the pyfunc artifact ``payment_delay``."""
    folder, X = store
    model, _ = registry.load_model(tracking_uri=db_uri(folder))
    saved = model.save(tmp_path / registry.ARTIFACT_KEY)
    (tmp_path / "entry.py").write_text(LEGACY_ENTRY)
    uri = db_uri(tmp_path / "legacy")
    with mlflow.start_run(experiment_id=registry.experiment_id(uri)) as run:
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(tmp_path / "entry.py"), artifacts={registry.ARTIFACT_KEY: str(saved)},
            signature=mlflow.models.infer_signature(X.head(3), model.predict(X.head(3))), pip_requirements=[])
    version = registry.register(info.model_uri, run.info.run_id, uri)
    again, _ = registry.load_model(f"models:/{registry.MODEL_NAME}/{version}", uri)
    np.testing.assert_array_equal(again.predict(X).to_numpy(), model.predict(X).to_numpy())


def test_a_pyfunc_without_a_saved_model_is_refused(store, tmp_path) -> None:
    folder, X = store
    model, _ = registry.load_model(tracking_uri=db_uri(folder))
    (tmp_path / "entry.py").write_text(LEGACY_ENTRY)
    uri = db_uri(tmp_path / "other")
    with mlflow.start_run(experiment_id=registry.experiment_id(uri)):
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(tmp_path / "entry.py"), pip_requirements=[],
            signature=mlflow.models.infer_signature(X.head(3), model.predict(X.head(3))))
    with pytest.raises(ModelError, match="not a payment-delay model"):
        registry.check_artifact(info.model_uri)


def test_the_pyfunc_picks_feature_columns_by_name(store, tmp_path) -> None:
    """A frame with the features in another order scores like Kredo's batch path on the same rows."""
    folder, X = store
    model, _ = registry.load_model(tracking_uri=db_uri(folder))
    saved = model.save(tmp_path / registry.ARTIFACT_KEY)
    with mlflow.start_run(experiment_id=registry.experiment_id(db_uri(folder))):
        info = log_pyfunc(saved, mlflow.models.infer_signature(X.head(3), model.predict(X.head(3))), X.head(3))
    out = mlflow.pyfunc.load_model(info.model_uri).predict(X[list(reversed(X.columns))])  # columns by name
    np.testing.assert_allclose(out.to_numpy(), model.predict(X).to_numpy(), rtol=0, atol=1e-12)
