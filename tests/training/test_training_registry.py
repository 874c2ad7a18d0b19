"""End to end on a real MLflow store (SQLite in a tmp dir): train, log, gate, promote, roll back, refuse."""
from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from domain.errors import Conflict, ModelError
from features.definitions import FEATURE_NAMES
from serving.cli import main
from tests.support.data import AR_SAMPLE
from training import registry
from training.baselines import BASELINES
from engine.ports import ModelInfo
from training.runs import train_and_log
from training.pipeline import TrainConfig, build_dataset, train
from training.simulation import SimulationConfig, simulate
from training.tracking import log_pyfunc

# The simulator's default horizon (24 months), recession included: the recession hits three sectors
# from 2025-02 to 2025-08 and is over in the test months (2025-09/10), so a model that reads the
# recession in a customer's history as the customer's own habit loses to the customer's plain mean
# (with one period offset per month instead of per month and sector: AUC 0.661 against 0.671).
LEDGER = SimulationConfig(customers=6_000, months=24, seed=11)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlruns') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def dataset():
    return build_dataset(simulate(LEDGER), TrainConfig())


@pytest.fixture(scope="module")
def first(store, dataset):
    result, logged = train_and_log(dataset, TrainConfig(), store, progress=False)
    return result, logged


def test_champion_beats_every_baseline_on_the_test_months(first, store) -> None:
    result, logged = first
    assert logged.version == "1"
    m = logged.metrics
    for baseline in BASELINES:
        for head in ("late", "late_30", "write_off"):
            assert m["xgboost"][f"{head}.brier"] < m[baseline][f"{head}.brier"], (head, baseline)
            if (head, baseline) != ("write_off", "logistic"):
                assert m["xgboost"][f"{head}.roc_auc"] > m[baseline][f"{head}.roc_auc"], (head, baseline)
    # The write-off head (1.4 % positives) ranks within 0.03 of the logistic regression since the
    # collections shares joined the features (0.614 vs 0.638 here; on main's features it won by 0.009 with
    # seed 7 and lost by 0.021 with seed 3: docs/models.md), and is far better calibrated.
    assert m["xgboost"]["write_off.roc_auc"] > m["logistic"]["write_off.roc_auc"] - 0.03
    assert registry.promote(store).reason == "no champion yet"
    model, info = registry.load_model(tracking_uri=store)
    assert info == ModelInfo("payment-delay", "1", "champion", logged.run_id)
    assert model.feature_names_ == FEATURE_NAMES
    run = mlflow.MlflowClient(store).get_run(logged.run_id)
    assert run.data.tags["kredo.data_hash"] == result.dataset.data_hash()
    assert run.data.metrics["xgboost.late.roc_auc"] == pytest.approx(m["xgboost"]["late.roc_auc"])
    artifacts = {a.path for a in mlflow.MlflowClient(store).list_artifacts(logged.run_id, "plots")}
    assert {"plots/roc_late.png", "plots/pr_late.png", "plots/calibration_late.png",
            "plots/shap_summary_late.png"} <= artifacts
    # The pyfunc returns probabilities, not class labels.
    pyfunc = mlflow.pyfunc.load_model("models:/payment-delay@champion")
    out = pyfunc.predict(result.dataset.X.head(20).astype("float64"))
    assert list(out.columns)[:3] == ["p_late", "p_late_30", "p_write_off"]
    assert ((out["p_late"] > 0) & (out["p_late"] < 1)).all() and out["p_late"].nunique() > 1


def test_gate_refuses_a_worse_challenger_then_rollback(first, store, dataset, capsys) -> None:
    weak = TrainConfig(n_estimators=2, max_depth=1)
    _, logged = train_and_log(dataset, weak, store, progress=False)
    assert logged.metrics["champion"]["late.roc_auc"] == pytest.approx(first[1].metrics["xgboost"]["late.roc_auc"])
    assert main(["models", "promote", "--tracking-uri", store]) == 2
    assert "refused: ROC-AUC" in capsys.readouterr().err
    # A generous tolerance lets it through; rollback restores v1 in one command.
    assert main(["models", "promote", "--tracking-uri", store, "--auc-tolerance", "1", "--ece-tolerance", "1"]) == 0
    assert registry.load_model(tracking_uri=store)[1].version == logged.version
    assert main(["models", "rollback", "--tracking-uri", store]) == 0
    assert registry.load_model(tracking_uri=store)[1].version == "1"
    with pytest.raises(Conflict, match="no previous champion"):
        registry.rollback(store)
    assert main(["models", "list", "--tracking-uri", store, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["aliases"] for r in rows if r["version"] == "1"] == [["champion"]]


def test_bad_signature_and_corrupt_artifact_are_refused(first, store, tmp_path) -> None:
    result, _ = first
    saved = result.model.save(tmp_path / "payment_delay")
    X = result.dataset.X.head(3).astype("float64")
    wrong = X.drop(columns=[FEATURE_NAMES[0]])
    with mlflow.start_run(experiment_id=registry.experiment_id(store)) as run:
        info = log_pyfunc(saved, mlflow.models.infer_signature(wrong, result.model.predict(X)), None)
    with pytest.raises(ModelError, match="signature does not match") as err:
        registry.register(info.model_uri, run.info.run_id, store)
    assert err.value.extra["missing"] == [FEATURE_NAMES[0]]

    # Corrupt the champion's stored booster: refused at load and at (re-)registration.
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri="models:/payment-delay/1"))
    booster = local / "data" / "payment_delay" / "p_late.ubj"
    original = booster.read_bytes()
    try:
        booster.write_bytes(original[: len(original) // 2])
        with pytest.raises(ModelError, match="checksum"):
            registry.load_model("models:/payment-delay/1", store)
        with pytest.raises(ModelError, match="checksum"):
            registry.register("models:/payment-delay/1", "r", store)
    finally:
        booster.write_bytes(original)


def test_a_champion_that_no_longer_loads_does_not_block_promotion(first, store, dataset) -> None:
    """After a feature-set change (or a damaged artifact) the old champion cannot serve; a new model
    must still be promotable, and the reason says why no comparison was made."""
    champion = registry.load_model(tracking_uri=store)[1].version
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/payment-delay/{champion}"))
    booster = local / "data" / "payment_delay" / "p_late.ubj"
    original = booster.read_bytes()
    try:
        booster.write_bytes(original[: len(original) // 2])
        _, logged = train_and_log(dataset, TrainConfig(n_estimators=20), store, progress=False)
        result = registry.promote(store)
    finally:
        booster.write_bytes(original)
    assert result.version == logged.version and result.previous == champion
    assert f"champion v{champion} can no longer be served" in result.reason and "checksum" in result.reason
    assert registry.load_model(tracking_uri=store)[1].version == logged.version


def test_dask_training_matches_in_process(dataset) -> None:
    from distributed import Client, LocalCluster

    config = TrainConfig(n_estimators=40)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        on_dask = train(dataset, config, client=client, progress=False)
    local = train(dataset, config, progress=False)
    assert on_dask.metrics["xgboost"]["late.roc_auc"] == pytest.approx(local.metrics["xgboost"]["late.roc_auc"], abs=0.02)
    assert on_dask.metrics["xgboost"]["late.roc_auc"] > on_dask.metrics["last_invoice"]["late.roc_auc"]


def test_kredo_train_on_the_public_ar_data(tmp_path, capsys) -> None:
    report = tmp_path / "ar.json"
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["train", "--csv", str(AR_SAMPLE), "--mapping", "ar", "--report-json", str(report),
                 "--tracking-uri", store, "--n-estimators", "100", "--valid-months", "3", "--test-months", "3"]) == 0
    out = capsys.readouterr().out
    assert "customer_mean" in out and "registered payment-delay v1" in out
    models = json.loads(report.read_text())["models"]
    assert set(models) == {"xgboost", *BASELINES}
    for name in models:
        assert 0.5 < models[name]["late.roc_auc"] <= 1
    assert models["xgboost"]["late.brier"] < models["last_invoice"]["late.brier"]
    assert models["xgboost"]["write_off.roc_auc"] is None  # no write-offs in the sample: not scored


def test_train_refuses_bad_input(tmp_path, capsys) -> None:
    assert main(["train", "--csv", str(tmp_path / "none.csv"), "--tracking-uri", f"sqlite:///{tmp_path}/m.db"]) == 2
    assert "no such CSV" in capsys.readouterr().err
    assert main(["train", "--ledger", str(tmp_path), "--tracking-uri", f"sqlite:///{tmp_path}/m.db"]) == 2

