"""English and Dutch: the person's choice (a cookie), else the browser's preference, else English.

Why a cookie and not the session: the choice holds before signing in (the login
page is translated too) and survives signing out. The catalogs are
``serving/pages/translations/<lang>/LC_MESSAGES/messages.po``, compiled to the
``.mo`` beside them (``make translations`` extracts, updates and compiles;
``tests/pages/test_i18n.py`` fails when a catalog misses a string of the pages
or a ``.mo`` is older than its ``.po``).
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask, request
from flask_babel import Babel, get_locale

#: The pages' languages; the first is the fallback.
LANGUAGES = ("en", "nl")
LANGUAGE_NAMES = {"en": "English", "nl": "Nederlands"}
COOKIE = "kredo_lang"
TRANSLATIONS = Path(__file__).parent / "translations"


def chosen_language() -> str:
    """This request's language: the cookie's, else the best of ``Accept-Language``, else English."""
    choice = request.cookies.get(COOKIE)
    if choice in LANGUAGES:
        return choice
    return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    Babel(app, locale_selector=chosen_language)
    app.jinja_env.globals["get_locale"] = get_locale
