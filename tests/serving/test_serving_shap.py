"""SHAP per decision: exact TreeSHAP of the served model, stated in the answer's own terms.

An auditor holding only ``GET /v1/decisions/{id}`` must get from the record's
base value and contributions to the served P(late), in calibrated log-odds and
in probability points, and back to the booster's own TreeSHAP.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import shap

from features.definitions import FEATURE_NAMES
from tests.support.api import CHECKOUT
from tests.support.shap import exact_tree_shap


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _run(api, small_ledger) -> list[tuple[dict, dict]]:
    """Many checkouts and next-actions (by invoice id, the ledger's own invoices, open ones first)
    over real customers; every answer with its stored record."""
    invoices = small_ledger.invoices.assign(open=lambda f: f.paid_at.isna() & f.written_off_at.isna())
    asked = invoices.sort_values(["open", "issued_at"]).groupby("customer_id").invoice_id.last()
    customers = small_ledger.customers[small_ledger.customers.customer_id.isin(asked.index)].iloc[:40]
    decisions = []
    for i, row in enumerate(customers.itertuples()):
        customer = {"id": row.customer_id, "type": row.type, "country": row.country}
        req = {**CHECKOUT, "request_id": f"shap-co-{i}", "customer": customer,
               "order": {**CHECKOUT["order"], "amount": 100.0 + 731.0 * i, "payment_terms_days": (14, 30, 60)[i % 3]}}
        decisions.append(api.checkout.post("/v1/decisions/checkout", json=req).get_json())
        if i % 2 == 0:
            na = {"request_id": f"shap-na-{i}", "invoice_id": asked[row.customer_id]}
            decisions.append(api.dunning.post("/v1/decisions/next-action", json=na).get_json())
    return [(body, api.auditor.get(f"/v1/decisions/{body['decision_id']}").get_json()) for body in decisions]


def test_p_late_is_reconstructed_from_the_stored_record_alone(api, small_ledger) -> None:
    run = _run(api, small_ledger)
    assert {r["kind"] for _, r in run} == {"checkout", "next_action"} and len(run) == 60
    for body, record in run:
        shap_record, p_late = record["shap"], record["scores"]["p_late"]
        contributions = np.array([shap_record["contributions"][n] for n in FEATURE_NAMES])
        # calibrated log-odds: base + contributions = logit(p_late)
        assert abs(_sigmoid(shap_record["base_value"] + contributions.sum()) - p_late) < 1e-6
        assert abs(_sigmoid(shap_record["base_value"] + contributions.sum()) - body["risk"]["p_late"]) < 1e-6
        assert shap_record["output"] == "p_late" and "calibrated log-odds" in shap_record["space"]
        # probability points: base + points = p_late
        points = shap_record["points"]
        assert abs(points["base_value"] - _sigmoid(shap_record["base_value"])) < 1e-12
        assert abs(points["base_value"] + sum(points["contributions"].values()) - p_late) < 1e-6
        # through the link back to the booster's margin space
        link = shap_record["link"]
        margin = link["margin_base_value"] + contributions.sum() / link["scale"]
        assert abs(_sigmoid(link["scale"] * margin + link["shift"]) - p_late) < 1e-6
        assert abs(link["scale"] * link["margin_base_value"] + link["shift"] - shap_record["base_value"]) < 1e-9
        # the model reasons of the answer are the largest contributions, in probability points
        model_reasons = [r for r in body["reasons"] if r["source"] == "model"]
        by_size = sorted(FEATURE_NAMES, key=lambda n: -abs(points["contributions"][n]))
        assert [r["code"] for r in model_reasons] == [f"model.{n}" for n in by_size[:len(model_reasons)]]
        for reason in model_reasons:
            name = reason["code"].removeprefix("model.")
            assert reason["contribution"] == round(points["contributions"][name], 4)
            assert reason["log_odds"] == round(shap_record["contributions"][name], 4)
            assert reason["text"].endswith(f"({points['contributions'][name]:+.2f})")


def test_base_value_is_the_expected_calibrated_log_odds_of_the_training_rows(api, app) -> None:
    model = app.extensions["kredo.runtime"].snapshot().model
    body = api.checkout.post("/v1/decisions/checkout", json={**CHECKOUT, "request_id": "shap-base"}).get_json()
    record = api.auditor.get(f"/v1/decisions/{body['decision_id']}").get_json()
    a, b = model.calibration_["p_late"]
    assert record["shap"]["base_value"] == pytest.approx(model.expected_log_odds_["p_late"], abs=1e-9)
    assert record["shap"]["link"]["scale"] == a and record["shap"]["link"]["shift"] == b
    assert record["shap"]["link"]["period_level"] == model.period_level_.get("p_late", 0.0)


def test_audit_shap_is_exact_treeshap_of_the_served_booster(api, app, small_ledger) -> None:
    model = app.extensions["kredo.runtime"].snapshot().model
    booster = model.boosters_["p_late"]
    explainer = shap.TreeExplainer(booster)
    customers = small_ledger.customers.iloc[:12]
    for i, row in enumerate(customers.itertuples()):
        req = {**CHECKOUT, "request_id": f"shap-{i}",
               "customer": {"id": row.customer_id, "type": row.type, "country": row.country},
               "order": {**CHECKOUT["order"], "amount": 100.0 + 250.0 * i}}
        body = api.checkout.post("/v1/decisions/checkout", json=req).get_json()
        record = api.auditor.get(f"/v1/decisions/{body['decision_id']}").get_json()
        x = np.array([record["features"][n] for n in FEATURE_NAMES])
        link = record["shap"]["link"]
        contributions = np.array([record["shap"]["contributions"][n] for n in FEATURE_NAMES]) / link["scale"]
        base = link["margin_base_value"]
        margin = model.margins(x.reshape(1, -1))[0, 0]
        assert abs(contributions.sum() + base - margin) < 1e-5  # XGBoost's margin is float32
        row32 = x.astype(np.float32).reshape(1, -1)
        # shap's TreeExplainer hands XGBoost models to XGBoost's float32 pred_contribs ...
        np.testing.assert_allclose(contributions, explainer.shap_values(row32)[0], atol=1e-5)
        assert abs(float(np.ravel(explainer.expected_value)[0]) - base) < 1e-6
        # ... and its own float64 TreeSHAP agrees to rounding
        np.testing.assert_allclose(contributions, exact_tree_shap(booster, row32)[0], atol=1e-9)
        # the risk the client sees is the served model's calibrated probability for the same vector
        assert abs(body["risk"]["p_late"] - model.predict_one(x)["p_late"]) < 1e-6
