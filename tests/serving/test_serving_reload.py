"""Hot swap: a moved alias or an edited policy is picked up without dropping a request;
a model or policy that fails to load is refused and the old one keeps serving."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from tests.support.api import CHECKOUT, make_app


@pytest.fixture(scope="module")
def second_version(champion, small_ledger) -> str:  # noqa: F811
    """A second registered version (challenger) of payment-delay in the same store."""
    from training.runs import train_and_log
    from training.pipeline import TrainConfig

    _, logged = train_and_log(small_ledger, TrainConfig(n_estimators=20, max_depth=3, seed=3),
                              champion["tracking"], progress=False)
    return logged.version


@pytest.fixture()
def registry(champion):  # noqa: ANN201, F811
    """The registry client; the champion alias is put back after each test."""
    from training.registry import client

    c = client(champion["tracking"])
    yield c
    c.set_registered_model_alias("payment-delay", "champion", champion["version"])


def version_of(client_) -> str:  # noqa: ANN001
    return client_.get("/readyz").get_json()["model"]["version"]


def decide(client_, i: int) -> int:  # noqa: ANN001
    return client_.post("/v1/decisions/checkout", json={**CHECKOUT, "request_id": f"swap-{i}"}).status_code


def test_admin_reload_swaps_to_the_new_champion(champion, second_version, registry, tmp_path) -> None:  # noqa: F811
    app = make_app(champion, tmp_path)
    c = app.test_client()
    assert version_of(c) == champion["version"]
    registry.set_registered_model_alias("payment-delay", "champion", second_version)
    r = c.post("/v1/admin/reload")
    assert r.status_code == 200 and r.get_json()["model"] == "loaded"
    assert version_of(c) == second_version
    body = c.post("/v1/decisions/checkout", json=CHECKOUT).get_json()
    assert body["risk"]["version"] == second_version
    assert c.post("/v1/admin/reload").get_json()["model"] == "unchanged"


def test_periodic_check_follows_the_alias(champion, second_version, registry, tmp_path) -> None:  # noqa: F811
    app = make_app(champion, tmp_path, RELOAD_INTERVAL_S=0.2)
    c = app.test_client()
    try:
        registry.set_registered_model_alias("payment-delay", "champion", second_version)
        for _ in range(100):
            if version_of(c) == second_version:
                break
            threading.Event().wait(0.1)
        assert version_of(c) == second_version
    finally:
        app.extensions["kredo.runtime"].stop()


def test_corrupt_model_is_refused_and_old_one_keeps_serving(champion, second_version, registry,  # noqa: F811
                                                            tmp_path) -> None:
    app = make_app(champion, tmp_path)
    c = app.test_client()
    source = registry.get_model_version("payment-delay", second_version).source.removeprefix("models:/")
    (booster,) = (Path(champion["dir"]) / "artifacts" / "models" / source).rglob("p_late.ubj")
    original = booster.read_bytes()
    try:
        booster.write_bytes(original[: len(original) // 2])
        registry.set_registered_model_alias("payment-delay", "champion", second_version)
        r = c.post("/v1/admin/reload")
        assert r.status_code == 409 and r.mimetype == "application/problem+json"
        assert r.get_json()["code"] == "reload_refused" and r.get_json()["field"] == "model"
        assert version_of(c) == champion["version"]
        assert decide(c, 0) == 200
        assert c.get("/readyz").get_json()["errors"]["model"]
    finally:
        booster.write_bytes(original)


def test_broken_policy_is_refused_and_old_one_keeps_serving(champion, tmp_path) -> None:  # noqa: F811
    policy = tmp_path / "policy.yaml"
    shutil.copy("rules/default.yaml", policy)
    app = make_app(champion, tmp_path, POLICY_PATH=str(policy))
    c = app.test_client()
    before = c.get("/readyz").get_json()["policy"]
    policy.write_text(policy.read_text().replace("tables:", "tabels:", 1) + "\n  - [unclosed\n")
    r = c.post("/v1/admin/reload")
    assert r.status_code == 409 and r.get_json()["field"] == "policy"
    assert c.get("/readyz").get_json()["policy"] == before
    assert decide(c, 1) == 200


def test_edited_policy_is_swapped_in(champion, tmp_path) -> None:  # noqa: F811
    import yaml

    policy = tmp_path / "policy.yaml"
    shutil.copy("rules/default.yaml", policy)
    app = make_app(champion, tmp_path, POLICY_PATH=str(policy))
    c = app.test_client()
    doc = yaml.safe_load(policy.read_text())
    doc["version"] = f"{doc['version']}-edited"
    policy.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert c.post("/v1/admin/reload").get_json()["policy"] == "loaded"
    assert c.get("/readyz").get_json()["policy"]["version"].endswith("-edited")
    assert c.post("/v1/decisions/checkout", json=CHECKOUT).get_json()["policy_version"].endswith("-edited")


def test_no_request_is_dropped_while_swapping(champion, second_version, registry, tmp_path) -> None:  # noqa: F811
    app = make_app(champion, tmp_path)
    statuses: list[int] = []
    stop = threading.Event()

    def hammer(worker: int) -> None:
        c = app.test_client()
        i = 0
        while not stop.is_set():
            statuses.append(decide(c, worker * 100_000 + i))
            i += 1

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    admin = app.test_client()
    versions = [second_version, champion["version"]] * 3
    for v in versions:
        registry.set_registered_model_alias("payment-delay", "champion", v)
        assert admin.post("/v1/admin/reload").status_code == 200
    stop.set()
    for t in threads:
        t.join()
    assert statuses and set(statuses) == {200}
    assert app.extensions["kredo.runtime"].audit.verify().ok
