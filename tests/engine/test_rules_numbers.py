"""Every number reaches durable-rules in a form it reads, and the engine decides as the Python twin (F1).

durable-rules 2.0.28 refuses an exponent without a fraction (``1e-05``, how
Python writes 0.00001: error 204, a 500 at checkout) and reads integers as
64-bit (saturating past 2**63). These tests show both traps on the raw library,
then draw facts and constants over the whole double range, model scores near 0
and 1, large numbers, negative zero and integers past 2**53, and require the
engine's decision to equal the plain-Python evaluation of the same policy
(``Expr.py`` of each row, in the table's order).
"""
from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import durable_rules_engine
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from domain.contract import MAX_AMOUNT
from domain.vocabulary import CUSTOMER_TYPES, PROFILES, SIZES
from engine.rules import RuleEngine, load_policy
from engine.rules import facts as vocab
from engine.rules import durable
from engine.rules.durable import DurableRunner
from engine.rules.expr import parse_condition, parse_formula, to_durable
from engine.rules.model import CreditPolicy
from tests.support.durable import RawHost

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "rules" / "default.yaml"
POLICY = load_policy(DEFAULT)
ENGINE = RuleEngine(POLICY)

#: what the tester's run and the task named, plus the edges of the double range
EDGES = (0.0, -0.0, 5e-324, 1e-300, 3e-05, 1e-05, 1e-12, 1 - 1e-12, 1 - 2 ** -53, 1.0, 1e16, 1e20, -1e20,
         2 ** 53 + 1, 2 ** 63, 2 ** 64 + 1, 12345678901234567890, sys.float_info.max, -sys.float_info.max)
doubles = st.floats(allow_nan=False, allow_infinity=False)
numbers = st.one_of(doubles, st.integers(-(2 ** 70), 2 ** 70), st.sampled_from(EDGES))
scores = st.one_of(st.floats(0.0, 1.0), st.sampled_from((0.0, 5e-324, 1e-300, 3e-05, 1e-05, 1e-12, 0.25, 0.35,
                                                         1 - 1e-12, 1 - 2 ** -53, 1.0)))
amounts = st.one_of(st.floats(0.0, MAX_AMOUNT, exclude_min=True), st.sampled_from((1e-05, 5e-324, MAX_AMOUNT)))
counts = st.one_of(st.integers(0, 2 ** 64), st.sampled_from((0, 1, 3, 2 ** 53 + 1)))
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _raw(condition: dict[str, Any], fired: list[str]) -> RawHost:
    host = RawHost()
    host.set_rulesets({"raw": {"r": {"pri": 1, "all": [{"m": condition}], "run": lambda c: fired.append("r")},
                               "z": {"pri": 2, "all": [{"m": {"always": 1}}], "run": lambda c: None}}})
    return host


def test_raw_library_refuses_exponents_and_saturates_integers() -> None:
    """The traps: 1e-05 in a rule or a fact is error 204; 10**20 reads as 2**63 - 1."""
    fired: list[str] = []
    with pytest.raises(durable_rules_engine.error, match="204"):
        _raw({"$gt": {"x": 1e-05}}, fired)
    with pytest.raises(durable_rules_engine.error, match="204"):
        _raw({"$gt": {"x": 0.5}}, fired).post("raw", {"sid": "1", "x": 3e-05, "always": 1})
    _raw({"$lt": {"x": 10 ** 20}}, fired).post("raw", {"sid": "2", "x": 10 ** 19, "always": 1})
    assert fired == []  # wrong: 10**19 < 10**20, silently not seen

    runner = DurableRunner({"t": {"tiny": to_durable(parse_condition("a > 0.00001", {"a": "number"}, {}).node),
                                  "big": to_durable(parse_condition("a < 100000000000000000000",
                                                                    {"a": "number"}, {}).node)}})
    assert runner.match("t", {"a": 3e-05}) == "tiny"
    assert runner.match("t", {"a": 1e-06}) == "big"
    assert runner.match("t", {"a": -(10 ** 19)}) == "big"
    assert runner.match("t", {"a": 10 ** 19}) == "tiny"
    assert runner.match("t", {"a": -(10 ** 20)}) == "big"
    assert DurableRunner({"t": {"big": to_durable(parse_condition("a < 100000000000000000000", {"a": "number"},
                                                                  {}).node)}}).match("t", {"a": 10 ** 19}) == "big"


@pytest.mark.parametrize("value, text", [
    (1e-05, "1.0e-05"), (3e-05, "3.0e-05"), (1e20, "1.0e+20"), (-1e-300, "-1.0e-300"), (1.5e-07, "1.5e-07"),
    (0.25, "0.25"), (-0.0, "-0.0"), (5e-324, "5.0e-324"), (30, "30"),
])
def test_to_json_writes_a_fraction_before_every_exponent(value: float, text: str) -> None:
    assert durable.to_json({"x": value}) == '{"x":' + text + "}"
    assert float(text) == value


KINDS = {"a": "number", "b": "number", "c": "number"}
#: constants of every awkward spelling, compared and computed with
CONDITIONS = (
    "a > 0.00001", "a <= 3e-05", "a >= 1e20", "a == 9007199254740993", "a < -0.0", "a * 1e-300 > b",
    "a > 0.999999999999", "a != 1.7976931348623157e308", "a + 1e16 > b", "c > a - b - 12345678901234567890",
    "a + b > c", "c < a * 2 - b", "a * b >= c", "b > 1e-05 * a - 1e+20", "a == b", "not (a >= b + c)",
)


@cache
def _runner() -> DurableRunner:
    return DurableRunner({f"c{i}": {"hit": to_durable(parse_condition(s, KINDS, {}).node)}
                          for i, s in enumerate(CONDITIONS)})


@PROPERTY
@given(a=numbers, b=numbers, c=numbers)
@example(a=3e-05, b=1e-05, c=1e20)
@example(a=2 ** 53 + 1, b=2 ** 53, c=-0.0)
def test_conditions_over_the_whole_double_range_agree_with_the_python_twin(a: float, b: float, c: float) -> None:
    facts = {"a": a, "b": b, "c": c}
    for i, src in enumerate(CONDITIONS):
        twin = parse_condition(src, KINDS, {}).py
        assert (_runner().match(f"c{i}", facts) == "hit") == bool(twin(facts)), (src, facts)


def _first(policy: CreditPolicy, table: str, f: Mapping[str, Any]) -> Any:
    return next((r for r in policy.tables[table].rows if r.when.py(f)), None)


def python_checkout(policy: CreditPolicy, facts: Mapping[str, Any]) -> tuple[list[str], float, float]:
    """The checkout decided in plain Python: each table's first row whose ``Expr.py`` holds."""
    f = vocab.normalize(facts, vocab.CHECKOUT_FIELDS)
    f["blocked"] = f["blocked"] or f["customer_id"] in policy.block_list
    risk, prof = _first(policy, "risk_segments", f), _first(policy, "profile_segments", f)
    f["segment"], f["profile_segment"] = risk.sets["segment"], prof.sets["segment"]
    limit = _first(policy, "credit_limits", f)
    f["credit_limit"] = round(min(max(0.0, float(limit.formula.py(f))), sys.float_info.max), 2)
    f["available_credit"] = round(max(0.0, f["credit_limit"] - f["open_exposure"]), 2)
    decided = _first(policy, "checkout", f)
    return [r.id for r in (risk, prof, limit, decided)], f["credit_limit"], f["available_credit"]


def python_dunning(policy: CreditPolicy, facts: Mapping[str, Any]) -> list[str]:
    """The rules a dunning decision fires, in plain Python (notes: every matching row)."""
    f = vocab.normalize(facts, vocab.DUNNING_INPUT)
    risk = _first(policy, "risk_segments", f)
    f["segment"] = risk.sets["segment"]
    decisive = [r for r in (_first(policy, "dunning.rules", f), _first(policy, "ladder", f)) if r is not None]
    notes = [r.id for r in policy.tables["dunning.notes"].rows if r.when.py(f)]
    return [risk.id, *(r.id for r in decisive), *notes]


history = {"open_exposure": numbers, "overdue_amount": numbers, "avg_monthly_purchases": numbers,
           "invoices_paid": counts, "share_paid_late": scores, "mean_days_late": numbers,
           "open_disputes": counts, "p_late": scores, "p_late_30": scores, "expected_days_late": numbers}
who = {"customer_type": st.sampled_from(CUSTOMER_TYPES), "profile": st.sampled_from(("", *PROFILES)),
       "customer_size": st.sampled_from(("", *SIZES)), "key_account": st.booleans(),
       "is_new_customer": st.booleans(), "country": st.sampled_from(("NL", "DE", "FR"))}


@PROPERTY
@given(facts=st.fixed_dictionaries({**who, **history, "order_amount": amounts,
                                    "payment_terms_days": st.integers(0, 365), "blocked": st.booleans(),
                                    "customer_id": st.sampled_from(("C-1", "C-BLOCKED-1"))}))
@example(facts={"customer_type": "business", "order_amount": 1e-05, "p_late_30": 3e-05, "p_late": 1 - 1e-12})
@example(facts={"customer_type": "consumer", "order_amount": MAX_AMOUNT, "avg_monthly_purchases": 1e20,
                "open_exposure": -0.0, "invoices_paid": 2 ** 53 + 1, "is_new_customer": False})
def test_checkout_equals_the_plain_python_policy(facts: dict[str, Any]) -> None:
    out = ENGINE.evaluate_checkout(facts)
    fired, limit, available = python_checkout(POLICY, facts)
    assert (out.rules_fired, out.credit_limit, out.available_credit) == (fired, limit, available)


@PROPERTY
@given(facts=st.fixed_dictionaries({**who, **history, "days_past_due": st.one_of(numbers, st.integers(-400, 400)),
                                    "amount": amounts, "reminders_sent": counts,
                                    "days_since_last_reminder": numbers, "final_notice_sent": st.booleans(),
                                    "final_notice_days_ago": numbers, "disputed": st.booleans(),
                                    "dispute_days_open": numbers, "account_manager": st.sampled_from(("", "Ann"))}))
@example(facts={"customer_type": "consumer", "days_past_due": 30.000000000000004, "expected_days_late": 1e20,
                "amount": 1e-05, "p_late_30": 3e-05})
def test_dunning_equals_the_plain_python_policy(facts: dict[str, Any]) -> None:
    assert ENGINE.evaluate_dunning(facts).rules_fired == python_dunning(POLICY, facts)


def test_numbers_beyond_the_double_range_are_refused_with_the_field() -> None:
    from domain.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        ENGINE.evaluate_checkout({"order_amount": 10 ** 400})
    assert err.value.field == "order_amount"
    with pytest.raises(Exception, match="not a finite number"):
        parse_condition("a > " + "9" * 400, KINDS, {})


def test_a_formula_that_overflows_gives_the_largest_limit_not_a_crash(tmp_path: Path) -> None:
    """An analyst's unbounded formula (3 * avg) on a huge history: the limit is the largest double."""
    path = tmp_path / "policy.yaml"
    path.write_text(DEFAULT.read_text().replace("limit: min(max(3 * avg_monthly_purchases, 5000), 100000)",
                                                "limit: 3 * avg_monthly_purchases"))
    engine = RuleEngine(load_policy(path))
    out = engine.evaluate_checkout({"customer_type": "business", "is_new_customer": False, "order_amount": 10.0,
                                    "avg_monthly_purchases": sys.float_info.max})
    assert out.rules_fired[2] == "limit.business_low"
    assert out.credit_limit == sys.float_info.max and math.isfinite(out.available_credit)
    assert parse_formula("3 * avg_monthly_purchases", vocab.ALL_KINDS, {}).py(
        {"avg_monthly_purchases": sys.float_info.max}) == math.inf
