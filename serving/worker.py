"""The gunicorn worker of ``kredo serve --threads 1``: gthread's event loop and keep-alive, each request
handled on the loop's own thread.

Why: with one thread, a gthread worker still hands every request from its event loop to a thread pool
and back: a future, a queue, a wake-up byte through a pipe and two GIL hand-offs per request, about a
tenth of a checkout's CPU (``py-spy`` on a worker: ``Future.set_result`` and ``PollableMethodQueue.defer``
alone 10 % of the samples). The pool thread is the only one that ever runs a request, so the loop can
run it itself. Everything else is gthread's own: accepting, keep-alive (``keepalive`` seconds), a new
connection waiting for its first bytes on the poller rather than in a handler, the worker-connection
limit, graceful shutdown. What a one-thread gthread worker cannot do either, this cannot: serve two
requests at once (more workers do that; they are what a decision, CPU-bound Python, needs). A client that
sends half a request and stops holds the worker's one handler in both; here the loop's heartbeat stops
with it, so gunicorn restarts the worker after its ``timeout`` instead of leaving it accepting
connections it never serves (a proxy in front, which buffers requests, keeps such clients out).

On SIGTERM the connections that carry no request (kept alive between requests, or connected and silent)
are closed at once (``murder_keepalived``): gthread's shutdown loop waits on its poller for the whole
graceful timeout, so one idle client held every stop, a deploy's or a test's, for 30 s.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from gunicorn.workers.gthread import _DEFER, ThreadWorker


class _Done:
    """A finished request's result as ``ThreadWorker.finish_request`` reads it from a future."""

    __slots__ = ("_result",)

    def __init__(self, result: Any) -> None:  # noqa: ANN401 - gunicorn's keep-alive flag or its sentinel
        self._result = result

    def result(self) -> Any:  # noqa: ANN401
        return self._result

    def cancelled(self) -> bool:
        return False


class InlineWorker(ThreadWorker):
    """``ThreadWorker`` whose requests run on the event loop (see the module docstring)."""

    def enqueue_req(self, conn: Any) -> None:  # noqa: ANN401 - gunicorn's TConn
        if not conn.initialized and not conn.data_ready:
            # a new connection waits for its request on the poller (gthread's own deferral), never here:
            # the loop must not block on a client that connected and sent nothing yet
            self.finish_request(conn, _Done(_DEFER))
            return
        try:
            result = self.handle(conn)
        except Exception:  # noqa: BLE001 - handle() answers every request error itself; this keeps the loop alive
            self.log.exception("error handling a connection")
            result = False
        self.finish_request(conn, _Done(result))

    def murder_keepalived(self) -> None:
        """Close the kept-alive connections whose time is up, and all idle ones once the worker stops (it runs
        between requests, so none of them has a request in flight)."""
        if not self.alive:
            for idle in (self.keepalived_conns, self.pending_conns):
                _close_all(self, idle)
        super().murder_keepalived()


def _close_all(worker: ThreadWorker, conns: deque) -> None:
    while conns:
        conn = conns.popleft()
        try:
            worker.poller.unregister(conn.sock)
        except (OSError, KeyError, ValueError):
            pass  # unregistered already
        worker.nr_conns -= 1
        conn.close()
