"""Prometheus metrics: request counts, latency per endpoint, decisions by outcome, model version, the outbox.

``GET /metrics`` needs a key of role ``admin`` or ``auditor`` (a scraper sends
``Authorization: Bearer <key>``; Prometheus' ``authorization`` setting). No label
carries a customer or a person: endpoints are rules (``/v1/customers/<customer_id>``),
not paths.

Why: operators watch latency and outcome mix per model version, and alert when
a swap changes either. Metrics live in a registry per app (several apps in one
test process never collide). Under gunicorn, ``kredo serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before any worker starts;
every worker then writes its values to memory-mapped files there and
``GET /metrics`` on any worker answers for all of them (the prometheus-client
multiprocess mode; dead workers are marked in the gunicorn ``child_exit`` hook).
"""
from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from collections.abc import Iterator

import sqlalchemy as sa
from flask import Flask, Response, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest)
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from ledger.outbox import depth

from serving.access import requires

BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """The app's metrics; ``model_loaded`` keeps exactly one model-info series at 1 per worker."""

    def __init__(self) -> None:
        self._shown: dict[str, tuple[str, ...]] = {}  # the info series at 1, per part (model, policy)
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("kredo_http_requests", "HTTP requests by endpoint, method and status",
                                ["endpoint", "method", "status"], registry=r)
        self.latency = Histogram("kredo_http_request_seconds", "Request latency by endpoint (server side)",
                                 ["endpoint"], buckets=BUCKETS, registry=r)
        self.decisions = Counter("kredo_decisions", "Decisions by kind and outcome", ["kind", "outcome"],
                                 registry=r)
        self.model = Gauge("kredo_model_info", "The served model (value 1)", ["name", "version", "alias"],
                           registry=r, multiprocess_mode="liveall")
        self.policy = Gauge("kredo_policy_info", "The served policy (value 1)", ["version", "hash"],
                            registry=r, multiprocess_mode="liveall")
        self.reloads = Counter("kredo_reloads", "Hot-swap attempts by part and result", ["part", "result"],
                               registry=r)
        self.degraded = Counter("kredo_degraded_decisions", "Decisions taken in a degraded mode, by kind and why",
                                ["kind", "reason"], registry=r)

    def model_loaded(self, name: str, version: str, alias: str | None) -> None:
        self._swap("model", self.model, (name, version, alias or ""))

    def policy_loaded(self, version: str, digest: str) -> None:
        self._swap("policy", self.policy, (version, digest))

    def _swap(self, part: str, gauge: Gauge, labels: tuple[str, ...]) -> None:
        """The new series 1, the previous one 0. Not ``clear()``: in multiprocess mode a cleared series
        stays at 1 in the worker's file, and a worker that went from version 1 to 2 and back showed both."""
        previous = self._shown.get(part)
        if previous is not None and previous != labels:
            gauge.labels(*previous).set(0)
        gauge.labels(*labels).set(1)
        self._shown[part] = labels

    def exposition(self, outbox: OutboxCollector | None = None) -> bytes:
        """The metrics, with the outbox read from the ledger at this scrape (one process answers for it)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        if outbox is None:
            return generate_latest(registry)
        registry.register(outbox)
        try:
            return generate_latest(registry)
        finally:
            registry.unregister(outbox)


class OutboxCollector(Collector):
    """``kredo_outbox_messages{status}`` and ``kredo_outbox_oldest_due_seconds``, read from the ledger when
    scraped: the sender runs in processes of its own (``kredo worker``), the ledger knows for all of them.
    A ledger that cannot be read leaves the two out of the scrape rather than failing it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        try:
            with self.engine.connect() as conn:
                counts, oldest = depth(conn, int(now * 1e6))
        except sa.exc.SQLAlchemyError:
            return
        by_status = GaugeMetricFamily("kredo_outbox_messages", "Outbox messages by status", labels=["status"])
        for status, n in counts.items():
            by_status.add_metric([status], n)
        yield by_status
        yield GaugeMetricFamily("kredo_outbox_oldest_due_seconds", "Age of the oldest queued message that is due "
                                "(0: none is)", value=0 if oldest is None else max(0.0, now - oldest / 1e6))


def init_app(app: Flask) -> Metrics:
    """Time every request and expose ``GET /metrics``."""
    metrics = Metrics()
    app.extensions["kredo.metrics"] = metrics

    @app.before_request
    def _start() -> None:
        g.t0 = time.perf_counter()
        g.received = datetime.now(UTC)  # the server's receipt time: the audit keeps it beside the business time

    @app.after_request
    def _observe(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        t0 = g.get("t0")
        if t0 is not None:
            metrics.latency.labels(endpoint).observe(time.perf_counter() - t0)
        metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
        return response

    @app.get("/metrics")
    @requires("admin", "auditor")
    def _metrics() -> Response:
        runtime = app.extensions.get("kredo.runtime")
        outbox = None if runtime is None else OutboxCollector(runtime.book.engine)
        return Response(metrics.exposition(outbox), content_type=CONTENT_TYPE_LATEST)  # it names its charset

    return metrics


def get_metrics(app: Flask) -> Metrics:
    return app.extensions["kredo.metrics"]
