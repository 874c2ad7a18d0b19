"""Reading a JSON body into a schema: content type, size and validation, one way for all endpoints."""
from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import current_app, request
from pydantic import BaseModel

from domain.contract import DateWindow
from domain.errors import InvalidInput
from serving.audit import canonical
from serving.problems import UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)


def date_window() -> DateWindow:
    """The dates this service accepts: 2000-01-01 to ``DATE_HORIZON_DAYS`` after the server clock."""
    return DateWindow(horizon_days=int(current_app.config["DATE_HORIZON_DAYS"]))


def parse(model: type[M], *alternatives: type[BaseModel], max_bytes: int | None = None) -> M:
    """The validated body; 415 for a non-JSON content type, 413 past ``MAX_CONTENT_LENGTH`` (or ``max_bytes``).

    pydantic parses the raw bytes itself (no intermediate ``json.loads``), so a
    malformed body, a wrong type and an out-of-range value (dates outside the
    configured window included) are all caught here. With ``alternatives``, the
    body is validated by the first model whose required fields it names (e.g.
    next-action by invoice id or with a full body).
    """
    mimetype = request.mimetype
    if mimetype != "application/json" and not (mimetype.startswith("application/") and mimetype.endswith("+json")):
        raise UnsupportedMediaType(f"send 'Content-Type: application/json', not {mimetype or 'nothing'!r}",
                                   field="Content-Type")
    if max_bytes is not None:
        request.max_content_length = max(max_bytes, current_app.config["MAX_CONTENT_LENGTH"] or 0)
    data = request.get_data(cache=False)
    context = {"window": date_window()}
    for other in alternatives:
        keys = _top_level_keys(data)
        required = {name for name, f in other.model_fields.items() if f.is_required()}
        if keys is not None and required <= keys and not keys & (set(model.model_fields) - set(other.model_fields)):
            return other.model_validate_json(data, context=context)  # type: ignore[return-value]
    return model.model_validate_json(data, context=context)


def cursor_parts(raw: str | None, pattern: "re.Pattern[str]") -> tuple[str, str] | None:
    """The two parts of a page cursor this API gave out (``None``: the first page); anything else is a 422."""
    if raw is None:
        return None
    found = pattern.fullmatch(raw)
    if found is None:
        raise InvalidInput("cursor is not one this API gave out (take next_cursor of the previous page)",
                           field="cursor")
    return found.group(1), found.group(2)


def _top_level_keys(data: bytes) -> set[str] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None  # the model's own parse reports the malformed JSON
    return set(value) if isinstance(value, dict) else None


def request_digest(request: dict[str, Any]) -> str:
    """SHA-256 of the validated request (as JSON data): the same request_id must come with the same request."""
    return hashlib.sha256(canonical(request).encode()).hexdigest()


def time_arg(name: str) -> datetime | None:
    """An ISO-8601 date or time query parameter (UTC when it names no zone); absent: None; else a 422."""
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO-8601 date or time", field=name) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
