"""The cash-in forecast (``training.forecast``): the per-invoice payment-week distribution, the level, the
ageing-bucket baseline, and the back-test, which sees nothing after its date."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domain.errors import InvalidInput
from tests.features.ledgers import shuffle_after
from training.forecast import (BUCKETS, MIN_RECENT, Timing, backtest, bucket_rates, forecast, level_shift, open_book,
                               payment_timing, segment_weights, week_probabilities, weekly_receipts)
from training.pipeline import TrainConfig

AT = pd.Timestamp("2024-09-02")
SMALL = TrainConfig(n_estimators=40, max_depth=4, valid_months=1, test_months=1)


def _scores(p_late: float, p_30: float, p_off: float, n: int = 1) -> pd.DataFrame:
    return pd.DataFrame({"p_late": [p_late] * n, "p_late_30": [p_30] * n, "p_write_off": [p_off] * n})


TIMING = Timing(early=np.linspace(0, 1, 101), late=np.linspace(0, 30, 301)[1:], later=np.linspace(30, 180, 151)[1:],
                never_share=0.25)


def test_an_invoice_sure_to_pay_on_time_pays_before_its_due_date():
    # due in 10 days on 30-day terms, never late: paid in the first two weeks, all of it
    p = week_probabilities(TIMING, _scores(0.0, 0.0, 0.0), np.array([-10.0]), np.array([30.0]))
    assert p[0, :2].sum() == pytest.approx(1.0) and p[0, 2:].sum() == 0.0
    assert p[0, 0] == pytest.approx(7 / 10, abs=0.02)  # uniform over the last 10 days of the terms


def test_an_open_invoice_past_its_due_date_cannot_be_on_time_any_more():
    # 5 days late, half the mass was "on time": conditioned away; what is left pays late or never
    p = week_probabilities(TIMING, _scores(0.5, 0.2, 0.1), np.array([5.0]), np.array([30.0]))
    late_left = 0.3 * 25 / 30 + 0.1 + 0.1  # 1-30 late beyond day 5, 31-180 late, never
    assert p[0, :4].sum() == pytest.approx(0.3 * 25 / 30 / late_left, abs=0.02)  # the rest of the first 30 days
    assert p.sum() < 1.0 - 0.1 / late_left + 1e-9  # never is never


def test_past_the_write_off_horizon_nothing_more_is_expected():
    p = week_probabilities(TIMING, _scores(0.9, 0.8, 0.3), np.array([200.0]), np.array([30.0]))
    assert p.sum() == 0.0


def test_segment_weights_add_up_and_a_constant_write_off_head_is_replaced_by_the_history():
    w = segment_weights(_scores(0.4, 0.1, 0.5))  # P(write-off) above P(> 30 d) is cut to it
    assert w.sum() == pytest.approx(1.0) and w[0].tolist() == pytest.approx([0.6, 0.3, 0.0, 0.1])
    w = segment_weights(_scores(0.4, 0.1, 0.5), never_share=0.25)
    assert w[0].tolist() == pytest.approx([0.6, 0.3, 0.075, 0.025])


def test_the_level_shift_matches_the_observed_rate_and_needs_enough_invoices():
    rng = np.random.default_rng(3)
    predicted = rng.uniform(0.05, 0.6, 1_000)
    observed = (rng.random(1_000) < 0.5).astype(float)
    shift = level_shift(predicted, observed)
    assert shift > 0
    assert np.mean(1 / (1 + np.exp(-(np.log(predicted / (1 - predicted)) + shift)))) == pytest.approx(observed.mean(),
                                                                                                    abs=1e-6)
    assert level_shift(predicted[:MIN_RECENT - 1], observed[:MIN_RECENT - 1]) == 0.0
    assert level_shift(predicted, np.zeros(1_000)) == 0.0


def test_the_baselines_rates_are_shares_of_each_buckets_balance(small_ledger):
    known = small_ledger.known_at(AT)
    rates = bucket_rates(known, AT)
    assert rates.shape == (len(BUCKETS), 12) and (rates >= 0).all()
    assert (rates.sum(axis=1) <= 1.0 + 1e-9).all()
    assert rates[0].sum() > rates[-1].sum()  # invoices not yet due are collected more than those 90+ days late


def test_the_open_book_and_what_came_in(small_ledger):
    book = open_book(small_ledger, AT)
    inv = small_ledger.invoices.set_index("invoice_id").loc[book.invoice_ids]
    assert (inv["issued_at"] <= AT).all()
    assert not ((inv["paid_at"] <= AT) | (inv["written_off_at"] <= AT)).any()
    assert (book.open_amount <= inv["amount"].to_numpy() + 1e-9).all() and (book.open_amount > 0).all()
    came_in = weekly_receipts(small_ledger, book.invoice_ids, AT)
    assert 0 < came_in.sum() <= book.open_amount.sum() + 1e-6


def test_the_forecast_sees_nothing_after_its_date(small_ledger, champion):
    from training.registry import load_model

    model = load_model(champion["uri"], champion["tracking"])[0]
    before = forecast(small_ledger, AT, model)
    after = forecast(shuffle_after(small_ledger, AT, seed=4), AT, model)
    assert before.expected_cents.tolist() == after.expected_cents.tolist()
    assert before.baseline_cents.tolist() == after.baseline_cents.tolist()
    assert payment_timing(small_ledger, AT).never_share == payment_timing(small_ledger.known_at(AT), AT).never_share


def test_the_backtest_scores_both_forecasts_against_what_came_in(small_ledger):
    points = backtest(small_ledger, [AT, AT + pd.Timedelta(weeks=5)], SMALL)
    for point in points:
        f = point.forecast
        assert len(f.expected_cents) == len(point.actual_cents) == 12
        assert 0 < point.model_wape < 0.5 and 0 < point.baseline_wape < 0.5
        assert 0 <= point.coverage <= 1
        assert abs(f.expected_cents.sum() / point.actual_cents.sum() - 1) < 0.15
    with pytest.raises(InvalidInput) as refused:
        backtest(small_ledger, [pd.Timestamp("2024-11-04")], SMALL)
    assert refused.value.field == "dates"
