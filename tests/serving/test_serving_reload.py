"""Hot swap: a moved alias or an edited policy is picked up without dropping a request;
a model or policy that fails to load is refused and the old one keeps serving."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from tests.support.api import CHECKOUT, Clients, client, make_app


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


def version_of(admin) -> str:  # noqa: ANN001 - a test client with an admin key (readyz's details)
    return admin.get("/readyz").get_json()["model"]["version"]


def decide(checkout, i: int) -> int:  # noqa: ANN001 - a test client with a checkout key
    return checkout.post("/v1/decisions/checkout", json={**CHECKOUT, "request_id": f"swap-{i}"}).status_code


def test_admin_reload_swaps_to_the_new_champion(champion, second_version, registry, tmp_path) -> None:  # noqa: F811
    api = Clients(make_app(champion, tmp_path))
    assert version_of(api.admin) == champion["version"]
    registry.set_registered_model_alias("payment-delay", "champion", second_version)
    r = api.admin.post("/v1/admin/reload")
    assert r.status_code == 200 and r.get_json()["model"] == "loaded"
    assert version_of(api.admin) == second_version
    body = api.checkout.post("/v1/decisions/checkout", json=CHECKOUT).get_json()
    assert body["risk"]["version"] == second_version
    assert api.admin.post("/v1/admin/reload").get_json()["model"] == "unchanged"


def test_periodic_check_follows_the_alias(champion, second_version, registry, tmp_path) -> None:  # noqa: F811
    app = make_app(champion, tmp_path, RELOAD_INTERVAL_S=0.2)
    admin = client(app, "admin")
    try:
        registry.set_registered_model_alias("payment-delay", "champion", second_version)
        for _ in range(100):
            if version_of(admin) == second_version:
                break
            threading.Event().wait(0.1)
        assert version_of(admin) == second_version
    finally:
        app.extensions["kredo.runtime"].stop()


def test_corrupt_model_is_refused_and_old_one_keeps_serving(champion, second_version, registry,  # noqa: F811
                                                            tmp_path) -> None:
    api = Clients(make_app(champion, tmp_path))
    source = registry.get_model_version("payment-delay", second_version).source.removeprefix("models:/")
    (booster,) = (Path(champion["dir"]) / "artifacts" / "models" / source).rglob("p_late.ubj")
    original = booster.read_bytes()
    try:
        booster.write_bytes(original[: len(original) // 2])
        registry.set_registered_model_alias("payment-delay", "champion", second_version)
        r = api.admin.post("/v1/admin/reload")
        assert r.status_code == 409 and r.mimetype == "application/problem+json"
        assert r.get_json()["code"] == "reload_refused" and r.get_json()["field"] == "model"
        assert version_of(api.admin) == champion["version"]
        assert decide(api.checkout, 0) == 200
        errors = api.admin.get("/readyz").get_json()["errors"]
        assert errors["model"]
        for text in (r.get_data(as_text=True), str(errors)):  # F6: the loader's words, without the store's path
            assert champion["dir"] not in text and "/tmp" not in text and "sqlite:///" not in text, text
    finally:
        booster.write_bytes(original)


def test_broken_policy_is_refused_and_old_one_keeps_serving(champion, tmp_path) -> None:  # noqa: F811
    policy = tmp_path / "policy.yaml"
    shutil.copy("rules/default.yaml", policy)
    api = Clients(make_app(champion, tmp_path, POLICY_PATH=str(policy)))
    before = api.admin.get("/readyz").get_json()["policy"]
    policy.write_text(policy.read_text().replace("tables:", "tabels:", 1) + "\n  - [unclosed\n")
    r = api.admin.post("/v1/admin/reload")
    assert r.status_code == 409 and r.get_json()["field"] == "policy"
    ready = api.admin.get("/readyz").get_json()
    assert ready["policy"] == before
    assert decide(api.checkout, 1) == 200
    for text in (r.get_data(as_text=True), str(ready)):  # F6: which file, not where it lives
        assert str(tmp_path) not in text and "/tmp" not in text, text
    assert r.get_json()["errors"]["policy"]["findings"][0]["file"] == "…/policy.yaml"


def test_edited_policy_is_swapped_in(champion, tmp_path) -> None:  # noqa: F811
    import yaml

    policy = tmp_path / "policy.yaml"
    shutil.copy("rules/default.yaml", policy)
    api = Clients(make_app(champion, tmp_path, POLICY_PATH=str(policy)))
    doc = yaml.safe_load(policy.read_text())
    doc["version"] = f"{doc['version']}-edited"
    policy.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert api.admin.post("/v1/admin/reload").get_json()["policy"] == "loaded"
    assert api.admin.get("/readyz").get_json()["policy"]["version"].endswith("-edited")
    assert api.checkout.post("/v1/decisions/checkout", json=CHECKOUT).get_json()["policy_version"].endswith("-edited")


def test_no_request_is_dropped_while_swapping(champion, second_version, registry, tmp_path) -> None:  # noqa: F811
    app = make_app(champion, tmp_path)
    statuses: list[int] = []
    stop = threading.Event()

    def hammer(worker: int) -> None:
        c = client(app, "checkout")
        i = 0
        while not stop.is_set():
            statuses.append(decide(c, worker * 100_000 + i))
            i += 1

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    admin = client(app, "admin")
    versions = [second_version, champion["version"]] * 3
    for v in versions:
        registry.set_registered_model_alias("payment-delay", "champion", v)
        assert admin.post("/v1/admin/reload").status_code == 200
    stop.set()
    for t in threads:
        t.join()
    assert statuses and set(statuses) == {200}
    assert app.extensions["kredo.runtime"].audit.verify().ok
