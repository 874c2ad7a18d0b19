"""The server-made SVG charts: sized by value, labels escaped, links on marks, the waterfall's sums."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from serving.pages.charts import Bar, bars, line, waterfall

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # well-formed XML, or this raises


def test_bars_are_as_tall_as_their_values_and_link_to_their_rows() -> None:
    svg = _parse(bars([Bar("current", 300.0, "/rows?b=current"), Bar("<90+>", 150.0)], title="Ageing & co"))
    rects = svg.iter(f"{SVG}rect")
    heights = [float(r.get("height")) for r in rects]
    assert heights[0] == 2 * heights[1]
    assert [a.get("href") for a in svg.iter(f"{SVG}a")] == ["/rows?b=current"]
    assert "<90+>" in [t.text for t in svg.iter(f"{SVG}text")] and svg.find(f"{SVG}title").text == "Ageing & co"


def test_a_line_has_one_point_per_value_and_survives_an_empty_series() -> None:
    svg = _parse(line([Bar("2026-01", 40.0), Bar("2026-02", 45.0), Bar("2026-03", 38.0)], title="DSO"))
    assert len(list(svg.iter(f"{SVG}circle"))) == 3
    assert len(re.findall(r"[\d.]+,[\d.]+", svg.find(f"{SVG}polyline").get("points"))) == 3
    _parse(line([], title="nothing yet"))
    _parse(bars([], title="nothing yet"))


def test_a_waterfall_steps_from_its_base_to_its_total() -> None:
    svg = _parse(waterfall(Bar("base rate", 0.20), [Bar("days late", 0.15), Bar("tenure", -0.05)],
                           total="this decision", title="SHAP", label=lambda v: f"{v:.0%}"))
    rects = list(svg.iter(f"{SVG}rect"))
    assert [r.get("class") for r in rects] == ["base", "up", "down", "total"]
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "+15%" in texts and "-5%" in texts and "30%" in texts
    base, up, down, total = (float(r.get("width")) for r in rects)
    assert abs(base + up - down - total) < 0.2  # the steps' widths add up to the total's
