"""The decision audit page (auditor): why a decision was taken, from its audit record, and a search.

Why each part comes from where it does: the record (``GET /v1/decisions/{id}``)
holds the inputs, the outcome, the ids of the rules that fired, the model's and
the policy's versions, the SHAP values in probability terms (``shap.points``:
base rate + contributions = P(late), ``docs/models.md``) and the bandit's arm,
propensity and group. A rule's text is read from the live policy when the record
was decided under that same policy (same content hash); otherwise the page says
which version was live and that its text is not the one loaded. The hash-chain
status is this record's own link, checked on three rows (``AuditLog.check_record``);
``kredo audit verify`` walks the whole chain.
"""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time
from typing import Any

from flask_babel import gettext as _

from domain.errors import InvalidInput, NotFound
from ledger.views import search_decisions
from serving.access import requires
from serving.api.book import decision_summary
from serving.dunning_view import micros
from serving.pages import charts
from serving.pages.exports import Column, Table, page_args, respond
from serving.pages.i18n import pct
from serving.pages.layout import blueprint
from serving.runtime import get_runtime

bp = blueprint("pages_decisions", __name__)
AUDITORS = ("auditor",)
SEARCH = ("customer_id", "invoice_id", "outcome", "from", "to")
SHOWN_FEATURES = 10
_ID = re.compile(r"dec_[0-9a-f]{32}")


def _day(name: str, raw: str | None, end: bool = False) -> int | None:
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD)", field=name) from None
    return micros(datetime.combine(day, time.max if end else time.min, tzinfo=UTC))


@bp.get("/decisions")
@requires(*AUDITORS)
def search() -> Any:  # noqa: ANN401 - a page or a CSV
    args = page_args()
    unknown = sorted(set(args) - set(SEARCH))
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}", field=unknown[0])
    given = {k: (args.get(k) or None) for k in ("customer_id", "invoice_id", "outcome")}
    searched = any(args.get(k) for k in SEARCH)
    rows = search_decisions(get_runtime().book.engine, **given, from_us=_day("from", args.get("from")),
                            to_us=_day("to", args.get("to"), end=True), limit=200) if searched else []
    table = Table("decisions", _("Decisions"), [
        Column("decision_id", _("Decision"), href=lambda r: f"/decisions/{r['decision_id']}"),
        Column("at", _("For"), "date"), Column("kind", _("Kind")),
        Column("customer_id", _("Customer"), href=lambda r: f"/customers/{r['customer_id']}"),
        Column("invoice_id", _("Invoice")), Column("outcome", _("Outcome")), Column("reasons", _("Reasons"))],
        [{**(s := decision_summary(r)).model_dump(), "reasons": "; ".join(s.reasons)} for r in rows],
        note=_("Newest first, at most 200."))
    return respond("pages/decisions.html", [table], title=_("Decisions"), query=args, searched=searched)


def _rules(record: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The rules that fired with their text, and whether the text is the recorded policy's own."""
    policy = get_runtime().snapshot().rules.policy
    same = (record.get("policy") or {}).get("hash") == policy.content_hash
    rows = {r.id: r for table in policy.tables.values() for r in table.rows}
    out = []
    for rule_id in record.get("rules_fired") or []:
        row = rows.get(rule_id)
        out.append({"id": rule_id, "table": row.table if row else None, "when": row.when.source if row else None,
                    "sets": json.dumps(dict(row.sets), default=str) if row else None,
                    "reason": row.reason if row else None})
    return out, same


def waterfall_steps(shap: dict[str, Any] | None, top: int = SHOWN_FEATURES) -> tuple[float, list[tuple[str, float]]]:
    """The base rate and the ``top`` largest contributions in probability terms, the rest summed as one
    step, so base + steps = the decision's P(late) exactly as recorded."""
    points = (shap or {}).get("points") or {}
    contributions = points.get("contributions") or {}
    ranked = sorted(contributions.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    steps = [(name, float(v)) for name, v in ranked[:top] if v]
    rest = sum(float(v) for _, v in ranked[top:])
    if rest:
        steps.append((_("%(n)s other features", n=len(ranked) - top), rest))
    return float(points.get("base_value") or 0.0), steps


@bp.get("/decisions/<decision_id>")
@requires(*AUDITORS)
def decision(decision_id: str) -> Any:  # noqa: ANN401 - a page
    if not _ID.fullmatch(decision_id):
        raise NotFound(f"no decision {decision_id[:80]!r}", field="decision_id")
    audit = get_runtime().audit
    stored = audit.get(decision_id)
    record = stored.to_dict()
    rules, same_policy = _rules(record)
    base, steps = waterfall_steps(record.get("shap"))
    chart = charts.waterfall(charts.Bar(_("base rate"), base), [charts.Bar(n, v) for n, v in steps],
                             total=_("this decision"), title=_("SHAP in probability terms"),
                             label=pct) if steps else None
    chain = audit.check_record(stored.seq)
    inputs = record.get("decided_on") or record.get("request") or {}
    features = Table("features", _("Features"), [Column("name", _("Feature")), Column("value", _("Value"), "num"),
                                                 Column("contribution", _("Contribution to P(late)"), "pct")],
                     [{"name": k, "value": v, "contribution": ((record.get("shap") or {}).get("points") or {})
                       .get("contributions", {}).get(k)} for k, v in (record.get("features") or {}).items()])
    return respond("pages/decision.html", [features], title=_("Decision %(id)s", id=decision_id[:12]),
                   record=record, rules=rules, same_policy=same_policy,
                   live_policy=get_runtime().snapshot().rules.policy.version, chart=chart, chain=chain,
                   inputs=json.dumps(inputs, indent=2, ensure_ascii=False))
