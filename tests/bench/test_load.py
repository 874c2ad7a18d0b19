"""The load generator: open loop measures from the intended send time, so a server's queue shows."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.load import run_load

SERVICE_S = 0.02  # one request at a time, 20 ms each: the server answers at most 50 a second


class _Ok(BaseHTTPRequestHandler):
    """Answers ``ok`` on a kept-alive HTTP/1.1 connection, quietly."""

    protocol_version = "HTTP/1.1"

    def answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


class _Slow(_Ok):
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        with self.lock:
            time.sleep(SERVICE_S)
        self.answer()


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture()
def slow_server() -> Iterator[int]:
    with _serving(_Slow) as port:
        yield port


def test_below_capacity_the_open_loop_holds_its_rate_at_the_service_time(slow_server: int) -> None:
    result = run_load("127.0.0.1", slow_server, "/", None, seconds=2.0, concurrency=8, method="GET",
                      warmup_s=0.3, rate=20.0)
    figures = result.summary()
    assert figures["errors"] == 0 and figures["late_unsent"] == 0
    assert 35 <= figures["requests"] <= 45  # 20 a second for 2 s
    assert SERVICE_S * 1e3 <= figures["p50_ms"] < 10 * SERVICE_S * 1e3


def test_above_capacity_the_queue_counts_in_full_where_a_closed_loop_hides_it(slow_server: int) -> None:
    """At twice the capacity a request waits for all those before it: from the intended send time the
    latency grows through the run (about 1 s after 2 s), while the closed loop sees the service time."""
    # the closed loop first: after the paced run the server still works off the requests in flight when it
    # stopped (up to 64 x 20 ms behind one lock), and a closed loop right after would wait behind them
    closed = run_load("127.0.0.1", slow_server, "/", None, seconds=1.0, concurrency=1, method="GET",
                      warmup_s=0.0).summary()
    paced = run_load("127.0.0.1", slow_server, "/", None, seconds=2.0, concurrency=64, method="GET",
                     warmup_s=0.0, rate=100.0).summary()
    assert closed["p99_ms"] < 5 * SERVICE_S * 1e3
    assert paced["p99_ms"] > 500 and paced["p50_ms"] > 10 * closed["p50_ms"]


def test_with_every_connection_busy_the_open_loop_waits_rather_than_spins(slow_server: int) -> None:
    """At twice the capacity on 2 connections, requests fall due while both are busy: the generator must
    wait for an answer, not loop until one comes (it spun a core the server on the same machine needed)."""
    cpu0 = time.process_time()
    figures = run_load("127.0.0.1", slow_server, "/", None, seconds=1.5, concurrency=2, method="GET",
                       warmup_s=0.0, rate=100.0).summary()
    cpu = time.process_time() - cpu0
    assert figures["requests"] > 0
    assert cpu < 0.5, f"{cpu:.2f} s of CPU for {figures['requests']} requests"  # spinning: about 1.5 s


class _ClosesKeptAlive(_Ok):
    """Answers the first request of a connection and keeps it alive, then closes it under the next request
    without answering: what gunicorn's keep-alive expiry does to a request sent at that moment."""

    fresh_closes = False  # close a fresh connection's first request too (a server that drops requests)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.served = getattr(self, "served", 0)
        if self.served == 1 or self.fresh_closes:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.served += 1
        self.answer()


@pytest.fixture()
def closing_server(request: pytest.FixtureRequest) -> Iterator[int]:
    with _serving(type("Handler", (_ClosesKeptAlive,), {"fresh_closes": getattr(request, "param", False)})) as port:
        yield port


def test_a_request_a_kept_alive_connection_closed_under_is_sent_again_as_clients_do(closing_server: int) -> None:
    result = run_load("127.0.0.1", closing_server, "/", None, seconds=0.5, concurrency=1, method="GET",
                      warmup_s=0.0, max_requests=20)
    figures = result.summary()
    assert figures["errors"] == 0 and figures["requests"] >= 10
    assert figures["retried"] >= figures["requests"] - 1  # every connection's second request went again


@pytest.mark.parametrize("closing_server", [True], indirect=True)
def test_a_request_closed_on_a_fresh_connection_is_an_error_not_a_retry(closing_server: int) -> None:
    result = run_load("127.0.0.1", closing_server, "/", None, seconds=0.3, concurrency=1, method="GET",
                      warmup_s=0.0)
    figures = result.summary()
    assert figures["errors"] > 0 and figures["retried"] == 0 and figures["requests"] == 0
