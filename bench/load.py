"""A small HTTP/1.1 load generator for loopback benchmarks: closed loop, or open loop at a fixed rate.

Why: the server and the load generator share this 2-core machine, so the
generator must cost far less per request than the server. It keeps
``concurrency`` connections busy from one thread with ``selectors`` and raw
sockets (no HTTP library, no per-request objects beyond the bytes), reconnects
when the server closes (gunicorn's sync workers close after every answer),
and records each request's latency from first byte sent to last byte read.

Closed loop (the default) keeps ``concurrency`` requests in flight: it measures what the server can do,
but a slow answer delays the next request, so queueing never shows (coordinated omission). Open loop
(``rate``): request ``i`` is due at ``start + i / rate`` whatever happened before; it goes out on the first
free connection at or after that time, and its latency is measured **from that intended send time**, so
a queue building up in the server (or in the generator, when every connection is busy) counts in full.
``concurrency`` is then the number of connections (give it room: a request waiting for a free connection
is late too). Requests still unsent when the time is up are counted as ``late_unsent``.

A kept-alive connection that the server closes as idle (gunicorn after ``keepalive`` seconds) can cross a
request sent on it at that moment: the request dies with no byte of an answer. HTTP clients send such a
request once more on a new connection (RFC 9112, 9.3.1; Kredo's decisions are idempotent by ``request_id``);
so does this generator, keeping its intended send time, and counts it as ``retried``. A request that dies on
a fresh connection, or after part of its answer, or a second time, is an error.

Every request body is made unique by ``make_body(i)`` so that idempotency
replays never flatter the figures. ``headers`` go on every request (the API
key: ``{"Authorization": "Bearer kredo_..."}``). ``capture="server-timing"`` keeps that
header's value of every measured response (``LoadResult.captured``).

Usage (library): ``run_load("127.0.0.1", 8000, "/v1/decisions/checkout", make_body, seconds=10)``
Usage (CLI):     ``python bench/load.py --port 8000 --path /healthz --method GET --seconds 5 [--key KEY]``
"""
from __future__ import annotations

import argparse
import json
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


#: Open loop: how long after the end requests still due are sent (and measured) before they count as unsent.
DRAIN_S = 5.0


@dataclass
class LoadResult:
    """Latencies (ms) of completed requests, status counts, and the wall time they took."""

    latencies_ms: np.ndarray
    statuses: dict[int, int]
    seconds: float
    errors: int = 0
    late_unsent: int = 0  # open loop: requests due before the end that never got a connection
    retried: int = 0  # requests sent again on a new connection after a kept-alive one closed under them
    completed: int = 0  # every answered request, warm-up included (CPU-per-request figures divide by this)
    captured: list[bytes] = field(default_factory=list)  # the ``capture`` header of each measured response

    @property
    def per_s(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, float]:
        lat = self.latencies_ms
        pct = (lambda q: float(np.percentile(lat, q))) if len(lat) else (lambda q: float("nan"))
        return {"requests": int(len(lat)), "per_s": round(self.per_s, 1), "p50_ms": round(pct(50), 3),
                "p90_ms": round(pct(90), 3), "p99_ms": round(pct(99), 3), "max_ms": round(pct(100), 3),
                "errors": self.errors, "late_unsent": self.late_unsent, "retried": self.retried,
                "non_2xx": sum(n for s, n in self.statuses.items() if s >= 300)}


@dataclass
class _Conn:
    sock: socket.socket | None = None
    buf: bytearray = field(default_factory=bytearray)
    t0: float = 0.0
    need: int = -1  # total bytes of the current response once the header is parsed
    status: int = 0
    close_after: bool = False
    header: bytes | None = None
    request: bytes = b""  # the request in flight, for a retry
    served: int = 0  # answers read on this socket: a closed socket that served none was never kept alive
    retry: bool = False  # the request in flight is a retry already


def _request_bytes(method: str, host: str, port: int, path: str, body: bytes | None, extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}"
    if body is None:
        return (head + "\r\n").encode()
    return (head + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def run_load(host: str, port: int, path: str, make_body: Callable[[int], bytes] | None,
             seconds: float = 10.0, concurrency: int = 4, method: str = "POST",
             max_requests: int | None = None, warmup_s: float = 1.0, capture: str | None = None,
             headers: dict[str, str] | None = None, rate: float | None = None) -> LoadResult:
    """Keep ``concurrency`` requests in flight (or, with ``rate``, send ``rate`` requests a second on up to
    ``concurrency`` connections) for ``warmup_s + seconds``; measure the last ``seconds``."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    wanted = None if capture is None else capture.lower().encode() + b":"
    captured: list[bytes] = []
    sel = selectors.DefaultSelector()
    conns = [_Conn() for _ in range(concurrency)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    retried = 0
    counter = 0
    completed = 0
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop_at = measure_from + seconds

    def connect(c: _Conn) -> None:
        s = socket.create_connection((host, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        c.sock, c.served = s, 0
        sel.register(s, selectors.EVENT_READ, c)

    def drop(c: _Conn) -> None:
        if c.sock is not None:
            sel.unregister(c.sock)
            c.sock.close()
            c.sock = None

    def transmit(c: _Conn) -> None:
        """Send ``c.request``; on a kept-alive socket the server already closed, once more on a new one."""
        if c.sock is None:
            connect(c)
        try:
            c.sock.sendall(c.request)
        except OSError:
            if c.served == 0 or c.retry:
                raise
            retry(c)

    def retry(c: _Conn) -> None:
        nonlocal retried
        retried += 1
        drop(c)
        c.retry = True
        transmit(c)

    def send(c: _Conn, intended: float | None = None) -> None:
        nonlocal counter
        body = make_body(counter) if make_body is not None else None
        counter += 1
        c.buf.clear()
        c.need, c.status, c.close_after, c.header, c.retry = -1, 0, False, None, False
        c.t0 = time.perf_counter() if intended is None else intended
        c.request = _request_bytes(method, host, port, path, body, extra)
        transmit(c)

    free: list[_Conn] = []
    due = start  # open loop: when the next request is due

    def paced() -> int:
        """Send every request that is due on a free connection; the number sent."""
        nonlocal due
        sent, now = 0, time.perf_counter()
        if now > stop_at + DRAIN_S:
            return 0
        while free and due <= now and due < stop_at:
            send(free.pop(), intended=due)
            due += 1.0 / rate
            sent += 1
        return sent

    if rate is None:
        for c in conns:
            send(c)
        in_flight = concurrency
    else:
        free.extend(reversed(conns))
        in_flight = paced()
    while in_flight or (rate is not None and due < stop_at and time.perf_counter() <= stop_at + DRAIN_S):
        # open loop: wake for the next due request only while a connection is free to send it; with every
        # connection busy, a late request would spin the loop (a core the server needs) until an answer comes
        timeout = 5.0 if rate is None or not free else max(0.0, min(due - time.perf_counter(), 0.05))
        for key, _ in sel.select(timeout=timeout):
            c: _Conn = key.data
            try:
                chunk = c.sock.recv(65536)
            except ConnectionError:
                chunk = b""
            if not chunk:
                if not c.buf and c.need < 0 and c.served and not c.retry:  # closed as idle under the request
                    retry(c)
                    continue
                drop(c)
                if c.need < 0 or len(c.buf) < c.need:
                    errors += 1
                    in_flight -= 1
                    if rate is not None:
                        free.append(c)
                    elif time.perf_counter() < stop_at:
                        send(c)
                        in_flight += 1
                continue
            c.buf += chunk
            if c.need < 0:
                end = c.buf.find(b"\r\n\r\n")
                if end < 0:
                    continue
                head = bytes(c.buf[:end]).lower()
                c.status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line.startswith(b"content-length:"):
                        length = int(line[15:])
                    elif line.startswith(b"connection:") and b"close" in line:
                        c.close_after = True
                    elif wanted is not None and line.startswith(wanted):
                        c.header = line[len(wanted):].strip()
                c.need = end + 4 + length
            if len(c.buf) < c.need:
                continue
            now = time.perf_counter()
            completed += 1
            c.served += 1
            if now >= measure_from:
                latencies.append((now - c.t0) * 1e3)
                statuses[c.status] = statuses.get(c.status, 0) + 1
                if c.header is not None:
                    captured.append(c.header)
            if c.close_after:
                drop(c)
            in_flight -= 1
            if rate is not None:
                free.append(c)
            elif now < stop_at and (max_requests is None or len(latencies) < max_requests):
                send(c)
                in_flight += 1
        if rate is not None:
            in_flight += paced()
    late_unsent = 0 if rate is None else max(0, int((stop_at - due) * rate))
    for c in conns:
        drop(c)
    sel.close()
    elapsed = min(time.perf_counter(), stop_at) - measure_from
    return LoadResult(np.asarray(latencies), statuses, max(elapsed, 1e-9), errors=errors, late_unsent=late_unsent,
                      retried=retried, completed=completed, captured=captured)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/healthz")
    p.add_argument("--method", default="GET")
    p.add_argument("--body", help="JSON body; the text {i} is replaced by the request number")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=4, help="connections (closed loop: requests in flight)")
    p.add_argument("--rate", type=float, default=None, help="open loop: requests per second, latency from the "
                   "intended send time")
    p.add_argument("--key", help="an API key of the role the path needs (kredo keys create --role ROLE)")
    args = p.parse_args()
    template = args.body
    make = (lambda i: template.replace("{i}", str(i)).encode()) if template else None
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else None
    print(json.dumps(run_load(args.host, args.port, args.path, make, args.seconds, args.concurrency,
                              args.method, headers=headers, rate=args.rate).summary()))


if __name__ == "__main__":
    main()
