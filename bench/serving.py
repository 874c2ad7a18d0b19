"""Serving: checkout decisions under gunicorn vs the same model served bare by MLflow.

Targets (issue 5): with a local Redis and the audit log on, checkout decisions
(features + model + exact SHAP + rules + audit commit) at p99 < 10 ms and at
least 1,000 decisions/s at saturation, from a load generator on loopback; and
Kredo's full decision faster per request than ``mlflow models serve`` answering
one bare prediction of the same registered model.

Set-up, all in temp dirs: a seeded ledger, a model trained on it and promoted to
``champion`` in a fresh MLflow store, a redis-server holding the replayed
online features, ``kredo serve`` (gunicorn, ``--workers``) with a SQLite audit
file, and ``mlflow models serve --env-manager local`` on the same alias.

Figures: ``p50_ms``/``p99_ms``/``per_s`` at saturation (``--concurrency``
connections); ``kredo_c1_p50_ms`` and ``mlflow_p50_ms`` one request at a time;
``ratio_vs_mlflow`` = mlflow_p50_ms / kredo_c1_p50_ms (> 1: Kredo is faster).
``server_cpu_ms`` and ``loadgen_cpu_ms`` are CPU milliseconds per request at
saturation (gunicorn workers, from ``/proc``; the load generator, its own
process time): on a shared 2-core machine throughput moves with the
neighbours' load, CPU per request does not, so compare changes by it.

Usage: python bench/serving.py [--workers 2] [--threads 1] [--seconds 10] [--concurrency 4] [--json]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import parser, report  # noqa: E402
from bench.load import run_load  # noqa: E402
from tests.support.services import free_port, redis_server  # noqa: E402
from training.pipeline import TrainConfig  # noqa: E402


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:3]} exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def workers_cpu_s(master: int) -> float:
    """User + system CPU seconds of the gunicorn master's live children (the workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total = 0
    for child in children:
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / tick


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--customers", type=int, default=3_000)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--trees", type=int, default=100, help="boosting rounds per head (early stopping may cut)")
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    p.add_argument("--concurrency", type=int, default=4)
    args = p.parse_args()

    from ledger.events import ledger_to_events
    from features.online import from_url
    from serving.bootstrap import ensure_champion, feature_row
    from training.simulation import SimulationConfig, simulate

    work = Path(tempfile.mkdtemp(prefix="kredo-bench-serving-"))
    ledger = simulate(SimulationConfig(customers=args.customers, months=args.months, seed=args.seed))
    tracking = f"sqlite:///{work}/mlflow.db"
    info = ensure_champion(ledger, tracking, TrainConfig(n_estimators=args.trees, max_depth=args.depth))
    row_values = feature_row(ledger)
    customers = ledger.customers[["customer_id", "type", "country"]].to_numpy()
    rng = np.random.default_rng(args.seed)
    picks = customers[rng.integers(len(customers), size=200_000)]
    amounts = np.round(rng.lognormal(6.0, 1.0, size=len(picks)), 2).clip(1.0, 1e6)

    def checkout_body(i: int) -> bytes:
        cid, ctype, country = picks[i % len(picks)]
        return (b'{"request_id":"bench-%d","customer":{"id":"%s","type":"%s","country":"%s"},'
                b'"order":{"amount":%.2f,"currency":"EUR","payment_terms_days":30}}'
                % (i, cid.encode(), ctype.encode(), country.encode(), amounts[i % len(amounts)]))

    with redis_server() as redis_url:
        t0 = time.perf_counter()
        store = from_url(redis_url)
        store.apply(ledger_to_events(ledger))
        replay_s = time.perf_counter() - t0
        env = dict(os.environ, REDIS_URL=redis_url, DATABASE_URL=f"sqlite:///{work}/audit.db",
                   KREDO_LEDGER_URL=f"sqlite:///{work}/ledger.db",
                   MLFLOW_TRACKING_URI=tracking, KREDO_RELOAD_INTERVAL_S="0",
                   PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
        port = free_port()
        kredo = subprocess.Popen([sys.executable, "-m", "serving.cli", "serve", "--port", str(port),
                                  "--workers", str(args.workers), "--threads", str(args.threads)], cwd=ROOT, env=env)
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz", kredo)
            path = "/v1/decisions/checkout"
            first = requests.post(f"http://127.0.0.1:{port}{path}", data=checkout_body(10**9),
                                  headers={"Content-Type": "application/json"}, timeout=5)
            assert first.status_code == 200, first.text
            c1 = run_load("127.0.0.1", port, path, lambda i: checkout_body(i), seconds=args.seconds / 2,
                          concurrency=1)
            cpu0, own0 = workers_cpu_s(kredo.pid), time.process_time()
            sat = run_load("127.0.0.1", port, path, lambda i: checkout_body(500_000 + i), seconds=args.seconds,
                           concurrency=args.concurrency)
            server_cpu_ms = (workers_cpu_s(kredo.pid) - cpu0) * 1e3 / sat.completed
            loadgen_cpu_ms = (time.process_time() - own0) * 1e3 / sat.completed
            loadavg = float(Path("/proc/loadavg").read_text().split()[0])
            verify = subprocess.run([sys.executable, "-m", "serving.cli", "audit", "verify", "--json"],
                                    cwd=ROOT, env=env, capture_output=True, text=True)
            audit = json.loads(verify.stdout.strip().splitlines()[-1])
        finally:
            stop(kredo)

        mport = free_port()
        mlflow_proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "mlflow"), "models", "serve", "-m", info["uri"], "--env-manager",
             "local", "--host", "127.0.0.1", "--port", str(mport)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(f"http://127.0.0.1:{mport}/ping", mlflow_proc)
            row = json.dumps({"dataframe_split": {"columns": list(row_values), "data": [list(row_values.values())]}})
            answer = requests.post(f"http://127.0.0.1:{mport}/invocations", data=row,
                                   headers={"Content-Type": "application/json"}, timeout=10)
            assert answer.status_code == 200 and "p_late" in answer.text, answer.text
            ml = run_load("127.0.0.1", mport, "/invocations", lambda i: row.encode(), seconds=args.seconds / 2,
                          concurrency=1)
        finally:
            stop(mlflow_proc)

    c1s, sats, mls = c1.summary(), sat.summary(), ml.summary()
    report("serving: checkout decisions (gunicorn + Redis + audit) vs mlflow models serve", {
        "workers": args.workers, "threads": args.threads, "concurrency": args.concurrency, "model_version": info["version"],
        "replayed_events_s": round(replay_s, 2),
        "p50_ms": sats["p50_ms"], "p99_ms": sats["p99_ms"], "per_s": sats["per_s"],
        "requests": sats["requests"], "non_2xx": sats["non_2xx"] + c1s["non_2xx"],
        "server_cpu_ms": round(server_cpu_ms, 3), "loadgen_cpu_ms": round(loadgen_cpu_ms, 3),
        "loadavg_1m": loadavg,
        "kredo_c1_p50_ms": c1s["p50_ms"], "kredo_c1_p99_ms": c1s["p99_ms"],
        "mlflow_p50_ms": mls["p50_ms"], "mlflow_p99_ms": mls["p99_ms"],
        "ratio_vs_mlflow": round(mls["p50_ms"] / c1s["p50_ms"], 2),
        "audit_records": audit["records"], "audit_ok": audit["ok"],
        "target_p99_ms": 10, "target_per_s": 1000,
    }, args.json)


if __name__ == "__main__":
    main()
