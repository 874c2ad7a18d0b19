"""Parallel ingest streams for ``bench/ledger.py``: producers partitioned by customer, over HTTP, into ``kredo serve``.

Why: an integrator posts its events from several producers at once, each owning its customers, to
the service's gunicorn workers; on 2 cores one stream cannot use both. Each producer posts its
partition's events in time order, 500 a request, one request at a time; a 503 (a lock not granted
within ``KREDO_LOCK_TIMEOUT_S``) is sent again, as an integrator would, and counted.

Figures: ``parallel_events_s`` (wall clock, all producers), and per streamed event the CPU of the
gunicorn workers (``parallel_app_cpu_us``), PostgreSQL and Redis, their sum, and
``parallel_cpu_events_s`` = ``cores`` x 1e6 / sum: what the streams reach when nothing else runs and
every core is busy.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from bench.serving import stop, wait_ready, workers_cpu_s
from tests.support.services import free_port


def partition(events: list[dict[str, Any]], producers: int) -> list[list[dict[str, Any]]]:
    """The events split by customer (a stable hash), each part in the stream's order."""
    parts: list[list[dict[str, Any]]] = [[] for _ in range(producers)]
    for event in events:
        parts[zlib.crc32(event["customer_id"].encode()) % producers].append(event)
    return parts


def _produce(url: str, token: str, events: list[dict[str, Any]], batch: int, tally: dict[str, int],
             lock: threading.Lock) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    for start in range(0, len(events), batch):
        while True:
            answer = session.post(url, json={"events": events[start:start + batch]}, timeout=120)
            if answer.status_code != 503:
                break
            with lock:
                tally["retried"] += 1
            time.sleep(0.05)
        answer.raise_for_status()
        with lock:
            tally["applied"] += answer.json()["applied"]


def parallel_streams(code: Path, env: dict[str, str], token: str, events: list[dict[str, Any]], producers: int,
                     workers: int, batch: int, server_cpu_s: Callable[[], tuple[float, float]]) -> dict[str, Any]:
    """Stream ``events`` through ``kredo serve`` from ``code`` (``workers`` gunicorn workers) with ``producers``
    threads; ``server_cpu_s`` gives the PostgreSQL and Redis CPU seconds so far."""
    port = free_port()
    kredo = subprocess.Popen([sys.executable, "-m", "serving.cli", "serve", "--port", str(port),
                              "--workers", str(workers)], cwd=code, env=dict(env, PYTHONPATH=str(code)))
    tally = {"applied": 0, "retried": 0}
    lock = threading.Lock()
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", kredo)
        threads = [threading.Thread(target=_produce, args=(f"http://127.0.0.1:{port}/v1/events", token, part,
                                                           batch, tally, lock))
                   for part in partition(events, producers)]
        cpu0 = (workers_cpu_s(kredo.pid), *server_cpu_s())
        t0 = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - t0
        cpu1 = (workers_cpu_s(kredo.pid), *server_cpu_s())
    finally:
        stop(kredo)
    app_us, pg_us, redis_us = ((b - a) / len(events) * 1e6 for a, b in zip(cpu0, cpu1))
    cpu_us = app_us + pg_us + redis_us
    cores = os.cpu_count() or 1
    return {"parallel_producers": producers, "parallel_workers": workers, "parallel_events": len(events),
            "parallel_applied": tally["applied"], "parallel_retried_503": tally["retried"],
            "parallel_events_s": round(len(events) / wall, 1), "parallel_app_cpu_us": round(app_us, 1),
            "parallel_pg_cpu_us": round(pg_us, 1), "parallel_redis_cpu_us": round(redis_us, 1),
            "parallel_cpu_us": round(cpu_us, 1), "parallel_cpu_events_s": round(cores * 1e6 / cpu_us, 1)}
