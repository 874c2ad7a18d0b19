"""Who may call what: API keys with roles, checked before every view, declared at the view.

Declaring, the one mechanism every route of the app uses (put it *under* the route decorator)::

    from serving.access import public, requires

    @bp.post("/dunning/runs")
    @requires("dunning")          # callers with a key of one of these roles
    def start_run(): ...

    @bp.get("/healthz")
    @public                       # anyone, no key
    def healthz(): ...

``create_app`` refuses to start while a rule's view carries no declaration
(``UndeclaredRoute``), and ``tests/serving/test_access.py`` requests every rule x
method x role of the URL map and checks each answer against the declaration; the
roles table in ``docs/api.md`` is checked against the same declarations. Roles
are ``domain.vocabulary.ROLES``; ``admin`` is one role among them, not a
superuser (an operator's key cannot read audit records).

Sending a key: ``Authorization: Bearer kredo_<id>_<secret>`` is the only place a
key is read (no ``X-API-Key``, no query parameter: one header, the one proxies
and log formats already treat as a credential). 401 ``unauthorized`` (with
``WWW-Authenticate: Bearer``) when it is missing, malformed, unknown, revoked or
wrong, all with the same words; 403 ``forbidden`` when the key's role is not
declared for the route (the detail names the roles that are). ``OPTIONS`` (it
only lists the methods) and unknown routes or methods (404/405) need no key.

People on the pages (``serving/pages``): a page route is declared the same way, with people roles
(``domain.vocabulary.PEOPLE_ROLES``), and its blueprint is marked with :func:`people_pages`. There the
credential is the signed session cookie that ``/login`` sets after checking the person's key (the
key's id, never its secret, and the time of signing in); a Bearer header counts for nothing, as a
cookie counts for nothing on the API. Not signed in (or the key since revoked, or the session older
than ``PAGES_SESSION_HOURS``): :class:`SignInRequired`, which the pages answer with a redirect to
``/login``; a role not declared: :class:`PageForbidden`, a 403 page. Every unsafe method (a form, an
htmx call) carries the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``),
else :class:`CsrfMismatch` (403): the SameSite=Strict cookie is one guard, the token the second.

Speed and revocation: each worker holds the ``api_keys`` table in memory
(:class:`KeyRing`) and reads it again on the first request that finds its copy
older than ``KEYS_REFRESH_S`` (default 5 s): one small SELECT per worker per
interval. A check is a dict lookup, one HMAC-SHA256 and a constant-time compare
(4-8 us measured at load average 5-7, the whole before-request check ~30 us;
``tests/serving/test_access.py`` prints both and holds them under 50 and 100 us). So a key
made or revoked with ``kredo keys`` takes effect in every gunicorn worker within
``KEYS_REFRESH_S``; a key made through a ring itself (tests) at once in that
worker. A ring that cannot read the table refuses with a 503 rather than trust
a copy older than that bound.
"""
from __future__ import annotations

import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, g, request, session
from sqlalchemy.engine import Engine
from werkzeug.routing import Rule

from domain.errors import KredoError
from domain.vocabulary import ROLES
from ledger.keys import ApiKey, IssuedKey, create_key, list_keys, matches, parse_token, pepper_bytes
from serving.problems import Forbidden, Unauthorized

F = TypeVar("F", bound=Callable)
_ATTR = "kredo_access"
_PEOPLE = "kredo_people"
#: methods Flask answers itself (HEAD follows GET's declaration)
OPEN_METHODS = frozenset({"OPTIONS"})
#: methods that change nothing: no CSRF token needed
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: the session's fields: who signed in (a key id), when (epoch seconds), the CSRF token
SESSION_KEY_ID, SESSION_AT, SESSION_CSRF = "key_id", "at", "csrf"


class UndeclaredRoute(RuntimeError):
    """A route whose view says neither ``@requires(...)`` nor ``@public``: the app does not start."""


class KeysUnavailable(KredoError):
    code = "keys_unavailable"
    title = "Key store unavailable"
    status = 503


class SignInRequired(KredoError):
    """A page route without a live signed-in person: the pages redirect to ``/login``."""

    code = "sign_in_required"
    title = "Sign in"
    status = 401


class PageForbidden(Forbidden):
    """A signed-in person whose role the page does not admit: the pages answer a 403 page."""


class CsrfMismatch(Forbidden):
    code = "csrf_mismatch"
    title = "Form expired"


@dataclass(frozen=True)
class Declaration:
    """The roles a view admits; none: the view is public."""

    roles: frozenset[str]

    @property
    def public(self) -> bool:
        return not self.roles


def requires(*roles: str) -> Callable[[F], F]:
    """Admit callers holding a key of one of ``roles`` (a typo fails at import)."""
    unknown = sorted(set(roles) - set(ROLES))
    if not roles or unknown:
        raise ValueError(f"requires() takes roles from {ROLES}; got {roles}")

    def mark(view: F) -> F:
        setattr(view, _ATTR, Declaration(frozenset(roles)))
        return view

    return mark


def public(view: F) -> F:
    """Admit anyone, no key."""
    setattr(view, _ATTR, Declaration(frozenset()))
    return view


def declaration_of(view: Callable) -> Declaration | None:
    """The declaration ``@requires``/``@public`` put on ``view`` (None: undeclared)."""
    return getattr(view, _ATTR, None)


def people_pages(bp: Blueprint) -> Blueprint:
    """Mark ``bp``'s routes as pages for people: a session cookie, not a Bearer key, is their credential."""
    setattr(bp, _PEOPLE, True)
    return bp


def is_page(app: Flask, endpoint: str) -> bool:
    """Whether ``endpoint`` belongs to a blueprint marked with :func:`people_pages`."""
    return getattr(app.blueprints.get(endpoint.rpartition(".")[0]), _PEOPLE, False)


def declarations(app: Flask) -> list[tuple[Rule, Declaration]]:
    """Every rule of the URL map with its view's declaration; ``UndeclaredRoute`` names those without one."""
    found = [(rule, getattr(app.view_functions[rule.endpoint], _ATTR, None)) for rule in app.url_map.iter_rules()]
    missing = sorted(f"{rule.rule} ({rule.endpoint})" for rule, decl in found if decl is None)
    if missing:
        raise UndeclaredRoute("routes without @requires(...) or @public (serving/access.py): " + ", ".join(missing))
    return found  # type: ignore[return-value]


def declaration_at(app: Flask, path: str, method: str) -> Declaration:
    """The declaration of the view answering ``method path`` (an OpenAPI path: ``{name}`` stands for any value)."""
    endpoint, _ = app.url_map.bind("kredo.invalid").match(re.sub(r"{\w+}", "x", path), method.upper())
    return getattr(app.view_functions[endpoint], _ATTR)


class KeyRing:
    """One worker's copy of the key table, at most ``refresh_s`` old (see the module docstring)."""

    def __init__(self, engine: Engine, pepper: bytes, refresh_s: float) -> None:
        self.engine, self.pepper, self.refresh_s = engine, pepper, refresh_s
        self._keys: dict[str, ApiKey] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def authenticate(self, token: str) -> ApiKey | None:
        """The live key ``token`` is, or None (malformed, unknown, revoked or a wrong secret)."""
        parsed = parse_token(token)
        if parsed is None:
            return None
        key = self._table().get(parsed[0])
        return key if key is not None and matches(key, parsed[1], self.pepper) else None

    def live(self, key_id: str) -> ApiKey | None:
        """The key ``key_id`` while it is not revoked (a session names its key by id)."""
        return self._table().get(key_id)

    def create(self, role: str, name: str | None = None) -> IssuedKey:
        """Make a key as ``kredo keys create`` does; this ring knows it at once."""
        issued = create_key(self.engine, role, name, self.pepper)
        with self._lock:  # after a refresh that read the table before this key: else it would keep it unknown
            self._read_at = float("-inf")
        return issued

    def _table(self) -> dict[str, ApiKey]:
        if time.monotonic() - self._read_at >= self.refresh_s:
            with self._lock:
                started = time.monotonic()  # a revocation committed while reading is caught next time
                if started - self._read_at >= self.refresh_s:
                    try:
                        keys = list_keys(self.engine)
                    except sa.exc.SQLAlchemyError as exc:
                        raise KeysUnavailable("the key store cannot be read") from exc
                    self._keys = {k.id: k for k in keys if not k.revoked}
                    self._read_at = started
        return self._keys


def get_ring(app: Flask | None = None) -> KeyRing:
    return (app or current_app).extensions["kredo.keys"]


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def caller() -> ApiKey | None:
    """This request's key: the one checked for a role, or on a public route the one sent (a Bearer key on
    the API, the signed-in person's on a page), if valid."""
    if "caller" not in g:
        try:
            if request.endpoint and is_page(current_app, request.endpoint):
                g.caller = person()
            else:
                token = _bearer()
                g.caller = None if token is None else get_ring().authenticate(token)
        except KeysUnavailable:
            g.caller = None
    return g.caller


def person() -> ApiKey | None:
    """The key of the person signed in with this request's session: live, and signed in within
    ``PAGES_SESSION_HOURS``; else None."""
    key_id, at = session.get(SESSION_KEY_ID), session.get(SESSION_AT)
    if not isinstance(key_id, str) or not isinstance(at, int | float):
        return None
    if time.time() - at > float(current_app.config["PAGES_SESSION_HOURS"]) * 3600:
        return None
    return get_ring().live(key_id)


def csrf_token() -> str:
    """The session's CSRF token, made on first use; every page form sends it back."""
    if not isinstance(session.get(SESSION_CSRF), str):
        session[SESSION_CSRF] = secrets.token_urlsafe(32)
    return session[SESSION_CSRF]


def _check_csrf() -> None:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get(SESSION_CSRF)
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfMismatch("the form's token does not match this session; reload the page and send it again",
                           field="csrf_token")


def _enforce_person(declared: Declaration) -> None:
    key = person()
    if not declared.public:
        if key is None:
            raise SignInRequired("sign in to see this page", field="session")
        if key.role not in declared.roles:
            roles = sorted(declared.roles, key=ROLES.index)
            raise PageForbidden(f"the role {key.role!r} may not see this page; it needs {' or '.join(roles)}",
                                field="session", extra={"roles": roles})
    if request.method not in SAFE_METHODS:
        _check_csrf()
    g.caller = key


def _enforce() -> None:
    if request.url_rule is None or request.method in OPEN_METHODS:
        return  # 404/405 answer as such; OPTIONS only lists methods
    declared = getattr(current_app.view_functions[request.endpoint], _ATTR, None)
    if declared is None:  # create_app refuses such an app; a route added later is closed, not open
        raise Forbidden("this route declares no role", field="Authorization")
    if is_page(current_app, request.endpoint):
        _enforce_person(declared)
        return
    if declared.public:
        return
    token = _bearer()
    key = None if token is None else get_ring().authenticate(token)
    if key is None:
        raise Unauthorized("send 'Authorization: Bearer <key>' with a live key (kredo keys create --role ROLE); "
                           "this one is missing, malformed, unknown, revoked or wrong", field="Authorization")
    if key.role not in declared.roles:
        roles = sorted(declared.roles, key=ROLES.index)
        raise Forbidden(f"a key of role {key.role!r} may not call this; it needs {' or '.join(roles)}",
                        field="Authorization", extra={"roles": roles})
    g.caller = key


def init_app(app: Flask, engine: Engine) -> KeyRing:
    """Check every route's declaration (``UndeclaredRoute`` otherwise) and guard every request."""
    declarations(app)
    ring = KeyRing(engine, pepper_bytes(app.config["KEY_PEPPER"]), float(app.config["KEYS_REFRESH_S"]))
    app.extensions["kredo.keys"] = ring
    app.before_request(_enforce)
    return ring
