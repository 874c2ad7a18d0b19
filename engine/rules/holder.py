"""``PolicyHolder``: the running policy, swapped atomically on a successful reload only.

Why: the service must never run a policy that failed the check, and must keep
serving while an analyst fixes a broken file. ``reload()`` checks and compiles
the new file completely (a new durable-rules host, since rulesets cannot be
re-registered) before one reference swap; on any finding it leaves
``current`` untouched and returns the findings. Called by
``POST /v1/admin/reload``.

Example::

    holder = PolicyHolder("rules/default.yaml")
    holder.current.evaluate_checkout(facts)
    result = holder.reload()        # result.ok, result.version, result.errors
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.rules.check import check_policy, load_policy
from engine.rules.engine import RuleEngine


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    version: str
    policy_hash: str
    changed: bool
    errors: list[dict[str, Any]] = field(default_factory=list)


class PolicyHolder:
    """Holds the current ``RuleEngine``; the initial load raises ``PolicyError`` if the file is bad."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._current = RuleEngine(load_policy(self.path))

    @property
    def current(self) -> RuleEngine:
        return self._current

    def reload(self) -> ReloadResult:
        """Re-read the file; swap only if it passes every check."""
        with self._lock:
            report = check_policy(self.path)
            old = self._current.policy
            if not report.ok:
                return ReloadResult(False, old.version, old.content_hash, False,
                                    [f.to_dict() for f in report.errors])
            assert report.policy is not None
            changed = report.policy.content_hash != old.content_hash
            if changed:
                self._current = RuleEngine(report.policy)
            return ReloadResult(True, report.policy.version, report.policy.content_hash, changed)
