"""``check_policy`` and ``load_policy``: a policy is only loaded when it passes every check.

Why: a policy mistake costs money silently (a rule that never fires, two
segment rules that both claim a customer, a segment nobody dunns). Beyond the
schema and the compiler (see ``policy.py``), the checker samples facts around
every constant the conditions compare with and evaluates the Python twin of
each condition, which finds:

* rules that can never fire (never true, or always taken by an earlier rule),
* overlapping rules with different outcomes in ``hit: unique`` tables,
* gaps: facts for which a table that must decide has no matching row,
* embedded test cases (``tests:``) that fail on the real engine.

Sampling is seeded, so the same file always gives the same report.
"""
from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.errors import KredoError, PolicyError
from engine.rules import facts as vocab
from engine.rules.expr import comparison_constants
from engine.rules.model import Finding, CreditPolicy, Row, Table
from engine.rules.policy import parse_policy

MUST_DECIDE = ("risk_segments", "profile_segments", "credit_limits", "checkout")
GENERIC_NUMBERS = (-5, 0, 0.5, 1, 10, 100, 1_000, 10_000, 100_000)
SAMPLES = 3_000
SEED = 20240601


@dataclass(frozen=True)
class Report:
    """The outcome of a check: the compiled policy (if loadable) and every finding."""

    policy: CreditPolicy | None
    findings: list[Finding]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return self.policy is not None and not self.errors


def check_policy(path: str | Path) -> Report:
    """Every finding for the policy file at ``path`` (errors and warnings)."""
    policy, findings = parse_policy(path)
    if policy is None:
        return Report(None, findings)
    for table in policy.tables.values():
        findings += _analyse(policy, table)
    if not any(f.severity == "error" for f in findings):
        findings += _run_cases(policy)
    return Report(policy if not any(f.severity == "error" for f in findings) else None, findings)


def load_policy(path: str | Path) -> CreditPolicy:
    """A validated policy, or ``PolicyError`` naming the file, line and a fix hint.

    ``extra["findings"]`` lists every error, not only the first.
    """
    report = check_policy(path)
    if report.ok:
        assert report.policy is not None
        return report.policy
    first = report.errors[0]
    raise PolicyError(f"{first.file}:{first.line or '?'}: {first.message}", field=first.code,
                      extra={"file": first.file, "line": first.line, "hint": first.hint,
                             "findings": [f.to_dict() for f in report.errors]})


# ---- sampling analysis ----

def _candidates(policy: CreditPolicy, table: Table, rows: tuple[Row, ...]) -> dict[str, list[Any]]:
    kinds = vocab.ALL_KINDS
    choices = {f.name: f.choices for f in (*vocab.CHECKOUT_FIELDS, *vocab.DUNNING_FIELDS) if f.choices}
    choices["segment"] = tuple(sorted({r.sets["segment"] for r in policy.tables["risk_segments"].rows}))
    choices["profile_segment"] = tuple(sorted({r.sets["segment"] for r in policy.tables["profile_segments"].rows}))
    consts: dict[str, set[Any]] = {}
    for row in rows:
        for k, v in comparison_constants(row.when.node).items():
            consts.setdefault(k, set()).update(v)
    out: dict[str, list[Any]] = {}
    for name in sorted({f for r in table.rows for f in r.when.fields}):
        if kinds[name] == "bool":
            out[name] = [False, True]
        elif kinds[name] == "str":
            out[name] = sorted({"", *choices.get(name, ()), *consts.get(name, set()), "other"})
        else:
            near = {c + d for c in consts.get(name, set()) for d in (-1, -0.01, 0, 0.01, 1)}
            out[name] = sorted(near | set(GENERIC_NUMBERS))
    return out


def _samples(cands: Mapping[str, list[Any]], rng: random.Random, n: int) -> Iterator[dict[str, Any]]:
    names = list(cands)
    size = 1
    for v in cands.values():
        size *= len(v)
    if size <= n:
        for combo in itertools.product(*(cands[k] for k in names)):
            yield dict(zip(names, combo))
        return
    for _ in range(n):
        yield {k: rng.choice(cands[k]) for k in names}


def _analyse(policy: CreditPolicy, table: Table) -> list[Finding]:
    if not table.rows:
        return []
    rng = random.Random(SEED)
    samples = list(_samples(_candidates(policy, table, table.rows), rng, SAMPLES))
    for row in table.rows:  # a few samples aimed at each row's own constants
        samples += _samples(_candidates(policy, table, (row,)), rng, SAMPLES // 10)
    matched = [[bool(r.when.py(s)) for r in table.rows] for s in samples]
    out: list[Finding] = []
    collect = table.hit == "collect"
    for k, row in enumerate(table.rows):
        if not any(m[k] for m in matched):
            out.append(_finding(policy, row, "never_fires", f"rule {row.id!r} can never fire: its condition "
                                "is never true", "check the comparison directions and the values"))
        elif not collect and not any(m[k] and not _earlier_hit(table, m, k, row) for m in matched):
            takers = {table.rows[j].id for m in matched if m[k] for j in range(k) if m[j]
                      and _same_group(table.rows[j], row)}
            out.append(_finding(policy, row, "never_fires", f"rule {row.id!r} never fires: every case it "
                                f"matches is taken first by {', '.join(sorted(takers))}",
                                "move it above those rules or narrow their conditions"))
    if table.hit == "unique":
        out += _overlaps(policy, table, samples, matched)
    if table.name in MUST_DECIDE:
        for s, m in zip(samples, matched):
            if not any(m):
                example = ", ".join(f"{k}={v!r}" for k, v in s.items())
                out.append(Finding("error", "gap", f"{table.name}: no rule matches e.g. {example}",
                                   policy.path, table.line, "add a last rule with 'when: true' as the fallback"))
                break
    return out


def _same_group(a: Row, b: Row) -> bool:
    """Ladder rows only compete within their own segment's ladder."""
    return a.table != "ladder" or a.id.split(".")[1] == b.id.split(".")[1]


def _earlier_hit(table: Table, m: list[bool], k: int, row: Row) -> bool:
    return any(m[j] and _same_group(table.rows[j], row) for j in range(k))


def _overlaps(policy: CreditPolicy, table: Table, samples: list[dict[str, Any]],
              matched: list[list[bool]]) -> list[Finding]:
    out, rows = [], table.rows
    fallback = len(rows) - 1 if rows[-1].when.node == ("const", True) else None
    for i, j in itertools.combinations(range(len(rows)), 2):
        if fallback in (i, j) or rows[i].sets == rows[j].sets:
            continue
        hit = next((s for s, m in zip(samples, matched) if m[i] and m[j]), None)
        if hit is not None:
            shared = sorted(rows[i].when.fields | rows[j].when.fields)
            example = ", ".join(f"{k}={hit[k]!r}" for k in shared)
            out.append(_finding(policy, rows[j], "overlap",
                                f"rules {rows[i].id!r} and {rows[j].id!r} overlap with different outcomes "
                                f"(e.g. {example}) in a 'hit: unique' table",
                                "make the conditions exclusive, or use 'hit: first' and order them"))
    return out


def _finding(policy: CreditPolicy, row: Row, code: str, message: str, hint: str) -> Finding:
    return Finding("error", code, message, policy.path, row.when_line or row.line, hint)


# ---- embedded test cases ----

def _run_cases(policy: CreditPolicy) -> list[Finding]:
    from engine.rules.engine import RuleEngine  # noqa: PLC0415 - the engine needs a checked policy first

    if not policy.cases:
        return []
    engine = RuleEngine(policy)
    out: list[Finding] = []
    fired_by_cases: set[str] = set()
    for i, case in enumerate(policy.cases):
        line = policy.line_of("tests", i)
        problems, fired = run_case(engine, case)
        fired_by_cases |= set(case.get("fires", ())) & fired
        for problem in problems:
            out.append(Finding("error", "case_failed", f"test {case['name']!r}: {problem}", policy.path, line,
                               "fix the rule or the expected outcome of this test"))
    for row_id in policy.rule_ids():
        if row_id not in fired_by_cases:
            out.append(Finding("warning", "untested", f"no test case makes rule {row_id!r} fire", policy.path,
                               policy.line_of("tests"), f"add a case with 'fires: [{row_id}]'"))
    return out


def run_case(engine: Any, case: Mapping[str, Any]) -> tuple[list[str], set[str]]:
    """Run one embedded case; returns (problems, rules fired)."""
    try:
        if case["decision"] == "checkout":
            result = engine.evaluate_checkout(case["facts"])
        else:
            result = engine.evaluate_dunning(case["facts"])
    except KredoError as exc:
        return [f"the engine refused the facts: {exc}"], set()
    fired = set(result.rules_fired)
    problems = []
    for key, want in (case.get("expect") or {}).items():
        got = getattr(result, key, None)
        if got != want:
            problems.append(f"expected {key}={want!r}, got {got!r}")
    for rid in case.get("fires", ()):
        if rid not in fired:
            problems.append(f"expected rule {rid!r} to fire; fired: {sorted(fired)}")
    for rid in case.get("not_fires", ()):
        if rid in fired:
            problems.append(f"expected rule {rid!r} not to fire")
    return problems, fired
