"""Delivery fixtures: an app with its own ledger, a real SMTP server and an HTTP gateway, and the sender on them."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.config import load
from serving.delivery.sender import Sender
from serving.delivery.settings import SMTP_PASSWORD, WEBHOOK_SECRET
from tests.support.api import app_on
from tests.support.receivers import PASSWORD, SECRET, USER, Gateway, SmtpServer, gateway_server, smtp_server


@pytest.fixture()
def app(request: pytest.FixtureRequest, champion: dict[str, str], tmp_path: Path) -> Iterator:
    """An app on a SQLite ledger of its own; ``postgresql`` (indirect parametrisation): on a fresh database of
    the session's PostgreSQL server, the outbox claimed ``FOR UPDATE SKIP LOCKED``."""
    with app_on(getattr(request, "param", "sqlite"), request, champion, tmp_path) as application:
        yield application


@pytest.fixture()
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture()
def gateway() -> Iterator[tuple[str, Gateway]]:
    with gateway_server() as served:
        yield served


def sender_config(smtp: SmtpServer, gateway_url: str, letters: Path, **overrides: object) -> dict:
    return load({"SMTP_HOST": smtp.host, "SMTP_PORT": smtp.port, "SMTP_USER": USER, "SMTP_CA_FILE": smtp.ca_file,
                 "MAIL_FROM": "debiteuren@voorbeeld.nl", "SMS_WEBHOOK_URL": gateway_url,
                 "WHATSAPP_WEBHOOK_URL": gateway_url, "LETTER_DIR": str(letters), "WEBHOOK_TIMEOUT_S": 0.5,
                 "OUTBOX_BACKOFF_S": 60.0, "COMPANY_NAME": "Voorbeeld B.V.",
                 "PAYMENT_LINK": "https://pay.voorbeeld.nl/{customer_id}?m={message_id}&a={amount_cents}",
                 **overrides}, environ={})


@pytest.fixture()
def sender(app, smtp: SmtpServer, gateway: tuple[str, Gateway], tmp_path: Path) -> Iterator[Sender]:  # noqa: ANN001
    runtime = app.extensions["kredo.runtime"]
    config = sender_config(smtp, gateway[0], tmp_path / "letters")
    built = Sender.from_config(runtime.book.engine, config, policy=lambda: runtime.policy.current,
                               environ={SMTP_PASSWORD: PASSWORD, WEBHOOK_SECRET: SECRET})
    yield built
    built.close()
