"""The closed loop's world: the same customers and random numbers for every policy, contacts that only help."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from training.simulation import SimulationConfig, simulate_with_truth
from training.simulation.closed_loop import World, history, static_ladder, window_start


@pytest.fixture(scope="module")
def simulated():
    return simulate_with_truth(SimulationConfig(customers=400, months=9, seed=11, start="2024-06-01"))


def _seconds(at: datetime) -> float:
    return pd.Timestamp(at).value / 1e9  # naive times are UTC, as in the simulator


def _world(simulated, days: int = 60) -> World:
    ledger, truth = simulated
    return World(ledger, truth, window_start(ledger, days), days, seed=11)


def _static(world: World) -> World:
    for day in world.days():
        for contact in static_ladder(world, day):
            world.contact(*contact)
    return world


def test_truth_is_the_unreminded_payment_and_the_log_only_moves_reminded_invoices(simulated) -> None:
    ledger, truth = simulated
    assert list(truth["invoice_id"]) == list(ledger.invoices["invoice_id"])
    reminded = truth["invoice_id"].isin(ledger.reminders["invoice_id"])
    same = np.isclose(truth["natural_days"], truth["logged_days"]) | (np.isinf(truth["natural_days"])
                                                                       & np.isinf(truth["logged_days"]))
    assert same[~reminded].all() and not same[reminded].all()


def test_the_history_ends_before_the_window(simulated) -> None:
    ledger, _ = simulated
    start = window_start(ledger, 60)
    cut = history(ledger, start)
    for table, column in (("invoices", "issued_at"), ("payments", "paid_at"), ("disputes", "opened_at"),
                          ("reminders", "sent_at")):
        assert (getattr(cut, table)[column] < pd.Timestamp(start)).all()
    assert not (cut.invoices["paid_at"] >= pd.Timestamp(start)).any()


def test_the_same_seed_gives_the_same_loop_and_the_static_ladder_collects_more_than_silence(simulated) -> None:
    one, two, silent = _static(_world(simulated)), _static(_world(simulated)), _world(simulated)
    assert one.figures() == two.figures()
    assert [c.success for c in one.log] == [c.success for c in two.log]
    assert one.figures()["dso"] < silent.figures()["dso"]
    assert one.figures()["cash_collected_eur"] > silent.figures()["cash_collected_eur"]


def test_a_contact_never_delays_a_payment_and_one_after_payment_is_no_contact(simulated) -> None:
    world = _world(simulated)
    i = int(np.flatnonzero(np.isfinite(world.pay_s) & (world.pay_s > _seconds(world.start) + 86_400 * 20))[0])
    invoice, before = world.invoice_ids[i], world.pay_s[i]
    at = world.start + timedelta(days=1)
    for n in range(8):
        world.contact(invoice, at + timedelta(days=n), "email", "friendly", "reminder")
        assert world.pay_s[i] <= before
        before = world.pay_s[i]
    after = pd.Timestamp(world.closed_at(i) + 3600, unit="s").to_pydatetime()
    count = len(world.log)
    assert world.contact(invoice, after, "email", "firm", "reminder") is None and len(world.log) == count


def test_the_static_ladder_sends_each_step_once_at_ten_local_on_business_days_and_not_in_dispute(simulated) -> None:
    world = _static(_world(simulated))
    assert world.log
    steps: dict[str, list[int]] = {}
    for c in world.log:
        i = world.index[c.invoice_id]
        assert c.at.weekday() < 5 and c.at.hour in (8, 9, 10)  # 10:00 in the customer's zone, as UTC
        assert not world.disputed(i, _seconds(c.at))
        steps.setdefault(c.invoice_id, []).append(c.step)
    assert all(s == sorted(set(s)) for s in steps.values())


def test_world_events_are_handed_out_once_in_time_order(simulated) -> None:
    world = _static(_world(simulated))
    first = world.events_until(world.end)
    assert first and world.events_until(world.end) == []
    times = [e["at"] for e in first]
    assert times == sorted(times)
    assert len({e["event_id"] for e in first}) == len(first)


def test_an_invoice_paid_before_its_dispute_would_open_is_not_disputed(simulated) -> None:
    """A contact can pull a payment before the day the customer would have disputed; the ledger refuses a
    dispute on a paid invoice (``dispute_on_paid_invoice``), and the customer has nothing left to dispute."""
    world = _world(simulated)
    i, opened, _ = next(d for d in world.disputes if opened_in(world, d))
    world.pay_s[i] = opened - 86_400  # paid the day before
    events = world.events_until(world.end)
    assert not [e for e in events if e["type"] == "dispute_opened" and e["invoice_id"] == world.invoice_ids[i]]
    assert [e for e in events if e["type"] == "payment_received" and e["invoice_id"] == world.invoice_ids[i]]


def opened_in(world: World, dispute: tuple) -> bool:
    return _seconds(world.start) + 86_400 * 2 < dispute[1] < _seconds(world.end)
