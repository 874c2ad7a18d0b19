"""SHAP per decision is exact TreeSHAP of the served model: sums to the margin, equals shap's TreeExplainer."""
from __future__ import annotations

import numpy as np
import shap

from features.definitions import FEATURE_NAMES
from tests.support.api import CHECKOUT, known_customer


def test_audit_shap_sums_to_margin_and_matches_tree_explainer(client, app, small_ledger) -> None:  # noqa: F811
    model = app.extensions["kredo.runtime"].snapshot().model
    booster = model.boosters_["p_late"]
    explainer = shap.TreeExplainer(booster)
    customers = small_ledger.customers.iloc[:12]
    for i, row in enumerate(customers.itertuples()):
        req = {**CHECKOUT, "request_id": f"shap-{i}",
               "customer": {"id": row.customer_id, "type": row.type, "country": row.country},
               "order": {**CHECKOUT["order"], "amount": 100.0 + 250.0 * i}}
        body = client.post("/v1/decisions/checkout", json=req).get_json()
        record = client.get(f"/v1/decisions/{body['decision_id']}").get_json()
        x = np.array([record["features"][n] for n in FEATURE_NAMES])
        contributions = np.array([record["shap"]["contributions"][n] for n in FEATURE_NAMES])
        base = record["shap"]["base_value"]
        margin = model.margins(x.reshape(1, -1))[0, 0]
        assert abs(contributions.sum() + base - margin) < 1e-5
        reference = explainer.shap_values(x.astype(np.float32).reshape(1, -1))[0]
        np.testing.assert_allclose(contributions, reference, atol=1e-5)
        assert abs(float(np.ravel(explainer.expected_value)[0]) - base) < 1e-5
        # the risk the client sees is the served model's calibrated probability for the same vector
        assert abs(body["risk"]["p_late"] - model.predict_one(x)["p_late"]) < 1e-6
