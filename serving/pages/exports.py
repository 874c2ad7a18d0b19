"""Tables a page shows, and the same tables as CSV; a whole page as PDF.

Why one table object: a page builds each of its tables once (:class:`Table`),
the template renders it (``pages/_table.html``) and ``?format=csv&table=<name>``
answers the very same rows as CSV, so an export never differs from the screen.
``?format=pdf`` (the dashboard, the customer view) lays the page's own HTML and
SVG out with WeasyPrint; its resources come from the app's static folder only
(``_static_file``: a PDF export fetches nothing from the network).

Example::

    table = Table("ageing", _("Ageing"), [Column("bucket", _("Bucket")), Column("amount", _("Open"), "money")], rows)
    return respond("pages/dashboard.html", [table], pdf=True, title=...)
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import request
from werkzeug.wrappers import Response

from domain.errors import InvalidInput
from serving.pages.assets import STATIC
from serving.pages.layout import render

FORMATS = ("html", "csv", "pdf")
#: the query parameters a page's exports use (not part of the page's own filters)
EXPORT_ARGS = ("format", "table")


@dataclass(frozen=True)
class Column:
    """One column: the row's key, its heading, how to show it (text, money, int, num, days, pct, date, bool),
    and optionally where a cell links to (a function of the row)."""

    key: str
    label: Any
    kind: str = "text"
    href: Callable[[dict[str, Any]], str | None] | None = None


@dataclass(frozen=True)
class Table:
    name: str
    title: Any
    columns: Sequence[Column]
    rows: Sequence[dict[str, Any]]
    note: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def page_args() -> dict[str, str]:
    """The request's query without the export parameters: what a page filters by."""
    return {k: v for k, v in request.args.items() if k not in EXPORT_ARGS}


def export_format() -> str:
    chosen = request.args.get("format", "html")
    if chosen not in FORMATS:
        raise InvalidInput(f"format must be one of {list(FORMATS)}", field="format")
    return chosen


def csv_response(table: Table) -> Response:
    """``table`` as CSV (UTF-8 with a BOM, so spreadsheets read the euro sign): headings, then raw values."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([str(c.label) for c in table.columns])
    for row in table.rows:
        writer.writerow(["" if row.get(c.key) is None else _plain(row.get(c.key)) for c in table.columns])
    answer = Response(out.getvalue(), mimetype="text/csv")
    answer.headers["Content-Disposition"] = f'attachment; filename="kredo-{table.name}.csv"'
    return answer


def _plain(value: Any) -> str:  # noqa: ANN401 - any cell value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}" if value != int(value) or abs(value) >= 1 else f"{value:g}"
    return str(value)


def _static_file(url: str) -> Path:
    """The static file ``url`` names; ``ValueError`` for anything else (no network, no other file)."""
    name = url.split("/static/", 1)[-1] if "/static/" in url else None
    path = (STATIC / name).resolve() if name else None
    if path is None or STATIC.resolve() not in path.parents or not path.is_file():
        raise ValueError(f"a PDF export loads only the pages' static files, not {url[:80]!r}")
    return path


def pdf_response(html: str, name: str) -> Response:
    from weasyprint import HTML  # imported on first export: it loads pango
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class LocalOnly(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:  # noqa: ANN401
            path = _static_file(url)
            kind = "text/css" if path.suffix == ".css" else "application/octet-stream"
            return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": kind})

    data = HTML(string=html, base_url=request.host_url, url_fetcher=LocalOnly()).write_pdf()
    answer = Response(data, mimetype="application/pdf")
    answer.headers["Content-Disposition"] = f'attachment; filename="kredo-{name}.pdf"'
    return answer


def respond(template: str, tables: Sequence[Table], pdf: str | None = None, status: int = 200,
            **context: Any) -> Any:  # noqa: ANN401
    """The page as HTML, one of its tables as CSV (``?format=csv&table=NAME``), or, where ``pdf`` names
    the file, the whole page as PDF (``?format=pdf``)."""
    chosen = export_format()
    if chosen == "csv":
        wanted = request.args.get("table")
        table = next((t for t in tables if t.name == wanted), None)
        if table is None:
            raise InvalidInput(f"table must be one of {[t.name for t in tables]}", field="table")
        return csv_response(table)
    if chosen == "pdf":
        if pdf is None:
            raise InvalidInput("this page has no PDF export; its tables have CSV", field="format")
        html, _ = render(template, tables={t.name: t for t in tables}, printing=True, **context)
        return pdf_response(html, pdf)
    return render(template, status, tables={t.name: t for t in tables}, printing=False, **context)
