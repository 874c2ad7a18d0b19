"""What every page shares: its blueprint, the navigation by role, the page's security headers, rendering.

Why: a page group is one module with one blueprint made by :func:`blueprint`, so
each page is marked as a page for people (``serving.access.people_pages``: the
session cookie is its credential) and carries the pages' ``Content-Security-Policy``
(scripts, styles and images from this origin only: the vendored htmx, the one
stylesheet, server-made SVG), without each module repeating it. The navigation
is not a second list of who may see what: an entry is shown to a person when the
``@requires`` of its view admits their role.

Adding a page group (the analyst's models, experiments and policies pages do
this)::

    # serving/pages/models.py
    bp = blueprint("pages_models", __name__)

    @bp.get("/models")
    @requires("analyst")
    def models() -> str:
        return render("pages/models.html", title=_("Models"))

then add the module to ``serving.pages.GROUPS`` and, for a menu entry, a row to :data:`NAV`.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import lazy_gettext as _l

from domain.vocabulary import ROLES
from serving.access import caller, declaration_of, people_pages

#: The pages' policy: nothing from elsewhere, no inline script or style, no framing, forms post here only.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
TEMPLATES = "templates"

#: The roles as people read them.
ROLE_NAMES = {"checkout": _l("checkout system"), "dunning": _l("dunning system"), "collector": _l("collector"),
              "credit_manager": _l("credit manager"), "analyst": _l("analyst"), "auditor": _l("auditor"),
              "admin": _l("administrator")}

#: The menu, in order: (endpoint, label). Shown to a person when the endpoint's view admits their role.
NAV: list[tuple[str, Any]] = [
    ("pages_home.home", _l("Home")),
    ("pages_dashboard.dashboard", _l("Receivables")),
    ("pages_worklist.worklist_page", _l("Worklist")),
    ("pages_decisions.search", _l("Decisions")),
]


def blueprint(name: str, import_name: str) -> Blueprint:
    """A page group's blueprint: marked as pages for people, templates from ``serving/pages/templates``."""
    bp = people_pages(Blueprint(name, import_name, template_folder=TEMPLATES))
    bp.after_request(_page_headers)
    return bp


def _page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    return response


def nav_for(role: str | None) -> list[tuple[str, Any]]:
    """The menu entries ``role`` may open (none when nobody is signed in)."""
    if role is None:
        return []
    views = current_app.view_functions
    return [(endpoint, label) for endpoint, label in NAV
            if endpoint in views and role in _roles_of(views[endpoint])]


def _roles_of(view: Any) -> frozenset[str]:  # noqa: ANN401 - a view function
    declared = declaration_of(view)
    return frozenset(ROLES) if declared is None or declared.public else declared.roles


def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:  # noqa: ANN401
    """``template`` with the layout's context (the signed-in person, their menu)."""
    who = caller()
    return render_template(template, person=who, nav=nav_for(who.role if who else None), **context), status


def url_with(path: str, **args: Any) -> str:  # noqa: ANN401 - query values
    """``path`` with the query ``args`` that are set (None and empty strings left out)."""
    query = urlencode({k: v for k, v in args.items() if v not in (None, "")})
    return f"{path}?{query}" if query else path


def export_url(**changes: Any) -> str:  # noqa: ANN401 - query values
    """This page's URL with ``changes`` to its query (the CSV and PDF links)."""
    return url_with(request.path, **{**request.args.to_dict(), **changes})
