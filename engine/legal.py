"""Dutch legal amounts: extrajudicial collection costs and statutory interest.

Why: a dunning letter may only state (and a collector may only charge) the
amounts the law allows. The collection-cost scale is fixed by the *Besluit
vergoeding voor buitengerechtelijke incassokosten* (BIK); statutory interest
changes every half year, so it lives in a dated data table
(``rules/statutory_interest.yaml``) that an analyst updates without touching code.

Example::

    collection_costs(Decimal("3000"))            # Decimal('425.00')
    statutory_interest_rate(date(2024, 8, 1), "commercial")   # Decimal('12.25')
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml

from domain.errors import InvalidInput, PolicyError
from domain.resources import STATUTORY_INTEREST, locate

Kind = Literal["commercial", "consumer"]
KINDS: tuple[Kind, ...] = ("commercial", "consumer")


# (width of the bracket in EUR, rate) — the BIK scale; ``None`` = the rest.
COST_BRACKETS: tuple[tuple[Decimal | None, Decimal], ...] = (
    (Decimal("2500"), Decimal("0.15")),
    (Decimal("2500"), Decimal("0.10")),
    (Decimal("5000"), Decimal("0.05")),
    (Decimal("190000"), Decimal("0.01")),
    (None, Decimal("0.005")),
)
COST_MIN = Decimal("40")
COST_MAX = Decimal("6775")
CENT = Decimal("0.01")


def _money(value: Decimal | float | int | str, field: str) -> Decimal:
    if isinstance(value, bool):
        raise InvalidInput(f"{field} must be a number, got a bool", field=field)
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(f"{field} must be a number, got {value!r}", field=field) from exc
    if not amount.is_finite() or amount < 0:
        raise InvalidInput(f"{field} must be a finite amount >= 0, got {value!r}", field=field)
    return amount


def collection_costs(principal: Decimal | float | int | str) -> Decimal:
    """Maximum extrajudicial collection costs (BIK) for an unpaid ``principal``.

    15 % of the first EUR 2,500, 10 % of the next 2,500, 5 % of the next
    5,000, 1 % of the next 190,000 and 0.5 % of the rest; at least EUR 40 and
    at most EUR 6,775. Returned in cents (half up). A principal of 0 owes
    nothing (there is no claim), so the minimum does not apply to it.
    """
    rest = _money(principal, "principal")
    if rest == 0:
        return Decimal("0.00")
    total = Decimal(0)
    for width, rate in COST_BRACKETS:
        part = rest if width is None else min(rest, width)
        total += part * rate
        rest -= part
        if rest <= 0:
            break
    return min(max(total, COST_MIN), COST_MAX).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class InterestTable:
    """Statutory interest rates per kind, each valid from its date to the next row."""

    starts: dict[str, tuple[date, ...]]
    percents: dict[str, tuple[Decimal, ...]]
    source: str

    def rate(self, on: date, kind: str) -> Decimal:
        if kind not in KINDS:
            raise InvalidInput(f"kind must be one of {list(KINDS)}, got {kind!r}", field="kind")
        if not isinstance(on, date):
            raise InvalidInput(f"on must be a date, got {on!r}", field="on")
        on_day = on.date() if isinstance(on, datetime) else on
        starts = self.starts.get(kind, ())
        i = bisect_right(starts, on_day) - 1
        if i < 0:
            first = starts[0].isoformat() if starts else "none"
            raise InvalidInput(f"no {kind} statutory interest rate on {on_day} in {self.source} "
                               f"(first row: {first})", field="on")
        return self.percents[kind][i]


def load_interest_table(path: str | Path | None = None) -> InterestTable:
    """Read and check the dated rate table; a bad row is refused with its line."""
    path = locate(STATUTORY_INTEREST) if path is None else Path(path)
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: cannot read interest table: {exc}", field="rates",
                          extra={"file": str(path), "line": None, "hint": "fix the YAML syntax"}) from exc
    rows = data.get("rates") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise PolicyError(f"{path}: expected a non-empty list under 'rates'", field="rates",
                          extra={"file": str(path), "line": 1, "hint": "see rules/README.md"})
    row_nodes = next(v for k, v in node.value if k.value == "rates").value
    by_kind: dict[str, list[tuple[date, Decimal]]] = {k: [] for k in KINDS}
    for i, row in enumerate(rows):
        line = row_nodes[i].start_mark.line + 1
        ok = (isinstance(row, dict) and row.get("kind") in KINDS and isinstance(row.get("from"), date)
              and isinstance(row.get("percent"), (int, float)) and not isinstance(row.get("percent"), bool)
              and 0 <= row["percent"] < 100)
        if not ok:
            raise PolicyError(f"{path}:{line}: bad rate row {row!r}", field=f"rates[{i}]",
                              extra={"file": str(path), "line": line,
                                     "hint": "write {kind: commercial|consumer, from: YYYY-MM-DD, percent: 12.25}"})
        by_kind[row["kind"]].append((row["from"], Decimal(str(row["percent"]))))
    for kind, items in by_kind.items():
        items.sort()
        days = [d for d, _ in items]
        if len(set(days)) != len(days):
            raise PolicyError(f"{path}: two {kind} rates start on the same day", field="rates",
                              extra={"file": str(path), "line": None, "hint": "keep one row per date"})
    return InterestTable(
        starts={k: tuple(d for d, _ in v) for k, v in by_kind.items()},
        percents={k: tuple(p for _, p in v) for k, v in by_kind.items()},
        source=str(path),
    )


@lru_cache(maxsize=1)
def _default_table() -> InterestTable:
    return load_interest_table()


def statutory_interest_rate(on: date, kind: Kind, table: InterestTable | None = None) -> Decimal:
    """Yearly statutory interest in percent on day ``on`` (commercial or consumer).

    ``table`` defaults to ``rules/statutory_interest.yaml`` (read once).
    """
    return (table or _default_table()).rate(on, kind)
