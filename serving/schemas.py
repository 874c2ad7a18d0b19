"""The HTTP-only schemas: event batches, problem documents, audit records.

Why: the decision requests and answers are the engine's contract and live in
``domain.contract``; what only the HTTP layer speaks is defined here, with the
same strictness, and the OpenAPI document is generated from both.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.contract import Id, Strict

MAX_EVENTS = 1000
#: the body limit of ``POST /v1/events`` (or ``MAX_CONTENT_LENGTH`` if larger): 1,000 events of 2 KB
MAX_EVENTS_BODY_BYTES = MAX_EVENTS * 2048


class Event(BaseModel):
    """One ledger or reminder event; its fields per ``type`` are checked by ``features.events``."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    event_id: Id
    type: Annotated[str, Field(min_length=1, max_length=64)]


class EventsRequest(Strict):
    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS)]


class EventResult(BaseModel):
    event_id: str
    status: Literal["applied", "duplicate", "refused"]
    code: str | None = None
    reason: str | None = None


class EventsResponse(BaseModel):
    results: list[EventResult]
    applied: int
    duplicate: int
    refused: int
    rewards: int


class Problem(BaseModel):
    """RFC 9457 problem document plus a stable ``code`` and the offending ``field``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None


class AuditRecordOut(BaseModel):
    """The full audit record of one decision (inputs, features, model, rules, SHAP, bandit, hashes)."""

    model_config = ConfigDict(extra="allow")

    seq: int
    decision_id: str
    request_id: str
    kind: str
    created_at: str
    prev_hash: str
    hash: str
