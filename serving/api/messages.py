"""The outbox, read: ``GET /v1/messages`` (by customer, invoice, channel, status) and ``GET /v1/messages/{id}``.

Why: a credit manager asks "did the reminder go out?", an operator "what is stuck?"
(``status=queued`` with attempts, ``status=failed``: the dead letters) and an
auditor "what did we send, when, rendered with which templates?". Each message
comes with its invoices and its whole history (every try, hold, retry and status,
with the receiver's answer), from the ledger (``ledger.outbox``).

Roles: ``dunning`` and ``auditor`` (declared where roles are enforced).
"""
from __future__ import annotations

import re

from flask import Blueprint, Response, request
from pydantic_core import to_json

from domain.errors import InvalidInput, NotFound
from domain.vocabulary import CHANNELS
from ledger import outbox
from serving.access import requires
from serving.api.book import iso
from serving.runtime import get_runtime
from serving.schemas import MessageItem, MessageOut, MessagePage, MessageStatus

bp = Blueprint("messages", __name__, url_prefix="/v1/messages")
FILTERS = ("customer", "invoice", "channel", "status", "cursor", "limit")
CURSOR = re.compile(r"^[A-Za-z0-9_.:@/+-]{1,200}$")


def message_out(row: dict, history: list[dict]) -> MessageOut:
    return MessageOut(
        id=row["id"], run_id=row["run_id"], customer_id=row["customer_id"], kind=row["kind"], channel=row["channel"],
        tone=row["tone"], status=row["status"], reason=row["reason"], attempts=row["attempts"],
        send_at=iso(row["send_at_us"]), next_attempt_at=iso(row["next_attempt_us"]), status_at=iso(row["status_us"]),
        template_version=row["template_version"], content_digest=row["content_digest"], replaces=row["replaces"],
        items=[MessageItem(invoice_id=i["invoice_id"], decision_id=i["decision_id"], step=i["step"],
                           amount=i["amount_cents"] / 100, lead=bool(i["lead"]),
                           collection_costs=None if i["collection_costs_cents"] is None
                           else i["collection_costs_cents"] / 100) for i in row["items"]],
        history=[MessageStatus(at=iso(h["at_us"]), status=h["status"], attempt=h["attempt"], detail=h["detail"])
                 for h in history])


def _json(model) -> Response:  # noqa: ANN001
    return Response(to_json(model), mimetype="application/json")


def _text(name: str, most: int) -> str | None:
    value = request.args.get(name)
    if value is not None and not 0 < len(value) <= most:
        raise InvalidInput(f"{name} must be 1-{most} characters", field=name)
    return value


@bp.get("")
@requires("dunning", "auditor")
def list_messages() -> Response:
    """Messages by id, filtered by customer, invoice, channel and status; cursor pages."""
    unknown = sorted(set(request.args) - set(FILTERS))
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}", field=unknown[0])
    status, channel = request.args.get("status"), request.args.get("channel")
    if status is not None and status not in outbox.STATUSES:
        raise InvalidInput(f"status must be one of {list(outbox.STATUSES)}", field="status")
    if channel is not None and channel not in CHANNELS:
        raise InvalidInput(f"channel must be one of {list(CHANNELS)}", field="channel")
    cursor = request.args.get("cursor")
    if cursor is not None and not CURSOR.match(cursor):
        raise InvalidInput("cursor must be the next_cursor of a page", field="cursor")
    limit = request.args.get("limit")
    if limit is not None and (not limit.isdigit() or not 1 <= int(limit) <= 500):
        raise InvalidInput("limit must be an integer from 1 to 500", field="limit")
    size = int(limit or 50)
    with get_runtime().book.engine.connect() as conn:
        rows = outbox.search(conn, _text("customer", 128), status, _text("invoice", 128), cursor, size + 1,
                             channel=channel)
        rows, more = rows[:size], len(rows) > size
        history = outbox.history(conn, [r["id"] for r in rows])
    return _json(MessagePage(messages=[message_out(r, history.get(r["id"], [])) for r in rows],
                             next_cursor=rows[-1]["id"] if more else None))


@bp.get("/<path:message_id>")
@requires("dunning", "auditor")
def get_message(message_id: str) -> Response:
    """One message with its invoices and history."""
    with get_runtime().book.engine.connect() as conn:
        found = outbox.search(conn, None, None, None, None, 1, message_id=message_id)
        if not found:
            raise NotFound(f"the outbox has no message {message_id[:80]!r}", field="message_id")
        history = outbox.history(conn, [message_id])
    return _json(message_out(found[0], history.get(message_id, [])))
