"""``RuleEngine``: facts in, outcome plus rule trace out, on durable-rules.

Why: every checkout and dunning decision runs the analysts' policy and must
say which rules decided it (ids double as reason codes) and under which
policy version and hash. Each table is one durable-rules
ruleset, run in order because later tables read what earlier ones decided:

* checkout: ``risk_segments`` -> ``segment``; ``profile_segments`` ->
  ``profile_segment``; ``credit_limits`` -> ``credit_limit`` (a formula) and
  ``available_credit``; ``checkout`` -> ``outcome``;
* dunning: ``risk_segments`` -> ``segment`` (the same table as at checkout); the
  ladder day and the open dispute's SLA (``disputes``) are derived; guards
  (``dunning.rules``, constraints first), the ``ladder`` step of that segment, and
  ``dunning.notes``; a guard overrides the step's action.

durable-rules applies each table's hit policy itself (see ``durable.py``), so
the trace holds exactly the deciding row of each table. A ``collect`` table
(``dunning.notes``) posts one ruleset per row; a row whose condition requires a
yes/no fact (``disputed and ...``) that the facts do not have is not posted: it
could not fire.

durable-rules is deterministic for a fresh session, and which rows of a table
match depends only on the truth of the comparisons in its conditions
(``p_late_30 >= 0.25``, ``open_exposure + order_amount > credit_limit``), not on
the numbers themselves. So the first time a table sees a combination of those
truths (computed by the conditions' Python twins, in doubles like the engine),
durable-rules decides it, and the rule ids that fired are kept for that
combination (at most ``MEMO_LIMIT`` per table, then nothing more is kept). A
table has a few dozen comparisons and real facts fall into few combinations of
them: after warm-up almost no decision posts to durable-rules, though every
answer is one durable-rules gave (``tests/engine/test_rules_policy.py`` checks
the memo against an engine that posts every table, on facts at and around every
constant of the policy).

Example::

    engine = RuleEngine(load_policy("rules/default.yaml"))
    out = engine.evaluate_checkout({"customer_type": "business", "order_amount": 800, ...})
    out.outcome, [r.code for r in out.reasons]
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from domain.errors import InvalidInput
from domain.vocabulary import WEEKDAYS
from engine.calendar import SEARCH_DAYS, Calendar, is_business_day
from engine.legal import collection_costs
from engine.rules import facts as vocab
from engine.rules.durable import DurableRunner, RulesFault, project
from engine.rules.expr import required_flags, to_durable, truths
from engine.rules.model import CreditPolicy, QuietHours, Row

TABLES = ("risk_segments", "profile_segments", "credit_limits", "checkout", "dunning.rules", "ladder",
          "dunning.notes")
SENDING_ACTIONS = ("remind", "final_notice", "payment_plan")
#: Actions carried out through a channel: without one that the customer allows, a person must decide.
CHANNEL_ACTIONS = ("remind", "call", "final_notice", "payment_plan", "escalate")
#: Letters the law counts a term from (the 14-day letter): dated on a business day only.
LEGAL_LETTERS = ("final_notice",)
#: The task an action without any possible channel becomes.
NO_CHANNEL_TASK = "no_channel"
MEMO_LIMIT = 4096  # combinations kept per table (bounds memory: a table of n comparisons has up to 2**n)


@dataclass(frozen=True)
class Reason:
    """Why: ``code`` is the rule id (stable), ``text`` is for people."""

    code: str
    text: str


@dataclass(frozen=True)
class CheckoutOutcome:
    outcome: str
    segment: str
    profile_segment: str
    credit_limit: float
    open_exposure: float
    available_credit: float
    reasons: list[Reason]
    rules_fired: list[str]
    policy_version: str
    policy_hash: str


@dataclass(frozen=True)
class SendWindow:
    """Local contact hours ``[start_hour, end_hour)`` on ``days`` in ``timezone``, closed on the public
    holidays of ``region`` (the customer's country) when a ``calendar`` is given."""

    country: str
    timezone: str
    start_hour: int
    end_hour: int
    days: tuple[str, ...]
    region: str = ""
    calendar: Calendar | None = None

    @property
    def allowed_hours(self) -> tuple[int, ...]:
        return tuple(range(self.start_hour, self.end_hour))

    def local_date(self, when: datetime) -> date:
        """The calendar date at ``when`` in the window's time zone (what the customer's wall calendar says)."""
        return _aware(when).astimezone(ZoneInfo(self.timezone)).date()

    def open_on(self, day: date, business_days_only: bool = False) -> bool:
        """A contact day: one of ``days`` and no public holiday; ``business_days_only``: also Monday-Friday."""
        if WEEKDAYS[day.weekday()] not in self.days:
            return False
        if business_days_only and not is_business_day(self.calendar, self.region, day):
            return False
        return self.calendar is None or self.calendar.holiday(self.region, day) is None

    def allows(self, when: datetime, business_days_only: bool = False) -> bool:
        local = _aware(when).astimezone(ZoneInfo(self.timezone))
        return self.open_on(local.date(), business_days_only) and self.start_hour <= local.hour < self.end_hour

    def earliest(self, now: datetime, business_days_only: bool = False) -> datetime:
        """The first moment at or after ``now`` inside the window (local time, tz-aware)."""
        local = _aware(now).astimezone(ZoneInfo(self.timezone))
        if self.allows(local, business_days_only):
            return local
        for offset in range(SEARCH_DAYS):
            day = (local + timedelta(days=offset)).date()
            if not self.open_on(day, business_days_only):
                continue
            start = datetime(day.year, day.month, day.day, self.start_hour, tzinfo=ZoneInfo(self.timezone))
            if start >= local:
                return start
        raise InvalidInput(f"quiet hours and holidays leave no contact time in {SEARCH_DAYS} days",
                           field="quiet_hours")


def _aware(when: datetime) -> datetime:
    if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
        raise InvalidInput(f"now must be a time-zone-aware datetime, got {when!r}", field="now")
    return when


@dataclass(frozen=True)
class DunningOutcome:
    action: str
    step: str
    allowed_channels: list[str]
    tone: str
    assignee: str
    task: str | None
    send_window: SendWindow
    earliest_send_at: datetime | None
    collection_costs: Decimal | None
    segment: str
    reasons: list[Reason]
    rules_fired: list[str]
    policy_version: str
    policy_hash: str


class RuleEngine:
    """A compiled policy on its own durable-rules host; thread-safe, cheap to call.

    Build a new engine for a new policy (durable-rules cannot re-register a
    ruleset name); ``PolicyHolder`` does that on reload.
    """

    def __init__(self, policy: CreditPolicy) -> None:
        self.policy = policy
        t = policy.tables
        self._fields = {name: sorted({f for r in t[name].rows for f in r.when.fields}) for name in TABLES}
        self._truths = {name: truths([r.when.node for r in t[name].rows], vocab.ALL_KINDS) for name in TABLES}
        # a "collect" table (every matching row counts) runs one ruleset per row
        groups: dict[str, list[tuple[str, tuple[Row, ...]]]] = {}
        for name in TABLES:
            rows = t[name].rows
            if t[name].hit == "collect":
                groups[name] = [(f"{name}#{i}", (r,)) for i, r in enumerate(rows)]
            elif rows:
                groups[name] = [(name, rows)]
        self._rulesets = {name: [rs for rs, _ in g] for name, g in groups.items()}
        # a collect table's row needs no post when a yes/no fact its condition requires is not so (most notes)
        self._flags = {rs: required_flags(rows[0].when.node) for name, g in groups.items() if t[name].hit == "collect"
                       for rs, rows in g}
        self._memo: dict[str, dict[tuple[Any, ...], frozenset[str]]] = {name: {} for name in TABLES}
        self._runner = DurableRunner({rs: {r.id: to_durable(r.when.node) for r in rows}
                                      for g in groups.values() for rs, rows in g})

    # -- checkout --
    def evaluate_checkout(self, facts: Mapping[str, Any]) -> CheckoutOutcome:
        """Decide accept / prepay / review / reject for an order on credit."""
        p, t = self.policy, self.policy.tables
        f = vocab.normalize(facts, vocab.CHECKOUT_FIELDS)
        f["blocked"] = f["blocked"] or f["customer_id"] in p.block_list
        risk, prof = self._decide("risk_segments", f), self._decide("profile_segments", f)
        f["segment"], f["profile_segment"] = risk.sets["segment"], prof.sets["segment"]
        limit_row = self._decide("credit_limits", f)
        f["credit_limit"] = _limit(limit_row.formula.py(f))
        f["available_credit"] = round(max(0.0, f["credit_limit"] - f["open_exposure"]), 2)
        decided = self._decide("checkout", f)
        rows, blank = (risk, prof, limit_row, decided), _Blank(f)
        return CheckoutOutcome(
            outcome=decided.sets["outcome"], segment=f["segment"], profile_segment=f["profile_segment"],
            credit_limit=f["credit_limit"], open_exposure=float(f["open_exposure"]),
            available_credit=f["available_credit"], reasons=[_reason(r, blank) for r in rows],
            rules_fired=[r.id for r in rows], policy_version=p.version, policy_hash=p.content_hash,
        )

    def segment(self, facts: Mapping[str, Any]) -> str:
        """The risk segment ``risk_segments`` gives these facts (history and scores; missing ones count 0).

        The same table decides the segment of a checkout, of a next-action and of
        a logged reminder in off-policy evaluation: analysts change it in one place.
        """
        return self._decide("risk_segments", vocab.normalize(facts, vocab.RISK_FIELDS)).sets["segment"]

    # -- dunning --
    def evaluate_dunning(self, facts: Mapping[str, Any], now: datetime | None = None,
                         calendar: Calendar | None = None) -> DunningOutcome:
        """Next best action for an open invoice; ``now`` (tz-aware) also yields ``earliest_send_at``,
        outside quiet hours and, with a ``calendar``, off the public holidays of the customer's country
        (a legal letter on a business day only)."""
        p, t, d = self.policy, self.policy.tables, self.policy.dunning
        f = vocab.normalize(facts, vocab.DUNNING_INPUT)
        risk = self._decide("risk_segments", f)
        derive_dunning(p, f, risk.sets["segment"])
        guard = self._decide("dunning.rules", f, required=False)
        step = self._decide("ladder", f, required=False)
        noted = self._run("dunning.notes", f)
        notes = [r for r in t["dunning.notes"].rows if r.id in noted]
        sets: dict[str, Any] = {"step": "none", "action": "wait", "channels": [], "tone": "neutral",
                                "assignee": "collections"}
        sets.update(step.sets if step else {})
        sets.update(guard.sets if guard else {})
        decisive = [r for r in (guard, step) if r is not None]
        values = _Blank(f, **sets)  # one copy of the facts for every reason's text, unknown names left as written
        reasons = [_reason(r, values) for r in (risk, *decisive, *notes)]
        if not decisive:
            reasons.append(Reason("ladder.not_started", "No dunning step has been reached yet"))
        action, channels, channel_reasons = self._channels(sets["action"], sets["channels"], f)
        reasons += channel_reasons
        task = sets.get("task") or next((n.sets["task"] for n in notes if "task" in n.sets), None)
        if action == "review":
            task = task or NO_CHANNEL_TASK
        assignee = sets["assignee"]
        if d.key_account_assignee and f["key_account"] and f["account_manager"]:
            assignee = "account_manager"
            reasons.append(Reason("constraint.key_account_owner",
                                  f"Key account: {f['account_manager']} owns the relationship and decides"))
        if assignee == "account_manager":
            assignee = f["account_manager"] or "collections"
        window = self.send_window(f["country"], calendar)
        costs = collection_costs(f["amount"]) if action == "final_notice" else None
        return DunningOutcome(
            action=action, step=sets["step"], allowed_channels=channels, tone=sets["tone"],
            assignee=assignee, task=task, send_window=window,
            earliest_send_at=window.earliest(now, action in LEGAL_LETTERS) if now is not None else None,
            collection_costs=costs, segment=f["segment"], reasons=reasons,
            rules_fired=[r.id for r in (risk, *decisive, *notes)], policy_version=p.version,
            policy_hash=p.content_hash,
        )

    def send_window(self, country: str, calendar: Calendar | None = None) -> SendWindow:
        """Allowed local contact hours for ``country`` (the policy's default if not listed), closed on
        the country's public holidays when a ``calendar`` is given."""
        q: Mapping[str, QuietHours] = self.policy.dunning.quiet_hours
        key = (country or "").upper()
        w = q.get(key) or q["default"]
        return SendWindow(key if key in q else "default", w.timezone, w.start, w.end, w.days, key, calendar)

    def _channels(self, action: str, channels: list[str],
                  f: Mapping[str, Any]) -> tuple[str, list[str], list[Reason]]:
        """The action as it can be carried out, the channels the customer allows for it, and why.

        A channel that needs consent the customer did not give is dropped. When none of the
        step's channels is left, the policy's ``fallbacks`` of those channels are tried in
        order (a call without phone consent becomes a written reminder); when no channel at all
        is possible, the action becomes ``review``: a person decides, never a message without a
        channel.
        """
        d = self.policy.dunning
        allowed = [ch for ch in channels if ch not in d.consent_required or f[f"consent_{ch}"]]
        dropped = [ch for ch in channels if ch not in allowed]
        reasons = [Reason("constraint.consent", f"No recorded consent for {', '.join(dropped)}: not used")] \
            if dropped else []
        if allowed or action not in CHANNEL_ACTIONS:
            return action, allowed, reasons
        tried = dict.fromkeys(fb for ch in channels for fb in d.fallbacks.get(ch, ()))
        fallback = [ch for ch in tried if ch not in channels and (ch not in d.consent_required
                                                                   or f[f"consent_{ch}"])]
        if fallback:
            carried = "remind" if action == "call" and "phone" not in fallback else action
            instead = " (a written reminder instead of the call)" if carried != action else ""
            reasons.append(Reason("constraint.fallback_channel", f"Sent by {' or '.join(fallback)} instead{instead}"))
            return carried, fallback, reasons
        reasons.append(Reason("constraint.no_channel", f"No channel the customer allows for {action}: "
                              f"a person decides (task {NO_CHANNEL_TASK})"))
        return "review", [], reasons

    def _run(self, table: str, f: Mapping[str, Any]) -> frozenset[str]:
        """The ids of the rules of ``table`` that fire on ``f`` (remembered per combination of the truths of
        its comparisons)."""
        memo, key = self._memo[table], self._truths[table](f)
        if (known := memo.get(key)) is not None:
            return known
        facts = project(f, self._fields[table])
        fired = (self._runner.match(rs, facts) for rs in self._rulesets.get(table, ())
                 if all(f[k] == v for k, v in self._flags.get(rs, {}).items()))
        result = frozenset(rid for rid in fired if rid is not None)
        if len(memo) < MEMO_LIMIT:
            memo[key] = result  # one dict store: atomic, so threads may share the memo without a lock
        return result

    def _decide(self, table: str, f: Mapping[str, Any], required: bool = True) -> Row | None:
        """The row that won ``table`` (durable-rules fires exactly one), or None."""
        fired = self._run(table, f)
        for row in self.policy.tables[table].rows:
            if row.id in fired:
                return row
        if required:
            raise RulesFault(f"no rule of {table} fired; the policy check guarantees a fallback row")
        return None


def derive_dunning(policy: CreditPolicy, f: dict[str, Any], segment: str) -> None:
    """Add the ``DUNNING_DERIVED`` facts to normalised dunning facts ``f``: the segment, the ladder day
    (days past due less the days in dispute) and the open dispute's SLA from the policy's route."""
    route = policy.disputes.route(f["dispute_type"])
    f.update(segment=segment, ladder_day=f["days_past_due"] - f["days_in_dispute"],
             dispute_sla_days=route.sla_days, dispute_resumes_after_sla=route.resume_dunning_after_sla)


def _limit(value: float) -> float:
    """A formula's credit limit in cents, at least 0; an overflow (inf) is the largest double, not a crash."""
    return round(min(max(0.0, float(value)), sys.float_info.max), 2)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _reason(row: Row, values: "_Blank") -> Reason:
    try:
        text = row.reason.format_map(values)
    except (ValueError, TypeError):
        text = row.reason
    return Reason(row.id, text)
