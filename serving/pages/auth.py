"""Signing in and out with a personal key, and choosing the language.

Why a key and not a password: people already hold keys of their role
(``kredo keys create --role collector --name alice``), revoked and listed the
same way as machines' keys, so there is one store of credentials and one way to
withdraw one. ``/login`` checks the key once and keeps only its id and the time
in the signed session cookie (HttpOnly, SameSite=Strict, ``SECRET_KEY``); every
later request checks that id against the live key table (``serving.access.person``),
so a revoked key ends its sessions within ``KEYS_REFRESH_S``. A machine's key
(checkout, dunning) does not sign in.
"""
from __future__ import annotations

import time

from flask import current_app, redirect, request, session
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from domain.vocabulary import PEOPLE_ROLES
from serving.access import SESSION_AT, SESSION_KEY_ID, csrf_token, get_ring, public
from serving.pages import i18n
from serving.pages.layout import blueprint, render

bp = blueprint("pages_auth", __name__)


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site (no scheme, no host, no ``//``), else ``default``:
    a ``next`` parameter never sends a person elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@bp.get("/login")
@public
def login() -> tuple[str, int]:
    if not current_app.secret_key:
        return render("pages/login.html", status=503, disabled=True, next=None, error=None)
    csrf_token()
    return render("pages/login.html", next=local_path(request.args.get("next")), error=None, disabled=False)


@bp.post("/login")
@public
def sign_in() -> tuple[str, int] | Response:
    target = local_path(request.form.get("next"))
    key = get_ring().authenticate(request.form.get("key", "").strip())
    if key is None:
        error = _("This key is unknown, revoked or mistyped.")
    elif key.role not in PEOPLE_ROLES:
        error = _("This is a key for a machine (role %(role)s); sign in with your personal key.", role=key.role)
    else:
        session.clear()  # a new session: nothing from before signing in carries over
        session[SESSION_KEY_ID], session[SESSION_AT] = key.id, int(time.time())
        session.permanent = True
        csrf_token()
        return redirect(target, 303)
    return render("pages/login.html", status=422, next=target, error=error, disabled=False)


@bp.post("/logout")
@public
def sign_out() -> Response:
    session.clear()
    return redirect("/login", 303)


@bp.post("/language")
@public
def choose_language() -> Response:
    """Remember the chosen language for a year, then go back to the page it was chosen on."""
    answer = redirect(local_path(request.form.get("next")), 303)
    language = request.form.get("language")
    if language in i18n.LANGUAGES:
        answer.set_cookie(i18n.COOKIE, language, max_age=365 * 86_400, httponly=True, samesite="Strict",
                          secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    return answer
