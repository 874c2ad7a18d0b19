"""``kredo serve`` for real: gunicorn with two workers, Redis features and bandit state, SQLite audit.

Checks what only shows across processes: the same ``request_id`` sent to both
workers at once yields one decision and one audit record; the hash chain
written by two workers verifies; ``/metrics`` merges both workers; a
dunning decision's reminder and its payment pay the bandit through Redis; a key
made or revoked with ``kredo keys`` takes effect in both workers within
``KREDO_KEYS_REFRESH_S``; an event batch closes its connection (a decision keeps it). The keys are made with the ``kredo keys`` command.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.services import free_port
from tests.support.api import CHECKOUT, NEXT_ACTION, bearer

ROOT = Path(__file__).resolve().parents[2]
REFRESH_S = 1.0


def kredo(env: dict[str, str], *args: str) -> str:
    """Run ``kredo ARGS`` as an operator would; its standard output."""
    done = subprocess.run([sys.executable, "-m", "serving.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout


def new_key(env: dict[str, str], role: str) -> str:
    return kredo(env, "keys", "create", "--role", role, "--name", f"gunicorn-{role}").strip().splitlines()[-1]


def _env(champion, redis_url: str, work: Path) -> dict[str, str]:  # noqa: ANN001
    return dict(os.environ, REDIS_URL=redis_url, DATABASE_URL=f"sqlite:///{work}/audit.db",
                KREDO_LEDGER_URL=f"sqlite:///{work}/ledger.db",
                MLFLOW_TRACKING_URI=champion["tracking"], KREDO_MODEL_URI=champion["uri"],
                KREDO_RELOAD_INTERVAL_S="0", KREDO_CONTROL_SHARE="0", KREDO_KEYS_REFRESH_S=str(REFRESH_S))


@contextmanager
def _kredo_serve(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, str]]:
    """``kredo serve`` with two workers, once ready: the process and its base URL; terminated afterwards."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "serving.cli", "serve", "--port", str(port), "--workers", "2"],
                            cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "kredo serve exited"
            try:
                if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "kredo serve not ready"
            time.sleep(0.2)
        yield proc, base
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@pytest.fixture(scope="module")
def server(champion, redis_url, tmp_path_factory) -> Iterator[dict[str, str]]:  # noqa: F811
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    env = _env(champion, redis_url, tmp_path_factory.mktemp("gunicorn"))
    keys = {role: new_key(env, role) for role in ("checkout", "dunning", "auditor")}
    with _kredo_serve(env) as (_, base):
        yield {"base": base, "env": env, "keys": keys}


def test_a_stopped_server_closes_idle_kept_alive_connections_at_once(champion, redis_url, tmp_path) -> None:  # noqa: ANN001, F811
    """SIGTERM while a client keeps an idle connection alive (and another has connected and sent nothing): the
    workers close them and exit at once. gthread's shutdown waited on its poller for the whole graceful
    timeout, so one idle client held every stop (a deploy, a test's teardown) for 30 s."""
    env = _env(champion, redis_url, tmp_path)
    key = new_key(env, "checkout")
    with _kredo_serve(env) as (proc, base):
        host, port = base.removeprefix("http://").split(":")
        kept = http.client.HTTPConnection(host, int(port), timeout=10)
        kept.request("POST", "/v1/decisions/checkout", body=json.dumps({**CHECKOUT, "request_id": "stop-1"}),
                     headers={"Content-Type": "application/json", **bearer(key)})
        assert kept.getresponse().read() and kept.sock is not None  # answered; the connection stays open
        silent = socket.create_connection((host, int(port)))
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.terminate()
        proc.wait(timeout=60)
        stopped_s = time.monotonic() - t0
        kept.close()
        silent.close()
    assert stopped_s < 10, f"stopped {stopped_s:.1f} s after SIGTERM"


def test_same_request_id_on_both_workers_is_one_decision(server) -> None:
    req = {**CHECKOUT, "request_id": "race-1"}

    def send(_: int) -> dict:
        return requests.post(f"{server['base']}/v1/decisions/checkout", json=req, timeout=10,
                             headers=bearer(server["keys"]["checkout"])).json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(16)))
    assert len({a["decision_id"] for a in answers}) == 1
    verify = subprocess.run([sys.executable, "-m", "serving.cli", "audit", "verify", "--json"], cwd=ROOT,
                            env=server["env"], capture_output=True, text=True)
    report = json.loads(verify.stdout.strip().splitlines()[-1])
    assert verify.returncode == 0 and report["ok"]


def test_chain_written_by_two_workers_verifies(server) -> None:
    def send(i: int) -> int:
        return requests.post(f"{server['base']}/v1/decisions/checkout", headers=bearer(server["keys"]["checkout"]),
                             json={**CHECKOUT, "request_id": f"chain-{i}"}, timeout=10).status_code

    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(send, range(60))) == {200}
    verify = subprocess.run([sys.executable, "-m", "serving.cli", "audit", "verify"], cwd=ROOT,
                            env=server["env"], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "intact" in verify.stdout


def test_metrics_merge_all_workers(server) -> None:
    for i in range(10):
        requests.post(f"{server['base']}/v1/decisions/checkout", json={**CHECKOUT, "request_id": f"m-{i}"},
                      timeout=10, headers=bearer(server["keys"]["checkout"]))
    assert requests.get(f"{server['base']}/metrics", timeout=10).status_code == 401
    text = requests.get(f"{server['base']}/metrics", timeout=10, headers=bearer(server["keys"]["auditor"])).text
    model_lines = [line for line in text.splitlines() if line.startswith("kredo_model_info{")]
    assert len({line.split('pid="')[1].split('"')[0] for line in model_lines}) == 2
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith("kredo_decisions_total{"))
    assert counted >= 10


def test_reminder_then_payment_pays_the_bandit_through_redis(server, redis_url) -> None:
    base = server["base"]
    req = json.loads(json.dumps(NEXT_ACTION))
    req.update(request_id="bandit-1", now="2026-11-04T10:00:00+01:00")
    req["customer"]["id"] = "C-BANDIT"
    req["invoice"].update(id="INV-BANDIT", due_date="2026-10-31")
    dunning = bearer(server["keys"]["dunning"])
    decision = requests.post(f"{base}/v1/decisions/next-action", json=req, timeout=10, headers=dunning).json()
    assert decision["action"] == "remind", decision
    assert decision["bandit"]["group"] == "bandit" and decision["bandit"]["arm"] is not None
    events = [
        {"event_id": "b-1", "type": "invoice_issued", "customer_id": "C-BANDIT", "invoice_id": "INV-BANDIT",
         "at": "2026-10-01T09:00:00", "amount": 300.0, "due_at": "2026-10-31T09:00:00",
         "payment_terms_days": 30, "paperless": True},
        {"event_id": "b-2", "type": "reminder_sent", "customer_id": "C-BANDIT", "invoice_id": "INV-BANDIT",
         "at": "2026-11-04T10:00:00", "decision_id": decision["decision_id"]},
        {"event_id": "b-3", "type": "payment_received", "customer_id": "C-BANDIT", "invoice_id": "INV-BANDIT",
         "at": "2026-11-06T10:00:00", "amount": 300.0},
    ]
    answer = requests.post(f"{base}/v1/events", json={"events": events}, timeout=10, headers=dunning).json()
    assert [r["status"] for r in answer["results"]] == ["applied"] * 3
    assert answer["rewards"] == 1
    again = requests.post(f"{base}/v1/events", json={"events": events}, timeout=10, headers=dunning).json()
    assert again["duplicate"] == 3 and again["rewards"] == 0


def test_an_event_batch_closes_its_connection_and_a_decision_keeps_it(server) -> None:
    """A kept-alive connection stays with the worker that accepted it: a batch answered on it would pin
    an integrator's producers to one worker (``serving.server._pre_request``)."""
    session = requests.Session()
    event = {"event_id": "conn-1", "type": "invoice_issued", "customer_id": "C-CONN", "invoice_id": "INV-CONN",
             "at": "2026-10-01T09:00:00", "amount": 10.0, "due_at": "2026-10-31T09:00:00"}
    batch = session.post(f"{server['base']}/v1/events", json={"events": [event]}, timeout=10,
                         headers=bearer(server["keys"]["dunning"]))
    assert batch.status_code == 200 and batch.headers["Connection"] == "close"
    decision = session.post(f"{server['base']}/v1/decisions/checkout", timeout=10,
                            json={**CHECKOUT, "request_id": "conn-2"}, headers=bearer(server["keys"]["checkout"]))
    assert decision.status_code == 200 and decision.headers["Connection"] == "keep-alive"


def test_one_connection_carries_many_decisions(server) -> None:
    """Keep-alive on the worker that runs requests on its event loop (``serving.worker.InlineWorker``)."""
    host, port = server["base"].removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        sockets = set()
        for i in range(20):
            conn.request("POST", "/v1/decisions/checkout", body=json.dumps({**CHECKOUT, "request_id": f"ka-{i}"}),
                         headers={"Content-Type": "application/json", **bearer(server["keys"]["checkout"])})
            answer = conn.getresponse()
            assert answer.status == 200 and json.loads(answer.read())["outcome"]
            sockets.add(id(conn.sock))
        assert len(sockets) == 1  # never closed and reopened
    finally:
        conn.close()


def test_clients_that_connect_and_send_nothing_hold_up_no_one(server) -> None:
    """A new connection waits for its request on the worker's poller, not in the request handler: with
    silent connections open on every worker, a checkout is answered at once (gthread's one pool thread
    waited up to 5 s on each silent connection it took)."""
    host, port = server["base"].removeprefix("http://").split(":")
    silent = [socket.create_connection((host, int(port))) for _ in range(6)]
    try:
        time.sleep(0.3)  # accepted by the workers
        for i in range(4):
            t0 = time.monotonic()
            answer = requests.post(f"{server['base']}/v1/decisions/checkout", timeout=10,
                                   json={**CHECKOUT, "request_id": f"silent-{i}"},
                                   headers=bearer(server["keys"]["checkout"]))
            assert answer.status_code == 200
            assert time.monotonic() - t0 < 1.0
    finally:
        for s in silent:
            s.close()


def _statuses(server, token: str, tag: str, n: int = 24) -> set[int]:  # noqa: ANN001
    """Status codes of ``n`` checkouts, each on a new connection (gunicorn spreads them over its workers)."""
    return {requests.post(f"{server['base']}/v1/decisions/checkout", headers=bearer(token), timeout=10,
                          json={**CHECKOUT, "request_id": f"{tag}-{i}"}).status_code for i in range(n)}


def test_made_and_revoked_keys_take_effect_in_every_worker_within_the_refresh_bound(server) -> None:
    token = new_key(server["env"], "checkout")
    time.sleep(REFRESH_S + 0.3)
    assert _statuses(server, token, "fresh") == {200}
    listed = [json.loads(line) for line in kredo(server["env"], "keys", "list", "--json").splitlines()]
    key_id = token.split("_")[1]
    assert {"id": key_id, "role": "checkout", "revoked": None}.items() <= next(
        k for k in listed if k["id"] == key_id).items()
    assert all(token.split("_", 2)[2] not in line for line in map(json.dumps, listed))  # never the secret
    kredo(server["env"], "keys", "revoke", key_id)
    time.sleep(REFRESH_S + 0.3)
    assert _statuses(server, token, "revoked") == {401}
    assert _statuses(server, server["keys"]["checkout"], "others") == {200}  # the other keys still work
