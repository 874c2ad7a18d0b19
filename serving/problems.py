"""Every error answer is ``application/problem+json``, produced in this one place.

Why: clients (webshops, ERPs, dunning systems) must be able to tell *what* went
wrong from a stable ``code`` and the offending ``field``, whatever layer
noticed: our own ``domain.errors.KredoError`` values, pydantic validation
errors, or Werkzeug's HTTP errors (malformed JSON, unknown route, wrong method,
oversized body, wrong content type). Nothing the client sends may end in a 500:
an unexpected exception is still a problem document (500, code ``internal``)
and is logged with its traceback for us, never shown to the client.

Every 5xx body (an unexpected exception, a ``KredoError`` of status 5xx such as
an unwritable audit store, a Werkzeug 5xx) is the same generic document with
its stable ``code`` and an ``error_id`` (``err_`` + 32 hex): the exception is
logged with that id, so support finds the log line, and the body never carries
a host, port, path or exception text.

Every 503 (a store down or being re-warmed, a database lock not granted within
the lock timeout, the audit log unwritable, no model loaded yet) carries
``Retry-After`` (``RETRY_AFTER_S``): the condition is temporary, and the client
should retry or fall back, not report a bug. A database or Redis error that no
layer translated (``OperationalError``, ``ConnectionError``) is such a 503 too,
never a 500.

Every 4xx body goes through :func:`redact` as well: a refused reload (409) or a
policy error quotes the loader's words, which name files, tracking-server URLs
and database hosts; the client sees ``sqlite://…``, ``…/policy.yaml`` and
``<host>`` instead (``/readyz``'s details are redacted the same way).
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any

import redis.exceptions
import sqlalchemy.exc
from flask import Flask, Response, current_app
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from domain.errors import InvalidInput, KredoError

PROBLEM_JSON = "application/problem+json"

_HTTP_CODES = {400: "malformed_request", 404: "not_found", 405: "method_not_allowed",
               413: "body_too_large", 415: "unsupported_media_type", 429: "too_many_requests"}


class MalformedJson(KredoError):
    code = "malformed_json"
    title = "Malformed JSON"
    status = 400


class UnsupportedMediaType(KredoError):
    code = "unsupported_media_type"
    title = "Unsupported media type"
    status = 415


class Unauthorized(KredoError):
    code = "unauthorized"
    title = "Unauthorized"
    status = 401
    headers = {"WWW-Authenticate": 'Bearer realm="kredo"'}


class Forbidden(KredoError):
    code = "forbidden"
    title = "Forbidden"
    status = 403


_PROBLEM_TYPES = "https://kredo.dev/problems/"
_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://[^\s'\"<>()\[\],]*")
_PATH = re.compile(r"(?<![\w.:/~-])(?:~|\.\.?)?(?:/[^\s/'\"<>()\[\],;:]+)+/?")
_ADDRESS = re.compile(r"\b(?:\d{1,3}(?:\.\d{1,3}){3}|localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+):\d{1,5}\b"
                      r"|\b\d{1,3}(?:\.\d{1,3}){3}\b"
                      r"|(?<=server at )\"[^\"]*\"|(?<=host )\"[^\"]*\"|(?<=host name )\"[^\"]*\"")  # libpq's words for the host


def redact(value: Any) -> Any:  # noqa: ANN401 - any JSON value
    """``value`` with every URL, file path and host address in its strings blanked (``problems`` types kept).

    A URL keeps its scheme (``postgresql+psycopg://…``), a path its last part
    (``…/policy.yaml``), an address becomes ``<host>``: the reader still sees
    which store or file, the client learns no host, port or directory.
    """
    if isinstance(value, str):
        if value.startswith(_PROBLEM_TYPES):
            return value
        value = _URL.sub(lambda m: f"{m.group(1)}://…", value)
        value = _PATH.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], value)
        return _ADDRESS.sub("<host>", value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def problem(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A problem document; its strings redacted (:func:`redact`)."""
    return Response(json.dumps(redact(body)), status=body["status"], mimetype=PROBLEM_JSON, headers=headers)


def server_error(exc: BaseException, status: int = 500, code: str = "internal",
                 title: str = "Internal error") -> Response:
    """The generic 5xx document; ``exc`` (with its traceback) goes to the log under the document's ``error_id``."""
    error_id = f"err_{uuid.uuid4().hex}"
    current_app.logger.error("error_id=%s status=%s code=%s: %s", error_id, status, code, type(exc).__name__,
                             exc_info=exc)
    headers = {"Retry-After": str(current_app.config.get("RETRY_AFTER_S", 2))} if status == 503 else None
    body = {"type": f"https://kredo.dev/problems/{code}", "title": title, "status": status,
            "detail": f"the service could not answer; quote error_id {error_id} to find its log line",
            "code": code, "error_id": error_id}
    return _as_page(body) or problem(body, headers)


#: ``app.extensions`` key of the pages' renderer of a problem (``serving.pages``): a page route's error is
#: answered as a page for a browser, from the same (redacted) document; every other route's as JSON.
PAGE_ERRORS = "kredo.page_errors"


def _as_page(body: dict[str, Any]) -> Response | None:
    render = current_app.extensions.get(PAGE_ERRORS)
    return None if render is None else render(redact(body))


def from_validation(exc: ValidationError) -> KredoError:
    """The first pydantic error names the field; all of them travel in ``errors``."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return MalformedJson(f"request body is not valid JSON: {first['msg']}")
    listed = [{"field": _field_of(e, exc), "type": e["type"], "detail": e["msg"]} for e in errors[:20]]
    return InvalidInput(first["msg"], field=listed[0]["field"], extra={"errors": listed})


def _field_of(error: Any, exc: ValidationError) -> str | None:
    """The dotted field of one error; a missing or unknown tag of a tagged union names the tag's field
    (``outcome``), and a field of one variant reads ``<variant>.<field>`` (``promise_to_pay.promise``)."""
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        full = next(e for e in exc.errors(include_url=False) if e["loc"] == error["loc"])
        return ".".join([*map(str, error["loc"]), str(full["ctx"]["discriminator"]).strip("'")])
    return ".".join(str(part) for part in error["loc"]) or None


def _from_http(exc: HTTPException) -> dict[str, Any]:
    status = exc.code or 500
    code = _HTTP_CODES.get(status, f"http_{status}")
    return {"type": f"https://kredo.dev/problems/{code}", "title": exc.name, "status": status,
            "detail": exc.description or exc.name, "code": code}


def init_app(app: Flask) -> None:
    """Register the one mapping from exceptions to problem documents."""

    @app.errorhandler(KredoError)
    def _kredo(exc: KredoError) -> Response:
        if exc.status >= 500:
            return server_error(exc, exc.status, exc.code, exc.title)
        return _as_page(exc.to_dict()) or problem(exc.to_dict(), getattr(exc, "headers", None))

    @app.errorhandler(ValidationError)
    def _pydantic(exc: ValidationError) -> Response:
        body = from_validation(exc).to_dict()
        return _as_page(body) or problem(body)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        if (exc.code or 500) >= 500:
            return server_error(exc, exc.code or 500, "internal" if exc.code == 500 else f"http_{exc.code}", exc.name)
        headers = {"Allow": ", ".join(exc.valid_methods)} if getattr(exc, "valid_methods", None) else None
        body = _from_http(exc)
        return _as_page(body) or problem(body, headers)

    @app.errorhandler(sqlalchemy.exc.OperationalError)
    @app.errorhandler(sqlalchemy.exc.TimeoutError)
    def _database(exc: Exception) -> Response:
        return server_error(exc, 503, "database_unavailable", "Database unavailable or busy")

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    def _redis(exc: Exception) -> Response:
        return server_error(exc, 503, "store_unavailable", "Online feature store unavailable")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        return server_error(exc)
