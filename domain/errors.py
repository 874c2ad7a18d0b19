"""Errors as values with codes.

Why: every layer (CLI, HTTP, batch jobs) must tell the caller *what* went wrong
in a machine-readable way. Errors carry a stable ``code``, a human ``detail``
and, where one input is to blame, the offending ``field``. ``serving`` maps
them to ``application/problem+json`` in one place; this module never imports
Flask.

Example::

    raise InvalidInput("amount must be positive", field="order.amount")
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any


@dataclass
class KredoError(Exception):
    """Base class: ``code`` is stable, ``detail`` is for people."""

    detail: str
    field: str | None = None
    extra: dict[str, Any] = dc_field(default_factory=dict)

    code = "kredo_error"
    title = "Kredo error"
    status = 500

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        return f"{self.code}{where}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        """The problem document body (RFC 9457 members plus ``code``/``field``)."""
        body: dict[str, Any] = {
            "type": f"https://kredo.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.field is not None:
            body["field"] = self.field
        body.update(self.extra)
        return body


class InvalidInput(KredoError):
    """The caller sent something malformed or out of range."""

    code = "invalid_input"
    title = "Invalid input"
    status = 422


class NotFound(KredoError):
    """An id that does not exist."""

    code = "not_found"
    title = "Not found"
    status = 404


class Conflict(KredoError):
    """The request contradicts state (e.g. an out-of-order event)."""

    code = "conflict"
    title = "Conflict"
    status = 409


class Unavailable(KredoError):
    """A part the answer needs is down or busy for now (a store, a lock): retry later.

    Why a class of its own: the client did nothing wrong and the service is not
    broken for good; the HTTP layer answers 503 with ``Retry-After`` so a webshop
    retries (or falls back) instead of reporting a bug.
    """

    code = "unavailable"
    title = "Temporarily unavailable"
    status = 503


class StoreUnavailable(Unavailable):
    """The online feature store cannot be read or written (down, timed out, or being re-warmed)."""

    code = "store_unavailable"
    title = "Online feature store unavailable"


class ModelFault(Unavailable):
    """The served model failed on a request (an exception or a score that is not finite).

    A server-side fault, never the client's: the decision is not given (503), the
    model's version is named in the log, and a reload to a sound version fixes it.
    """

    code = "model_fault"
    title = "The served model could not score this request"


class LedgerError(KredoError):
    """A ledger file breaks the data contract; names the file, row and column."""

    code = "ledger_invalid"
    title = "Ledger file refused"
    status = 422


class PolicyError(KredoError):
    """A policy file fails validation; ``extra`` holds file and line."""

    code = "policy_invalid"
    title = "Policy refused"
    status = 422


class ModelError(KredoError):
    """A model artifact is corrupt or its signature does not fit the features."""

    code = "model_invalid"
    title = "Model refused"
    status = 422


class StatementError(KredoError):
    """A bank statement file is malformed; ``extra`` names the file, line and element.

    Why: a statement half-read closes some invoices and silently drops the
    rest; the whole file is refused instead, with the place to look.
    """

    code = "statement_invalid"
    title = "Bank statement refused"
    status = 422
