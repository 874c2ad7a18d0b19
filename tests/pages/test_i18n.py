"""English and Dutch: the choice is remembered (a cookie, before and after signing in), the browser's
preference is the default, and the Dutch catalog has every string of the pages, compiled."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from serving.pages import i18n
from tests.support.pages import shot

ROOT = Path(__file__).resolve().parents[2]


def _extracted(tmp_path: Path) -> set[str]:
    pot = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F", "serving/pages/babel.cfg",
                    "-k", "_l", "-o", str(pot), "--no-location", "."], cwd=ROOT, check=True, timeout=120)
    return {m.id for m in read_po(io.BytesIO(pot.read_bytes())) if m.id}


def test_the_dutch_catalog_translates_every_string_and_its_mo_is_compiled(tmp_path: Path) -> None:
    folder = i18n.TRANSLATIONS / "nl" / "LC_MESSAGES"
    po = read_po(io.BytesIO((folder / "messages.po").read_bytes()), locale="nl")
    mo = read_mo(io.BytesIO((folder / "messages.mo").read_bytes()))
    wanted = _extracted(tmp_path)
    assert wanted and wanted <= {m.id for m in po}, f"not in the catalog (make translations): {wanted - set(po)}"
    untranslated = sorted(str(m.id) for m in po if m.id and not m.string)
    assert not untranslated, untranslated
    assert {m.id: m.string for m in po if m.id} == {m.id: m.string for m in mo if m.id}, "make translations"


def test_the_language_follows_the_browser_then_the_choice_which_is_remembered(signed_in, people) -> None:  # noqa
    page = signed_in(None, locale="nl-NL")
    page.goto("/login")
    assert page.locator("h1").inner_text() == "Aanmelden" and page.locator("html").get_attribute("lang") == "nl"
    page.click("button[value=en]")
    assert page.locator("h1").inner_text() == "Sign in"
    page.fill("#key", people["credit_manager"])
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/")
    assert page.locator("header .who button").inner_text() == "Sign out"  # the choice outlived signing in
    page.click("button[value=nl]")
    assert page.locator("header .who button").inner_text() == "Afmelden"
    assert "credit manager" in page.locator("header .who span").inner_text()
    shot(page, "home-nl")
    page.goto("/")
    assert page.locator("h1").inner_text().startswith("Welkom")
