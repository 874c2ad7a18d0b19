"""``POST /v1/events``'s own shortcuts give the answers the long way gave.

The event dicts are built without ``model_dump`` and the late customers are found by the online
store's own ``out_of_order`` refusal (no watermark read first): here the dicts are compared with
``model_dump``'s, and a late, shuffled stream booked into Redis ends with exactly the features of an
in-order fold, through the refold path (which the test sees taken).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from features.online.base import OnlineStore
from ledger.imports import customer_events
from serving.api.events import _as_dict
from serving.schemas import EventsRequest
from tests.support.api import Clients, make_app
from tests.support.services import redis_server
from tests.support.streams import assert_in_order_features, late_stream
from training.simulation import SimulationConfig, simulate


def test_event_dicts_are_model_dumps() -> None:
    events = [
        {"event_id": "e-1", "type": "invoice_issued", "customer_id": "C-1", "invoice_id": "I-1",
         "at": "2026-01-01T00:00:00Z", "amount": 10.5, "due_at": "2026-01-31", "payment_terms_days": 30,
         "paperless": True, "payment_reference": None},
        {"type": "plan_agreed", "event_id": "p-1", "customer_id": "C-1", "at": "2026-01-02T00:00:00",
         "invoice_ids": ["I-1"], "instalments": [{"due_at": "2026-02-01", "amount": 5}, {"due_at": "x", "amount": 5.5}]},
        {"event_id": None, "type": "nonsense", "nested": {"a": [1, {"b": 2.0}]}},
        {},
    ]
    body = EventsRequest.model_validate_json(json.dumps({"events": events}))
    assert [_as_dict(e) for e in body.events] == [e.model_dump() for e in body.events]
    assert [_as_dict(e) for e in body.events][0]["payment_reference"] is None


@pytest.fixture()
def redis_app(champion: dict[str, str], tmp_path: Path) -> Iterator:
    with redis_server() as url:
        application = make_app(champion, tmp_path, REDIS_URL=url)
        yield application
        application.extensions["kredo.runtime"].stop()


def test_a_late_shuffled_stream_into_redis_gives_exactly_the_in_order_features(redis_app, monkeypatch) -> None:
    ledger = simulate(SimulationConfig(customers=40, months=6, seed=11))
    history, stream = late_stream(ledger, 2)
    refolded: list[str] = []
    original = OnlineStore.refold_booked

    def spy(self, histories):  # noqa: ANN001, ANN202
        histories = list(histories)
        refolded.extend(c for c, _ in histories)
        return original(self, histories)

    monkeypatch.setattr(OnlineStore, "refold_booked", spy)
    api = Clients(redis_app)
    assert api.dunning.post("/v1/events", json={"events": customer_events(ledger)}).status_code == 200
    booked = 0
    for start in range(0, len(stream), 300):
        answer = api.dunning.post("/v1/events", json={"events": stream[start:start + 300]}).get_json()
        assert answer["refused"] == 0, [r for r in answer["results"] if r["status"] == "refused"][:3]
        booked += answer["applied"]
    assert booked == len(history)
    assert refolded, "the stream is late for some customers: their refold must have been taken"
    assert_in_order_features(redis_app.extensions["kredo.runtime"].store, ledger, history)
