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

from typing import Any

from flask import Flask, request
from flask_babel import Babel, format_currency, format_decimal, format_percent, get_locale
from flask_babel import gettext as _

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
    app.jinja_env.filters.update(money=money, num=num, pct=pct, days=days, cell=cell)


def money(eur: float | None) -> str:
    """EUR as the reader writes it: ``€1,234.50`` in English, ``€ 1.234,50`` in Dutch."""
    return "–" if eur is None else format_currency(eur, "EUR")


def num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else format_decimal(round(value, digits))


def pct(rate: float | None) -> str:
    """A rate (0.25) or, with ``points``, a percentage already (25.0) as ``25.0%``."""
    return "–" if rate is None else format_percent(rate, "#,##0.0%")


def days(value: float | None) -> str:
    return "–" if value is None else _("%(n)s days", n=num(value))


def cell(value: Any, kind: str) -> str:  # noqa: ANN401 - any table cell
    """A table cell by its column's kind (``exports.Column``)."""
    if value is None:
        return "–"
    if kind == "money":
        return money(value)
    if kind == "pct":
        return pct(value)
    if kind == "days":
        return num(value, 0)
    if kind == "int":
        return format_decimal(value)
    if kind == "num":
        return num(value, 2) if isinstance(value, int | float) else str(value)
    if kind == "date":
        return str(value)[:10]
    if kind == "bool":
        return _("yes") if value else _("no")
    return str(value)
