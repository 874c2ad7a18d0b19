"""Compile the ``dunning`` section: constraint guards, analyst guards, ladders per segment.

Why: the legal and courtesy constraints (no contact during an open dispute
until its SLA has passed, the 14-day term after a final notice and only one
such letter, no reminder while a promise to pay runs or a payment plan is
kept, minimum days between reminders, no escalation of a consumer before the
14-day letter) must hold whatever an analyst writes in a ladder. They are therefore *generated* as rules with fixed
ids (``constraint.*``) placed before the analyst's own rules, so they show in
the trace like any other rule and cannot be forgotten.

A ladder is a list of steps per risk segment; the step with the highest
``from_day`` that the ``ladder_day`` has reached (and whose ``when`` holds)
applies. The ladder day is the days past due minus the days spent in dispute,
so a resolved dispute resumes the ladder where it stood. It is
compiled as one first-hit table, steps ordered by ``from_day`` descending
(rows of different segments never compete: each row tests its segment).
"""
from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from typing import Any, Protocol

from domain.vocabulary import WEEKDAYS
from engine.rules import facts as vocab
from engine.rules.expr import ExprError, parse_condition
from engine.rules.model import (DisputeSettings, DunningSettings, Path_, PlanSettings, QuietHours, Row, Table,
                                Worklists, line_of)

KINDS = vocab.kinds(vocab.DUNNING_FIELDS)


class Builder(Protocol):
    lines: dict[Path_, int]

    def error(self, code: str, message: str, path: Path_, hint: str, severity: str = "error",
              line: int | None = None) -> None: ...

    def table(self, name: str, raw: Mapping[str, Any], path: Path_, kinds: Mapping[str, str],
              constants: Mapping[str, Any], extra_rows: list[Row] | None = None) -> Table: ...

    def condition(self, src: Any, kinds: Mapping[str, str], constants: Mapping[str, Any],
                  path: Path_) -> Any: ...


def compile_dunning(b: Builder, raw: Mapping[str, Any], constants: Mapping[str, Any], segments: set[str],
                    disputes: DisputeSettings) -> tuple[DunningSettings, dict[str, Table]]:
    """Settings plus the tables ``dunning.rules``, ``dunning.notes`` and ``ladder``."""
    plans = raw.get("payment_plans") or {}
    reminder = plans.get("reminder") or {}
    settings = DunningSettings(
        consent_required=tuple(raw.get("consent_required", ("sms", "whatsapp", "phone"))),
        fallbacks=_fallbacks(b, raw.get("fallbacks") or {}, tuple(raw.get("consent_required",
                                                                          ("sms", "whatsapp", "phone")))),
        min_days_between_reminders=raw.get("min_days_between_reminders", 7),
        final_notice_term_days=raw.get("final_notice_term_days", 14),
        promise_grace_days=(raw.get("promises") or {}).get("grace_days", 3),
        plans=PlanSettings(grace_days=plans.get("grace_days", 3), cancel_after_days=plans.get("cancel_after_days", 7),
                           reminder_channels=tuple(reminder.get("channels", ("email", "letter"))),
                           reminder_tone=reminder.get("tone", "firm")),
        key_account_assignee=raw.get("key_account_assignee"),
        quiet_hours=_quiet_hours(b, raw["quiet_hours"]),
        worklists=_worklists(b, raw.get("worklists") or {}, segments),
    )
    s, plan = settings, settings.plans
    guards = [
        _generated(b, "constraint.dispute_pause",
                   "disputed and (dispute_days_open < dispute_sla_days or not dispute_resumes_after_sla)",
                   {"action": "pause", "task": disputes.task, "channels": []},
                   "Invoice is disputed: dunning paused, task {task} for the department (SLA "
                   "{dispute_sla_days:.0f} days)", ("disputes",)),
        _generated(b, "constraint.final_notice_term",
                   f"final_notice_sent and final_notice_days_ago < {s.final_notice_term_days}",
                   {"action": "wait", "channels": []},
                   f"Final notice sent {{final_notice_days_ago}} days ago: the {s.final_notice_term_days}-day "
                   "term runs", ("dunning", "final_notice_term_days")),
        _generated(b, "constraint.promise_pause", "promise_pending", {"action": "wait", "channels": []},
                   f"A promise to pay runs: dunning waits until its date plus {s.promise_grace_days} days' grace",
                   ("dunning", "promises")),
        _generated(b, "constraint.plan_on_track", "under_plan and not plan_missed", {"action": "wait", "channels": []},
                   "Under a payment plan whose instalments are paid: dunning follows the plan",
                   ("dunning", "payment_plans")),
        _generated(b, "constraint.min_days_between_reminders",
                   f"reminders_sent > 0 and days_since_last_reminder < {s.min_days_between_reminders}",
                   {"action": "wait", "channels": []},
                   "Last reminder {days_since_last_reminder} days ago; at least "
                   f"{s.min_days_between_reminders} days between reminders",
                   ("dunning", "min_days_between_reminders")),
        _generated(b, "constraint.plan_missed",
                   f"under_plan and plan_missed and plan_missed_days < {plan.cancel_after_days}",
                   {"action": "remind", "step": "plan_instalment", "channels": list(plan.reminder_channels),
                    "tone": plan.reminder_tone},
                   "An instalment of the payment plan is {plan_missed_days:.0f} days past its grace: reminder "
                   f"(the plan is cancelled after {plan.cancel_after_days} days)", ("dunning", "payment_plans")),
    ]
    ordered = [g for g in guards if g is not None]
    tables = {"dunning.rules": b.table("dunning.rules", raw.get("rules") or {"rules": []},
                                       ("dunning", "rules"), KINDS, constants, extra_rows=ordered)}
    notes = [
        _generated(b, "constraint.dispute_overdue", "disputed and dispute_days_open >= dispute_sla_days",
                   {"task": disputes.overdue_task},
                   "Dispute open {dispute_days_open:.0f} days, past its SLA of {dispute_sla_days:.0f} days: "
                   f"escalated to {disputes.escalate_to} (task {disputes.overdue_task})", ("disputes",)),
        _generated(b, "constraint.plan_cancelled",
                   f"under_plan and plan_missed and plan_missed_days >= {plan.cancel_after_days}", {},
                   f"An instalment was not paid {plan.cancel_after_days} days after its grace: the payment plan "
                   "is cancelled and the ladder resumes", ("dunning", "payment_plans")),
    ]
    tables["dunning.notes"] = Table("dunning.notes", "collect", tuple(n for n in notes if n is not None), None)
    tables["ladder"] = _ladders(b, raw["ladders"], constants, segments, s.final_notice_term_days)
    return settings, tables


def _generated(b: Builder, rid: str, src: str, sets: dict[str, Any], reason: str, path: Path_) -> Row | None:
    try:
        when = parse_condition(src, KINDS, {})
    except ExprError as exc:  # only reachable through a bad setting, which the schema already refuses
        b.error("condition", f"{rid}: {exc}", path, exc.hint)
        return None
    return Row(rid, "dunning.rules", line_of(b.lines, path), when, sets, reason)


def _ladders(b: Builder, raw: Mapping[str, list[Mapping[str, Any]]], constants: Mapping[str, Any],
             segments: set[str], term: int) -> Table:
    for seg in sorted(segments - set(raw)):
        b.error("gap", f"risk segment {seg!r} has no dunning ladder", ("dunning", "ladders"),
                f"add 'dunning.ladders.{seg}:' with its steps (copy another ladder)")
    rows: list[Row] = []
    for seg, steps in raw.items():
        path = ("dunning", "ladders", seg)
        if seg not in segments:
            b.error("unknown_value", f"ladder {seg!r} is for a segment no risk rule sets", path,
                    f"segments are: {', '.join(sorted(segments))}")
        names = [st["step"] for st in steps]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            b.error("duplicate_id", f"ladder {seg!r} has two steps named {dup!r}", path, "rename one step")
        order = sorted(range(len(steps)), key=lambda i: -steps[i]["from_day"])
        _check_steps(b, seg, steps, path)
        for i in order:
            st = steps[i]
            spath = (*path, i)
            parts = [f"segment == {seg!r}", f"ladder_day >= {st['from_day']}"]
            if "when" in st:
                parts.append(f"({st['when'] if isinstance(st['when'], str) else st['when']!s})")
            if st["action"] == "final_notice":  # one 14-day letter: once its term ran, the step is done
                parts.append(f"(not final_notice_sent or final_notice_days_ago < {term})")
            if st["action"] == "escalate":
                parts.append(f'(customer_type != "consumer" or final_notice_sent and final_notice_days_ago >= {term})')
            when = b.condition(" and ".join(parts), KINDS, constants, (*spath, "when" if "when" in st else "step"))
            if when is None:
                continue
            sets = {"step": st["step"], "action": st["action"], "channels": list(st.get("channels", [])),
                    "tone": st.get("tone", "neutral"), "assignee": st.get("assignee", "collections")}
            if "task" in st:
                sets["task"] = st["task"]
            rows.append(Row(f"ladder.{seg}.{st['step']}", "ladder", line_of(b.lines, spath), when, sets,
                            st["reason"]))
    return Table("ladder", "first", tuple(rows), line_of(b.lines, ("dunning", "ladders")))


def _check_steps(b: Builder, seg: str, steps: list[Mapping[str, Any]], path: Path_) -> None:
    by_day: dict[int, int] = {}
    for i, st in enumerate(steps):
        day = st["from_day"]
        if day in by_day and "when" not in st and "when" not in steps[by_day[day]]:
            b.error("overlap", f"ladder {seg!r}: steps {steps[by_day[day]]['step']!r} and {st['step']!r} both "
                    f"start on day {day} with different outcomes", (*path, i, "from_day"),
                    "give one step another from_day or a 'when' condition")
        by_day.setdefault(day, i)
    escalations = [st["from_day"] for st in steps if st["action"] == "escalate"]
    notices = [st["from_day"] for st in steps if st["action"] == "final_notice"]
    if escalations and not any(n < min(escalations) for n in notices):
        b.error("legal", f"ladder {seg!r} escalates but has no final_notice step before it: consumers would "
                "never get the 14-day letter (art. 6:96 lid 6 BW) and could not be escalated", path,
                "add a step with action: final_notice before the escalate step")


def _fallbacks(b: Builder, raw: Mapping[str, list[str]],
               consent_required: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """``fallbacks``: per channel, the channels to use when a step has no channel the customer allows."""
    out = {}
    for channel, instead in raw.items():
        path = ("dunning", "fallbacks", channel)
        if channel in instead:
            b.error("fallback", f"fallbacks.{channel} names {channel} itself", path,
                    f"list other channels, e.g. {channel}: [email, letter]")
        if instead and all(ch in consent_required for ch in instead):
            b.error("fallback", f"every fallback of {channel} ({', '.join(instead)}) needs consent too: a customer "
                    f"without any would get no message", path, "end the list with a channel that needs no consent, "
                    "e.g. letter")
        out[channel] = tuple(instead)
    return out


def _worklists(b: Builder, raw: Mapping[str, Any], segments: set[str]) -> Worklists:
    queues = dict(raw.get("queues") or {})
    for seg in sorted(set(queues) - segments):
        b.error("unknown_value", f"worklists.queues names {seg!r}, a segment no risk rule sets",
                ("dunning", "worklists", "queues", seg), f"segments are: {', '.join(sorted(segments))}")
    for seg in sorted(segments - set(queues)) if queues else ():
        b.error("gap", f"risk segment {seg!r} has no collector queue", ("dunning", "worklists", "queues"),
                f"add '{seg}: collectors-{seg}' under worklists.queues")
    return Worklists(queues, raw.get("review", "credit_desk"))


def _quiet_hours(b: Builder, raw: Mapping[str, Mapping[str, Any]]) -> dict[str, QuietHours]:
    out = {}
    for country, w in raw.items():
        path = ("dunning", "quiet_hours", country)
        try:
            zoneinfo.ZoneInfo(w["timezone"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            b.error("timezone", f"unknown time zone {w['timezone']!r} for {country}", (*path, "timezone"),
                    "use an IANA name such as Europe/Amsterdam")
        if w["from"] >= w["until"]:
            b.error("quiet_hours", f"quiet_hours.{country}: from {w['from']} is not before until {w['until']}",
                    (*path, "from"), "contact hours are [from, until) in local time, e.g. from: 8, until: 21")
        out[country] = QuietHours(w["timezone"], w["from"], w["until"], tuple(w.get("days", WEEKDAYS)))
    return out
