"""Real receivers for the delivery tests and the outbox bench: an SMTP server (aiosmtpd, STARTTLS with a
certificate made here, AUTH) and an HTTP gateway that fails, times out and answers 429 on purpose.

Why real ones: a connector is only tested when bytes cross a socket, a TLS handshake
happens and a password is checked; the gateway stands in for the SMS/WhatsApp
provider (which cannot run here) and de-duplicates by ``Idempotency-Key`` the way a
provider does, so a test sees what the receiver kept, not what the sender believes.
"""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.services import free_port

USER, PASSWORD = "kredo", "s3cret-smtp"
SECRET = "s3cret-webhook"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key, written to ``folder`` (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Inbox:
    """What the SMTP server accepted. ``fail_next``: the first message it sees is answered 451 (try again
    later) that many times; ``target`` is that message's ``Kredo-Message-Id``."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)
    refused: int = 0
    fail_next: int = 0
    target: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        mail = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.lock:
            if self.fail_next > 0 and self.target in (None, mail["Kredo-Message-Id"]):
                self.target = mail["Kredo-Message-Id"]
                self.fail_next -= 1
                self.refused += 1
                return "451 4.3.0 try again later"
            self.messages.append(mail)
        return "250 2.0.0 OK"

    def ids(self) -> list[str]:
        return [m["Kredo-Message-Id"] for m in self.messages]


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() \
        and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    ca_file: str
    inbox: Inbox


@contextmanager
def smtp_server(folder: Path, idle_timeout_s: float = 300.0) -> Iterator[SmtpServer]:
    """An aiosmtpd server on a free loopback port: STARTTLS required, AUTH required (after TLS); it closes a
    connection idle for ``idle_timeout_s``."""
    cert, key = self_signed(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            auth_required=True, auth_require_tls=True, authenticator=_authenticator,
                            server_hostname="localhost", ready_timeout=10, timeout=idle_timeout_s)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, str(cert), inbox)
    finally:
        controller.stop()


@dataclass
class Gateway:
    """The SMS/WhatsApp gateway's record: every request, and the messages it kept (one per Idempotency-Key).

    ``script`` answers the requests for the first message it sees (``target``), in order: ``500``, ``429``
    (with ``Retry-After: <retry_after>``), ``timeout`` (sleeps past the client's timeout, then keeps the message: the client
    cannot know it arrived); then ``ok``. A request with a wrong signature gets 401.
    """

    script: list[str] = field(default_factory=list)
    target: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)
    sleep_s: float = 1.5
    retry_after: str = "1"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[dict[str, Any]]:
        return list(self.kept.values())


def _handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            key, stamp = self.headers.get("Idempotency-Key"), self.headers.get("X-Kredo-Timestamp", "")
            want = "sha256=" + hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            signed = hmac.compare_digest(want, self.headers.get("X-Kredo-Signature", ""))
            with gateway.lock:
                if gateway.script and gateway.target in (None, key):
                    gateway.target, step = key, gateway.script.pop(0)
                else:
                    step = "ok"
                gateway.requests.append({"key": key, "signed": signed, "step": step, "body": json.loads(body)})
            if not signed:
                return self._answer(401, {"error": "bad signature"})
            if step == "500":
                return self._answer(500, {"error": "down"})
            if step == "429":
                return self._answer(429, {"error": "slow down"}, {"Retry-After": gateway.retry_after})
            if step == "timeout":
                time.sleep(gateway.sleep_s)
            with gateway.lock:
                duplicate = key in gateway.kept
                gateway.kept.setdefault(key, json.loads(body))
            self._answer(200, {"status": "accepted", "duplicate": duplicate})

        def _answer(self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            for name, value in {"Content-Type": "application/json", "Content-Length": str(len(data)),
                                **(headers or {})}.items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and went away
                pass

    return Handler


@contextmanager
def gateway_server() -> Iterator[tuple[str, Gateway]]:
    """A threaded HTTP gateway on a free loopback port: (its URL, its record)."""
    gateway = Gateway()
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(gateway))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/send", gateway
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    """``python -m tests.support.receivers <folder>``: the SMTP server in a process of its own (the bench's, so
    the server does not share the sender's interpreter); prints ``<port> <ca file>``, runs until stdin closes,
    then prints how many messages it accepted."""
    import sys

    with smtp_server(Path(sys.argv[1])) as server:
        print(server.port, server.ca_file, flush=True)
        sys.stdin.read()
        print(len(server.inbox.messages), flush=True)


if __name__ == "__main__":
    main()
