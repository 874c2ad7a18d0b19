"""The sender's settings: connectors per channel from the configuration, secrets from the environment.

Why here and not in each connector: one place says which channels this
installation can deliver (a channel without settings is left queued, not failed:
the operator sees it waiting in ``GET /v1/messages?status=queued``), and one place
reads the two secrets, from the environment only.

| key | environment | default |
|---|---|---|
| ``SMTP_HOST`` / ``SMTP_PORT`` | ``KREDO_SMTP_HOST`` / ``KREDO_SMTP_PORT`` | none (no e-mail) / 587 |
| ``SMTP_SECURITY`` | ``KREDO_SMTP_SECURITY`` | ``starttls`` (``ssl``, ``none``) |
| ``SMTP_USER`` | ``KREDO_SMTP_USER`` | none (no AUTH); the password: ``KREDO_SMTP_PASSWORD`` |
| ``SMTP_CA_FILE`` | ``KREDO_SMTP_CA_FILE`` | none: the system's CAs |
| ``MAIL_FROM`` | ``KREDO_MAIL_FROM`` | ``debiteuren@example.invalid`` |
| ``SMS_WEBHOOK_URL`` / ``WHATSAPP_WEBHOOK_URL`` | ``KREDO_SMS_WEBHOOK_URL`` / ``KREDO_WHATSAPP_WEBHOOK_URL`` | none |
| ``LETTER_DIR`` / ``LETTER_WEBHOOK_URL`` | ``KREDO_LETTER_DIR`` / ``KREDO_LETTER_WEBHOOK_URL`` | none |
| ``WEBHOOK_TIMEOUT_S`` | ``KREDO_WEBHOOK_TIMEOUT_S`` | 5; the signing secret: ``KREDO_WEBHOOK_SECRET`` |
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from serving.delivery.connectors import (Connector, LetterFolder, SmtpConnector, SmtpSettings, WebhookConnector)

SMTP_PASSWORD = "KREDO_SMTP_PASSWORD"
WEBHOOK_SECRET = "KREDO_WEBHOOK_SECRET"


def connectors(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Connector]:
    """The connector of every channel the configuration sets up."""
    env = os.environ if environ is None else environ
    out: dict[str, Connector] = {}
    if config.get("SMTP_HOST"):
        out["email"] = SmtpConnector(SmtpSettings(
            config["SMTP_HOST"], int(config["SMTP_PORT"]), config["SMTP_SECURITY"], config.get("SMTP_USER"),
            config["MAIL_FROM"], config.get("COMPANY_NAME") or "", float(config["SMTP_TIMEOUT_S"]),
            config.get("SMTP_CA_FILE")), password=env.get(SMTP_PASSWORD))
    timeout, secret = float(config["WEBHOOK_TIMEOUT_S"]), env.get(WEBHOOK_SECRET)
    for channel in ("sms", "whatsapp"):
        if config.get(f"{channel.upper()}_WEBHOOK_URL"):
            out[channel] = WebhookConnector(config[f"{channel.upper()}_WEBHOOK_URL"], secret, timeout)
    if config.get("LETTER_WEBHOOK_URL"):
        out["letter"] = WebhookConnector(config["LETTER_WEBHOOK_URL"], secret, timeout)
    elif config.get("LETTER_DIR"):
        out["letter"] = LetterFolder(config["LETTER_DIR"])
    return out
