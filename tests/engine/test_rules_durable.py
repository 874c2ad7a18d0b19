"""Every known durable-rules 2.0.28 trap, shown on the raw library and handled by ``engine.rules.durable``.

Crash-prone demonstrations run in a subprocess so a segfault fails one test, not the suite.
"""
from __future__ import annotations

import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from durable.engine import Host, MessageNotHandledException

from engine.rules import RuleEngine, load_policy
from engine.rules.durable import DurableRunner
from engine.rules.expr import parse_condition, to_durable
from tests.support.durable import RawHost

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "rules" / "default.yaml"
KINDS = {"a": "number", "b": "number", "limit": "number", "flag": "bool", "kind": "str"}


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def engine() -> RuleEngine:
    return RuleEngine(load_policy(DEFAULT))


def _cond(src: str) -> dict:
    return to_durable(parse_condition(src, KINDS, {}).node)


def test_dollar_m_arithmetic_trap_raw_and_compiled() -> None:
    """``{"m": field}`` in arithmetic loads and silently answers wrong; the compiler writes ``$m``."""
    good = {"$lt": {"limit": {"$add": {"$l": {"$m": "a"}, "$r": {"$m": "b"}}}}}
    bad = {"$lt": {"limit": {"$add": {"$l": {"m": "a"}, "$r": {"m": "b"}}}}}
    assert _cond("a + b > limit") == good
    runner = DurableRunner({"good": {"g": good}, "bad": {"b": bad}})
    facts = {"a": 5, "b": 6, "limit": 100}   # 11 > 100 is false
    assert runner.match("good", facts) is None
    assert runner.match("bad", facts) == "b"  # the trap: fires although it should not


def test_no_dispatcher_thread_is_started() -> None:
    """The library's host starts timer threads that run actions elsewhere; the runner uses no host at all."""
    before = threading.active_count()
    runner = DurableRunner({"t": {"x": _cond("a > 0")}})
    assert runner.match("t", {"a": 1}) == "x"
    assert threading.active_count() == before
    raw = Host()  # the library default starts timer threads
    assert hasattr(raw, "_d_timer")
    raw._d_timer.cancel()
    raw._t_timer.cancel()


def test_never_returns_none_in_one_thread(engine: RuleEngine) -> None:
    """With the dispatcher, a post returns None a few times per 100,000; here never (20,000 runs)."""
    runner = DurableRunner({"t": {"x": _cond("a > 0")}})
    results = {runner.match("t", {"a": i % 3}) for i in range(20_000)}
    assert results == {"x", None}


def test_message_not_handled_raw_and_handled() -> None:
    host = RawHost()
    host.set_rulesets({"t": {"r": {"all": [{"m": {"$gt": {"a": 0}}}], "run": lambda c: None}}})
    with pytest.raises(MessageNotHandledException):
        host.post("t", {"sid": "1", "a": -1})
    runner = DurableRunner({"t": {"r": _cond("a > 0")}})
    assert runner.match("t", {"a": -1}) is None


def test_delete_state_after_unhandled_message_crashes_raw_library() -> None:
    """The raw library aborts after delete_state of an unhandled post; our runner never gets there."""
    raw = _python(
        "import pandas, pyarrow\n"
        "from durable.engine import Host, MessageNotHandledException\n"
        "class H(Host):\n    def _run(self): pass\n"
        "h = H(); h.set_rulesets({'n': {'r': {'all': [{'m': {'$gte': {'d': 30}}}], 'run': lambda c: None}}})\n"
        "for k in range(50):\n"
        "    try: h.post('n', {'d': 5, 'sid': str(k)})\n"
        "    except MessageNotHandledException: pass\n"
        "    h.delete_state('n', str(k))\n"
        "print('survived')\n")
    ours = _python(
        "import pandas, pyarrow\n"
        "from engine.rules.durable import DurableRunner\n"
        "r = DurableRunner({'n': {'x': {'$gte': {'d': 30}}}})\n"
        "assert all(r.match('n', {'d': 5}) is None for _ in range(5000))\n"
        "print('survived')\n")
    assert ours.returncode == 0 and "survived" in ours.stdout, ours.stderr[-2000:]
    assert raw.returncode != 0 or "survived" not in raw.stdout


def test_exception_in_action_is_returned_in_state_raw_and_no_action_runs_in_ours() -> None:
    """The library returns an action's exception in the state; the runner runs no Python action (trap 6) and
    names, over varied facts, exactly the rule the library's own post runs the action of."""
    host = RawHost()

    def boom(c):  # noqa: ANN001
        raise ValueError("boom")

    host.set_rulesets({"t": {"r": {"all": [{"m": {"$gt": {"a": 0}}}], "run": boom}}})
    state = host.post("t", {"sid": "1", "a": 1})
    assert "boom" in state["exception"]  # not raised by durable-rules

    conditions = {"both": _cond("a > 3 and b < 2"), "either": _cond("a > 7 or kind == 'x'"),
                  "flag": _cond("flag"), "sum": _cond("a + b > limit"), "rest": _cond("b >= 0")}
    fired: list[str | None] = []

    def recorder(rule_id: str | None):  # noqa: ANN202 - a one-argument action (two would be asynchronous)
        return lambda c: fired.append(rule_id)

    library = RawHost()
    library.set_rulesets({"lib": {
        **{f"r{i}": {"pri": i + 1, "all": [{"m": c}], "run": recorder(rid)}
           for i, (rid, c) in enumerate(conditions.items())},
        "none": {"pri": len(conditions) + 1, "all": [{"m": {"always": 1}}], "run": recorder(None)}}})
    runner = DurableRunner({"t": conditions})
    draw = random.Random(17)
    seen = set()
    for i in range(2_000):
        facts = {"a": round(draw.uniform(-2, 10), 3), "b": draw.choice([-1.0, 0.5, 1.5, 3.0]),
                 "limit": round(draw.uniform(0, 12), 3),
                 "flag": draw.random() < 0.2, "kind": draw.choice(["x", "y"])}
        fired.clear()
        library.post("lib", {**facts, "always": 1, "sid": f"lib{i}"})
        library.delete_state("lib", f"lib{i}")
        assert runner.match("t", facts) == fired[0], facts
        seen.add(fired[0])
    assert seen == {*conditions, None}


def test_session_limit_raw_and_sessions_deleted() -> None:
    host = RawHost()
    host.set_rulesets({"t": {"r": {"all": [{"m": {"$gt": {"a": 0}}}], "run": lambda c: None}}})
    with pytest.raises(MemoryError):
        for i in range(1_100):
            host.post("t", {"sid": f"s{i}", "a": 1})
    runner = DurableRunner({"t": {"r": _cond("a > 0")}})
    assert all(runner.match("t", {"a": 1}) == "r" for _ in range(3_000))  # > 1,024: sessions are deleted


def test_name_cannot_be_registered_twice_reload_is_new_host(engine: RuleEngine) -> None:
    host = RawHost()
    host.set_rulesets({"t": {"r": {"all": [{"m": {"a": 1}}], "run": lambda c: None}}})
    with pytest.raises(Exception, match="already registered"):
        host.set_rulesets({"t": {"r": {"all": [{"m": {"a": 1}}], "run": lambda c: None}}})
    policy = load_policy(DEFAULT)
    engines = [RuleEngine(policy) for _ in range(5)]
    facts = {"customer_type": "business", "order_amount": 100}
    assert {e.evaluate_checkout(facts).outcome for e in engines} == {engine.evaluate_checkout(facts).outcome}


def test_wide_facts_40_plus_keys(engine: RuleEngine) -> None:
    narrow = {"customer_type": "business", "profile": "sme", "is_new_customer": False,
              "avg_monthly_purchases": 10_000, "open_exposure": 5_000, "order_amount": 1_000}
    wide = {**narrow, **{f"extra_{i}": i for i in range(45)}}
    assert len(wide) > 40
    assert engine.evaluate_checkout(wide) == engine.evaluate_checkout(narrow)
    # the posted facts hold only what the rules read, never the caller's wide record
    assert all(len(fields) <= 28 for fields in engine._fields.values())


def _facts(i: int) -> dict:
    return {"customer_type": ("business", "consumer")[i % 2], "is_new_customer": i % 5 == 0,
            "order_amount": float(50 + (i * 37) % 4000), "open_exposure": float((i * 13) % 3000),
            "avg_monthly_purchases": float((i * 7) % 2000), "p_late": (i % 10) / 10, "p_late_30": (i % 7) / 20,
            "customer_id": f"C{i}", "payment_terms_days": 30 + (i % 3) * 20}


def test_sixteen_threads_never_see_each_others_facts() -> None:
    engine = RuleEngine(load_policy(DEFAULT))
    expected = {i: engine.evaluate_checkout(_facts(i)) for i in range(400)}
    errors: list[str] = []
    barrier = threading.Barrier(16)

    def worker(t: int) -> None:
        barrier.wait()
        for k in range(600):
            i = (t * 31 + k) % 400
            got = engine.evaluate_checkout(_facts(i))
            if got != expected[i]:
                errors.append(f"thread {t}: facts {i} got {got.outcome}/{got.credit_limit}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:5]


def test_rss_flat_over_200k_decisions() -> None:
    """Memory (issue 306): RSS after 200,000 decisions within 8 MB of RSS after warm-up (subprocess)."""
    out = _python(
        "from engine.rules.durable import DurableRunner\n"
        "from engine.rules.expr import parse_condition, to_durable\n"
        "c = to_durable(parse_condition('a > 1 and b < 5 or a > 7', {'a': 'number', 'b': 'number'}, {}).node)\n"
        "r = DurableRunner({'t': {'x': c, 'y': to_durable(parse_condition('b > 2', {'b': 'number'}, {}).node)}})\n"
        "rss = lambda: int(open('/proc/self/statm').read().split()[1]) * 4096\n"
        "for i in range(20_000): r.match('t', {'a': i % 10, 'b': i % 6})\n"
        "base = rss()\n"
        "for i in range(200_000): r.match('t', {'a': i % 10, 'b': i % 6})\n"
        "print((rss() - base) / 1e6)\n")
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip()) < 8.0
