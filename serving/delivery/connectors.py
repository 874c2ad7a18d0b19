"""The channels' connectors: e-mail over SMTP, SMS and WhatsApp through the company's gateway by webhook, letters
as PDF files in an outgoing folder or handed to a print service by webhook.

Why one small interface (``deliver(envelope) -> Outcome``): the sender does the
same for every channel (re-check, render, deliver, record) and a connector only
carries a rendered message out and says what the receiver answered, as one of
``sent`` / ``delivered`` / ``retry`` (may pass: a timeout, a 4xx the receiver calls
temporary, 429 with its ``Retry-After``) / ``bounced`` (the address is wrong) /
``failed`` (refused for good).

Every delivery carries the message id as its idempotency key, the same on every
try: e-mail a ``Message-ID`` derived from it (and ``Kredo-Message-Id``), webhooks an
``Idempotency-Key`` header, letters the file name. A sender that crashed after the
receiver accepted but before it recorded the outcome tries again, and the receiver
(or the folder) sees the same key and keeps one.

Secrets (the SMTP password, the webhook signing secret) come from the environment
only (``KREDO_SMTP_PASSWORD``, ``KREDO_WEBHOOK_SECRET``), never from a config file.

Example::

    smtp = SmtpConnector(SmtpSettings("mail.example.nl", 587, "starttls", "kredo", "billing@example.nl"),
                         password=os.environ["KREDO_SMTP_PASSWORD"])
    smtp.deliver(Envelope("msg:1", "email", "klant@example.nl", "Herinnering", "Beste ..."))  # Outcome('sent', ...)
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import ssl
import tempfile
import threading
import time
from base64 import b64encode
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.mime.text import MIMEText
from datetime import UTC, datetime
from email.utils import formataddr, formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Literal, Protocol

import requests

Status = Literal["sent", "delivered", "retry", "bounced", "failed"]
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP
SMTP_SECURITY = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class Envelope:
    """A rendered message, ready to leave."""

    message_id: str
    channel: str
    to: str
    subject: str | None
    body: str
    customer_id: str = ""
    unsubscribe: str | None = None
    attachment: bytes | None = None      # a letter's PDF
    language: str = "nl"

    def digest(self) -> str:
        """sha256 over what the receiver gets (address, subject, text, PDF): what an auditor compares a kept
        copy with (the sent message records it)."""
        h = hashlib.sha256()
        for part in (self.to, self.subject or "", self.body):
            h.update(part.encode() + b"\0")
        h.update(self.attachment or b"")
        return h.hexdigest()


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str
    retry_after_s: float | None = None


class Connector(Protocol):
    def deliver(self, envelope: Envelope) -> Outcome: ...

    def close(self) -> None: ...


def message_id_header(message_id: str, domain: str) -> str:
    """The e-mail ``Message-ID`` of an outbox message: the same on every try (a receiver's duplicate check)."""
    return f"<{hashlib.sha256(message_id.encode()).hexdigest()[:40]}@{domain}>"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str              # starttls / ssl / none (none: a relay on the same host only)
    user: str | None
    sender: str                # the From address
    sender_name: str = ""
    timeout_s: float = 10.0
    ca_file: str | None = None  # trust this CA (a private relay); the system's otherwise


class SmtpConnector:
    """E-mail over kept-open SMTP connections (STARTTLS or TLS, AUTH when a user is set), one per thread that
    delivers: a sender delivering with several threads keeps several round trips to the relay in flight."""

    def __init__(self, settings: SmtpSettings, password: str | None = None) -> None:
        if settings.security not in SMTP_SECURITY:
            raise ValueError(f"SMTP security must be one of {SMTP_SECURITY}, got {settings.security!r}")
        self.settings, self._password = settings, password
        self._local = threading.local()
        self._open: list[smtplib.SMTP] = []
        self._lock = threading.Lock()
        self._domain = settings.sender.rpartition("@")[2] or "kredo.local"

    @property
    def _smtp(self) -> smtplib.SMTP | None:
        return getattr(self._local, "smtp", None)

    @_smtp.setter
    def _smtp(self, smtp: smtplib.SMTP | None) -> None:
        with self._lock:
            old = getattr(self._local, "smtp", None)
            if old is not None and old in self._open:
                self._open.remove(old)
            if smtp is not None:
                self._open.append(smtp)
        self._local.smtp = smtp

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=self._context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            if s.security == "starttls":
                smtp.starttls(context=self._context())
                smtp.ehlo()
        if s.user:
            smtp.login(s.user, self._password or "")
        return smtp

    def email(self, envelope: Envelope) -> MIMEText:
        """The e-mail (UTF-8 text, quoted-printable; a non-ASCII subject or name encoded as RFC 2047 words).

        Built on the compat32 classes, not ``EmailMessage``: the header registry's parse of every header costs
        ~2 ms a message, most of a send to a relay on the same network."""
        mail = MIMEText(envelope.body, "plain", _UTF8)
        mail["From"] = formataddr((self.settings.sender_name, self.settings.sender), charset="utf-8")
        mail["To"] = envelope.to
        mail["Subject"] = Header(envelope.subject or "", "utf-8").encode()
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = message_id_header(envelope.message_id, self._domain)
        mail["Kredo-Message-Id"] = envelope.message_id
        if envelope.unsubscribe:
            mail["List-Unsubscribe"] = f"<{envelope.unsubscribe}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return mail

    def deliver(self, envelope: Envelope) -> Outcome:
        mail = self.email(envelope)
        kept = self._smtp is not None
        outcome = self._send(mail)
        if outcome is None and kept:  # the server closed the kept connection meanwhile: once more, on a new one
            outcome = self._send(mail)
        return outcome or Outcome("retry", "the SMTP server closed the connection")

    def _send(self, mail: MIMEText) -> Outcome | None:
        """One try on this thread's connection (opened when there is none); None: the server disconnected."""
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            refused = self._smtp.send_message(mail)
        except smtplib.SMTPServerDisconnected:
            self._drop()
            return None
        except smtplib.SMTPAuthenticationError as exc:  # the installation's fault, not the message's: later
            self._drop()
            return Outcome("retry", f"SMTP authentication refused ({exc.smtp_code}): check SMTP_USER and "
                                    "KREDO_SMTP_PASSWORD")
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return _smtp_answer(code, text, "recipient refused")
        except smtplib.SMTPResponseException as exc:
            self._drop()
            return _smtp_answer(exc.smtp_code, exc.smtp_error, "SMTP")
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            return Outcome("retry", f"SMTP {type(exc).__name__}: {exc}")
        if refused:
            code, text = next(iter(refused.values()))
            return _smtp_answer(code, text, "recipient refused")
        return Outcome("sent", "accepted by the SMTP server")

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def close(self) -> None:
        with self._lock:
            connections, self._open = self._open, []
        for smtp in connections:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
        self._local = threading.local()


def _smtp_answer(code: int, text: bytes | str, what: str) -> Outcome:
    said = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    detail = f"{what}: {code} {said}"
    if 400 <= code < 500:
        return Outcome("retry", detail)
    return Outcome("bounced" if code in (550, 551, 553) else "failed", detail)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Kredo-Signature`` of a webhook request: HMAC-SHA256 over ``<timestamp>.<body>``."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookConnector:
    """A POST of the message as JSON to the company's gateway, signed, with the message id as Idempotency-Key."""

    def __init__(self, url: str, secret: str | None, timeout_s: float = 5.0) -> None:
        self.url, self._secret, self.timeout_s = url, secret, timeout_s
        self._session = requests.Session()

    def payload(self, envelope: Envelope) -> dict[str, object]:
        body: dict[str, object] = {"message_id": envelope.message_id, "channel": envelope.channel, "to": envelope.to,
                                   "customer_id": envelope.customer_id, "language": envelope.language,
                                   "text": envelope.body}
        if envelope.subject:
            body["subject"] = envelope.subject
        if envelope.attachment is not None:
            body["pdf_base64"] = b64encode(envelope.attachment).decode()
        return body

    def deliver(self, envelope: Envelope) -> Outcome:
        body = json.dumps(self.payload(envelope), sort_keys=True, ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "Idempotency-Key": envelope.message_id,
                   "X-Kredo-Timestamp": stamp}
        if self._secret:
            headers["X-Kredo-Signature"] = sign(self._secret, stamp, body)
        try:
            answer = self._session.post(self.url, data=body, headers=headers, timeout=self.timeout_s)
        except requests.Timeout:
            return Outcome("retry", f"the gateway did not answer within {self.timeout_s:g} s")
        except requests.RequestException as exc:
            return Outcome("retry", f"the gateway could not be reached: {type(exc).__name__}")
        said = f"gateway answered {answer.status_code}"
        if answer.ok:
            return Outcome("delivered" if _says_delivered(answer) else "sent", said)
        if answer.status_code == 429 or answer.status_code == 408 or answer.status_code >= 500:
            return Outcome("retry", said, _retry_after(answer.headers.get("Retry-After")))
        return Outcome("bounced" if answer.status_code in (404, 410, 422) else "failed", f"{said}: {answer.text[:200]}")

    def close(self) -> None:
        self._session.close()


def _says_delivered(answer: requests.Response) -> bool:
    try:
        return isinstance(body := answer.json(), dict) and body.get("status") == "delivered"
    except ValueError:
        return False


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date (RFC 9110); None when absent or unreadable
    (the backoff decides)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds()) if when.tzinfo is not None else None


class LetterFolder:
    """Letters as PDF files in an outgoing folder (a mail room or a print service picks them up).

    The file is named by the message id and written atomically (a temporary file renamed into place): a
    printer never sees half a PDF, and a second try of the same message finds its file and writes nothing.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, message_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in message_id)
        return self.folder / f"{safe}-{hashlib.sha256(message_id.encode()).hexdigest()[:8]}.pdf"

    def deliver(self, envelope: Envelope) -> Outcome:
        if envelope.attachment is None:
            return Outcome("failed", "a letter without its PDF")
        target = self.path(envelope.message_id)
        if target.exists():
            return Outcome("sent", f"already in {target.name}")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.folder, suffix=".part", delete=False) as part:
                part.write(envelope.attachment)
            os.replace(part.name, target)
        except OSError as exc:
            return Outcome("retry", f"cannot write the letter: {exc.strerror}")
        return Outcome("sent", f"written to {target.name}")

    def close(self) -> None:
        return None

