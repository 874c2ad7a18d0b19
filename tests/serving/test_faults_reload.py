"""Reload faults (issue 15, F5): a model that cannot serve is refused with its reason, the reload loop
survives every error, and a server-side model fault is never blamed on the client.

F5, as found: a model whose booster has the wrong feature count made the reload answer 500 and killed
the reload thread in both workers (automatic reload stopped for good); a model with NaN calibration
was accepted, and decisions then answered 422 "p_late must be a finite number". (That every worker
converges on the alias within one interval is shown through gunicorn: ``test_faults_gunicorn.py``.)
"""
from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from domain.errors import ModelError
from features.definitions import FEATURE_NAMES
from tests.support.api import CHECKOUT, Clients, make_app
from tests.support.models import BROKEN, register_copy

REASONS = {"wrong_feature_count": f"the p_late booster reads {len(FEATURE_NAMES) + 6} features, the model declares "
                                  f"{len(FEATURE_NAMES)}",
           "nan_calibration": "calibration of p_late (slope) is not finite",
           "infinite_leaves": "leaf value is not finite"}


@pytest.fixture(scope="module")
def broken(champion, tmp_path_factory) -> dict[str, str]:  # noqa: ANN001
    """One registered version per kind of breakage (copies of the champion)."""
    work = tmp_path_factory.mktemp("broken")
    versions = {kind: register_copy(champion["tracking"], champion["version"], work, kind) for kind in BROKEN}
    return {**versions, "intact": register_copy(champion["tracking"], champion["version"], work)}


@pytest.fixture()
def registry(champion):  # noqa: ANN001, ANN201
    """The registry client; the champion alias is put back after each test."""
    from training.registry import client

    c = client(champion["tracking"])
    yield c
    c.set_registered_model_alias("payment-delay", "champion", champion["version"])


_ids = iter(range(1_000_000))


def checkout(api: Clients):  # noqa: ANN201
    return api.checkout.post("/v1/decisions/checkout", json={**CHECKOUT, "request_id": f"f5-{next(_ids)}"})


@pytest.mark.parametrize("kind", BROKEN)
def test_a_model_that_cannot_serve_is_refused_with_its_reason(champion, broken, registry, tmp_path,
                                                              kind: str) -> None:  # noqa: ANN001
    from training.registry import check_artifact

    with pytest.raises(ModelError) as caught:  # the one door: registration and every load
        check_artifact(f"models:/payment-delay/{broken[kind]}")
    assert REASONS[kind] in caught.value.detail

    app = make_app(champion, tmp_path)
    api = Clients(app)
    registry.set_registered_model_alias("payment-delay", "champion", broken[kind])
    r = api.admin.post("/v1/admin/reload")
    assert r.status_code == 409 and r.mimetype == "application/problem+json", r.get_data(as_text=True)
    body = r.get_json()
    assert body["code"] == "reload_refused" and body["field"] == "model"
    assert REASONS[kind] in body["errors"]["model"]["detail"]
    decided = checkout(api)
    assert decided.status_code == 200 and decided.get_json()["risk"]["version"] == champion["version"]
    assert REASONS[kind] in api.admin.get("/readyz").get_json()["errors"]["model"]
    again = api.admin.post("/v1/admin/reload")  # remembered: not downloaded again, the same reason
    assert again.status_code == 409 and REASONS[kind] in again.get_json()["errors"]["model"]["detail"]


class Faulty:
    """The served model answering a non-finite score for some rows (the probe rows passed)."""

    def __init__(self, model, value: float) -> None:  # noqa: ANN001
        self.model, self.value = model, value

    def predict_one(self, x: np.ndarray) -> dict[str, float]:
        return {**self.model.predict_one(x), "p_late": self.value}

    def explain_probability_one(self, x: np.ndarray):  # noqa: ANN201
        return self.model.explain_probability_one(x)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_model_fault_is_the_servers_not_the_clients(champion, tmp_path, monkeypatch,  # noqa: ANN001
                                                      value: float) -> None:
    app = make_app(champion, tmp_path)
    runtime = app.extensions["kredo.runtime"]
    monkeypatch.setattr(runtime, "served", dataclasses.replace(runtime.served, model=Faulty(runtime.served.model,
                                                                                              value)))
    r = checkout(Clients(app))
    assert r.status_code == 503 and r.get_json()["code"] == "model_fault", r.get_data(as_text=True)
    assert r.headers["Retry-After"]


def test_the_reload_loop_survives_every_error(champion, broken, registry, tmp_path,  # noqa: ANN001
                                             monkeypatch) -> None:
    """Errors injected where the loop calls out (the alias lookup inside the model's guard, the policy
    check outside it), and a broken model on the alias meanwhile: the thread lives on, counts the
    errors, and follows the alias to a sound version once they stop."""
    import serving.runtime as rt

    before = set(threading.enumerate())
    app = make_app(champion, tmp_path, RELOAD_INTERVAL_S=0.1)
    (watcher,) = [t for t in threading.enumerate() if t not in before and t.name == "kredo-reload"]
    runtime = app.extensions["kredo.runtime"]
    api = Clients(app)
    alias_errors = iter([RuntimeError("registry gone"), KeyError("alias"), ZeroDivisionError(), MemoryError()])
    policy_errors = iter([OSError("disk"), ValueError("bad"), RecursionError()])
    real_alias, real_policy = rt.alias_version, runtime._reload_policy

    def alias_version(*args: str) -> str | None:
        error = next(alias_errors, None)
        if error is not None:
            raise error
        return real_alias(*args)

    def reload_policy(refused: dict) -> str:
        error = next(policy_errors, None)
        if error is not None:
            raise error
        return real_policy(refused)

    try:
        monkeypatch.setattr(rt, "alias_version", alias_version)
        monkeypatch.setattr(runtime, "_reload_policy", reload_policy)
        registry.set_registered_model_alias("payment-delay", "champion", broken["wrong_feature_count"])
        deadline = time.monotonic() + 10
        while (next(alias_errors, None), next(policy_errors, None)) != (None, None) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        assert watcher.is_alive()
        assert checkout(api).get_json()["risk"]["version"] == champion["version"]
        assert 'kredo_reloads_total{part="loop",result="error"}' in api.admin.get("/metrics").get_data(as_text=True)

        registry.set_registered_model_alias("payment-delay", "champion", broken["intact"])
        deadline = time.monotonic() + 10
        while checkout(api).get_json()["risk"]["version"] != broken["intact"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert checkout(api).get_json()["risk"]["version"] == broken["intact"]
        assert watcher.is_alive()
    finally:
        runtime.stop()
