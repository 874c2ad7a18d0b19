"""Signing in to the pages with a personal key, in Chromium: each people role, machines refused, the
session cookie's flags, CSRF, sign-out, revocation, and the API still taking Bearer keys only."""
from __future__ import annotations

import pytest

from domain.vocabulary import PEOPLE_ROLES
from ledger.keys import parse_token, revoke_key
from serving.access import get_ring
from tests.support.api import bearer, make_key
from tests.support.pages import csrf_of, shot, sign_in


@pytest.mark.parametrize("role", PEOPLE_ROLES)
def test_each_people_role_signs_in_and_sees_its_home(signed_in, role: str) -> None:
    page = signed_in(role)
    assert page.locator("header .who [data-role]").get_attribute("data-role") == role
    assert page.locator("h1").inner_text().startswith("Welcome, ")
    assert page.locator("header nav a").first.inner_text() == "Home"
    shot(page, f"home-{role}")
    assert page.problems == []  # no CSP violation, no script error: htmx and the stylesheet load from here
    cookie = next(c for c in page.context.cookies() if c["name"] == "kredo_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_nobody_signed_in_is_sent_to_login_and_back(signed_in, people) -> None:  # noqa: ANN001
    page = signed_in(None)
    page.goto("/?tab=1")
    assert page.url.endswith("/login?next=%2F%3Ftab%3D1")
    page.fill("#key", people["auditor"])
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/?tab=1")
    shot(page, "login-returned")


def test_a_machine_key_and_a_wrong_key_do_not_sign_in(signed_in, site) -> None:  # noqa: ANN001
    page = signed_in(None)
    page.goto("/login")
    page.fill("#key", make_key(site.app, "dunning", "dunning-run"))
    page.click("form[action='/login'] button[type=submit]")
    assert "key for a machine" in page.locator(".error").inner_text()
    page.fill("#key", "kredo_000000000000_" + "x" * 43)
    page.click("form[action='/login'] button[type=submit]")
    assert "unknown, revoked or mistyped" in page.locator(".error").inner_text()
    shot(page, "login-refused")
    page.goto("/")
    assert "/login" in page.url


def test_signing_out_ends_the_session(signed_in) -> None:  # noqa: ANN001
    page = signed_in("collector")
    page.click("header .who button")
    page.wait_for_url("**/login")
    page.goto("/")
    assert "/login" in page.url


def test_a_revoked_key_ends_its_sessions(site) -> None:  # noqa: ANN001
    client = site.app.test_client()
    token = make_key(site.app, "credit_manager", "leaver")
    sign_in(client, token)
    assert client.get("/").status_code == 200
    revoke_key(get_ring(site.app).engine, parse_token(token)[0])
    get_ring(site.app).create("analyst", "refresh")  # the ring reads the table again (else within KEYS_REFRESH_S)
    answer = client.get("/")
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"


def test_a_form_without_the_sessions_token_is_refused(site, people) -> None:  # noqa: ANN001
    client = site.app.test_client()
    sign_in(client, people["collector"])
    refused = client.post("/logout", data={"csrf_token": "forged"})
    assert refused.status_code == 403 and refused.mimetype == "text/html" and "expired" in refused.text
    assert client.get("/").status_code == 200  # still signed in
    assert client.post("/logout", data={"csrf_token": csrf_of(client)}).status_code == 303


def test_the_api_takes_bearer_keys_only_and_the_pages_session_cookies_only(site, people) -> None:  # noqa: ANN001
    client = site.app.test_client()
    sign_in(client, people["auditor"])
    assert client.get("/v1/decisions").status_code == 401  # a session is no credential for the API
    assert client.get("/v1/decisions", headers=bearer(people["auditor"])).status_code == 200
    anonymous = site.app.test_client()
    assert anonymous.get("/", headers=bearer(people["auditor"])).status_code == 303  # nor a key for a page


@pytest.mark.parametrize("role", PEOPLE_ROLES)
def test_each_role_opens_every_page_of_its_menu(signed_in, role: str) -> None:
    """The menu is read from the declarations: every entry opens (200), loads nothing from elsewhere and
    raises no script or CSP error."""
    page = signed_in(role)
    links = page.locator("header nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert links[0] == "/"
    for href in links:
        answer = page.goto(href)
        assert answer.status == 200, (role, href)
        shot(page, f"menu-{role}-{href.strip('/') or 'home'}")
    assert page.problems == []


def test_a_link_from_another_site_loads_again_from_here_before_asking_to_sign_in(site, people) -> None:  # noqa
    """The SameSite=Strict cookie is not sent on a navigation from another site: the page loads itself again."""
    client = site.app.test_client()
    sign_in(client, people["collector"])
    arriving = site.app.test_client()  # as the browser sends it from an e-mail: without the cookie
    again = arriving.get("/worklist?owner=x", headers={"Sec-Fetch-Site": "cross-site"})
    assert again.status_code == 200 and 'http-equiv="refresh" content="0; url=/worklist?owner=x"' in again.text
    assert client.get("/worklist?owner=x", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert arriving.get("/worklist", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 303
    twice = arriving.get("/worklist?owner=x", headers={"Sec-Fetch-Site": "cross-site"})  # never a loop
    assert twice.status_code == 303 and twice.headers["Location"].startswith("/login")
