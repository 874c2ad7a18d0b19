"""Serving: checkout decisions under gunicorn vs the same model served bare by MLflow.

Targets (issue 5): with a local Redis and the audit log on, checkout decisions
(features + model + exact SHAP + rules + audit commit) at p99 < 10 ms and at
least 1,000 decisions/s at saturation, from a load generator on loopback; and
Kredo's full decision faster per request than ``mlflow models serve`` answering
one bare prediction of the same registered model. Issue 17: at most 0.8 ms of
server CPU per checkout decision.

Set-up, all in temp dirs: a seeded ledger, a model trained on it and promoted to
``champion`` in a fresh MLflow store, a redis-server holding the replayed
online features, ``kredo serve`` (gunicorn, ``--workers``) with a fresh SQLite
audit file per server, and ``mlflow models serve --env-manager local`` on the
same alias.

Figures: ``p50_ms``/``p99_ms``/``per_s`` at saturation (``--concurrency``
connections); ``kredo_c1_p50_ms`` and ``mlflow_p50_ms`` one request at a time;
``ratio_vs_mlflow`` = mlflow_p50_ms / kredo_c1_p50_ms (> 1: Kredo is faster).
``server_cpu_ms`` and ``loadgen_cpu_ms`` are CPU milliseconds per request at
saturation (gunicorn workers, from ``/proc``, of which ``server_sys_cpu_ms``
in the kernel; the load generator, its own process time): on a shared 2-core machine throughput moves with the
neighbours' load, CPU per request does not, so compare changes by it.
``cpu.<stage>_ms``: the mean thread CPU per stage at saturation (parse,
features, model, shap, rules, audit, serialise) from each answer's
``Server-Timing`` header, and ``cpu.other_ms`` the rest of ``server_cpu_ms``
(HTTP, Flask, gunicorn); ``healthz_cpu_ms``: server CPU per ``GET /healthz``
at the same concurrency, the floor any request pays; ``wall.<stage>_ms``: the
mean wall time per stage from the audit records' timings (older commits have
only these). ``cpu.stages_ms``: the sum of the stages, the decision's own work.
``floor.bare_cpu_ms`` and ``floor.flask_cpu_ms``: server CPU per request of a bare
WSGI app and of a one-route Flask app under the same gunicorn settings, connections
and bodies (``bench/floors.py``): what any request served this way costs on the
machine at hand, before Kredo's hooks and the decision. ``switches.voluntary_per_request``
and ``switches.involuntary_per_request``: the workers' context switches per checkout at
saturation (waits, and preemptions by the other busy processes).

A/B: ``--code DIR`` (repeatable) serves the checkout in ``DIR`` (e.g. a
``git worktree add /tmp/base main``) instead of this one, against the same
ledger, model, Redis and load; ``--rounds N`` serves them N times. The servers
of a round run side by side, and ``--slices K`` cuts the saturation phase into
K slices that alternate between them, so a change in the machine's speed falls
on all of them alike (on the host of session 12 the same code measured 1.4 and
2.7 ms a few minutes apart). Figures are then prefixed by each checkout's commit.

Open loop (issue 15): ``--rate 1000 --open-seconds 60`` adds a phase at a fixed arrival rate on
``--connections`` connections, latency from the intended send time (``bench/load.py``), with the
workers' RSS at start (after ``--open-warmup``), middle and end (``--open-seconds 300``: the soak), and
the CPU that other processes on the machine took meanwhile (``open.neighbour_cpu_s``, and
``open.neighbour_cpu_max_s`` in the busiest second); figures ``open.*``.

Usage: python bench/serving.py [--workers 2] [--threads 1] [--seconds 10] [--concurrency 4]
                               [--code DIR ...] [--rounds 1] [--slices 1] [--skip-mlflow] [--json]
                               [--rate 1000 --open-seconds 60 --connections 64]
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import parser, report  # noqa: E402
from bench.floors import PATH  # noqa: E402
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


def workers_cpu_s(master: int, system_only: bool = False) -> float:
    """User + system (or system only) CPU seconds of the gunicorn master's live children (the workers)."""
    return sum(each_worker_cpu_s(master, system_only).values())


def each_worker_cpu_s(master: int, system_only: bool = False) -> dict[int, float]:
    """User + system (or system only) CPU seconds of each live child (worker) of the gunicorn master, by pid."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        out[int(child)] = (int(fields[12]) + (0 if system_only else int(fields[11]))) / tick  # stime, utime
    return out


def workers_switches(master: int) -> tuple[int, int]:
    """Voluntary and involuntary context switches of all threads of the gunicorn master's live children: a
    thread that waits (for Redis, for its next request) switches voluntarily; one preempted while it could run,
    involuntarily (on a machine with fewer cores than busy processes, each of those refills its caches)."""
    voluntary = involuntary = 0
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        for task in Path(f"/proc/{child}/task").iterdir():
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    voluntary += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    involuntary += int(line.split()[1])
    return voluntary, involuntary


def workers_rss_mb(master: int) -> float:
    """Resident memory of the gunicorn master's live children (the workers), MB."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    kb = 0
    for child in children:
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                kb += int(line.split()[1])
    return kb / 1024


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (every core, user + system + interrupts + steal), ``/proc/stat``."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_pid(url: str) -> int | None:
    """The redis-server serving ``url``'s port (its CPU is the service's, not a neighbour's)."""
    port = url.rsplit(":", 1)[1].split("/")[0]
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"redis-server") and port.encode() in argv:
            return int(entry.name)
    return None


def open_loop(port: int, pid: int, path: str, body: Callable[[int], bytes], auth: dict[str, str],
              args: Any) -> dict[str, Any]:
    """``--rate`` requests a second for ``--open-seconds`` (latency from the intended send time), with the
    workers' RSS sampled every second: at the start (after the warm-up), the middle and the end.

    On a shared machine a neighbour's burst shows in the tail, so each second also measures the CPU that
    processes other than the service (workers, its Redis) and this load generator took: ``open.neighbour_cpu_s``
    in all, ``open.neighbour_cpu_max_s`` in the busiest second (1.0: a whole core for that second).
    """
    samples: list[float] = []
    neighbour: list[float] = []
    done = threading.Event()
    ours = [p for p in (os.getpid(), args.redis_pid) if p is not None]

    def busy_others() -> float:
        return machine_busy_s() - workers_cpu_s(pid) - sum(process_cpu_s(p) for p in ours)

    def sample() -> None:
        last = busy_others()
        while not done.wait(1.0):
            samples.append(workers_rss_mb(pid))
            now = busy_others()
            neighbour.append(now - last)
            last = now

    sampler = threading.Thread(target=sample, daemon=True)
    cpu0 = workers_cpu_s(pid)
    sampler.start()
    result = run_load("127.0.0.1", port, path, body, seconds=args.open_seconds, concurrency=args.connections,
                      warmup_s=args.open_warmup, headers=auth, rate=args.rate)
    done.set()
    sampler.join()
    figures = {f"open.{k}": v for k, v in result.summary().items()}
    figures["open.rate"] = args.rate
    figures["open.server_cpu_ms"] = round((workers_cpu_s(pid) - cpu0) * 1e3 / max(result.completed, 1), 3)
    warm = samples[int(args.open_warmup):] or samples
    if warm:
        figures.update({"open.rss_start_mb": round(warm[0], 1), "open.rss_mid_mb": round(warm[len(warm) // 2], 1),
                        "open.rss_end_mb": round(warm[-1], 1),
                        "open.rss_growth_pct": round((warm[-1] / warm[0] - 1) * 100, 2)})
    measured = neighbour[int(args.open_warmup):] or neighbour
    if measured:
        figures.update({"open.neighbour_cpu_s": round(sum(measured), 2),
                        "open.neighbour_cpu_max_s": round(max(measured), 2)})
    return figures


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def label(code: Path) -> str:
    """The checkout's short commit, ``+dirty`` when tracked files differ from it."""
    head = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip() or code.name
    dirty = subprocess.run(["git", "-C", str(code), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return f"{head}+dirty" if dirty else head


def stage_means(headers: list[bytes]) -> dict[str, float]:
    """Mean of each ``Server-Timing`` entry (``name;dur=ms``) over the answers that carried it."""
    sums: dict[str, float] = {}
    for header in headers:
        for entry in header.decode().split(","):
            name, _, dur = entry.strip().partition(";dur=")
            sums[name] = sums.get(name, 0.0) + float(dur)
    return {name: total / len(headers) for name, total in sums.items()}


def record_timings(database: Path) -> dict[str, float]:
    """Mean of each timing in the audit records (wall ``<stage>_ms``; ``<stage>_cpu_ms`` where recorded)."""
    sums: dict[str, float] = {}
    n = 0
    with sqlite3.connect(database) as conn:
        for (payload,) in conn.execute("SELECT payload FROM audit_records"):
            n += 1
            for key, value in json.loads(payload)["timings"].items():
                sums[key] = sums.get(key, 0.0) + value
    return {key: total / n for key, total in sums.items()} if n else {}


def checkout_key(code: Path, env: dict[str, str]) -> dict[str, str]:
    """The header of a fresh ``checkout`` key made with ``kredo keys create`` in ``code``'s ledger; none for a
    checkout from before API keys (``--code`` of an older commit: it asks for no key)."""
    made = subprocess.run([sys.executable, "-m", "serving.cli", "keys", "create", "--role", "checkout",
                           "--name", "bench"], cwd=code, env=env, capture_output=True, text=True)
    if made.returncode != 0 and "invalid choice: 'keys'" in made.stderr:
        return {}
    assert made.returncode == 0, made.stderr
    return {"Authorization": f"Bearer {made.stdout.strip().splitlines()[-1]}"}


@dataclass
class _Saturation:
    """The saturation phase of one server, summed over its slices."""

    completed: int = 0
    cpu_s: float = 0.0
    sys_s: float = 0.0
    loadgen_s: float = 0.0
    voluntary: int = 0
    involuntary: int = 0
    latencies_ms: list[np.ndarray] = field(default_factory=list)
    non_2xx: int = 0
    seconds: float = 0.0
    captured: list[bytes] = field(default_factory=list)


@dataclass
class _Served:
    """One ``kredo serve`` under test: its process, port, key, audit file and environment."""

    code: Path
    proc: subprocess.Popen
    port: int
    auth: dict[str, str]
    database: Path
    env: dict[str, str]
    first_id: int
    c1: Any = None
    sat: _Saturation = field(default_factory=_Saturation)



def start_server(code: Path, work: Path, env: dict[str, str], args: Any, checkout_body: Callable[[int], bytes],
                 first_id: int) -> _Served:
    """Start ``kredo serve`` from ``code`` on a fresh audit file and ledger; once ready, one checkout."""
    database = work / f"audit-{first_id}.db"
    env = dict(env, DATABASE_URL=f"sqlite:///{database}", KREDO_LEDGER_URL=f"sqlite:///{work}/ledger-{first_id}.db",
               PYTHONPATH=str(code))
    auth = checkout_key(code, env)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "serving.cli", "serve", "--port", str(port),
                             "--workers", str(args.workers), "--threads", str(args.threads)], cwd=code, env=env)
    served = _Served(code, proc, port, auth, database, env, first_id)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
        first = requests.post(f"http://127.0.0.1:{port}{PATH}", data=checkout_body(first_id),
                              headers={"Content-Type": "application/json", **auth}, timeout=5)
        assert first.status_code == 200, first.text
    except BaseException:
        stop(proc)
        raise
    return served


def saturate(served: _Served, args: Any, checkout_body: Callable[[int], bytes], seconds: float, offset: int) -> None:
    """One slice of the saturation phase (``--concurrency`` connections for ``seconds``), added to the server's."""
    pid, sat = served.proc.pid, served.sat
    cpu0, sys0, own0 = workers_cpu_s(pid), workers_cpu_s(pid, True), time.process_time()
    switches0 = workers_switches(pid)
    load = run_load("127.0.0.1", served.port, PATH, lambda i: checkout_body(served.first_id + offset + i),
                    seconds=seconds, concurrency=args.concurrency, capture="server-timing", headers=served.auth,
                    warmup_s=min(1.0, seconds / 4))
    voluntary, involuntary = (after - before for after, before in zip(workers_switches(pid), switches0))
    sat.cpu_s += workers_cpu_s(pid) - cpu0
    sat.sys_s += workers_cpu_s(pid, True) - sys0
    sat.loadgen_s += time.process_time() - own0
    sat.voluntary += voluntary
    sat.involuntary += involuntary
    sat.completed += load.completed
    sat.latencies_ms.append(load.latencies_ms)
    sat.non_2xx += load.summary()["non_2xx"]
    sat.seconds += load.seconds
    sat.captured += load.captured


def finish_server(served: _Served, args: Any, checkout_body: Callable[[int], bytes]) -> dict[str, Any]:
    """``GET /healthz`` at the same concurrency, the open loop (``--rate``), the audit chain verified, the server
    stopped; its figures."""
    pid, sat = served.proc.pid, served.sat
    try:
        loadavg = float(Path("/proc/loadavg").read_text().split()[0])
        cpu0 = workers_cpu_s(pid)
        healthz = run_load("127.0.0.1", served.port, "/healthz", None, seconds=args.seconds / 2,
                           concurrency=args.concurrency, method="GET")
        healthz_cpu_ms = (workers_cpu_s(pid) - cpu0) * 1e3 / healthz.completed
        opened = (open_loop(served.port, pid, PATH, lambda i: checkout_body(served.first_id + 2_000_000 + i),
                            served.auth, args) if args.rate else {})
        verify = subprocess.run([sys.executable, "-m", "serving.cli", "audit", "verify", "--json"],
                                cwd=served.code, env=served.env, capture_output=True, text=True)
        audit = json.loads(verify.stdout.strip().splitlines()[-1])
    finally:
        stop(served.proc)
    c1s = served.c1.summary()
    latencies = np.concatenate(sat.latencies_ms)
    server_cpu_ms = sat.cpu_s * 1e3 / sat.completed
    per_request = lambda total: total / sat.completed  # noqa: E731
    figures: dict[str, Any] = {
        "p50_ms": round(float(np.percentile(latencies, 50)), 3), "p99_ms": round(float(np.percentile(latencies, 99)), 3),
        "per_s": round(len(latencies) / sat.seconds, 1), "requests": int(len(latencies)),
        "non_2xx": sat.non_2xx + c1s["non_2xx"], "server_cpu_ms": round(server_cpu_ms, 3),
        "loadgen_cpu_ms": round(per_request(sat.loadgen_s) * 1e3, 3), "loadavg_1m": loadavg,
        "server_sys_cpu_ms": round(per_request(sat.sys_s) * 1e3, 3), "healthz_cpu_ms": round(healthz_cpu_ms, 3),
        "switches.voluntary_per_request": round(per_request(sat.voluntary), 2),
        "switches.involuntary_per_request": round(per_request(sat.involuntary), 2),
        "kredo_c1_p50_ms": c1s["p50_ms"], "kredo_c1_p99_ms": c1s["p99_ms"],
        "audit_records": audit["records"], "audit_ok": audit["ok"], **opened,
    }
    if sat.captured:
        stages = stage_means(sat.captured)
        figures.update({f"cpu.{name}_ms": round(ms, 4) for name, ms in stages.items()})
        figures["cpu.stages_ms"] = round(sum(stages.values()), 4)
        figures["cpu.other_ms"] = round(server_cpu_ms - sum(stages.values()), 4)
    figures.update({f"wall.{key}": round(ms, 4) for key, ms in record_timings(served.database).items()
                    if not key.endswith("_cpu_ms")})
    return figures


def run_round(codes: list[Path], work: Path, env: dict[str, str], args: Any, checkout_body: Callable[[int], bytes],
              first_id: int) -> list[dict[str, Any]]:
    """One round: a server from each of ``codes``, started together; each one's checkouts one at a time; then
    their saturation phases in ``--slices`` slices, alternating between the servers, so a change in the
    machine's speed (a neighbour, a host that slows) falls on all of them alike; then each one's finish."""
    servers: list[_Served] = []
    try:
        for n, code in enumerate(codes):
            servers.append(start_server(code, work, env, args, checkout_body, first_id + n * 10**8))
        for served in servers:
            served.c1 = run_load("127.0.0.1", served.port, PATH, lambda i, s=served: checkout_body(s.first_id + 1 + i),
                                 seconds=args.seconds / 2, concurrency=1, headers=served.auth)
        for k in range(args.slices):
            for served in servers:
                saturate(served, args, checkout_body, args.seconds / args.slices, 500_000 + k * 100_000)
        return [finish_server(served, args, checkout_body) for served in servers]
    finally:
        for served in servers:
            if served.proc.poll() is None:
                stop(served.proc)


def floor(app: str, env: dict[str, str], args: Any, checkout_body: Callable[[int], bytes]) -> float:
    """Server CPU per request (ms) of one of ``bench/floors.py``'s apps under the same gunicorn settings, connections
    and bodies as the checkout's saturation phase."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.floors", app, "--port", str(port), "--workers",
                             str(args.workers), "--threads", str(args.threads)], cwd=ROOT,
                            env=dict(env, PYTHONPATH=str(ROOT)))
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
        run_load("127.0.0.1", port, PATH, checkout_body, seconds=1.0, concurrency=args.concurrency)
        cpu0 = workers_cpu_s(proc.pid)
        load = run_load("127.0.0.1", port, PATH, lambda i: checkout_body(10**6 + i),
                        seconds=args.seconds / 2, concurrency=args.concurrency)
        assert load.summary()["non_2xx"] == 0, load.summary()
        return round((workers_cpu_s(proc.pid) - cpu0) * 1e3 / load.completed, 3)
    finally:
        stop(proc)


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
    p.add_argument("--code", type=Path, action="append",
                   help="serve this checkout instead of this one (repeatable: an A/B in one run)")
    p.add_argument("--rounds", type=int, default=1, help="serve every --code this many times, alternating")
    p.add_argument("--slices", type=int, default=1,
                   help="saturation in this many slices, alternating between the --code servers of a round")
    p.add_argument("--skip-mlflow", action="store_true", help="leave out the mlflow models serve comparison")
    p.add_argument("--rate", type=float, default=None,
                   help="then an open-loop phase: checkouts per second, latency from the intended send time")
    p.add_argument("--open-seconds", type=float, default=60.0, help="open-loop phase length (300: the soak)")
    p.add_argument("--open-warmup", type=float, default=5.0, help="open-loop seconds not measured")
    p.add_argument("--connections", type=int, default=64, help="open-loop connections")
    args = p.parse_args()
    codes = [c.resolve() for c in args.code] if args.code else [ROOT]

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

    bin_dir = Path(sys.executable).parent
    figures: dict[str, Any] = {"workers": args.workers, "threads": args.threads, "concurrency": args.concurrency,
                               "model_version": info["version"]}
    with redis_server() as redis_url:
        t0 = time.perf_counter()
        store = from_url(redis_url)
        store.apply(ledger_to_events(ledger))
        figures["replayed_events_s"] = round(time.perf_counter() - t0, 2)
        args.redis_pid = redis_pid(redis_url)
        env = dict(os.environ, REDIS_URL=redis_url, MLFLOW_TRACKING_URI=tracking, KREDO_RELOAD_INTERVAL_S="0",
                   PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        figures.update({f"floor.{app}_cpu_ms": floor(app, env, args, checkout_body) for app in ("bare", "flask")})
        for r in range(args.rounds):
            for code, figs in zip(codes, run_round(codes, work, env, args, checkout_body, first_id=10**9 * (r + 1))):
                prefix = "" if len(codes) == 1 and args.rounds == 1 else f"{label(code)}.r{r + 1}."
                figures.update({f"{prefix}{k}": v for k, v in figs.items()})

        if not args.skip_mlflow:
            mport = free_port()
            mlflow_proc = subprocess.Popen(
                [str(bin_dir / "mlflow"), "models", "serve", "-m", info["uri"], "--env-manager",
                 "local", "--host", "127.0.0.1", "--port", str(mport)],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_ready(f"http://127.0.0.1:{mport}/ping", mlflow_proc)
                row = json.dumps({"dataframe_split": {"columns": list(row_values),
                                                      "data": [list(row_values.values())]}})
                answer = requests.post(f"http://127.0.0.1:{mport}/invocations", data=row,
                                       headers={"Content-Type": "application/json"}, timeout=10)
                assert answer.status_code == 200 and "p_late" in answer.text, answer.text
                ml = run_load("127.0.0.1", mport, "/invocations", lambda i: row.encode(), seconds=args.seconds / 2,
                              concurrency=1)
            finally:
                stop(mlflow_proc)
            mls = ml.summary()
            figures.update({"mlflow_p50_ms": mls["p50_ms"], "mlflow_p99_ms": mls["p99_ms"]})
            if "kredo_c1_p50_ms" in figures:
                figures["ratio_vs_mlflow"] = round(mls["p50_ms"] / figures["kredo_c1_p50_ms"], 2)

    figures.update({"target_p99_ms": 10, "target_per_s": 1000, "target_server_cpu_ms": 0.8})
    report("serving: checkout decisions (gunicorn + Redis + audit) vs mlflow models serve", figures, args.json)


if __name__ == "__main__":
    main()
