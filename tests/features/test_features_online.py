"""One suite, both online stores: events, idempotency, ordering, validation, reads."""
from __future__ import annotations

import random
import threading
from collections import defaultdict

import pytest

from domain.errors import InvalidInput
from features.aggregates import CustomerAggregates
from features.definitions import FEATURES
from ledger.events import ledger_to_events, parse_event
from features.online import MemoryStore, OnlineStore, from_url
from features.online.redis import RedisStore
from features.transform import InvoiceRequest

REQ = InvoiceRequest(amount=200.0, payment_terms_days=30, issued_at="2024-06-03T09:00:00",
                     paperless=True, customer_type="business")


def issue(eid: str, inv: str, at: str, amount: float = 100.0, cust: str = "C-1", terms: int = 14) -> dict:
    due = f"2024-{int(at[5:7]):02d}-{int(at[8:10]):02d}T00:00:00"
    return {"event_id": eid, "type": "invoice_issued", "customer_id": cust, "invoice_id": inv, "at": at,
            "amount": amount, "due_at": _plus_days(due, terms), "payment_terms_days": terms, "paperless": True}


def _plus_days(iso: str, days: int) -> str:
    from datetime import datetime, timedelta
    return (datetime.fromisoformat(iso) + timedelta(days=days)).isoformat()


def ev(eid: str, kind: str, inv: str, at: str, cust: str = "C-1", **extra) -> dict:
    return {"event_id": eid, "type": kind, "customer_id": cust, "invoice_id": inv, "at": at, **extra}


def statuses(results) -> list[str]:
    return [r.status for r in results]


def test_unknown_customer_reads_as_new(store: OnlineStore) -> None:
    feats = store.customer_features("C-nobody", REQ)
    for name, feature in FEATURES.items():
        if feature.entity == "customer":
            assert feats[name] == feature.default, name
    assert feats["amount"] == 200.0 and feats["is_business"] == 1.0
    assert store.aggregates("C-nobody") == CustomerAggregates()


def test_events_update_features(store: OnlineStore) -> None:
    results = store.apply([
        issue("e1", "INV-1", "2024-05-01T10:00:00", 1000.0),
        issue("e3", "INV-2", "2024-05-02T10:00:00", 500.0),
        ev("e2", "payment_received", "INV-1", "2024-05-10T10:00:00", amount=400.0),
        ev("e4", "dispute_opened", "INV-2", "2024-05-12T00:00:00"),
        ev("e5", "payment_received", "INV-1", "2024-05-20T10:00:00", amount=600.0),
        ev("e6", "reminder_sent", "INV-2", "2024-05-25T00:00:00", channel="email"),
    ])
    assert statuses(results) == ["applied"] * 6
    f = store.customer_features("C-1", REQ)
    assert f["invoices_issued"] == 2 and f["invoices_paid"] == 1 and f["open_disputes"] == 1
    assert f["last_days_late"] == pytest.approx(5 + 10 / 24)  # due 05-15 00:00, paid 05-20 10:00
    assert f["open_exposure"] == 500.0 and f["overdue_31_60"] == 0.0 and f["overdue_1_30"] == 500.0
    assert f["days_since_last_payment"] == pytest.approx(13 + 23 / 24)
    agg = store.aggregates("C-1")
    assert list(agg.open_invoices) == ["INV-2"] and agg.watermark_us is not None


def test_applying_twice_changes_nothing(store: OnlineStore) -> None:
    events = [issue("e1", "INV-1", "2024-05-01T10:00:00"),
              ev("e2", "payment_received", "INV-1", "2024-05-03T10:00:00", amount=50.0)]
    assert statuses(store.apply(events)) == ["applied", "applied"]
    before = store.aggregates("C-1")
    assert statuses(store.apply(events + events)) == ["duplicate"] * 4
    assert store.aggregates("C-1") == before


@pytest.mark.parametrize("event, field", [
    ({"type": "invoice_issued"}, "event_id"),
    (ev("x", "invoice_paid", "INV-1", "2024-05-01"), "type"),
    (ev("x", "payment_received", "INV 1", "2024-05-01", amount=1.0), "invoice_id"),
    (ev("x", "payment_received", "INV-1", "yesterday", amount=1.0), "at"),
    (ev("x", "payment_received", "INV-1", "2024-05-01"), "amount"),
    (ev("x", "payment_received", "INV-1", "2024-05-01", amount=0.0), "amount"),
    (ev("x", "payment_received", "INV-1", "2024-05-01", amount=float("nan")), "amount"),
    ({**issue("x", "INV-1", "2024-05-01T00:00:00"), "due_at": "2024-04-01"}, "due_at"),
    ({**issue("x", "INV-1", "2024-05-01T00:00:00"), "payment_terms_days": "30"}, "payment_terms_days"),
    ({**issue("x", "INV-1", "2024-05-01T00:00:00"), "paperless": "yes"}, "paperless"),
    ({**issue("x", "INV-1", "2024-05-01T00:00:00"), "amount": -5}, "amount"),
    ("not an event", "event"),
])
def test_invalid_events_are_refused_with_the_field(store: OnlineStore, event, field: str) -> None:
    results = store.apply([event, issue("ok", "INV-9", "2024-05-01T00:00:00")])
    assert results[0].status == "refused" and results[0].code == "invalid_input"
    assert results[0].reason == "invalid_event" and results[0].field == field and results[0].detail
    assert results[1].status == "applied"
    with pytest.raises(InvalidInput) as info:
        parse_event(event)
    assert info.value.field == field


def test_out_of_order_is_refused_not_misapplied(store: OnlineStore) -> None:
    store.apply([issue("e1", "INV-1", "2024-05-01T10:00:00"),
                 ev("e2", "payment_received", "INV-1", "2024-05-20T00:00:00", amount=100.0)])
    before = store.aggregates("C-1")
    late = store.apply([issue("e0", "INV-0", "2024-04-01T00:00:00"),
                        ev("e9", "reminder_sent", "INV-1", "2024-05-02T00:00:00")])
    assert late[0].status == "refused" and late[0].code == "conflict" and late[0].reason == "out_of_order"
    assert "2024-04-01" in late[0].detail and "2024-05-20" in late[0].detail
    assert late[1].status == "applied"  # reminders change no feature, so their order does not matter
    assert store.aggregates("C-1") == before
    # other customers are independent
    assert statuses(store.apply([issue("e0", "INV-0", "2024-04-01T00:00:00", cust="C-2")])) == ["applied"]


def test_same_instant_events_in_any_order_give_the_same_state(store: OnlineStore, make_store) -> None:
    at = "2024-05-10T00:00:00"
    events = [issue(f"i{i}", f"INV-{i}", "2024-05-01T00:00:00", 100.0 + i) for i in range(4)]
    payments = [ev(f"p{i}", "payment_received", f"INV-{i}", at, amount=100.0 + i) for i in range(4)]
    store.apply(events + payments)
    other = make_store("other")
    other.apply(events + payments[::-1])
    assert other.aggregates("C-1") == store.aggregates("C-1")


@pytest.mark.parametrize("events, reason, code", [
    ([ev("p", "payment_received", "INV-X", "2024-05-02", amount=1.0)], "unknown_invoice", "not_found"),
    ([ev("p", "payment_received", "INV-1", "2024-05-02", amount=100.0),
      ev("q", "payment_received", "INV-1", "2024-05-03", amount=1.0)], "invoice_closed", "conflict"),
    ([ev("w", "invoice_written_off", "INV-1", "2024-05-02"),
      ev("q", "payment_received", "INV-1", "2024-05-03", amount=1.0)], "invoice_closed", "conflict"),
    ([issue("again", "INV-1", "2024-05-02T00:00:00")], "invoice_exists", "conflict"),
    ([ev("d1", "dispute_opened", "INV-1", "2024-05-02"), ev("d2", "dispute_opened", "INV-1", "2024-05-03")],
     "dispute_open", "conflict"),
    ([ev("r", "dispute_resolved", "INV-1", "2024-05-02")], "no_open_dispute", "conflict"),
    ([ev("d", "dispute_opened", "INV-X", "2024-05-02")], "unknown_invoice", "not_found"),
])
def test_inconsistent_events_are_refused(store: OnlineStore, events, reason: str, code: str) -> None:
    store.apply([issue("e1", "INV-1", "2024-05-01T00:00:00", 100.0)])
    last = store.apply(events)[-1]
    assert (last.status, last.reason, last.code) == ("refused", reason, code)
    assert last.detail and "INV-" in last.detail
    assert store.apply([{**events[-1]}])[0].status == "refused"  # a refused event is not marked as seen


def _interleave_with_duplicates(events: list[dict], rng: random.Random) -> list[dict]:
    """Customers' streams randomly interleaved (each kept in order), plus re-deliveries anywhere later."""
    queues: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        queues[e["customer_id"]].append(e)
    order = [c for c, q in queues.items() for _ in q]
    rng.shuffle(order)
    heads = {c: 0 for c in queues}
    out: list[dict] = []
    for c in order:
        out.append(queues[c][heads[c]])
        heads[c] += 1
    for e in rng.sample(events, len(events) // 3):
        out.insert(rng.randrange(out.index(e) + 1, len(out) + 1), dict(e))
    return out


def test_shuffled_stream_with_duplicates_gives_the_ordered_state(store: OnlineStore, small_ledger) -> None:
    ids = set(small_ledger.customers["customer_id"].iloc[:60])
    events = [e for e in ledger_to_events(small_ledger) if e["customer_id"] in ids]
    reference = MemoryStore()
    assert statuses(reference.apply(events)) == ["applied"] * len(events)
    stream = _interleave_with_duplicates(events, random.Random(3))
    assert stream != events
    results = store.apply(stream)
    counts = {s: statuses(results).count(s) for s in ("applied", "duplicate", "refused")}
    assert counts == {"applied": len(events), "duplicate": len(stream) - len(events), "refused": 0}
    for c in sorted(ids):
        assert store.aggregates(c) == reference.aggregates(c), c


def test_fully_shuffled_stream_is_applied_or_refused_never_misapplied(store: OnlineStore, small_ledger) -> None:
    ids = set(small_ledger.customers["customer_id"].iloc[:40])
    events = [e for e in ledger_to_events(small_ledger) if e["customer_id"] in ids]
    stream = events[:]
    random.Random(8).shuffle(stream)
    results = store.apply(stream)
    refused = [r for r in results if r.status == "refused"]
    assert refused and all(r.reason in ("out_of_order", "unknown_invoice", "invoice_closed", "no_open_dispute")
                           for r in refused)
    # What was applied is, per customer, a time-ordered history, and the state is exactly its fold.
    applied = [e for e, r in zip(stream, results) if r.status == "applied"]
    for c in ids:
        times = [parse_event(e).at_us for e in applied if e["customer_id"] == c and e["type"] != "reminder_sent"]
        assert times == sorted(times)
    reference = MemoryStore()
    assert statuses(reference.apply(applied)) == ["applied"] * len(applied)
    for c in sorted(ids):
        assert store.aggregates(c) == reference.aggregates(c), c


def _worker_store(store: OnlineStore, redis_url: str) -> OnlineStore:
    return store if isinstance(store, MemoryStore) else RedisStore.from_url(redis_url)


def test_concurrent_workers_apply_each_event_once(store: OnlineStore, small_ledger, redis_url: str) -> None:
    ids = set(small_ledger.customers["customer_id"].iloc[:80])
    events = [e for e in ledger_to_events(small_ledger) if e["customer_id"] in ids]
    applied = [0] * 4

    def work(k: int) -> None:
        mine = _worker_store(store, redis_url)
        for start in range(0, len(events), 97):
            applied[k] += statuses(mine.apply(events[start:start + 97])).count("applied")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(applied) == len(events)
    reference = MemoryStore()
    reference.apply(events)
    for c in sorted(ids):
        assert store.aggregates(c) == reference.aggregates(c), c


def test_one_round_trip_per_read(redis_client, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read, once the server knows the read script, sends one packet of commands and reads its answer."""
    store = RedisStore(redis_client)
    store.apply([issue("e1", "INV-1", "2024-05-01T10:00:00")])
    store.publish_epoch()  # the epoch comes back with the hashes, in the same reply
    store.customer_features("C-1", REQ)  # the first read loads the script (NOSCRIPT, SCRIPT LOAD, EVALSHA)
    connection_class = redis_client.connection_pool.connection_class
    send = connection_class.send_packed_command
    sent: list[object] = []

    def counting(self, command, check_health=True):  # noqa: ANN001, ANN202
        sent.append(command)
        return send(self, command, check_health)

    monkeypatch.setattr(connection_class, "send_packed_command", counting)
    feats = store.customer_features("C-1", REQ)
    assert len(sent) == 1 and feats["open_exposure"] == 100.0


def test_a_read_survives_a_killed_connection_and_a_server_that_lost_its_scripts(redis_client) -> None:
    """The read keeps its own connection per thread: a connection the server dropped is replaced and the
    command sent once more, and a server that forgot the read script (restarted, SCRIPT FLUSH) gets it again."""
    store = RedisStore(redis_client)
    store.apply([issue("e1", "INV-1", "2024-05-01T10:00:00")])
    assert store.customer_features("C-1", REQ)["open_exposure"] == 100.0
    redis_client.script_flush()
    assert store.customer_features("C-1", REQ)["open_exposure"] == 100.0
    redis_client.client_kill_filter(_type="normal", skipme=True)  # every connection but this command's own
    assert store.customer_features("C-1", REQ)["open_exposure"] == 100.0
    own = store._held.conn
    reader = threading.Thread(target=lambda: store.customer_features("C-1", REQ))
    reader.start(), reader.join()
    assert store._held.conn is own  # another thread read on a connection of its own


def test_keys_are_namespaced(redis_client) -> None:
    RedisStore(redis_client, namespace="kredo").apply([issue("e1", "INV-1", "2024-05-01T10:00:00")])
    keys = sorted(k.decode() for k in redis_client.keys("*"))
    assert keys == ["kredo:cust:{C-1}", "kredo:cust:{C-1}:invoices", "kredo:cust:{C-1}:open", "kredo:cust:{C-1}:seen"]


def test_from_url(redis_url: str) -> None:
    assert isinstance(from_url(None), MemoryStore) and isinstance(from_url("memory://"), MemoryStore)
    redis_store = from_url(redis_url)
    assert isinstance(redis_store, RedisStore)
    redis_store.close()
    with pytest.raises(InvalidInput) as info:
        from_url("postgres://x")
    assert info.value.field == "url"


@pytest.mark.parametrize("kwargs, field", [
    ({"amount": -1.0}, "amount"), ({"amount": True}, "amount"), ({"payment_terms_days": 1.5}, "payment_terms_days"),
    ({"issued_at": "soon"}, "issued_at"), ({"paperless": "no"}, "paperless"), ({"customer_type": "alien"}, "customer_type"),
    ({"profile": "pensioner"}, "profile"), ({"size": "huge"}, "size"),
])
def test_invalid_request(kwargs: dict, field: str) -> None:
    base = {"amount": 1.0, "payment_terms_days": 14, "issued_at": "2024-01-01T00:00:00", "paperless": False}
    with pytest.raises(InvalidInput) as info:
        InvoiceRequest(**{**base, **kwargs})
    assert info.value.field == field
    with pytest.raises(InvalidInput) as missing:
        InvoiceRequest.from_mapping({"amount": 1.0})
    assert missing.value.field == "payment_terms_days"


def test_customer_record_features_follow_the_request(store: OnlineStore) -> None:
    """Profile and size are one-hot; a request that does not say leaves them all 0."""
    said = store.customer_features("C-nobody", InvoiceRequest(
        amount=200.0, payment_terms_days=30, issued_at="2024-06-03T09:00:00", customer_type="business",
        profile="enterprise", size="large"))
    silent = store.customer_features("C-nobody", REQ)
    profiles = [n for n in FEATURES if n.startswith(("profile_", "size_"))]
    assert {n for n in profiles if said[n] == 1.0} == {"profile_enterprise", "size_large"}
    assert all(said[n] == 0.0 for n in profiles if n not in ("profile_enterprise", "size_large"))
    assert all(silent[n] == 0.0 for n in profiles)


def test_broken_and_kept_promises_and_an_escalation_hand_checked(store) -> None:
    """C-1 owes INV-2 (EUR 3,000, due 2024-02-14, disputed since 2024-01-20): a promise of EUR 1,000 for
    25 February is paid at midnight after it (too late: broken); a promise of EUR 500 for 1 March is
    paid on 28 February (kept); INV-2 is handed over to collections on 29 February."""
    import pandas as pd

    from features.offline import build_feature_table
    from features.online.replay import online_feature_table
    from ledger.tables import ESCALATIONS, PAYMENTS, PROMISES, Ledger
    from tests.features.ledgers import _frame, tiny_ledger

    base = tiny_ledger()
    promises = _frame(PROMISES, [
        {"promise_id": "PRM-1", "invoice_id": "INV-2", "customer_id": "C-1", "made_at": "2024-02-20 10:00",
         "promised_for": "2024-02-25", "amount": 1000.0},
        {"promise_id": "PRM-2", "invoice_id": "INV-2", "customer_id": "C-1", "made_at": "2024-02-26 09:00",
         "promised_for": "2024-03-01", "amount": 500.0}])
    payments = pd.concat([base.payments, _frame(PAYMENTS, [
        {"payment_id": "PAY-4", "invoice_id": "INV-2", "customer_id": "C-1", "paid_at": "2024-02-26 00:00",
         "amount": 1000.0},
        {"payment_id": "PAY-5", "invoice_id": "INV-2", "customer_id": "C-1", "paid_at": "2024-02-28 12:00",
         "amount": 500.0}])], ignore_index=True)
    escalations = _frame(ESCALATIONS, [{"escalation_id": "ESC-1", "invoice_id": "INV-2", "customer_id": "C-1",
                                        "escalated_at": "2024-02-29 08:00"}])
    ledger = Ledger(customers=base.customers, invoices=base.invoices, payments=payments, disputes=base.disputes,
                    reminders=base.reminders, promises=promises, escalations=escalations)
    offline = build_feature_table(ledger).set_index("invoice_id").loc["INV-3"]  # issued 2024-03-01
    online, problems = online_feature_table(store, ledger)
    row = online.set_index("invoice_id").loc["INV-3"]
    assert problems == []
    expected = {"broken_promises": 1.0, "open_escalations": 1.0, "open_exposure": 1500.0,
                "overdue_share": 1.0, "disputed_share": 1.0}
    for name, value in expected.items():
        assert offline[name] == value and row[name] == value, (name, offline[name], row[name])


def test_a_batch_shares_each_customers_history_and_gives_what_one_read_gives(store: OnlineStore) -> None:
    """``customer_features_many`` computes a customer's history part once per moment (a dunning run's four
    invoices of one customer): each row equals the single read, bit for bit, whatever the customer, the
    request and the moment (a different moment is a different history: days overdue, tenure)."""
    store.apply([issue("e1", "INV-1", "2024-05-01T10:00:00"), issue("e2", "INV-2", "2024-05-10T10:00:00", amount=80.0),
                 ev("e3", "payment_received", "INV-1", "2024-05-20T10:00:00", amount=100.0),
                 issue("e4", "INV-3", "2024-05-02T10:00:00", cust="C-2", amount=999.0)])
    other = InvoiceRequest(amount=55.5, payment_terms_days=7, issued_at="2024-05-30T00:00:00",
                           customer_type="business", profile="sme", size="small", paperless=False)
    queries = [("C-1", REQ, "2024-06-03T09:00:00"), ("C-1", other, "2024-06-03T09:00:00"),
               ("C-2", REQ, "2024-06-03T09:00:00"), ("C-1", other, "2024-07-20T09:00:00"), ("C-1", REQ, None),
               ("C-new", other, "2024-06-03T09:00:00")]
    batch = store.customer_features_many(queries)
    singles = [store.customer_features(c, request, now) for c, request, now in queries]
    assert [list(b.items()) for b in batch] == [list(s.items()) for s in singles]
    assert batch[0]["amount"] != batch[1]["amount"] and batch[1]["max_days_overdue"] != batch[3]["max_days_overdue"]
