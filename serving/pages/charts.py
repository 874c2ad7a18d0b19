"""Charts as SVG made on the server: bars, a line over time, a waterfall.

Why no JavaScript charting: the pages must work offline with nothing but the
vendored htmx, and a chart here is a handful of rectangles whose numbers the
table beside it shows anyway. Each function returns markup to put in a template
(``{{ chart }}``), sized by its ``viewBox`` so CSS scales it; colours come from
classes in ``static/kredo.css`` (the pages' CSP allows no inline style), every
label is escaped, and each mark carries a ``<title>`` (a tooltip, and what a
screen reader says). ``href`` on a bar makes it a link to the rows behind it.

Example::

    bars([Bar("1-30", 1200.0, "/dashboard/rows?bucket=1-30")], label=format_money)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD, AXIS = 640, 240, 8, 28


@dataclass(frozen=True)
class Bar:
    """One bar (or point, or waterfall step): its label, value and, optionally, where it links to."""

    label: str
    value: float
    href: str | None = None


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(body: list[str], title: str, height: int = HEIGHT, width: int = WIDTH) -> Markup:
    return Markup(f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
                  f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}</svg>')


def _linked(mark: str, href: str | None) -> str:
    return f'<a href="{escape(href)}">{mark}</a>' if href else mark


def bars(items: Sequence[Bar], title: str, label: Callable[[float], str] = _fmt,
         classes: Sequence[str] | None = None) -> Markup:
    """Vertical bars from zero, one per item, its value above it and its label below."""
    top = max((abs(b.value) for b in items), default=0.0) or 1.0
    slot = (WIDTH - 2 * PAD) / max(len(items), 1)
    plot = HEIGHT - 2 * AXIS
    body = []
    for i, item in enumerate(items):
        h = plot * abs(item.value) / top
        x, y = PAD + i * slot + slot * 0.15, AXIS + plot - h
        cls = classes[i] if classes else "bar"
        text = escape(label(item.value))
        mark = (f'<rect class="{cls}" x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(slot * 0.7)}" height="{_fmt(h)}">'
                f'<title>{escape(item.label)}: {text}</title></rect>')
        body.append(_linked(mark, item.href))
        body.append(f'<text class="value" x="{_fmt(x + slot * 0.35)}" y="{_fmt(y - 4)}">{text}</text>')
        body.append(f'<text class="label" x="{_fmt(x + slot * 0.35)}" y="{HEIGHT - 8}">{escape(item.label)}</text>')
    return _svg(body, title)


def line(points: Sequence[Bar], title: str, label: Callable[[float], str] = _fmt) -> Markup:
    """A line through ``points`` in order (a monthly trend), from zero up to the largest value."""
    top = max((p.value for p in points), default=0.0) or 1.0
    step = (WIDTH - 2 * PAD - 40) / max(len(points) - 1, 1)
    plot = HEIGHT - 2 * AXIS
    xy = [(PAD + 20 + i * step, AXIS + plot - plot * max(p.value, 0.0) / top) for i, p in enumerate(points)]
    body = [f'<polyline class="trend" points="{" ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in xy)}"/>']
    for (x, y), p in zip(xy, points, strict=True):
        text = escape(label(p.value))
        body.append(_linked(f'<circle class="point" cx="{_fmt(x)}" cy="{_fmt(y)}" r="4">'
                            f'<title>{escape(p.label)}: {text}</title></circle>', p.href))
        body.append(f'<text class="value" x="{_fmt(x)}" y="{_fmt(y - 8)}">{text}</text>')
        body.append(f'<text class="label" x="{_fmt(x)}" y="{HEIGHT - 8}">{escape(p.label)}</text>')
    return _svg(body, title)


def waterfall(start: Bar, steps: Sequence[Bar], total: str, title: str,
              label: Callable[[float], str] = _fmt) -> Markup:
    """Horizontal steps from ``start`` (a base value), each moving the running total by its value; the
    last row, labelled ``total``, is the sum. Rising steps and falling steps have their own class (``up``/``down``)."""
    totals, running = [], start.value
    for s in steps:
        totals.append((running, running + s.value))
        running += s.value
    values = [start.value, running, *(v for pair in totals for v in pair), 0.0]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    row, left, right = 22, 190, WIDTH - PAD - 60
    height = row * (len(steps) + 2) + PAD * 2
    x = lambda v: left + (right - left) * (v - low) / span  # noqa: E731
    body = []
    rows = [(start, (0.0, start.value), "base"),
            *((s, pair, "up" if s.value >= 0 else "down") for s, pair in zip(steps, totals, strict=True)),
            (Bar(total, running), (0.0, running), "total")]
    for i, (item, (a, b), cls) in enumerate(rows):
        y = PAD + i * row
        x0, x1 = sorted((x(a), x(b)))
        shown = label(item.value) if cls in ("base", "total") else ("+" if item.value >= 0 else "") + label(item.value)
        body.append(f'<text class="label start" x="{left - 6}" y="{y + 15}">{escape(item.label)}</text>')
        body.append(_linked(f'<rect class="{cls}" x="{_fmt(x0)}" y="{y + 3}" width="{_fmt(max(x1 - x0, 1))}" '
                            f'height="{row - 6}"><title>{escape(item.label)}: {escape(shown)}</title></rect>',
                            item.href))
        body.append(f'<text class="value start-left" x="{_fmt(x1 + 4)}" y="{y + 15}">{escape(shown)}</text>')
    return _svg(body, title, height=height)
