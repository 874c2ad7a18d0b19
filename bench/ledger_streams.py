"""Parallel ingest streams for ``bench/ledger.py``: producers partitioned by customer, over HTTP, into ``kredo serve``.

Why: an integrator posts its events from several producers at once, each owning its customers, to
the service's gunicorn workers; on 2 cores one stream cannot use both. Each producer posts its
partition's events in time order, 500 a request, one request at a time; a 503 (a lock not granted
within ``KREDO_LOCK_TIMEOUT_S``) is sent again, as an integrator would, and counted.

The request bodies are JSON-encoded before the clock starts: a producer replays the batches its
queue holds, and encoding them in the bench's own threads would charge the machine's cores with
the client's work. Each producer keeps its connection alive, as an HTTP client does by default; the
server closes it after each batch (``serving.server._pre_request``: kept-alive connections stayed
with the worker that accepted them, all four producers mostly on one of two workers), so
``parallel_busiest_worker_share`` shows whether the workers shared the batches.

Figures: ``parallel_events_s`` (wall clock, all producers), and per streamed event the CPU of the
gunicorn workers (``parallel_app_cpu_us``), PostgreSQL and Redis, their sum, and
``parallel_cpu_events_s`` = ``cores`` x 1e6 / sum: what the streams reach when nothing else runs and
every core is busy. To see where the wall clock goes: ``parallel_busy_cores`` (every process on the
machine, from ``/proc/stat``, over the wall clock: other engineers' work included),
``parallel_producers_cpu_us`` (the producer threads' own CPU per event), ``parallel_busiest_worker_share``
(the busiest worker's part of all workers' CPU: 1/workers when balanced, 1.0 when one worker did all)
and the producers' request latency ``parallel_request_p50_ms`` / ``_p99_ms`` (queueing included).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import requests

from bench.serving import each_worker_cpu_s, stop, wait_ready
from tests.support.services import free_port


def partition(events: list[dict[str, Any]], producers: int) -> list[list[dict[str, Any]]]:
    """The events split by customer (a stable hash), each part in the stream's order."""
    parts: list[list[dict[str, Any]]] = [[] for _ in range(producers)]
    for event in events:
        parts[zlib.crc32(event["customer_id"].encode()) % producers].append(event)
    return parts


def _produce(url: str, token: str, bodies: list[bytes], tally: dict[str, Any], lock: threading.Lock) -> None:
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    for body in bodies:
        while True:
            t0 = time.perf_counter()
            answer = session.post(url, data=body, timeout=120)
            with lock:
                tally["latency_ms"].append((time.perf_counter() - t0) * 1e3)
            if answer.status_code != 503:
                break
            with lock:
                tally["retried"] += 1
            time.sleep(0.05)
        answer.raise_for_status()
        with lock:
            tally["applied"] += answer.json()["applied"]


def _machine_cpu_s() -> float:
    """CPU seconds every process on the machine spent so far (``/proc/stat``: all but idle and iowait)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def parallel_streams(code: Path, env: dict[str, str], token: str, events: list[dict[str, Any]], producers: int,
                     workers: int, threads: int, batch: int,
                     server_cpu_s: Callable[[], tuple[float, float]]) -> dict[str, Any]:
    """Stream ``events`` through ``kredo serve`` from ``code`` (``workers`` gunicorn workers of ``threads``
    threads) with ``producers`` threads; ``server_cpu_s`` gives the PostgreSQL and Redis CPU seconds so far."""
    port = free_port()
    kredo = subprocess.Popen([sys.executable, "-m", "serving.cli", "serve", "--port", str(port),
                              "--workers", str(workers), "--threads", str(threads)],
                             cwd=code, env=dict(env, PYTHONPATH=str(code)))
    tally: dict[str, Any] = {"applied": 0, "retried": 0, "latency_ms": []}
    lock = threading.Lock()
    bodies = [[json.dumps({"events": part[i:i + batch]}).encode() for i in range(0, len(part), batch)]
              for part in partition(events, producers)]
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", kredo)
        runners = [threading.Thread(target=_produce, args=(f"http://127.0.0.1:{port}/v1/events", token, part,
                                                           tally, lock)) for part in bodies]
        each0, server0 = each_worker_cpu_s(kredo.pid), server_cpu_s()
        machine0, producers0 = _machine_cpu_s(), time.process_time()
        t0 = time.perf_counter()
        for runner in runners:
            runner.start()
        for runner in runners:
            runner.join()
        wall = time.perf_counter() - t0
        producers_s, machine1 = time.process_time() - producers0, _machine_cpu_s()
        each1, server1 = each_worker_cpu_s(kredo.pid), server_cpu_s()
    finally:
        stop(kredo)
    per_worker = [each1[pid] - each0.get(pid, 0.0) for pid in each1]
    app_us, pg_us, redis_us = ((b - a) / len(events) * 1e6 for a, b in zip((0.0, *server0),
                                                                           (sum(per_worker), *server1)))
    cpu_us = app_us + pg_us + redis_us
    cores = os.cpu_count() or 1
    latency = np.percentile(tally["latency_ms"], [50, 99])
    return {"parallel_producers": producers, "parallel_workers": workers, "parallel_threads": threads,
            "parallel_events": len(events),
            "parallel_applied": tally["applied"], "parallel_retried_503": tally["retried"],
            "parallel_events_s": round(len(events) / wall, 1), "parallel_app_cpu_us": round(app_us, 1),
            "parallel_pg_cpu_us": round(pg_us, 1), "parallel_redis_cpu_us": round(redis_us, 1),
            "parallel_cpu_us": round(cpu_us, 1), "parallel_cpu_events_s": round(cores * 1e6 / cpu_us, 1),
            "parallel_producers_cpu_us": round(producers_s / len(events) * 1e6, 1),
            "parallel_busy_cores": round((machine1 - machine0) / wall, 2),
            "parallel_busiest_worker_share": round(max(per_worker) / sum(per_worker), 2),
            "parallel_request_p50_ms": round(float(latency[0]), 1),
            "parallel_request_p99_ms": round(float(latency[1]), 1)}
