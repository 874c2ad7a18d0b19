"""The pages people use, served by the same app as the API: Jinja2 templates, vendored htmx, SVG charts.

Why in the same app: the pages read the same ledger views and call the same code
paths as the API (a worklist outcome is the tasks API's ``record_outcome``, a
dashboard figure the one ``GET /v1/reports/...`` answers), under the same
declarations of who may see what (``serving.access``, people roles, a session
cookie instead of a Bearer key). ``init_app`` wires the session cookie, the
languages (``i18n``) and the page groups (:data:`GROUPS`, one blueprint each,
made by ``layout.blueprint``); the refusals of ``serving.access`` are answered
here as pages (a redirect to ``/login``, a 403 page) instead of problem documents.
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from typing import Any

from flask import Flask, current_app, redirect, request
from werkzeug.wrappers import Response

from serving.access import CsrfMismatch, PageForbidden, SignInRequired, csrf_token, is_page
from serving.problems import PAGE_ERRORS
from serving.pages import assets, auth, customers, dashboard, decisions, home, i18n, worklist
from serving.pages.layout import ROLE_NAMES, export_url, render, url_with

#: The marker of one "load again from here" (``_sign_in``).
AGAIN = "kredo_again"
#: The page groups, each a module with a ``bp`` made by ``layout.blueprint``.
GROUPS = (assets, auth, home, dashboard, worklist, customers, decisions)


def init_app(app: Flask) -> None:
    """Register the page groups; call before ``access.init_app`` (it checks their declarations)."""
    app.config.update(SESSION_COOKIE_NAME="kredo_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict",
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=float(app.config["PAGES_SESSION_HOURS"])))
    i18n.init_app(app)
    app.jinja_env.globals.update(csrf_token=csrf_token, languages=i18n.LANGUAGE_NAMES, role_names=ROLE_NAMES,
                                 export_url=export_url, url_with=url_with)
    app.jinja_env.filters["role_name"] = ROLE_NAMES.__getitem__
    for group in GROUPS:
        app.register_blueprint(group.bp)
    app.register_error_handler(SignInRequired, _sign_in)
    app.register_error_handler(PageForbidden, _refused)
    app.register_error_handler(CsrfMismatch, _refused)
    app.extensions[PAGE_ERRORS] = _error_page


def _sign_in(exc: SignInRequired) -> Response:
    target = request.full_path.rstrip("?") if request.method == "GET" else request.path
    cross_site = request.headers.get("Sec-Fetch-Site") == "cross-site"
    if request.method == "GET" and cross_site and AGAIN not in request.cookies:
        # arrived from another site (a link in an e-mail): the SameSite=Strict session cookie was not sent;
        # load the page again from here, which sends it, before concluding that nobody is signed in (once:
        # the Lax marker comes back with a second cross-site arrival, which then goes to /login)
        html, _ = render("pages/again.html", target=target)
        answer = Response(html, status=200, mimetype="text/html")
        answer.set_cookie(AGAIN, "1", max_age=30, httponly=True, samesite="Lax",
                          secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
        return answer
    if request.headers.get("HX-Request"):  # htmx follows this header with a full page load
        answer = Response(status=401)
        answer.headers["HX-Redirect"] = "/login"
        return answer
    return redirect("/login?" + urlencode({"next": target}) if target != "/" else "/login", 303)


def _refused(exc: PageForbidden | CsrfMismatch) -> tuple[str, int]:
    return render("pages/refused.html", status=exc.status, reason=exc)


def _error_page(problem: dict[str, Any]) -> Response | None:
    """A page route's error (an unknown customer, a bad filter, a 5xx with its ``error_id``) as a page;
    None for the API's routes, which answer problem documents."""
    if request.endpoint is None or not is_page(current_app, request.endpoint):
        return None
    html, status = render("pages/error.html", status=problem["status"], problem=problem)
    return Response(html, status=status, mimetype="text/html")
