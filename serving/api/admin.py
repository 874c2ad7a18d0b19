"""``POST /v1/admin/reload``: check the model alias and the policy file now.

A model or policy that fails to load is refused (409, the reasons in the
problem document); the old one keeps serving. With ``ADMIN_TOKEN`` set, an
``Authorization: Bearer <token>`` header is required.
"""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, jsonify, request

from domain.errors import KredoError
from serving.problems import Unauthorized
from serving.runtime import get_runtime

bp = Blueprint("admin", __name__, url_prefix="/v1/admin")


class ReloadRefused(KredoError):
    code = "reload_refused"
    title = "Reload refused; the previous version keeps serving"
    status = 409


@bp.before_request
def _authorise() -> None:
    token = current_app.config.get("ADMIN_TOKEN")
    if token and not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
        raise Unauthorized("admin endpoints need 'Authorization: Bearer <KREDO_ADMIN_TOKEN>'",
                           field="Authorization")


@bp.post("/reload")
def reload():  # noqa: ANN201
    report = get_runtime().reload()
    if report.refused:
        raise ReloadRefused("; ".join(f"{part} refused: {exc}" for part, exc in report.refused.items()),
                            field=next(iter(report.refused)),
                            extra={"report": report.to_dict(),
                                   "errors": {part: exc.to_dict() for part, exc in report.refused.items()}})
    return jsonify(report.to_dict())
