"""The shared store's epoch and faults: an emptied, re-warmed or unreachable Redis is told apart from a
sound one on the read itself (one round trip still), and never surfaces as a client library's error."""
from __future__ import annotations

import time

import pytest

from domain.errors import StoreUnavailable
from features.online import MemoryStore, OnlineStore, StoreEmptied
from features.online.redis import RedisStore
from ledger.events import parse_event
from tests.features.test_features_online import REQ, ev, issue
from tests.support.services import free_port

HISTORY = [issue("e1", "INV-1", "2024-05-01T10:00:00"), ev("e2", "payment_received", "INV-1", "2024-05-20T10:00:00",
                                                           amount=100.0),
           issue("e3", "INV-2", "2024-06-01T10:00:00", amount=250.0)]


def filled(redis_client) -> RedisStore:  # noqa: ANN001
    store = RedisStore(redis_client)
    store.apply(HISTORY)
    store.publish_epoch()
    return store


def test_a_flushed_store_is_caught_on_the_read(redis_client) -> None:  # noqa: ANN001
    store, faults = filled(redis_client), []
    store.on_fault = faults.append
    assert store.customer_features("C-1", REQ)["open_exposure"] == 250.0
    redis_client.flushdb()
    with pytest.raises(StoreEmptied):
        store.customer_features("C-1", REQ)  # not "a new customer, exposure 0.0"
    assert len(faults) == 1 and isinstance(faults[0], StoreEmptied)
    assert store.read_epoch() is None


def test_a_store_warmed_by_another_worker_is_adopted_on_read_and_flagged_on_write(redis_client) -> None:  # noqa: ANN001
    mine, other = filled(redis_client), RedisStore(redis_client)
    newer = other.publish_epoch()
    assert mine.aggregates("C-1").invoices_issued == 2 and mine.epoch == newer  # a read adopts it
    other.publish_epoch()
    with pytest.raises(StoreEmptied):  # a write that may have raced the warm: the caller refolds
        mine.apply([issue("e4", "INV-3", "2024-07-01T10:00:00")])
    assert mine.aggregates("C-1").invoices_issued == 3


def test_an_unreachable_store_is_store_unavailable_within_its_timeout() -> None:
    store, faults = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2), []
    store.on_fault = faults.append
    for call in (lambda: store.customer_features("C-1", REQ), lambda: store.apply(HISTORY), store.read_epoch,
                 lambda: store.refold("C-1", HISTORY)):
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            call()
        assert time.monotonic() - t0 < 1.0 and "127.0.0.1" not in caught.value.detail
    assert len(faults) == 4


def test_the_warm_lock_has_one_holder(redis_client) -> None:  # noqa: ANN001
    a, b = RedisStore(redis_client), RedisStore(redis_client)
    assert a.claim_warm("a", 5) and not b.claim_warm("b", 5)
    assert not b.hold_warm("b", 5) and a.hold_warm("a", 5)
    b.release_warm("b")  # not its lock: nothing happens
    assert not b.claim_warm("b", 5)
    a.release_warm("a")
    assert b.claim_warm("b", 5)


def test_refold_many_is_the_fold_of_each_history(store: OnlineStore) -> None:
    raw = [("C-1", HISTORY), ("C-2", [issue("f1", "INV-9", "2024-05-03T10:00:00", cust="C-2")])]
    histories = [(customer_id, [parse_event(e) for e in events]) for customer_id, events in raw]
    results = store.refold_many(histories)
    assert [r.status for r in results] == ["applied"] * 4
    reference = MemoryStore()
    reference.apply([e for _, events in raw for e in events])
    for customer_id, _ in histories:
        assert store.aggregates(customer_id) == reference.aggregates(customer_id)
    assert [r.status for r in store.refold_many(histories)] == ["applied"] * 4  # a replacement, not an addition
    assert store.aggregates("C-1") == reference.aggregates("C-1")
