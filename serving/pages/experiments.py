"""The experiments page (analyst; auditors may read): what the live dunning bandit has learnt, and an
off-policy estimate of a candidate policy.

Why these numbers: per context (risk segment x profile, the bandit's key) each
arm's pulls, reward rate (paid within 7 days of the decision, Wilson 95 %
interval) and current allocation come from the state the workers choose from
(``engine.bandits.report``); the bandit's uplift over the control group (the
fixed share kept on the static order) with its 95 % interval from the group
counts; and, on the logged reminders of ``REPLAY_LEDGER``, IPS / SNIPS / DR of a
candidate policy (``engine.bandits.offline.evaluate_on_ledger``, what ``kredo
bandit evaluate`` prints).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import request
from flask_babel import gettext as _

from domain.errors import InvalidInput
from engine.bandits.offline import POLICIES, evaluate_on_ledger
from engine.bandits.report import experiment_report
from serving.access import requires
from serving.pages.exports import Column, Table, respond
from serving.pages.layout import blueprint
from serving.runtime import get_runtime

bp = blueprint("pages_experiments", __name__)
READERS = ("analyst", "auditor")


@lru_cache(maxsize=8)
def _estimate(ledger_dir: str, candidate: str) -> dict[str, Any]:
    """The off-policy report of ``candidate`` on the logged reminders of ``ledger_dir`` (kept: the log is fixed)."""
    from ledger.tables import load_ledger

    return evaluate_on_ledger(load_ledger(ledger_dir), candidate)


@bp.get("/experiments")
@requires(*READERS)
def experiments_page() -> Any:  # noqa: ANN401 - a page or a CSV
    runtime = get_runtime()
    candidate = request.args.get("candidate") or None
    if candidate is not None and candidate not in POLICIES:
        raise InvalidInput(f"candidate must be one of {sorted(POLICIES)}", field="candidate")
    policy = runtime.snapshot().rules.policy
    segments = tuple(dict.fromkeys(str(r.sets["segment"]) for r in policy.tables["risk_segments"].rows))
    report = experiment_report(runtime.bandit.experiment, runtime.bandit.attribution, segments)
    rows = [{"segment": c.segment, "profile": c.profile, "arm": a.arm.key, "pulls": a.pulls, "rewards": a.rewards,
             "rate": a.rate.value, "low": a.rate.low, "high": a.rate.high, "allocation": a.allocation}
            for c in report.contexts for a in c.arms if a.pulls or a.allocation >= 0.01]
    arms = Table("arms", _("Arms per context"), [
        Column("segment", _("Segment")), Column("profile", _("Profile")), Column("arm", _("Arm")),
        Column("pulls", _("Pulls"), "int"), Column("rewards", _("Paid within 7 days"), "num"),
        Column("rate", _("Reward rate"), "pct"), Column("low", _("Lower bound"), "pct"),
        Column("high", _("Upper bound"), "pct"), Column("allocation", _("Allocation now"), "pct")], rows,
        note=_("Arms with rewarded pulls, or a share of the next decisions of at least one in a hundred."))
    groups = [{"group": g, "reminders": report.group_counts[g][1], "paid": report.group_counts[g][0],
               "rate": report.groups[g].value, "low": report.groups[g].low, "high": report.groups[g].high}
              for g in ("bandit", "control")]
    group_table = Table("groups", _("Bandit against control"), [
        Column("group", _("Group")), Column("reminders", _("Rewarded reminders"), "int"),
        Column("paid", _("Paid within 7 days"), "num"), Column("rate", _("Reward rate"), "pct"),
        Column("low", _("Lower bound"), "pct"), Column("high", _("Upper bound"), "pct")], groups)
    ledger_dir = runtime.config.get("REPLAY_LEDGER")
    estimate = _estimate(str(ledger_dir), candidate) if candidate and ledger_dir else None
    return respond("pages/experiments.html", [arms, group_table], title=_("Experiments"), report=report,
                   candidate=candidate, candidates=sorted(POLICIES), estimate=estimate, replay_ledger=ledger_dir)
