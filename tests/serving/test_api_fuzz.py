"""Property: nothing a client sends makes the API answer 5xx (hypothesis over every endpoint)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask, request
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from serving.access import is_page
from tests.support.api import CHECKOUT, NEXT_ACTION, Clients, make_app

EVENT = {"event_id": "f-1", "type": "payment_received", "customer_id": "C-1", "invoice_id": "I-1",
         "at": "2026-02-10T10:00:00", "amount": 10.0}
POSTS = {"/v1/decisions/checkout": CHECKOUT, "/v1/decisions/next-action": NEXT_ACTION,
         "/v1/events": {"events": [EVENT]}}
ROLE = {"/v1/decisions/checkout": "checkout", "/v1/decisions/next-action": "dunning", "/v1/events": "dunning"}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=80))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)


def paths_of(value, prefix=()):  # noqa: ANN001, ANN201
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths_of(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths_of(v, (*prefix, i))


@st.composite
def mutated(draw, base: dict):  # noqa: ANN001, ANN201
    """A valid body with one node replaced by arbitrary JSON (or deleted)."""
    body = json.loads(json.dumps(base))
    path = draw(st.sampled_from([p for p in paths_of(body) if p]))
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return body


@pytest.fixture(scope="module")
def fuzz_clients(champion, tmp_path_factory):  # noqa: ANN001, ANN201, F811
    """Clients with the key each endpoint needs, so the fuzzed bodies reach the validation behind the check."""
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    app = make_app(champion, tmp)
    yield Clients(app)
    app.extensions["kredo.runtime"].stop()


def check(response, page: bool = False) -> None:  # noqa: ANN001
    """No 5xx; a 4xx is a problem document with its code, or on a people's page (``page``) the error page
    a browser shows, with the same status."""
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        if page:
            assert response.mimetype == "text/html"
            assert f'data-status="{response.status_code}"' in response.get_data(as_text=True)
        else:
            assert response.mimetype == "application/problem+json"
            assert response.get_json()["code"]


def is_page_route(app: Flask, path: str, method: str) -> bool:
    """Whether ``method path`` reaches a people's page (matched as the app matches it)."""
    with app.test_request_context(path, method=method):
        return request.endpoint is not None and is_page(app, request.endpoint)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(path=st.sampled_from(sorted(POSTS)), data=st.data())
def test_mutated_valid_bodies_never_5xx(fuzz_clients: Clients, path: str, data) -> None:  # noqa: ANN001
    body = data.draw(mutated(POSTS[path]))
    raw = json.dumps(body, allow_nan=True)
    check(getattr(fuzz_clients, ROLE[path]).post(path, data=raw, content_type="application/json"))


@FUZZ
@given(path=st.sampled_from(sorted(POSTS)), body=json_values)
def test_arbitrary_json_never_5xx(fuzz_clients: Clients, path: str, body) -> None:  # noqa: ANN001
    check(getattr(fuzz_clients, ROLE[path]).post(path, data=json.dumps(body, allow_nan=True), content_type="application/json"))


@FUZZ
@given(path=st.sampled_from(sorted(POSTS)), raw=st.binary(max_size=300),
       ctype=st.sampled_from(["application/json", "text/plain", "", "application/x-www-form-urlencoded"]))
def test_arbitrary_bytes_never_5xx(fuzz_clients: Clients, path: str, raw: bytes, ctype: str) -> None:  # noqa: ANN001
    check(getattr(fuzz_clients, ROLE[path]).post(path, data=raw, content_type=ctype))


@FUZZ
@given(tail=st.text(max_size=80), method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
@example(tail="language", method="POST")  # a page's form sent without its CSRF token (CI, stop 22)
def test_arbitrary_paths_and_methods_never_5xx(fuzz_clients: Clients, tail: str, method: str) -> None:
    # percent-encoded as a real client sends it; a leading "//" would make the test client read a host
    path = quote(tail.lstrip("/"), safe="/")
    for prefix in ("/v1/decisions/", "/v1/", "/"):
        page = is_page_route(fuzz_clients.app, prefix + path, method)
        for caller in (fuzz_clients.auditor, fuzz_clients.anonymous):
            check(caller.open(prefix + path, method=method), page)


def test_every_page_route_and_method_answers_its_contract(fuzz_clients: Clients) -> None:
    """The class of the CI finding, deterministically: every people's page route, with its arguments
    filled in, under every method, for a signed-out caller and an API key: a redirect or page, never a
    5xx, and a 4xx is the error page with its status (a form sent without its CSRF token among them)."""
    app = fuzz_clients.app
    rules = [rule for rule in app.url_map.iter_rules() if is_page(app, rule.endpoint)]
    assert len(rules) > 10
    for rule in rules:
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<{argument}>", "x").replace(f"<path:{argument}>", "x")
        path = re.sub(r"<[^>]+>", "x", path)
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            page = is_page_route(app, path, method)
            assert page or method not in rule.methods, (method, path)  # the filled-in path reaches its route
            for caller in (fuzz_clients.auditor, fuzz_clients.anonymous):
                check(caller.open(path, method=method), page)
