"""PaymentDelayModel: the serving contract, exact SHAP, the numpy fast path, persistence."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap

from domain.errors import ModelError
from features.definitions import FEATURE_NAMES
from training.model import OUTPUTS, PaymentDelayModel, fit_platt, period_offsets


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
