"""The policies page (analyst; auditors may read): the live credit policy readable, its versions and a diff
between two, each table's test cases and their result, and a backtest of a draft against the live policy.

Why these sources: the live policy is the one serving (``Served.rules``); the
versions are the files of ``POLICY_VERSIONS`` (earlier versions and drafts)
beside the live file; a version's test cases run on the real engine as ``kredo
rules check`` runs them (``engine.rules.check``); the backtest replays the
invoices of ``REPLAY_LEDGER`` as checkouts through both policies with the
champion's scores (``training.backtest``, what ``kredo backtest`` runs).
"""
from __future__ import annotations

import difflib
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import request
from flask_babel import gettext as _

from domain.errors import InvalidInput, NotFound
from engine.rules import RuleEngine
from engine.rules.check import check_policy, load_policy, run_case
from serving.access import requires
from serving.pages.exports import Column, Table, respond
from serving.pages.layout import blueprint
from serving.runtime import get_runtime

bp = blueprint("pages_policies", __name__)
READERS = ("analyst", "auditor")
LIVE = "live"
#: invoices a backtest replays (a seeded sample: a page answers in seconds)
BACKTEST_SAMPLE = 2_000


def versions() -> dict[str, Path]:
    """The policy files by name: ``live`` (the serving file) and every ``*.yaml`` / ``*.json`` of
    ``POLICY_VERSIONS``."""
    config = get_runtime().config
    found = {LIVE: Path(config["POLICY_PATH"])}
    folder = config.get("POLICY_VERSIONS")
    if folder:
        for path in sorted(Path(folder).iterdir()):
            if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
                found[path.stem] = path
    return found


def _file(name: str | None, field: str) -> Path | None:
    if name is None:
        return None
    known = versions()
    if name not in known:
        raise NotFound(f"no policy version {name[:80]!r}; known: {sorted(known)}", field=field)
    return known[name]


def _rules(policy: Any) -> list[Table]:  # noqa: ANN401 - a CreditPolicy
    """One table per policy table: its rows in order (first hit wins where ``hit: first``)."""
    return [Table(f"rules_{name}", f"{name} ({table.hit})", [
        Column("id", _("Rule")), Column("when", _("When")), Column("sets", _("Then")), Column("reason", _("Reason"))],
        [{"id": r.id, "when": r.when.source,
          "sets": ", ".join(f"{k} = {v}" for k, v in r.sets.items()), "reason": r.reason} for r in table.rows])
        for name, table in policy.tables.items()]


@lru_cache(maxsize=32)
def _checked(path: Path, digest: str) -> Any:  # noqa: ANN401 - a CheckReport
    """``check_policy`` of a file as it stands (``digest`` of its bytes): the check samples thousands of inputs
    per table (0.5 s a request for the live file and its versions), and its sampling is seeded, so the same
    bytes give the same report; a file that changes gets a new digest and is checked again."""
    return check_policy(path)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check(path: Path) -> Any:  # noqa: ANN401 - a CheckReport
    return _checked(path, _digest(path))


@lru_cache(maxsize=32)
def _case_rows(path: Path, digest: str) -> tuple[tuple[dict[str, Any], ...], tuple[Any, ...]]:
    """Each test case of the file with its result on the real engine, under the tables whose rules it names,
    and the check's findings (kept per file content, as :func:`_checked`)."""
    report = _checked(path, digest)
    rows = []
    if report.policy is not None:
        policy, engine = report.policy, RuleEngine(report.policy)
        table_of = {r.id: t.name for t in policy.tables.values() for r in t.rows}
        for case in policy.cases:
            problems, _fired = run_case(engine, case)
            named = [*case.get("fires", ()), *case.get("not_fires", ())]
            tables = sorted({table_of[r] for r in named if r in table_of}) or ["-"]
            rows += [{"table": t, "case": case["name"], "decision": case["decision"], "passed": not problems,
                      "problems": "; ".join(problems)} for t in tables]
    rows.sort(key=lambda r: (r["table"], r["case"]))
    return tuple(rows), tuple(report.findings)


def _cases(path: Path) -> tuple[Table, list[Any]]:
    """The test cases' table of the file and the check's findings."""
    rows, findings = _case_rows(path, _digest(path))
    table = Table("cases", _("Test cases per table"), [
        Column("table", _("Table")), Column("case", _("Case")), Column("decision", _("Decision")),
        Column("passed", _("Passed"), "bool"), Column("problems", _("Problems"))], [dict(r) for r in rows])
    return table, list(findings)


def warm() -> None:
    """Check every version and run its test cases now (at worker start, ``serving.warmup``), so that the page's
    first request in a worker reads the kept reports instead of sampling thousands of inputs per table."""
    for path in versions().values():
        _case_rows(path, _digest(path))


def _diff(a: Path, b: Path) -> list[dict[str, str]]:
    lines = difflib.unified_diff(a.read_text().splitlines(), b.read_text().splitlines(), a.name, b.name, lineterm="")
    return [{"kind": {"+": "added", "-": "removed", "@": "hunk"}.get(line[:1], "same"), "text": line}
            for line in lines]


@lru_cache(maxsize=4)
def _backtest(ledger_dir: str, draft: str, live: str, model_version: str) -> Any:  # noqa: ANN401
    """The draft's checkout replay against the live policy (kept per files and model: the replay is fixed)."""
    from ledger.tables import load_ledger
    from training.backtest import backtest, model_scorer

    model = get_runtime().snapshot().model
    return backtest(load_ledger(ledger_dir), load_policy(draft), load_policy(live), scorer=model_scorer(model),
                    sample=BACKTEST_SAMPLE)


@bp.get("/policies")
@requires(*READERS)
def policies_page() -> Any:  # noqa: ANN401 - a page or a CSV
    args = request.args
    unknown = sorted(set(args) - {"version", "diff", "against", "draft", "format", "table"})
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}", field=unknown[0])
    runtime = get_runtime()
    live = runtime.snapshot().rules.policy
    known = versions()
    listed = []
    for name, path in known.items():
        report = _check(path)
        listed.append({"name": name, "file": path.name, "version": report.policy.version if report.policy else None,
                       "ok": report.ok, "errors": len(report.errors)})
    version_table = Table("versions", _("Versions"), [
        Column("name", _("Name")), Column("file", _("File")), Column("version", _("Version")),
        Column("ok", _("Passes the check"), "bool"), Column("errors", _("Errors"), "int")], listed)
    chosen = args.get("version") or LIVE
    cases, findings = _cases(_file(chosen, "version"))
    tables = [version_table, cases, *_rules(live)]
    diff = None
    if args.get("diff"):
        diff = _diff(_file(args.get("diff"), "diff"), _file(args.get("against") or LIVE, "against"))
    changes = None
    draft = _file(args.get("draft"), "draft")
    ledger_dir = runtime.config.get("REPLAY_LEDGER")
    if draft is not None and ledger_dir:
        result = _backtest(str(ledger_dir), str(draft), str(known[LIVE]), runtime.snapshot().model_info.version)
        pairs = result.decisions.groupby(["outcome_baseline", "outcome_new"]).size().reset_index(name="decisions")
        changes = {"summary": result.summary.to_dict("records"), "new": result.new_version,
                   "baseline": result.baseline_version, "replayed": len(result.decisions)}
        tables.append(Table("changes", _("What changes: live outcome against the draft's"), [
            Column("outcome_baseline", _("Live")), Column("outcome_new", _("Draft")),
            Column("decisions", _("Decisions"), "int")], pairs.to_dict("records")))
        tables.append(Table("customers", _("Customers whose decisions change"), [
            Column(c, c) for c in result.changed_customers.columns], result.changed_customers.head(50).to_dict("records")))
    return respond("pages/policies.html", tables, title=_("Policies"), live=live, versions=list(known),
                   chosen=chosen, findings=findings, diff=diff, diff_pair=(args.get("diff"), args.get("against") or LIVE),
                   changes=changes, draft=args.get("draft"), replay_ledger=ledger_dir)
