"""The default policy's embedded cases, rule coverage, the checker's findings with lines, hot reload."""
from __future__ import annotations

import random
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from domain.errors import InvalidInput, PolicyError
from engine.rules import PolicyHolder, RuleEngine, check_policy, load_policy
from engine.rules.check import run_case
from engine.rules.durable import DurableRunner
from engine.rules import facts as vocab
from engine.rules.expr import ExprError, comparison_constants, parse_condition, to_durable
from serving.cli import main as kredo

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "rules" / "default.yaml"
POLICY = load_policy(DEFAULT)
ENGINE = RuleEngine(POLICY)


@pytest.mark.parametrize("case", POLICY.cases, ids=[c["name"] for c in POLICY.cases])
def test_embedded_case(case: dict) -> None:
    problems, _ = run_case(ENGINE, case)
    assert not problems


def test_every_rule_has_a_case_that_fires_it_and_one_that_does_not() -> None:
    fires, not_fires = set(), set()
    for case in POLICY.cases:
        _, fired = run_case(ENGINE, case)
        fires |= set(case.get("fires", ())) & fired
        not_fires |= set(case.get("not_fires", ())) - fired
    ids = set(POLICY.rule_ids())
    assert ids - fires == set()
    assert ids - not_fires == set()


def test_version_and_hash_recorded_with_every_decision() -> None:
    out = ENGINE.evaluate_checkout({"customer_type": "business", "order_amount": 10})
    assert out.policy_version == "2025.06-1"
    import hashlib
    assert out.policy_hash == hashlib.sha256(DEFAULT.read_bytes()).hexdigest()
    assert [r.code for r in out.reasons] == out.rules_fired


def test_cli_check_ok_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert kredo(["rules", "check", str(DEFAULT)]) == 0
    assert "OK:" in capsys.readouterr().out


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT.read_text()
    assert old in text
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def _line(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize("old, new, code, needle, hint", [
    ("      segment: medium\n", "      segmnt: medium\n", "unknown_field", "segmnt:", "did you mean 'segment'"),
    ("when: p_late >= 0.35 or", "when: p_laet >= 0.35 or", "condition", "p_laet", "did you mean 'p_late'"),
    ("outcome: prepay\n      reason: High risk segment", "outcome: prepayment\n      reason: High risk segment",
     "schema", "outcome: prepayment", "use one of"),
    ("when: segment == \"high\"\n      outcome: prepay", "when: segment == \"hihg\"\n      outcome: prepay",
     "unknown_value", "hihg", "did you mean 'high'"),
    ("      when: order_amount > review_above", "      when: order_amount > review_above and order_amount < 10",
     "never_fires", "order_amount < 10", "check the comparison"),
    ("    - id: checkout.review_large_order\n", "    - id: checkout.review_any\n      when: order_amount > 10\n"
     "      outcome: review\n      reason: any\n    - id: checkout.review_large_order\n",
     "never_fires", "when: order_amount > review_above", "move it above"),
    ("    - {id: profile.adult, when: 'customer_type == \"consumer\" and profile == \"adult\"'",
     "    - {id: profile.adult, when: 'customer_type == \"consumer\"'", "overlap", "id: profile.adult",
     "make the conditions exclusive"),
    ("    - id: risk.low\n      when: true\n", "    - id: risk.low\n      when: p_late < 0.1\n", "gap",
     "risk_segments:", "when: true"),
    ("    high:\n      - {step: pre_due_nudge", "    hihg:\n      - {step: pre_due_nudge", "gap", "ladders:",
     "dunning.ladders.high"),
    ("      - {step: final_notice, from_day: 14,", "      - {step: final_notice, from_day: 34,", "legal",
     "    high:", "final_notice"),
    ("expect: {action: call, tone: firm}", "expect: {action: call, tone: friendly}", "case_failed",
     "name: high risk call after a week", "fix the rule"),
    ("version: \"2025.06-1\"\n", "version: \"2025.06-1\"\nversion: \"x\"\n", "duplicate_key", "version: \"x\"",
     "remove one"),
    ("  rules:\n    - id: risk.high", "  rules:\n   - id: risk.high\n  bad", "syntax", "  bad", "indentation"),
])
def test_broken_policy_names_line_and_hint(tmp_path: Path, old: str, new: str, code: str, needle: str,
                                           hint: str) -> None:
    path = _broken(tmp_path, old, new)
    report = check_policy(path)
    assert not report.ok
    found = [f for f in report.errors if f.code == code]
    assert found, [str(f) for f in report.findings]
    if code != "syntax":
        found = [f for f in found if f.line == _line(path, needle)]
        assert found, [str(f) for f in report.errors]
    assert hint in found[0].hint or hint in found[0].message
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert err.value.extra["file"] == str(path) and err.value.extra["line"] is not None
    assert err.value.extra["hint"]


def test_cli_check_refuses_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _broken(tmp_path, "when: p_late >= 0.35 or", "when: p_laet >= 0.35 or")
    assert kredo(["rules", "check", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:{_line(path, 'p_laet')}:" in out and "REFUSED" in out


def test_reload_with_broken_file_keeps_old_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    shutil.copy(DEFAULT, path)
    holder = PolicyHolder(path)
    old = holder.current
    assert holder.reload().changed is False
    path.write_text(DEFAULT.read_text().replace("review_above: 25000", "review_above: [oops"))
    result = holder.reload()
    assert not result.ok and result.errors and result.errors[0]["line"]
    assert holder.current is old
    assert holder.current.evaluate_checkout({"customer_type": "business", "order_amount": 10}).outcome == "accept"
    path.write_text(DEFAULT.read_text().replace('version: "2025.06-1"', 'version: "2025.06-2"'))
    result = holder.reload()
    assert result.ok and result.changed and holder.current is not old
    assert holder.current.evaluate_checkout({"order_amount": 10}).policy_version == "2025.06-2"


def test_initial_load_of_broken_file_raises(tmp_path: Path) -> None:
    path = _broken(tmp_path, "version: \"2025.06-1\"\n", "")
    with pytest.raises(PolicyError) as err:
        PolicyHolder(path)
    assert "version" in str(err.value)


@pytest.mark.parametrize("facts, field", [
    ({"order_amount": "100"}, "order_amount"),
    ({"order_amount": float("nan")}, "order_amount"),
    ({"blocked": "yes"}, "blocked"),
    ({"customer_type": "government"}, "customer_type"),
    ({"p_late": True}, "p_late"),
])
def test_bad_facts_are_refused_with_the_field(facts: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ENGINE.evaluate_checkout(facts)
    assert err.value.field == field


def test_send_window_per_country() -> None:
    window = ENGINE.send_window("nl")
    assert window.allowed_hours == tuple(range(8, 21))
    sunday_night = datetime(2024, 6, 2, 22, 0, tzinfo=timezone.utc)  # Sunday 00:00 in Amsterdam is Monday
    assert window.earliest(sunday_night).isoformat() == "2024-06-03T08:00:00+02:00"
    inside = datetime(2024, 6, 4, 10, 0, tzinfo=timezone.utc)
    assert window.earliest(inside) == inside
    assert ENGINE.send_window("FR").country == "default"
    with pytest.raises(InvalidInput):
        window.earliest(datetime(2024, 6, 4, 10, 0))


def test_dunning_outcome_fields() -> None:
    out = ENGINE.evaluate_dunning({"customer_type": "consumer", "segment": "low", "days_past_due": 30,
                                   "amount": 3000, "country": "NL"},
                                  now=datetime(2024, 6, 4, 10, tzinfo=timezone.utc))
    assert out.action == "final_notice" and str(out.collection_costs) == "425.00"
    assert out.earliest_send_at is not None and out.send_window.allows(out.earliest_send_at)
    assert out.policy_hash == POLICY.content_hash


KINDS = {"a": "number", "b": "number", "c": "number", "flag": "bool", "kind": "str"}
CONDITIONS = [
    "a > 1 and b <= 3", "not (a > 1 and b <= 3)", "a + b > c", "c < a * 2 - b", "flag and kind == \"x\"",
    "not flag or kind != \"x\"", "kind in [\"x\", \"y\"] and a >= 0", "kind not in [\"x\"]", "1 < a <= 5",
    "a - b >= c or not flag", "true", "false",
]


@settings(max_examples=150, deadline=None)
@given(a=st.integers(-5, 10), b=st.integers(-5, 10), c=st.integers(-5, 20), flag=st.booleans(),
       kind=st.sampled_from(["x", "y", "", "z"]))
def test_durable_and_python_twins_agree(a: int, b: int, c: int, flag: bool, kind: str) -> None:
    facts = {"a": a, "b": b, "c": c, "flag": flag, "kind": kind}
    for i, src in enumerate(CONDITIONS):
        expr = parse_condition(src, KINDS, {})
        assert (_RUNNER.match(f"c{i}", facts) == "hit") == bool(expr.py(facts)), src


_RUNNER = DurableRunner({f"c{i}": {"hit": to_durable(parse_condition(s, KINDS, {}).node)}
                         for i, s in enumerate(CONDITIONS)})


@pytest.mark.parametrize("src, hint", [
    ("a >", "Python-like syntax"), ("a / 2 > 1", "multiply"), ("kind > \"x\"", "== or !="),
    ("a == \"x\"", "quotes"), ("min(a, b) > 1", "formula"), ("a + b > b + c", "single field"),
    ("__import__('os')", "not allowed"), ("zzz > 1", "known fields"),
])
def test_bad_conditions_have_hints(src: str, hint: str) -> None:
    with pytest.raises(ExprError) as err:
        to_durable(parse_condition(src, KINDS, {}).node)
    assert hint in err.value.hint or hint in str(err.value)


def test_tables_post_once_per_combination_and_decide_the_same() -> None:
    """durable-rules decides each combination of a table's comparisons once (however the amounts and scores in
    them vary); every decision still equals an engine that posts every table."""
    memoized, posted = RuleEngine(POLICY), RuleEngine(POLICY)
    posted._memo = {table: _Forgetful() for table in posted._memo}
    calls: list[str] = []
    match = memoized._runner.match
    memoized._runner.match = lambda ruleset, facts: calls.append(ruleset) or match(ruleset, facts)
    profiles = ("", "student", "adult", "sme", "enterprise")
    for i in range(300):
        facts = {"customer_type": ("business", "consumer")[i % 2], "profile": profiles[i % 5],
                 "is_new_customer": i % 3 == 0, "order_amount": float(50 + (i * 37) % 4000),
                 "open_exposure": float((i * 13) % 3000), "avg_monthly_purchases": float((i * 7) % 2000),
                 "p_late": (i % 10) / 10, "p_late_30": (i % 7) / 20, "customer_id": f"C{i}"}
        assert memoized.evaluate_checkout(facts) == posted.evaluate_checkout(facts)
    for table in ("risk_segments", "profile_segments", "credit_limits", "checkout"):
        assert 0 < calls.count(table) == len(memoized._memo[table]) < 60, table  # the amounts all differ


def _around_constants(engine: RuleEngine, fields: tuple, rng: random.Random) -> dict:
    """Facts drawn at, just beside and far from every constant the policy compares each field with."""
    constants: dict[str, set] = {}
    for table in engine.policy.tables.values():
        for row in table.rows:
            for name, values in comparison_constants(row.when.node).items():
                constants.setdefault(name, set()).update(values)
    facts: dict = {}
    for f in fields:
        if f.kind == "bool":
            facts[f.name] = rng.random() < 0.5
        elif f.kind == "str":
            options = [c for c in constants.get(f.name, ()) if isinstance(c, str)] + list(f.choices or ("",))
            facts[f.name] = rng.choice(options)
        else:
            near = [v + d for v in constants.get(f.name, ()) for d in (-1e-9, 0.0, 1e-9, -1.0, 1.0)]
            facts[f.name] = rng.choice(near + [0.0, rng.uniform(0, 1), rng.uniform(0, 5_000), rng.uniform(0, 1e6)])
    return facts


def test_the_memo_decides_as_durable_rules_at_every_boundary() -> None:
    """The memo keys on the truth of each comparison (its Python twin): on facts at, beside and far from
    every constant of the policy, checkout and dunning decide exactly as an engine that posts every table."""
    memoized, posted = RuleEngine(POLICY), RuleEngine(POLICY)
    posted._memo = {table: _Forgetful() for table in posted._memo}
    rng = random.Random(20261201)
    now = datetime(2026, 11, 23, 10, tzinfo=timezone.utc)
    for _ in range(1_500):
        facts = _around_constants(memoized, vocab.CHECKOUT_FIELDS, rng)
        assert memoized.evaluate_checkout(facts) == posted.evaluate_checkout(facts)
        facts = _around_constants(memoized, vocab.DUNNING_INPUT, rng)
        facts["days_past_due"] = float(rng.randint(-5, 120))
        assert memoized.evaluate_dunning(facts, now) == posted.evaluate_dunning(facts, now)


class _Forgetful(dict):
    """A memo that keeps nothing: every decision is posted."""

    def __setitem__(self, key, value) -> None:  # noqa: ANN001
        return None


def test_the_ladder_is_posted_once_per_combination_in_a_days_batch() -> None:
    """A day's invoices share the combinations of the guards' and the ladder's comparisons: one post each."""
    memoized, posted = RuleEngine(POLICY), RuleEngine(POLICY)
    posted._memo = {table: _Forgetful() for table in posted._memo}
    calls: list[str] = []
    match = memoized._runner.match
    memoized._runner.match = lambda ruleset, facts: calls.append(ruleset) or match(ruleset, facts)
    for i in range(400):
        facts = {"customer_type": ("business", "consumer")[i % 2], "days_past_due": i % 40 - 5,
                 "amount": 100.0 + i, "p_late": (i % 10) / 10, "reminders_sent": i % 2,
                 "days_since_last_reminder": i % 9, "expected_days_late": float(i % 13)}
        assert memoized.evaluate_dunning(facts) == posted.evaluate_dunning(facts)
    for table in ("dunning.rules", "ladder"):  # the amounts all differ; the combinations of comparisons do not
        assert 0 < calls.count(table) == len(memoized._memo[table]) < 100, table
