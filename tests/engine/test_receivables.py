"""The receivables figures of shared/DOMAIN.md, on cents, with the edges a real book has."""
from __future__ import annotations

import pytest

from engine.receivables import (at_risk_rate, average_days_delinquent, best_possible_dso, collection_effectiveness,
                                dso_countback)


def test_countback_consumes_whole_months_then_a_share_of_the_next() -> None:
    # 250,000 open; the last month sold 100,000 (30 days), the one before 80,000 (31), then 90,000 (30)
    months = [(100_000, 30), (80_000, 31), (90_000, 30)]
    assert dso_countback(250_000, months) == pytest.approx(30 + 31 + 70_000 / 90_000 * 30)
    assert dso_countback(50_000, months) == pytest.approx(15.0)
    assert dso_countback(0, months) == 0.0


def test_countback_differs_from_the_simple_method_when_sales_swing() -> None:
    """The reason for countback: a big last month makes the simple method (AR / sales x days) misleading."""
    months = [(300_000, 30), (50_000, 30), (50_000, 30)]
    simple = 200_000 / sum(s for s, _ in months) * 90
    assert dso_countback(200_000, months) == pytest.approx(20.0)
    assert simple == pytest.approx(45.0)


def test_countback_skips_a_month_without_sales_and_extends_past_the_months_given() -> None:
    assert dso_countback(150_000, [(0, 30), (100_000, 30)]) == pytest.approx(30 + 30 + 50_000 / 100_000 * 30)
    with pytest.raises(ValueError):
        dso_countback(-1, [(1, 30)])


def test_best_possible_dso_add_cei_and_at_risk() -> None:
    best = best_possible_dso(60_000, 100_000, 30)
    assert best == pytest.approx(18.0)
    assert average_days_delinquent(25.0, best) == pytest.approx(7.0)
    # opening 200k + sales 300k - closing 250k (of which 150k current): 250 / 350
    assert collection_effectiveness(200_000, 300_000, 250_000, 150_000) == pytest.approx(250 / 350 * 100)
    assert collection_effectiveness(0, 0, 0, 0) == 100.0
    assert at_risk_rate(25_000, 100_000) == 0.25 and at_risk_rate(0, 0) == 0.0
    assert best_possible_dso(10, 0, 30) == 0.0
