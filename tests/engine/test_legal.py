"""Collection-cost scale (BIK) at every bracket boundary, and the dated statutory-interest table."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from domain.errors import InvalidInput, PolicyError
from engine.legal import collection_costs, load_interest_table, statutory_interest_rate

D = Decimal


@pytest.mark.parametrize("principal, expected", [
    ("0", "0.00"),
    ("1", "40.00"),            # minimum
    ("266.66", "40.00"),       # 15 % = 39.999 -> minimum still applies
    ("266.67", "40.00"),       # 15 % = 40.0005 -> rounds to 40.00
    ("300", "45.00"),
    ("2500", "375.00"),        # end of the 15 % bracket
    ("2500.01", "375.00"),     # first cent at 10 %
    ("2600", "385.00"),
    ("5000", "625.00"),        # end of the 10 % bracket
    ("6000", "675.00"),
    ("10000", "875.00"),       # end of the 5 % bracket
    ("11000", "885.00"),
    ("200000", "2775.00"),     # end of the 1 % bracket
    ("210000", "2825.00"),     # 0.5 % on the rest
    ("1000000", "6775.00"),    # 2775 + 0.5 % of 800,000 = 6775: exactly the maximum
    ("1000200", "6775.00"),    # capped
    ("50000000", "6775.00"),
])
def test_collection_costs_at_each_boundary(principal: str, expected: str) -> None:
    assert collection_costs(D(principal)) == D(expected)


def test_collection_costs_accepts_floats_and_ints() -> None:
    assert collection_costs(3000) == D("425.00")
    assert collection_costs(3000.0) == D("425.00")


@given(st.decimals(min_value=0, max_value=10_000_000, places=2))
def test_collection_costs_monotone_and_bounded(principal: Decimal) -> None:
    cost = collection_costs(principal)
    assert cost <= D("6775")
    if principal > 0:
        assert cost >= D("40")
    assert collection_costs(principal + D("100")) >= cost


@pytest.mark.parametrize("bad", [-1, "abc", float("nan"), float("inf"), True, None])
def test_collection_costs_refuses_bad_input(bad: object) -> None:
    with pytest.raises(InvalidInput) as err:
        collection_costs(bad)  # type: ignore[arg-type]
    assert err.value.field == "principal"


@pytest.mark.parametrize("on, kind, expected", [
    (date(2024, 1, 1), "commercial", "12.5"),
    (date(2024, 6, 30), "commercial", "12.5"),
    (date(2024, 7, 1), "commercial", "12.25"),
    (date(2024, 12, 31), "commercial", "12.25"),
    (datetime(2024, 7, 1, 12, 0), "commercial", "12.25"),
    (date(2024, 1, 1), "consumer", "7.0"),
    (date(2024, 9, 1), "consumer", "7.0"),
    (date(2023, 12, 31), "consumer", "6.0"),
])
def test_statutory_interest_rate_from_dated_table(on: date, kind: str, expected: str) -> None:
    assert statutory_interest_rate(on, kind) == D(expected)  # type: ignore[arg-type]


def test_statutory_interest_rate_refuses_bad_input() -> None:
    with pytest.raises(InvalidInput) as err:
        statutory_interest_rate(date(2024, 1, 1), "b2b")  # type: ignore[arg-type]
    assert err.value.field == "kind"
    with pytest.raises(InvalidInput) as err:
        statutory_interest_rate(date(1990, 1, 1), "commercial")
    assert err.value.field == "on"


def test_interest_table_is_data_updatable_without_code(tmp_path: Path) -> None:
    path = tmp_path / "rates.yaml"
    path.write_text("rates:\n  - {kind: commercial, from: 2030-01-01, percent: 9.5}\n"
                    "  - {kind: consumer, from: 2030-01-01, percent: 5}\n")
    table = load_interest_table(path)
    assert statutory_interest_rate(date(2031, 3, 1), "commercial", table) == D("9.5")


def test_interest_table_bad_row_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rates.yaml"
    path.write_text("rates:\n  - {kind: commercial, from: 2030-01-01, percent: 9.5}\n"
                    "  - {kind: commercial, from: someday, percent: 9}\n")
    with pytest.raises(PolicyError) as err:
        load_interest_table(path)
    assert err.value.extra["line"] == 3
    assert "from: YYYY-MM-DD" in err.value.extra["hint"]
