"""The connectors against real receivers: SMTP with STARTTLS and AUTH (and what a refusal means), the gateway's
signature, timeouts and 429 with Retry-After, the idempotency key of every try."""
from __future__ import annotations

import base64
import smtplib
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from engine.delivery import Backoff, retry_at
from serving.delivery.connectors import (Envelope, SmtpConnector, SmtpSettings, WebhookConnector, message_id_header,
                                         sign)
from serving.delivery.settings import SMTP_PASSWORD, WEBHOOK_SECRET, connectors
from tests.serving.delivery.conftest import sender_config
from tests.support.receivers import PASSWORD, SECRET, USER, smtp_server

MAIL = Envelope("msg:2026-11-02:C-1:0", "email", "klant@example.nl", "Herinnering", "Beste klant,\n\n€ 12,50 open.",
                "C-1", "https://example.nl/unsubscribe/C-1")
TEXT = Envelope("msg:2026-11-02:S-1:0", "sms", "+31612345678", None, "Nog € 12,50 open", "S-1")


def smtp_connector(smtp, password: str = PASSWORD, ca: bool = True) -> SmtpConnector:  # noqa: ANN001
    return SmtpConnector(SmtpSettings(smtp.host, smtp.port, "starttls", USER, "debiteuren@voorbeeld.nl", "Voorbeeld",
                                      5.0, smtp.ca_file if ca else None), password=password)


def test_an_email_goes_over_starttls_with_auth_and_its_headers(smtp) -> None:  # noqa: ANN001
    connector = smtp_connector(smtp)
    assert connector.deliver(MAIL).status == "sent"
    assert connector.deliver(MAIL).status == "sent"  # the same message again: the same Message-ID
    first, second = smtp.inbox.messages
    assert first["Message-ID"] == second["Message-ID"] == message_id_header(MAIL.message_id, "voorbeeld.nl")
    assert first["Kredo-Message-Id"] == MAIL.message_id and first["To"] == "klant@example.nl"
    assert first["List-Unsubscribe"] == "<https://example.nl/unsubscribe/C-1>"
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["From"] == "Voorbeeld <debiteuren@voorbeeld.nl>" and "€ 12,50" in first.get_content()
    connector.close()


def test_the_server_refuses_mail_without_tls_and_the_connector_trusts_only_its_ca(smtp) -> None:  # noqa: ANN001
    with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as plain:  # the server itself: no AUTH before STARTTLS
        plain.ehlo()
        with pytest.raises(smtplib.SMTPException):
            plain.login(USER, PASSWORD)
    untrusted = smtp_connector(smtp, ca=False).deliver(MAIL)  # a self-signed certificate is not the system's CA
    assert untrusted.status == "retry" and "SSLCertVerificationError" in untrusted.detail
    assert not smtp.inbox.messages


def test_a_wrong_password_is_retried_with_a_word_for_the_operator(smtp) -> None:  # noqa: ANN001
    outcome = smtp_connector(smtp, password="wrong").deliver(MAIL)
    assert outcome.status == "retry" and "KREDO_SMTP_PASSWORD" in outcome.detail and "535" in outcome.detail
    assert not smtp.inbox.messages


def test_a_temporary_refusal_is_retried_and_the_connection_reopened(smtp) -> None:  # noqa: ANN001
    connector = smtp_connector(smtp)
    smtp.inbox.fail_next = 1
    assert connector.deliver(MAIL).status == "retry"
    assert connector.deliver(MAIL).status == "sent" and smtp.inbox.ids() == [MAIL.message_id]
    connector.close()


def test_the_gateway_gets_a_signed_request_with_the_idempotency_key(gateway) -> None:  # noqa: ANN001
    url, record = gateway
    assert WebhookConnector(url, SECRET, 2.0).deliver(TEXT).status == "sent"
    (request,) = record.requests
    assert request["signed"] and request["key"] == TEXT.message_id
    assert request["body"] == {"message_id": TEXT.message_id, "channel": "sms", "to": "+31612345678",
                               "customer_id": "S-1", "language": "nl", "text": "Nog € 12,50 open"}
    wrong = WebhookConnector(url, "not-the-secret", 2.0).deliver(TEXT)
    assert wrong.status == "failed" and "401" in wrong.detail
    assert sign("k", "1", b"x") == sign("k", "1", b"x") != sign("k", "2", b"x")


def test_a_gateway_that_fails_times_out_or_slows_us_down_is_retried(gateway) -> None:  # noqa: ANN001
    url, record = gateway
    record.script, record.retry_after = ["500", "429", "timeout"], "600"
    connector = WebhookConnector(url, SECRET, 0.5)
    first, second, third, fourth = (connector.deliver(TEXT) for _ in range(4))
    assert (first.status, second.status, third.status, fourth.status) == ("retry", "retry", "retry", "sent")
    assert second.retry_after_s == 600.0 and "within 0.5 s" in third.detail
    assert list(record.kept) == [TEXT.message_id] and len(record.requests) == 4
    now = datetime(2026, 11, 9, 9, 0, tzinfo=UTC)  # the sender waits at least what the gateway asked
    assert retry_at(Backoff(), TEXT.message_id, 1, now, second.retry_after_s) == now + timedelta(seconds=600)


def test_secrets_come_from_the_environment_only(smtp, gateway, tmp_path) -> None:  # noqa: ANN001
    config = sender_config(smtp, gateway[0], tmp_path / "letters", SMTP_PASSWORD="from-a-file")
    built = connectors(config, environ={})
    assert sorted(built) == ["email", "letter", "sms", "whatsapp"]
    assert built["email"].deliver(MAIL).status == "retry"          # no password from the config
    assert built["sms"].deliver(TEXT).status == "failed"          # unsigned: the gateway refuses it
    signed = connectors(config, environ={SMTP_PASSWORD: PASSWORD, WEBHOOK_SECRET: SECRET})
    assert signed["email"].deliver(MAIL).status == "sent" and signed["sms"].deliver(TEXT).status == "sent"
    for c in (*built.values(), *signed.values()):
        c.close()


def test_a_letter_goes_to_the_print_service_as_a_signed_pdf(gateway) -> None:  # noqa: ANN001
    url, record = gateway
    letter = Envelope("msg:L-1", "letter", "Laan 2\n3500 AB Utrecht", "Laatste aanmaning", "Geachte ...", "L-1",
                      attachment=b"%PDF-1.7 a letter")
    assert WebhookConnector(url, SECRET, 2.0).deliver(letter).status == "sent"
    (request,) = record.requests
    assert request["signed"] and request["key"] == "msg:L-1" and request["body"]["subject"] == "Laatste aanmaning"
    assert base64.b64decode(request["body"]["pdf_base64"]) == b"%PDF-1.7 a letter"


def test_a_kept_connection_the_server_closed_is_opened_again_for_the_same_try(tmp_path) -> None:  # noqa: ANN001
    with smtp_server(tmp_path, idle_timeout_s=0.3) as smtp:
        connector = smtp_connector(smtp)
        assert connector.deliver(MAIL).status == "sent"
        time.sleep(1.0)  # the server hangs up the idle connection
        second = Envelope("msg:2", "email", "klant@example.nl", "Herinnering", "Beste klant,", "C-1")
        assert connector.deliver(second).status == "sent"
        assert smtp.inbox.ids() == [MAIL.message_id, "msg:2"]
        connector.close()


def test_retry_after_as_an_http_date_is_honoured(gateway) -> None:  # noqa: ANN001
    url, record = gateway
    later = datetime.now(UTC) + timedelta(minutes=10)
    record.script, record.retry_after = ["429"], format_datetime(later, usegmt=True)
    answer = WebhookConnector(url, SECRET, 2.0).deliver(TEXT)
    assert answer.status == "retry" and 595 <= answer.retry_after_s <= 600
