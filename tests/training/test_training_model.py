"""PaymentDelayModel: the serving contract, exact SHAP, the numpy fast path, persistence."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shap
import xgboost as xgb

from domain.errors import ModelError
from features.definitions import FEATURE_NAMES
from tests.support.shap import exact_tree_shap
from training.forest import MAX_DEPTH, TreeShap
from training.model import OUTPUTS, Explanation, PaymentDelayModel, fit_platt, period_offsets


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    n = 6_000
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    X.iloc[rng.random(n) < 0.1, 2] = np.nan
    z = X.iloc[:, 0].fillna(0) + 0.5 * X.iloc[:, 1]
    y = pd.DataFrame({"late": (z + rng.normal(size=n) > 0).astype(float),
                      "late_30": (z + rng.normal(size=n) > 1.5).astype(float),
                      "write_off": np.zeros(n),  # one class: a constant head
                      "days_late": np.clip(np.exp(z + rng.normal(size=n)), 0, 90)})
    y.loc[:200, "late_30"] = np.nan
    return X, y


@pytest.fixture(scope="module")
def model(data) -> PaymentDelayModel:
    X, y = data
    return PaymentDelayModel(n_estimators=60, max_depth=4).fit(X[:4500], y[:4500], eval_set=(X[4500:], y[4500:]))


def test_outputs_and_fast_path_agree(model, data) -> None:
    X, _ = data
    assert model.feature_names_ == FEATURE_NAMES
    assert model.constant_heads_ == ["p_write_off"]
    batch = model.predict(X[:300])
    assert list(batch.columns) == list(OUTPUTS)
    one = np.array([list(model.predict_one(X.iloc[i].to_numpy()).values()) for i in range(300)])
    np.testing.assert_allclose(one, batch.to_numpy(), rtol=1e-5, atol=1e-5)
    assert set(model.predict_one(X.iloc[0].to_numpy())) == set(OUTPUTS)
    assert ((batch[["p_late", "p_late_30", "p_write_off"]] > 0) & (batch[["p_late", "p_late_30", "p_write_off"]] < 1)).all().all()
    with pytest.raises(ModelError):
        model.predict_one(np.zeros(3))


def test_explain_one_is_exact_treeshap_in_margin_space(model, data) -> None:
    X, _ = data
    explainer = shap.TreeExplainer(model.boosters_["p_late"])
    a, b = model.calibration_["p_late"]
    for i in (0, 1, 7):
        x = X.iloc[i].to_numpy()
        contributions, base = model.explain_one(x)
        assert contributions.shape == (len(FEATURE_NAMES),)
        margin = model.margins(X.iloc[[i]])[0, 0]
        assert contributions.sum() + base == pytest.approx(margin, abs=1e-5)
        np.testing.assert_allclose(contributions, explainer.shap_values(x[None, :].astype(np.float32))[0], atol=1e-5)
        assert model.predict_one(x)["p_late"] == pytest.approx(1 / (1 + np.exp(-(a * margin + b))), abs=1e-6)


def test_platt_is_monotone_and_fits_a_shifted_margin() -> None:
    rng = np.random.default_rng(0)
    m = rng.normal(size=20_000)
    y = (rng.random(20_000) < 1 / (1 + np.exp(-(2 * m - 1)))).astype(float)
    a, b = fit_platt(m, y)
    assert a == pytest.approx(2, abs=0.15) and b == pytest.approx(-1, abs=0.1)


def test_save_load_roundtrip_and_corruption(model, data, tmp_path) -> None:
    X, _ = data
    path = model.save(tmp_path / "m")
    again = PaymentDelayModel.load(path)
    x = X.iloc[5].to_numpy()
    assert again.predict_one(x) == model.predict_one(x)
    booster = path / "p_late.ubj"
    booster.write_bytes(booster.read_bytes()[:-10])
    with pytest.raises(ModelError, match="checksum"):
        PaymentDelayModel.load(path)
    (path / "model.json").write_text("{broken")
    with pytest.raises(ModelError, match="corrupt"):
        PaymentDelayModel.load(path)


def test_period_offsets_are_smoothed_log_odds_and_the_level_is_the_median_period() -> None:
    train, valid, level = period_offsets(np.array(["a", "a", "b"]), np.array([1.0, 0.0, 0.0]),
                                         np.array(["b", "c"]), np.array([0.0, 1.0]))
    # a: (1 + .5) / (2 + 1) = 1/2; b: (0 + .5) / (2 + 1) = 1/6; c: (1 + .5) / (1 + 1) = 3/4
    np.testing.assert_allclose(train, [0.0, 0.0, np.log(1 / 5)])
    np.testing.assert_allclose(valid, [np.log(1 / 5), np.log(3)])
    assert level == pytest.approx(0.0)


def test_period_effects_keep_trees_off_a_calendar_proxy_and_keep_the_contract() -> None:
    """A month-wide shift explained by the period offset, not by a feature that tracks the month."""
    rng = np.random.default_rng(5)
    n = 8_000
    period = np.where(np.arange(n) < n // 2, "2024-01", "2024-02")
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    X["tenure_days"] = np.where(period == "2024-02", 40.0, 10.0) + rng.uniform(0, 20, n)  # grows with time
    z = X["share_known_late"].to_numpy() + 1.5 * (period == "2024-02") - 0.5
    y = pd.DataFrame({"late": (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float), "late_30": np.nan,
                      "write_off": np.nan, "days_late": rng.exponential(5.0, n)})
    valid = rng.random(n) < 0.25
    fits = {}
    for effects in (False, True):
        kwargs = {"period": period[~valid], "eval_period": period[valid]} if effects else {}
        fits[effects] = PaymentDelayModel(n_estimators=80, max_depth=3).fit(
            X[~valid], y[~valid], eval_set=(X[valid], y[valid]), **kwargs)
    col = FEATURE_NAMES.index("tenure_days")
    proxy = {k: np.abs(m.explain(X[:2_000])[:, col]).mean() for k, m in fits.items()}
    assert proxy[True] < 0.25 * proxy[False]
    model = fits[True]
    a, b = model.calibration_["p_late"]
    for i in (0, 3, 4_500):
        x = X.iloc[i].to_numpy()
        contributions, base = model.explain_one(x)
        margin = model.margins(X.iloc[[i]])[0, 0]
        assert contributions.sum() + base == pytest.approx(margin, abs=1e-5)
        assert model.predict_one(x)["p_late"] == pytest.approx(1 / (1 + np.exp(-(a * margin + b))), abs=1e-6)
    with pytest.raises(ModelError, match="period"):
        PaymentDelayModel(n_estimators=5).fit(X, y, eval_set=(X, y), period=period)


def test_tree_shap_is_shaps_own_float64_treeshap_and_xgboosts_float32_one(model, data) -> None:
    X, _ = data
    booster = model.boosters_["p_late"]
    rows = X.iloc[:200].to_numpy(dtype=np.float32)  # 10 % NaN in one column: default sides
    ours = np.array([model.explain_one(x)[0] for x in rows])
    np.testing.assert_allclose(ours, exact_tree_shap(booster, rows), atol=1e-9)
    explainer = shap.TreeExplainer(booster)
    np.testing.assert_allclose(ours, explainer.shap_values(rows), atol=1e-5)
    # (read after shap_values: that call sets it to XGBoost's bias column)
    assert model.explain_one(rows[0])[1] == pytest.approx(float(np.ravel(explainer.expected_value)[0]), abs=1e-6)


def test_margins_are_the_boosters_own_leaves(model, data) -> None:
    X, _ = data
    rows = X.iloc[:200].to_numpy(dtype=np.float32)
    for j, output in enumerate(OUTPUTS):
        booster = model.boosters_[output]
        if booster is None:
            continue
        leaves = booster.predict(xgb.DMatrix(rows), pred_leaf=True).astype(int)
        trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
        leaf_sums = np.array([sum(float(np.float32(t["split_conditions"][leaf])) for t, leaf in zip(trees, row))
                              for row in leaves])
        ours = np.array([model.forest_.margins(x)[j] for x in rows])
        np.testing.assert_allclose(ours - model.forest_.base[j], leaf_sums, rtol=0, atol=1e-9)
        np.testing.assert_allclose(ours, booster.inplace_predict(rows, predict_type="margin"), atol=1e-5)


def test_covers_are_training_row_counts_and_the_base_is_the_training_expectation(data) -> None:
    X, y = data
    fitted = PaymentDelayModel(n_estimators=30, max_depth=3).fit(X[:4500], y[:4500], eval_set=(X[4500:], y[4500:]))
    train = X[:4500].to_numpy(dtype=np.float32)
    booster = fitted.boosters_["p_late"]
    roots = [t["sum_hessian"][0] for t in
             json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]]
    assert roots == [4500.0] * len(roots)
    a, b = fitted.calibration_["p_late"]
    calibrated = a * booster.inplace_predict(train, predict_type="margin").astype(float) + b
    assert fitted.expected_log_odds_["p_late"] == pytest.approx(calibrated.mean(), abs=1e-6)
    why = fitted.explain_probability_one(train[0])
    assert why.base_log_odds == pytest.approx(fitted.expected_log_odds_["p_late"], abs=1e-9)
    assert why.base_log_odds == pytest.approx(a * why.margin_base + b, abs=1e-12)


def test_explanation_adds_up_in_log_odds_and_in_probability_points(model, data) -> None:
    X, _ = data
    for i in range(50):
        x = X.iloc[i].to_numpy()
        why = model.explain_probability_one(x)
        p = model.predict_one(x)["p_late"]
        assert why.probability == pytest.approx(p, abs=1e-12)
        assert 1 / (1 + np.exp(-(why.base_log_odds + why.log_odds.sum()))) == pytest.approx(p, abs=1e-12)
        assert why.base_probability + why.points.sum() == pytest.approx(p, abs=1e-12)
        contributions, margin_base = model.explain_one(x)
        np.testing.assert_allclose(why.log_odds, contributions * model.calibration_["p_late"][0], rtol=1e-12)
        assert np.all(np.sign(why.points) == np.sign(why.log_odds))


def test_points_allocation_is_stable_when_the_answer_is_the_base() -> None:
    """At z == base the slope is sigmoid'(base); just off it, the same to rounding (no 0/0)."""
    base = 0.3
    p = 1 / (1 + np.exp(-base))
    for log_odds in (np.array([0.2, -0.2]), np.array([0.2, -0.2 + 1e-13]), np.array([1e-9, 2e-9])):
        why = Explanation.of("p_late", log_odds, base, 1.0, 0.0, 0.0)
        assert why.base_probability + why.points.sum() == pytest.approx(why.probability, abs=1e-15)
        np.testing.assert_allclose(why.points, log_odds * p * (1 - p), rtol=1e-6)


def test_load_refuses_an_older_format_and_altered_covers(model, tmp_path) -> None:
    path = model.save(tmp_path / "m")
    meta = json.loads((path / "model.json").read_text())
    (path / "model.json").write_text(json.dumps({**meta, "format_version": 1}))
    with pytest.raises(ModelError, match="format 1"):
        PaymentDelayModel.load(path)
    shifted = {**meta, "expected_log_odds": {**meta["expected_log_odds"],
                                             "p_late": meta["expected_log_odds"]["p_late"] + 1e-3}}
    (path / "model.json").write_text(json.dumps(shifted))
    with pytest.raises(ModelError, match="covers"):
        PaymentDelayModel.load(path)


def test_trees_deeper_than_the_shap_tables_allow_are_refused(data) -> None:
    X, y = data
    booster = xgb.train({"max_depth": MAX_DEPTH + 1, "objective": "binary:logistic"},
                        xgb.DMatrix(X.to_numpy(dtype=np.float32), y["late"].to_numpy()), 3)
    with pytest.raises(ModelError, match="depth"):
        TreeShap.from_booster(booster, X.shape[1])


def test_a_booster_of_single_leaves_explains_to_zeros_and_its_margin(data) -> None:
    """A head that never splits (seen on a small history: every tree one leaf) has no internal node; its SHAP
    values are all zero and the base is the margin, as shap says (it once raised IndexError at load)."""
    X, y = data
    rows = X.iloc[:50].to_numpy(dtype=np.float32)
    booster = xgb.train({"max_depth": 3, "objective": "binary:logistic", "min_child_weight": 1e9},
                        xgb.DMatrix(X.to_numpy(dtype=np.float32), y["late"].to_numpy()), 4)
    ours = TreeShap.from_booster(booster, X.shape[1])
    values = ours.explain_many(rows)
    assert values.shape == (50, X.shape[1]) and not values.any()
    np.testing.assert_allclose(values, shap.TreeExplainer(booster).shap_values(rows), atol=1e-6)
    margin = booster.inplace_predict(rows, predict_type="margin")
    np.testing.assert_allclose(values.sum(axis=1) + ours.expected_value, margin, atol=1e-5)


def test_a_batch_scores_and_explains_bit_for_bit_as_one_row_at_a_time(model, data) -> None:
    """The dunning run scores a partition at once and must decide as next-action does, row by row."""
    X = data[0].to_numpy(dtype=np.float64)[:400].copy()
    X[::7, 3] = np.nan  # missing values take each node's default side in both
    assert model.predict_many(X) == [model.predict_one(x) for x in X]
    for one, many in zip((model.explain_probability_one(x) for x in X), model.explain_probability_many(X)):
        assert np.array_equal(one.log_odds, many.log_odds) and np.array_equal(one.points, many.points)
        assert (one.probability, one.base_log_odds) == (many.probability, many.base_log_odds)
    with pytest.raises(ModelError):
        model.predict_many(X[:, :5])
