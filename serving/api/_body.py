"""Reading a JSON body into a schema: content type, size and validation, one way for all endpoints."""
from __future__ import annotations

import hashlib
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel

from serving.audit import canonical
from serving.problems import UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M]) -> M:
    """The validated body; 415 for a non-JSON content type, 413 past ``MAX_CONTENT_LENGTH``.

    pydantic parses the raw bytes itself (no intermediate ``json.loads``), so a
    malformed body, a wrong type and an out-of-range value are all caught here.
    """
    mimetype = request.mimetype
    if mimetype != "application/json" and not (mimetype.startswith("application/") and mimetype.endswith("+json")):
        raise UnsupportedMediaType(f"send 'Content-Type: application/json', not {mimetype or 'nothing'!r}",
                                   field="Content-Type")
    return model.model_validate_json(request.get_data(cache=False))


def request_digest(request: dict[str, Any]) -> str:
    """SHA-256 of the validated request (as JSON data): the same request_id must come with the same request."""
    return hashlib.sha256(canonical(request).encode()).hexdigest()
