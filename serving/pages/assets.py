"""The pages' static files (the vendored htmx, the stylesheet), served by the app itself.

Why a route of our own and not Flask's ``static_folder``: every route declares who
may call it (``serving.access``), and these are open, so the login page has its
style. They change only with a release, so unlike the API's answers a browser may
keep them for an hour.
"""
from __future__ import annotations

from pathlib import Path

from flask import send_from_directory
from werkzeug.wrappers import Response

from serving.access import public
from serving.pages.layout import blueprint

STATIC = Path(__file__).parent / "static"
bp = blueprint("pages_assets", __name__)


@bp.get("/static/<path:name>")
@public
def static(name: str) -> Response:
    answer = send_from_directory(STATIC, name, max_age=3600)
    answer.headers["Cache-Control"] = "public, max-age=3600"
    return answer
