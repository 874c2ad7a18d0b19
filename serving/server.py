"""Run the app under gunicorn from Python (``kredo serve``), with multiprocess metrics.

Why: operators start one command; the worker count, bind address and the
Prometheus multiprocess directory are set in one place. The app is created in
each worker after the fork (no ``preload_app``), so every worker opens its own
database pool, Redis connection and reload thread.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from gunicorn.app.base import BaseApplication


def _child_exit(server: Any, worker: Any) -> None:  # noqa: ANN401 - gunicorn's hook signature
    """A dead worker's live gauges (model info) must stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _post_worker_init(worker: Any) -> None:  # noqa: ANN401 - gunicorn's hook signature
    """The loaded app's one-time work done before the first request (templates, catalogs, the policy check:
    ``serving.warmup``), then the app (model, policy, pools) out of the cyclic collector's reach, so each
    collection only scans per-request objects (``serving.heap``); then the worker's threads that write behind
    the requests (``Runtime.start_background``)."""
    from serving.warmup import ready

    ready(worker.wsgi)
    worker.wsgi.extensions["kredo.runtime"].start_background()


def _worker_exit(server: Any, worker: Any) -> None:  # noqa: ANN401 - gunicorn's hook signature
    """A worker that stops writes the decision-index rows it still has queued (``serving.decision_index``)."""
    app = getattr(worker, "wsgi", None)
    runtime = None if app is None else app.extensions.get("kredo.runtime")
    if runtime is not None:
        runtime.index.close()


#: Requests after which the connection is closed, so the client's next one is accepted anew.
_CLOSE_AFTER = {("POST", "/v1/events")}


def _pre_request(worker: Any, req: Any) -> None:  # noqa: ANN401 - gunicorn's hook signature
    """An event batch closes its connection once answered (``Connection: close``).

    Why: a gthread worker accepts every connection it is offered, even while its one thread is busy,
    and a kept-alive connection stays with the worker that accepted it. Producers posting batches
    over kept-alive connections ended up mostly on one of two workers (the other idle: one stream's
    throughput, ``bench/ledger.py``). A batch of 500 events takes ~100-300 ms of booking; a new
    loopback connection costs well under a millisecond, and the next batch goes to the worker that
    accepts first, usually an idle one. Decisions (small, many) keep their connections.
    """
    if (req.method, req.path) in _CLOSE_AFTER:
        req.must_close = True


class KredoGunicorn(BaseApplication):
    """gunicorn with the Kredo app factory; ``overrides`` go to ``create_app``."""

    def __init__(self, options: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
        self.options = options
        self.overrides = overrides or {}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("child_exit", _child_exit)
        self.cfg.set("post_worker_init", _post_worker_init)
        self.cfg.set("worker_exit", _worker_exit)
        self.cfg.set("pre_request", _pre_request)

    def load(self):  # noqa: ANN201 - a WSGI app
        from serving.app import create_app

        return create_app(self.overrides)


def gunicorn_options(host: str, port: int, workers: int, threads: int = 1, timeout: int = 30) -> dict[str, Any]:
    """gunicorn's settings for ``kredo serve`` (``bench/floors.py`` serves its bare apps with the same)."""
    worker_class = "serving.worker.InlineWorker" if threads == 1 else "gthread"
    return {"bind": f"{host}:{port}", "workers": workers, "threads": threads, "worker_class": worker_class,
            "timeout": timeout, "graceful_timeout": timeout, "accesslog": None, "loglevel": "warning",
            "keepalive": 5}


def serve(host: str, port: int, workers: int, threads: int = 1, overrides: dict[str, Any] | None = None,
          timeout: int = 30) -> None:
    """Serve until SIGTERM/SIGINT; metrics of all workers are merged in a temp directory.

    Workers keep clients' connections alive (``keepalive`` seconds), which saves
    a TCP handshake and teardown per decision on both sides (sync workers close
    after every answer). One thread per worker by default: a decision is
    CPU-bound Python, and a second thread in the same process mostly adds GIL
    hand-offs. bench/serving.py, 2 workers: sync 671/s (server CPU 2.45 ms per
    decision), gthread x 2 threads 893/s (1.92 ms), gthread x 1 thread 1,211/s
    (1.41 ms, with the rules memo). With one thread the worker is
    ``serving.worker.InlineWorker`` (gthread without the hand-off to a pool);
    with more, gthread itself.
    """
    metrics_dir = tempfile.mkdtemp(prefix="kredo-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        KredoGunicorn(gunicorn_options(host, port, workers, threads, timeout), overrides).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
