"""Faults through ``kredo serve`` for real: gunicorn, two workers, Redis, SQLite audit log and ledger.

F5, as found: a model with the wrong feature count killed the reload thread in both workers; a model
with NaN calibration was accepted; after the alias went back, one worker kept the bad model until the
sixth ``POST /v1/admin/reload``. Here the alias moves to each broken model and back, and every worker
(told apart by the ``pid`` label of ``kredo_model_info`` in the merged ``/metrics``) must serve the
alias's sound version within one reload interval, with no admin call.

The SQLite stall, as found: with the audit log's write lock held by another process for 15 s,
requests waited 15 s and ``/readyz`` hung for over 10 s. Through gunicorn (one thread per worker) a
``/readyz`` can queue behind a request that waits for the lock, so the bound here is the lock
timeout, not the probe's quarter second.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.serving.test_faults_sqlite import LOCK_S, lock_held
from tests.serving.test_serving_gunicorn import new_key
from tests.support.api import CHECKOUT, bearer
from tests.support.models import register_copy
from tests.support.services import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
INTERVAL_S = 2.0
LOAD_SLACK_S = 3.0  # downloading, loading and probing one model, on a shared machine


@pytest.fixture(scope="module")
def versions(champion, tmp_path_factory) -> dict[str, str]:  # noqa: ANN001
    work = tmp_path_factory.mktemp("versions")
    return {"champion": champion["version"], "intact": register_copy(champion["tracking"], champion["version"], work),
            **{kind: register_copy(champion["tracking"], champion["version"], work, kind)
               for kind in ("wrong_feature_count", "nan_calibration")}}


@pytest.fixture(scope="module")
def server(champion, versions, tmp_path_factory) -> Iterator[dict]:  # noqa: ANN001
    redis_ = RedisServer().start()
    work = tmp_path_factory.mktemp("gunicorn-faults")
    port = free_port()
    env = dict(os.environ, REDIS_URL=redis_.url, DATABASE_URL=f"sqlite:///{work}/audit.db",
               KREDO_LEDGER_URL=f"sqlite:///{work}/ledger.db", MLFLOW_TRACKING_URI=champion["tracking"],
               KREDO_MODEL_URI=champion["uri"], KREDO_RELOAD_INTERVAL_S=str(INTERVAL_S), KREDO_CONTROL_SHARE="0")
    keys = {role: bearer(new_key(env, role)) for role in ("checkout", "admin")}
    proc = subprocess.Popen([sys.executable, "-m", "serving.cli", "serve", "--port", str(port), "--workers", "2"],
                            cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while len(worker_versions(base, keys["admin"])) < 2:
            assert proc.poll() is None, "kredo serve exited"
            assert time.monotonic() < deadline, "kredo serve not ready"
            time.sleep(0.2)
        yield {"base": base, "audit": work / "audit.db", "keys": keys}
    finally:
        try:
            proc.terminate()
            proc.wait(timeout=30)
        finally:
            redis_.close()


def worker_versions(base: str, admin: dict[str, str]) -> dict[str, str]:
    """pid -> the model version each live worker serves (from the merged /metrics), {} before it answers."""
    try:
        text = requests.get(f"{base}/metrics", headers=admin, timeout=5).text
    except requests.RequestException:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith("kredo_model_info{") and line.endswith(" 1.0"):
            labels = dict(part.split("=", 1) for part in line[line.index("{") + 1:line.index("}")].split(","))
            out[labels["pid"].strip('"')] = labels["version"].strip('"')
    return out


def converge(server: dict, version: str, timeout_s: float) -> float:
    """Seconds until every worker serves ``version`` (checkouts on the way: never a 4xx or 5xx)."""
    base, keys = server["base"], server["keys"]
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        r = requests.post(f"{base}/v1/decisions/checkout", headers=keys["checkout"], timeout=10,
                          json={**CHECKOUT, "request_id": f"conv-{time.monotonic_ns()}"})
        assert r.status_code == 200, r.text
        served = worker_versions(base, keys["admin"])
        if len(served) == 2 and set(served.values()) == {version}:
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"workers serve {worker_versions(base, keys['admin'])} {timeout_s} s after the alias "
                         f"moved to {version}")


def test_every_worker_follows_the_alias_within_one_interval(server, versions, champion) -> None:  # noqa: ANN001
    from training.registry import client

    registry, base, keys = client(champion["tracking"]), server["base"], server["keys"]
    try:
        assert set(worker_versions(base, keys["admin"]).values()) == {versions["champion"]}
        for bad in ("wrong_feature_count", "nan_calibration"):
            registry.set_registered_model_alias("payment-delay", "champion", versions[bad])
            time.sleep(2 * INTERVAL_S + LOAD_SLACK_S)  # every worker has tried it, and refused it
            assert set(worker_versions(base, keys["admin"]).values()) == {versions["champion"]}, bad
            r = requests.post(f"{base}/v1/decisions/checkout", json={**CHECKOUT, "request_id": f"bad-{bad}"},
                              headers=keys["checkout"], timeout=10)
            assert r.status_code == 200 and r.json()["risk"]["version"] == versions["champion"]
        took = {}
        for good in ("intact", "champion"):
            registry.set_registered_model_alias("payment-delay", "champion", versions[good])
            took[good] = converge(server, versions[good], 3 * INTERVAL_S + LOAD_SLACK_S)
            assert took[good] <= INTERVAL_S + LOAD_SLACK_S, took
        print(f"all workers on the alias after {took} s (interval {INTERVAL_S} s)")
    finally:
        registry.set_registered_model_alias("payment-delay", "champion", champion["version"])


def test_a_lock_held_on_the_audit_log_costs_at_most_the_lock_timeout(server) -> None:  # noqa: ANN001
    base, answers = server["base"], []
    stop = threading.Event()

    def loop(path: str, method: str) -> None:
        with requests.Session() as session:
            session.headers.update(server["keys"]["checkout"])
            i = 0
            while not stop.is_set():
                t0 = time.monotonic()
                if method == "post":
                    r = session.post(f"{base}{path}", json={**CHECKOUT, "request_id": f"lock-{i}-{t0}"}, timeout=30)
                else:
                    r = session.get(f"{base}{path}", timeout=30)
                answers.append((path, r.status_code, r.headers.get("Retry-After"), time.monotonic() - t0))
                i += 1

    with lock_held(server["audit"]):
        threads = [threading.Thread(target=loop, args=args) for args in
                   (("/v1/decisions/checkout", "post"), ("/readyz", "get"))]
        for t in threads:
            t.start()
        time.sleep(6.0)
        stop.set()
        for t in threads:
            t.join()
    checkouts = [a for a in answers if a[0] == "/v1/decisions/checkout"]
    assert checkouts and all(status == 503 and retry for _, status, retry, _ in checkouts), checkouts
    slowest = max(seconds for *_, seconds in answers)
    assert slowest < LOCK_S + 1.5, answers
    print(f"{len(answers)} answers under the lock, slowest {slowest:.2f} s")
    after = requests.post(f"{base}/v1/decisions/checkout", json={**CHECKOUT, "request_id": "after-lock"},
                          headers=server["keys"]["checkout"], timeout=10)
    assert after.status_code == 200
