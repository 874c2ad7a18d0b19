"""Service configuration: defaults, then the environment, then an explicit dict.

Why: the same app runs on embedded defaults for a demo (SQLite audit file,
in-process feature store, local MLflow store) and on real services in
production, switched only by environment variables. Tests pass a dict, which
wins over both.

| key | environment | default |
|---|---|---|
| ``AUDIT_URL`` | ``DATABASE_URL`` | ``sqlite:///var/audit.db`` |
| ``LEDGER_URL`` | ``KREDO_LEDGER_URL`` | ``sqlite:///var/ledger.db`` (PostgreSQL: the same URL as ``DATABASE_URL``) |
| ``REDIS_URL`` | ``REDIS_URL`` | none: in-process store |
| ``MLFLOW_TRACKING_URI`` | ``MLFLOW_TRACKING_URI`` | ``sqlite:///mlruns/mlflow.db`` |
| ``MODEL_URI`` | ``KREDO_MODEL_URI`` | ``models:/payment-delay@champion`` |
| ``POLICY_PATH`` | ``KREDO_POLICY`` | the packaged ``rules/default.yaml`` |
| ``RELOAD_INTERVAL_S`` | ``KREDO_RELOAD_INTERVAL_S`` | 15 (0: only ``POST /v1/admin/reload``) |
| ``KEYS_REFRESH_S`` | ``KREDO_KEYS_REFRESH_S`` | 5: a key made or revoked with ``kredo keys`` takes effect in every worker within this |
| ``KEY_PEPPER`` | ``KREDO_KEY_PEPPER`` | none: keys are hashed under ``ledger.keys.DEFAULT_PEPPER`` (set a secret in production) |
| ``AUDIT_RETENTION_DAYS`` | ``KREDO_AUDIT_RETENTION_DAYS`` | none: ``kredo audit redact`` needs ``--before`` |
| ``MAX_CONTENT_LENGTH`` | ``KREDO_MAX_BODY_BYTES`` | 262144 |
| ``EXPERIMENT_NAME`` | ``KREDO_EXPERIMENT`` | ``dunning`` (the bandit experiment; its state key) |
| ``CONTROL_SHARE`` | ``KREDO_CONTROL_SHARE`` | 0.1 (invoices kept on the static policy) |
| ``REPLAY_LEDGER`` | ``KREDO_REPLAY_LEDGER`` | none: a ledger directory (e.g. the demo's) the analyst's pages replay: off-policy estimates of a candidate bandit policy on its logged reminders, backtests of a draft credit policy on its invoices |
| ``POLICY_VERSIONS`` | ``KREDO_POLICY_VERSIONS`` | none: a folder of credit-policy files (earlier versions, drafts) the policies page lists beside the live one, diffs and backtests |
| ``DATE_HORIZON_DAYS`` | ``KREDO_DATE_HORIZON_DAYS`` | 1826: a date or time later than this many days after the server clock is refused |
| ``DEGRADED_MODE`` | ``KREDO_DEGRADED_MODE`` | none: a checkout answers 503 while the online store is down; ``rules_only``: the policy's rules alone, conservatively, flagged (docs/reliability.md) |
| ``RETRY_AFTER_S`` | ``KREDO_RETRY_AFTER_S`` | 2: the ``Retry-After`` of every 503 |
| ``REDIS_TIMEOUT_S`` | ``KREDO_REDIS_TIMEOUT_S`` | 0.5: socket timeout of every Redis command |
| ``STORE_CHECK_INTERVAL_S`` | ``KREDO_STORE_CHECK_INTERVAL_S`` | 1: how often each worker checks the Redis store's epoch and the store backlog |
| ``TEMPLATES_DIR`` | ``KREDO_TEMPLATES`` | the packaged ``rules/templates`` (checked and reloaded like the policy) |
| ``OUTBOX_BATCH`` / ``OUTBOX_LEASE_S`` / ``OUTBOX_INTERVAL_S`` | ``KREDO_OUTBOX_*`` | 200 messages a claim / 300 s / 5 s between passes |
| ``OUTBOX_MAX_ATTEMPTS`` / ``OUTBOX_BACKOFF_S`` | ``KREDO_OUTBOX_*`` | 8 deliveries, then dead (``failed``) / 60 s doubled per try |
| ``OUTBOX_THREADS`` | ``KREDO_OUTBOX_THREADS`` | 4 deliveries in flight per sender (one SMTP connection each) |
| ``OUTBOX_IN_SERVICE`` | ``KREDO_OUTBOX_IN_SERVICE`` | off; ``1``: each service worker runs a sender thread too |
| ``COMPANY_NAME``, ``COMPANY_ADDRESS``, ``COMPANY_IBAN``, ``COMPANY_PHONE`` | ``KREDO_COMPANY_*`` | what the templates sign with |
| ``PAYMENT_LINK`` / ``UNSUBSCRIBE_LINK`` | ``KREDO_PAYMENT_LINK`` / ``KREDO_UNSUBSCRIBE_LINK`` | URL patterns: ``{customer_id}``, ``{message_id}``, ``{amount_cents}``, ``{invoice_ids}`` |
| ``DEFAULT_LANGUAGE`` | ``KREDO_DEFAULT_LANGUAGE`` | ``nl``: a customer without a language |
| the channels' connectors | see ``serving/delivery/settings.py`` | none: a channel without settings stays queued |
| ``SECRET_KEY`` | ``KREDO_SECRET_KEY`` | none: nobody can sign in to the pages (``kredo demo`` makes a random one per process); the same value in every worker, it signs the session cookie |
| ``SESSION_COOKIE_SECURE`` | ``KREDO_COOKIE_SECURE`` | 0: set 1 when the pages are served over HTTPS (the session cookie then travels only over TLS) |
| ``REPORT_MAX_AGE_S`` | ``KREDO_REPORT_MAX_AGE_S`` | 60: a worker computes the receivables report again (in the background) when the book changed and its kept one is this old (0: at every change) |
| ``PAGES_SESSION_HOURS`` | ``KREDO_SESSION_HOURS`` | 10: a person signs in again after this many hours |
| ``CHECKPOINT_INTERVAL_S`` | ``KREDO_CHECKPOINT_INTERVAL_S`` | 0.1: how often each worker copies the SQLite audit log's and ledger's write-ahead logs back, off the requests' path (0: inside the commits, SQLite's own way; ``ledger.database.checkpoint_wal``) |
| ``INDEX_INTERVAL_S`` | ``KREDO_INDEX_INTERVAL_S`` | 0.05: how often each worker writes the decisions it queued for the ledger's decision index, in one transaction (0: each at once; ``serving.decision_index``) |
| ``LOCK_TIMEOUT_S`` | ``KREDO_LOCK_TIMEOUT_S`` | 2: how long an audit or ledger statement waits for a database lock (SQLite's busy timeout, PostgreSQL's ``lock_timeout``) before the request answers 503 |
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from domain.contract import DEFAULT_HORIZON_DAYS
from domain.errors import InvalidInput
from domain.resources import DEFAULT_POLICY, locate
from ledger.database import CHECKPOINT_INTERVAL_S

#: What a checkout does while the online store is down: nothing (None: 503) or the rules alone.
DEGRADED_MODES = (None, "rules_only")

DEFAULTS: dict[str, Any] = {
    "AUDIT_URL": "sqlite:///var/audit.db",
    "LEDGER_URL": "sqlite:///var/ledger.db",
    "REDIS_URL": None,
    "MLFLOW_TRACKING_URI": "sqlite:///mlruns/mlflow.db",
    "MODEL_URI": "models:/payment-delay@champion",
    "POLICY_PATH": str(locate(DEFAULT_POLICY)),
    "RELOAD_INTERVAL_S": 15.0,
    "KEYS_REFRESH_S": 5.0,
    "KEY_PEPPER": None,
    "AUDIT_RETENTION_DAYS": None,
    "MAX_CONTENT_LENGTH": 256 * 1024,
    "EXPERIMENT_NAME": "dunning",
    "CONTROL_SHARE": 0.1,
    "REPLAY_LEDGER": None,
    "POLICY_VERSIONS": None,
    "DATE_HORIZON_DAYS": DEFAULT_HORIZON_DAYS,
    "DEGRADED_MODE": None,
    "RETRY_AFTER_S": 2,
    "REDIS_TIMEOUT_S": 0.5,
    "STORE_CHECK_INTERVAL_S": 1.0,
    "LOCK_TIMEOUT_S": 2.0,
    "CHECKPOINT_INTERVAL_S": CHECKPOINT_INTERVAL_S,
    "INDEX_INTERVAL_S": 0.05,
    "TEMPLATES_DIR": None,
    "OUTBOX_BATCH": 200,
    "OUTBOX_LEASE_S": 300.0,
    "OUTBOX_INTERVAL_S": 5.0,
    "OUTBOX_MAX_ATTEMPTS": 8,
    "OUTBOX_BACKOFF_S": 60.0,
    "OUTBOX_THREADS": 4,
    "OUTBOX_IN_SERVICE": False,
    "COMPANY_NAME": "Kredo demo B.V.",
    "COMPANY_ADDRESS": "Voorbeeldstraat 1\n1011 AA Amsterdam",
    "COMPANY_IBAN": "NL91ABNA0417164300",
    "COMPANY_PHONE": "+31201234567",
    "PAYMENT_LINK": "https://pay.example.invalid/{customer_id}?ref={message_id}&amount={amount_cents}",
    "UNSUBSCRIBE_LINK": "https://example.invalid/unsubscribe/{customer_id}",
    "DEFAULT_LANGUAGE": "nl",
    "SMTP_HOST": None,
    "SMTP_PORT": 587,
    "SMTP_SECURITY": "starttls",
    "SMTP_USER": None,
    "SMTP_CA_FILE": None,
    "SMTP_TIMEOUT_S": 10.0,
    "MAIL_FROM": "debiteuren@example.invalid",
    "SMS_WEBHOOK_URL": None,
    "WHATSAPP_WEBHOOK_URL": None,
    "LETTER_WEBHOOK_URL": None,
    "LETTER_DIR": None,
    "WEBHOOK_TIMEOUT_S": 5.0,
    "SECRET_KEY": None,
    "SESSION_COOKIE_SECURE": False,
    "PAGES_SESSION_HOURS": 10.0,
    "REPORT_MAX_AGE_S": 60.0,
}

ENVIRONMENT = {
    "AUDIT_URL": "DATABASE_URL",
    "LEDGER_URL": "KREDO_LEDGER_URL",
    "REDIS_URL": "REDIS_URL",
    "MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI",
    "MODEL_URI": "KREDO_MODEL_URI",
    "POLICY_PATH": "KREDO_POLICY",
    "RELOAD_INTERVAL_S": "KREDO_RELOAD_INTERVAL_S",
    "KEYS_REFRESH_S": "KREDO_KEYS_REFRESH_S",
    "KEY_PEPPER": "KREDO_KEY_PEPPER",
    "AUDIT_RETENTION_DAYS": "KREDO_AUDIT_RETENTION_DAYS",
    "MAX_CONTENT_LENGTH": "KREDO_MAX_BODY_BYTES",
    "EXPERIMENT_NAME": "KREDO_EXPERIMENT",
    "CONTROL_SHARE": "KREDO_CONTROL_SHARE",
    "REPLAY_LEDGER": "KREDO_REPLAY_LEDGER",
    "POLICY_VERSIONS": "KREDO_POLICY_VERSIONS",
    "DATE_HORIZON_DAYS": "KREDO_DATE_HORIZON_DAYS",
    "DEGRADED_MODE": "KREDO_DEGRADED_MODE",
    "RETRY_AFTER_S": "KREDO_RETRY_AFTER_S",
    "REDIS_TIMEOUT_S": "KREDO_REDIS_TIMEOUT_S",
    "STORE_CHECK_INTERVAL_S": "KREDO_STORE_CHECK_INTERVAL_S",
    "CHECKPOINT_INTERVAL_S": "KREDO_CHECKPOINT_INTERVAL_S",
    "INDEX_INTERVAL_S": "KREDO_INDEX_INTERVAL_S",
    "LOCK_TIMEOUT_S": "KREDO_LOCK_TIMEOUT_S",
    **{key: f"KREDO_{key}" for key in (
        "OUTBOX_BATCH", "OUTBOX_THREADS", "OUTBOX_IN_SERVICE", "OUTBOX_LEASE_S", "OUTBOX_INTERVAL_S", "OUTBOX_MAX_ATTEMPTS", "OUTBOX_BACKOFF_S",
        "COMPANY_NAME", "COMPANY_ADDRESS", "COMPANY_IBAN", "COMPANY_PHONE", "PAYMENT_LINK", "UNSUBSCRIBE_LINK",
        "DEFAULT_LANGUAGE", "SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_USER", "SMTP_CA_FILE", "SMTP_TIMEOUT_S",
        "MAIL_FROM", "SMS_WEBHOOK_URL", "WHATSAPP_WEBHOOK_URL", "LETTER_WEBHOOK_URL", "LETTER_DIR",
        "WEBHOOK_TIMEOUT_S")},
    "TEMPLATES_DIR": "KREDO_TEMPLATES",
    "SECRET_KEY": "KREDO_SECRET_KEY",
    "SESSION_COOKIE_SECURE": "KREDO_COOKIE_SECURE",
    "PAGES_SESSION_HOURS": "KREDO_SESSION_HOURS",
    "REPORT_MAX_AGE_S": "KREDO_REPORT_MAX_AGE_S",
}

_PARSE = {"RELOAD_INTERVAL_S": float, "MAX_CONTENT_LENGTH": int, "CONTROL_SHARE": float, "DATE_HORIZON_DAYS": int,
            "RETRY_AFTER_S": int, "REDIS_TIMEOUT_S": float, "STORE_CHECK_INTERVAL_S": float,
            "CHECKPOINT_INTERVAL_S": float,
            "LOCK_TIMEOUT_S": float, "KEYS_REFRESH_S": float, "AUDIT_RETENTION_DAYS": int,
            "OUTBOX_BATCH": int, "OUTBOX_LEASE_S": float, "OUTBOX_INTERVAL_S": float, "OUTBOX_MAX_ATTEMPTS": int, "OUTBOX_THREADS": int,
            "OUTBOX_IN_SERVICE": lambda v: v.strip().lower() in ("1", "true", "yes"),
            "OUTBOX_BACKOFF_S": float, "SMTP_PORT": int, "SMTP_TIMEOUT_S": float, "WEBHOOK_TIMEOUT_S": float,
            "SESSION_COOKIE_SECURE": lambda v: v.strip().lower() in ("1", "true", "yes"), "PAGES_SESSION_HOURS": float,
            "REPORT_MAX_AGE_S": float}


def load(overrides: Mapping[str, Any] | None = None,
         environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The effective configuration: ``DEFAULTS`` < environment < ``overrides``."""
    env = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for key, var in ENVIRONMENT.items():
        if env.get(var):
            config[key] = _PARSE.get(key, str)(env[var])
    config.update(overrides or {})
    if config["DEGRADED_MODE"] not in DEGRADED_MODES:
        raise InvalidInput(f"DEGRADED_MODE must be unset or one of {[m for m in DEGRADED_MODES if m]}, "
                           f"got {config['DEGRADED_MODE']!r}", field="DEGRADED_MODE")
    return config
