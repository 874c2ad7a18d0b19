"""The backtest replays the real decision path: for the same invoices and moments it gives exactly
the answers the API gives (same facts builder, same features, same champion model, same policy)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from engine.rules import default_rules
from ledger.events import ledger_to_events
from ledger.tables import Ledger
from training.backtest import backtest, dunning_backtest, dunning_requests, model_scorer
from training.registry import load_model
from training.simulation import SimulationConfig, simulate
from tests.support.api import Clients, make_app


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return simulate(SimulationConfig(customers=250, months=6, seed=5))


@pytest.fixture(scope="module")
def scorer(champion: dict[str, str]):  # noqa: ANN201
    return model_scorer(load_model(champion["uri"], champion["tracking"])[0])


class Feeder:
    """Posts the ledger's events to the API in time order, up to (not including) a moment.

    Reminders too: the API's ledger is the system of record of the reminders sent, and a
    next-action body that lists reminders the ledger never saw is corrected to the ledger's.
    """

    def __init__(self, dunning, ledger: Ledger) -> None:  # noqa: ANN001 - a test client with a dunning key
        self.dunning, self.events, self.done = dunning, ledger_to_events(ledger), 0

    def until(self, moment: datetime) -> None:
        end = self.done
        while end < len(self.events) and datetime.fromisoformat(self.events[end]["at"]) < moment:
            end += 1
        for start in range(self.done, end, 1000):
            batch = self.events[start:min(end, start + 1000)]
            answer = self.dunning.post("/v1/events", json={"events": batch}).get_json()
            assert answer["applied"] == len(batch), answer
        self.done = end


@pytest.fixture()
def api(champion: dict[str, str], tmp_path: Path) -> Iterator[Clients]:
    app = make_app(champion, tmp_path)
    yield Clients(app)
    app.extensions["kredo.runtime"].stop()


def test_checkout_backtest_equals_the_api(ledger: Ledger, scorer, api: Clients) -> None:  # noqa: ANN001
    policy = default_rules().policy
    decisions = backtest(ledger, policy, policy, scorer=scorer, sample=120, seed=3).decisions
    decisions = decisions.sort_values(["issued_at", "invoice_id"])
    customers = ledger.customers.set_index("customer_id")
    invoices = ledger.invoices.set_index("invoice_id")
    feeder, outcomes = Feeder(api.dunning, ledger), set()
    for row in decisions.itertuples(index=False):
        issued = row.issued_at.to_pydatetime()
        feeder.until(issued)
        c, inv = customers.loc[row.customer_id], invoices.loc[row.invoice_id]
        body = {"request_id": f"bt-{row.invoice_id}", "now": f"{issued.isoformat()}+00:00",
                "customer": {"id": row.customer_id, "type": c.type, "country": c.country, "profile": c.profile,
                             "size": c["size"], "key_account": bool(c.key_account),
                             **({"account_manager": c.account_manager} if isinstance(c.account_manager, str) else {})},
                "order": {"amount": float(inv.amount), "currency": "EUR",
                          "payment_terms_days": int(inv.payment_terms_days), "paperless": bool(inv.paperless)}}
        answer = api.checkout.post("/v1/decisions/checkout", json=body).get_json()
        assert (answer["outcome"], answer["segment"], answer["credit_limit"], answer["rules_fired"][-1]) == (
            row.outcome_new, row.segment_new, row.credit_limit_new, row.rule_new), row.invoice_id
        outcomes.add(row.outcome_new)
    assert len(outcomes) >= 2, "a replay that only ever says one thing proves little"


def test_next_action_backtest_equals_the_api(ledger: Ledger, scorer, api: Clients) -> None:  # noqa: ANN001
    policy = default_rules().policy
    rows = dunning_backtest(ledger, policy, policy, scorer=scorer, sample=120, seed=4)
    requests = dunning_requests(ledger, sample=120, seed=4)
    feeder, actions = Feeder(api.dunning, ledger), set()
    for request, row in zip(requests, rows.itertuples(index=False)):
        assert request.request_id == row.request_id
        feeder.until(request.now.replace(tzinfo=None))
        answer = api.dunning.post("/v1/decisions/next-action", json=request.model_dump(mode="json")).get_json()
        assert "|".join(answer["rules_fired"]) == row.rules_new, (row.request_id, answer)
        assert (answer["action"], answer["step"], answer["segment"], answer["tone"]) == (
            row.action_new, row.step_new, row.segment_new, row.tone_new)
        assert (answer["collection_costs"] or 0.0) == row.collection_costs_new
        if answer["bandit"]["arm"] is None:
            assert answer["channel"] == (row.channel_new if isinstance(row.channel_new, str) else None)
        actions.add(row.action_new)
    assert len(actions) >= 3, actions
