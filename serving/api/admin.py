"""``POST /v1/admin/reload``: check the model alias and the policy file now (role ``admin``).

A model or policy that fails to load is refused (409, the reasons in the
problem document, with file paths and URLs redacted by ``serving.problems``);
the old one keeps serving.
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from domain.errors import KredoError
from serving.access import requires
from serving.runtime import get_runtime

bp = Blueprint("admin", __name__, url_prefix="/v1/admin")


class ReloadRefused(KredoError):
    code = "reload_refused"
    title = "Reload refused; the previous version keeps serving"
    status = 409


@bp.post("/reload")
@requires("admin")
def reload():  # noqa: ANN201
    report = get_runtime().reload()
    if report.refused:
        raise ReloadRefused("; ".join(f"{part} refused: {exc}" for part, exc in report.refused.items()),
                            field=next(iter(report.refused)),
                            extra={"report": report.to_dict(),
                                   "errors": {part: exc.to_dict() for part, exc in report.refused.items()}})
    return jsonify(report.to_dict())
