"""One suite, two stores: the in-process ``BanditState`` and the Redis one behave alike."""
from __future__ import annotations

import threading


def test_increment_adds_and_read_returns_floats(bandit_state):
    assert bandit_state.read("k") == {}
    assert bandit_state.increment("k", {"a": 1.0, "b": 0.25})
    assert bandit_state.increment("k", {"a": 2, "b": -0.25})
    assert bandit_state.read("k") == {"a": 3.0, "b": 0.0}


def test_increment_once_counts_once(bandit_state):
    assert bandit_state.increment("k", {"n": 1.0, "s": 1.0}, once="REM-1")
    assert not bandit_state.increment("k", {"n": 1.0, "s": 1.0}, once="REM-1")
    assert bandit_state.increment("k", {"n": 1.0}, once="REM-2")
    assert bandit_state.read("k") == {"n": 2.0, "s": 1.0}


def test_concurrent_workers_lose_no_update(shared_states):
    def worker(w: int) -> None:
        state = shared_states()
        for i in range(150):
            state.increment("hot", {"n": 1.0, "s": 0.5}, once=f"w{w}-{i}")
            state.increment("hot", {"n": 1.0}, once=f"w{w}-{i}")  # replays, from the same worker
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shared_states().read("hot") == {"n": 600.0, "s": 300.0}


def test_pending_put_replay_displace_take(bandit_state):
    first = {"reminder_id": "REM-1", "x": 1}
    assert bandit_state.put_pending("INV-1", first, 100.0) == (True, None)
    assert bandit_state.put_pending("INV-1", first, 100.0) == (False, None)
    assert bandit_state.get_pending("INV-1") == first
    second = {"reminder_id": "REM-2", "x": 2}
    assert bandit_state.put_pending("INV-1", second, 200.0) == (True, first)
    assert bandit_state.take_pending("INV-1", "REM-1") is None
    assert bandit_state.take_pending("INV-1", "REM-2") == second
    assert bandit_state.take_pending("INV-1", "REM-2") is None
    assert bandit_state.get_pending("INV-1") is None
    # a settled reminder replayed later does not come back
    assert bandit_state.put_pending("INV-1", second, 200.0) == (False, None)
    assert bandit_state.get_pending("INV-1") is None


def test_take_expired_in_deadline_order_with_limit(bandit_state):
    for i, deadline in enumerate((30.0, 10.0, 20.0, 99.0)):
        bandit_state.put_pending(f"INV-{i}", {"reminder_id": f"REM-{i}"}, deadline)
    assert [r["reminder_id"] for r in bandit_state.take_expired(50.0, limit=2)] == ["REM-1", "REM-2"]
    assert [r["reminder_id"] for r in bandit_state.take_expired(50.0)] == ["REM-0"]
    assert bandit_state.take_expired(50.0) == []
    assert bandit_state.get_pending("INV-3") == {"reminder_id": "REM-3"}


def test_take_is_exclusive_between_workers(shared_states):
    a, b = shared_states(), shared_states()
    for i in range(50):
        a.put_pending(f"INV-{i}", {"reminder_id": f"REM-{i}"}, float(i))
    got: list = []
    lock = threading.Lock()

    def worker(state) -> None:
        mine = [state.take_pending(f"INV-{i}", f"REM-{i}") for i in range(50)]
        mine += state.take_expired(1e9)
        with lock:
            got.extend(r for r in mine if r)
    threads = [threading.Thread(target=worker, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["reminder_id"] for r in got) == sorted(f"REM-{i}" for i in range(50))
