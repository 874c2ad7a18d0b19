"""Throwaway real services for tests: a redis-server and a PostgreSQL cluster.

Why: tests talk to the real thing, never to whatever happens to run on the
machine. Each service starts on a free loopback port in a temp dir and is
stopped by its PID; a missing binary is installed through apt-get first.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.system_packages import ensure, postgres_bindir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen | None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"service exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


class RedisServer:
    """A redis-server on one loopback port that a test can kill and start again on the same port.

    Why: a fault test must see what the service does while Redis is down and after it
    comes back, and a restarted server with ``persistent=False`` comes back *empty*
    (no RDB, no AOF): what a Redis without persistence does after a crash.
    """

    def __init__(self, persistent: bool = False) -> None:
        ensure("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = tempfile.mkdtemp(prefix="kredo-redis-")
        self.persistent = persistent
        self.proc: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else \
            ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", *persistence, "--dir", self.workdir, "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, self.proc)
        return self

    def stop(self, kill: bool = False) -> None:
        """SIGKILL (a crash: nothing flushed) or SIGTERM; waits for the process to end."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[str]:
    """Yield ``redis://127.0.0.1:PORT/0`` of a fresh redis-server with no persistence."""
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """Yield a SQLAlchemy URL of an empty PostgreSQL database.

    ``DATABASE_URL`` wins when set; otherwise a throwaway cluster is created
    with ``initdb`` and started with ``pg_ctl`` on a free port (as a non-root
    user when run as root, since PostgreSQL refuses to run as root).
    """
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    ensure("initdb")
    bindir = postgres_bindir()
    assert bindir, "initdb not found after installing postgresql"
    port = free_port()
    root = tempfile.mkdtemp(prefix="kredo-pg-")
    datadir = os.path.join(root, "data")
    as_user: list[str] = []
    if os.geteuid() == 0:
        os.chmod(root, 0o777)
        as_user = ["runuser", "-u", "postgres", "--"]
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True)  # noqa: E731
    run(f"{bindir}/initdb", "-D", datadir, "-U", "kredo", "--auth=trust", "-E", "UTF8")
    run(f"{bindir}/pg_ctl", "-D", datadir, "-l", os.path.join(root, "log"), "-w", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        _wait_port(port, None)
        run(f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "kredo", "kredo_test")
        yield f"postgresql+psycopg://kredo@127.0.0.1:{port}/kredo_test"
    finally:
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", datadir, "-m", "fast", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
