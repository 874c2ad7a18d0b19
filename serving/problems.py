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
"""
from __future__ import annotations

import json
import uuid
from typing import Any

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


def problem(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=body["status"], mimetype=PROBLEM_JSON, headers=headers)


def server_error(exc: BaseException, status: int = 500, code: str = "internal",
                 title: str = "Internal error") -> Response:
    """The generic 5xx document; ``exc`` (with its traceback) goes to the log under the document's ``error_id``."""
    error_id = f"err_{uuid.uuid4().hex}"
    current_app.logger.error("error_id=%s status=%s code=%s: %s", error_id, status, code, type(exc).__name__,
                             exc_info=exc)
    return problem({"type": f"https://kredo.dev/problems/{code}", "title": title, "status": status,
                    "detail": f"the service could not answer; quote error_id {error_id} to find its log line",
                    "code": code, "error_id": error_id})


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
        return problem(exc.to_dict())

    @app.errorhandler(ValidationError)
    def _pydantic(exc: ValidationError) -> Response:
        return problem(from_validation(exc).to_dict())

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        if (exc.code or 500) >= 500:
            return server_error(exc, exc.code or 500, "internal" if exc.code == 500 else f"http_{exc.code}", exc.name)
        headers = {"Allow": ", ".join(exc.valid_methods)} if getattr(exc, "valid_methods", None) else None
        return problem(_from_http(exc), headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        return server_error(exc)
