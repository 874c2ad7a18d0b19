"""The one place that touches durable-rules 2.0.28, with every known trap handled.

Why a wrapper: durable-rules is the rule engine named by the product, but it
is effectively unmaintained (jruizgit/rules issue 370) and has sharp edges.
Each workaround below lives here and nowhere else, and each has a test in
``tests/test_rules_durable.py``:

1. **Not thread-safe.** 16 threads posting at once crash the process. One
   lock per runner is held around ``assert_fact`` + ``delete_state``.
2. **The dispatcher thread steals actions.** ``Host.__init__`` starts timer
   threads that run pending actions in the background; a post can then return
   ``None`` because its action ran elsewhere. ``_QuietHost._run`` does nothing,
   so actions only run inside the caller's post.
3. **1,024 live sessions per ruleset.** Every decision uses a fresh session id
   and the session is deleted in ``finally``, whatever happened.
4. **A name cannot be registered twice.** Each runner owns its own ``Host``;
   a policy reload builds a new runner (and the old rulesets are freed with
   ``delete_ruleset`` when the old runner is garbage).
5. **A fact that matches no rule raises** ``MessageNotHandledException``;
   here that simply means "no rule fired".
   Also: a fact (``assert_fact``) runs a rule's action once per matching
   ``$or`` branch, which made a decision cost ~36 actions. First-hit tables
   are therefore posted as *events* with ``pri`` = row order: durable-rules
   runs exactly one action, the highest-priority match (the hit policy is
   applied by durable-rules itself). Only "collect" tables assert facts.
6. **An exception inside an action is returned in the state, not raised.**
   The returned state is checked and turned into ``RulesFault``.
7. **Wide facts and leaks** (issues 300 and 306): callers post only the
   fields the rules read (``project``); memory is measured flat in the tests
   and in ``bench/rules.py``.
8. **``$m`` vs ``m`` in arithmetic** is handled by the compiler (``expr.py``).
"""
from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import durable_rules_engine
from durable.engine import Host, MessageNotHandledException

from engine.errors import KredoError
from engine.rules.expr import ALWAYS


class RulesFault(KredoError):
    """durable-rules misbehaved (an action failed or no state came back)."""

    code = "rules_fault"
    title = "Rule engine fault"
    status = 500


class _QuietHost(Host):
    """A ``Host`` without the background dispatcher and timer threads (trap 2)."""

    def _run(self) -> None:
        return None


def project(facts: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """Only the fields the rules read (trap 7)."""
    return {k: facts[k] for k in fields}


class DurableRunner:
    """Several rulesets on one private durable-rules host; ``match`` returns the rule ids that fired.

    ``rulesets`` maps a ruleset name to ``(mode, {rule_id: condition})``:
    ``condition`` is the durable-rules JSON for the ``m`` pattern, rules are
    in priority order, and ``mode`` is ``first`` (exactly the first matching
    rule fires) or ``collect`` (every matching rule fires). Every action only
    records its rule id, so a decision is: post the facts, collect the ids.
    Thread-safe.
    """

    def __init__(self, rulesets: Mapping[str, tuple[str, Mapping[str, dict[str, Any]]]]) -> None:
        self._host = _QuietHost()
        self._lock = threading.Lock()
        self._sids = itertools.count()
        self._fired: list[str] = []
        self._modes = {name: mode for name, (mode, _) in rulesets.items()}
        definitions = {
            name: {f"r{i}": {"pri": i + 1, "all": [{"m": cond}], "run": _recorder(self._fired, rid)}
                   for i, (rid, cond) in enumerate(rules.items())}
            for name, (_, rules) in rulesets.items()
        }
        self._host.set_rulesets(definitions)
        handles = [self._host.get_ruleset(name)._handle for name in rulesets]
        weakref.finalize(self, _delete_rulesets, handles)

    def match(self, ruleset: str, facts: Mapping[str, Any]) -> list[str]:
        """Post ``facts`` in a fresh session; the ids of the rules that fired, in firing order."""
        with self._lock:
            sid = str(next(self._sids))
            message = {**facts, ALWAYS: 1, "sid": sid}
            self._fired.clear()
            try:
                if self._modes[ruleset] == "first":
                    state = self._host.post(ruleset, message)
                else:
                    state = self._host.assert_fact(ruleset, message)
            except MessageNotHandledException:
                state = {}
            finally:
                self._host.delete_state(ruleset, sid)
            fired = list(self._fired)
        if state is None:
            raise RulesFault("durable-rules returned no state: an action ran outside the caller")
        if "exception" in state:
            raise RulesFault(f"a rule action failed inside durable-rules: {state['exception']}")
        return fired


def _recorder(fired: list[str], rule_id: str):
    def record(_closure: Any) -> None:
        fired.append(rule_id)
    return record


def _delete_rulesets(handles: list[int]) -> None:
    for handle in handles:
        durable_rules_engine.delete_ruleset(handle)
