"""The compiled policy as values: rows, tables, settings, findings.

Why: the parser, the checker, the engine and the backtest all read the same
immutable objects; nothing here does I/O, so a ``CreditPolicy`` can be shared by
threads and compared by its ``content_hash``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.rules.expr import Expr

Path_ = tuple[Any, ...]


@dataclass(frozen=True)
class Finding:
    """One problem in a policy file; ``severity`` is ``error`` (refused) or ``warning``."""

    severity: str
    code: str
    message: str
    file: str
    line: int | None
    hint: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line or '?'}: {self.severity} [{self.code}] {self.message} (hint: {self.hint})"

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "message": self.message,
                "file": self.file, "line": self.line, "hint": self.hint}


@dataclass(frozen=True)
class Row:
    """One rule: its id, its condition, and what it sets when it decides."""

    id: str
    table: str
    line: int | None
    when: Expr
    sets: Mapping[str, Any]
    reason: str
    formula: Expr | None = None
    when_line: int | None = None


@dataclass(frozen=True)
class Table:
    name: str
    hit: str
    rows: tuple[Row, ...]
    line: int | None


@dataclass(frozen=True)
class QuietHours:
    timezone: str
    start: int
    end: int
    days: tuple[str, ...]


@dataclass(frozen=True)
class PlanSettings:
    """``dunning.payment_plans``: a missed instalment is reminded, then the plan is cancelled."""

    grace_days: int
    cancel_after_days: int
    reminder_channels: tuple[str, ...]
    reminder_tone: str


@dataclass(frozen=True)
class Worklists:
    """Who owns a task: a collector queue per risk segment, the credit desk for reviews (key accounts: their
    account manager, see ``DunningSettings.key_account_assignee``). A dispute's department is the policy's
    ``disputes.types`` route (:meth:`DisputeSettings.route`), the one place it is written."""

    queues: Mapping[str, str]
    review: str

    def queue(self, segment: str) -> str:
        return self.queues.get(segment) or f"collections-{segment or 'unsegmented'}"


@dataclass(frozen=True)
class DunningSettings:
    consent_required: tuple[str, ...]
    fallbacks: Mapping[str, tuple[str, ...]]
    min_days_between_reminders: int
    final_notice_term_days: int
    promise_grace_days: int
    plans: PlanSettings
    key_account_assignee: str | None
    quiet_hours: Mapping[str, QuietHours]
    worklists: Worklists


@dataclass(frozen=True)
class DisputeRoute:
    """Where one type of dispute goes: the department that solves it, in how many days, and whether
    dunning resumes when that SLA has passed unsolved."""

    department: str
    sla_days: int
    resume_dunning_after_sla: bool


@dataclass(frozen=True)
class DisputeSettings:
    """The ``disputes`` section: a route per dispute type (``other`` for the types not listed), the task
    names of the answer, and who hears of a dispute past its SLA."""

    task: str
    overdue_task: str
    escalate_to: str
    types: Mapping[str, DisputeRoute]

    def route(self, dispute_type: str | None) -> DisputeRoute:
        return self.types.get(dispute_type or "other") or self.types["other"]


@dataclass(frozen=True)
class CreditPolicy:
    """A compiled policy. ``version`` comes from the file, ``content_hash`` is sha256 of its bytes."""

    version: str
    content_hash: str
    path: str
    tables: Mapping[str, Table]
    constants: Mapping[str, Any]
    block_list: frozenset[str]
    dunning: DunningSettings
    disputes: DisputeSettings
    cases: tuple[Mapping[str, Any], ...]
    lines: Mapping[Path_, int] = field(repr=False)

    def rule_ids(self) -> list[str]:
        return [r.id for t in self.tables.values() for r in t.rows]

    def line_of(self, *path: Any) -> int | None:
        return line_of(self.lines, path)


def line_of(lines: Mapping[Path_, int], path: Path_) -> int | None:
    """The line of ``path`` or of its nearest ancestor that has one."""
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return 1 if lines else None


def dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out
