"""The one place that touches durable-rules 2.0.28, with every known trap handled.

Why a wrapper: durable-rules is the rule engine named by the product, but it
is effectively unmaintained (jruizgit/rules issue 370) and has sharp edges.
Each workaround below lives here and nowhere else, and each has a test in
``tests/test_rules_durable.py``:

1. **Not thread-safe.** 16 threads posting at once crash the process. One
   lock per runner is held around ``assert_fact`` + ``delete_state``.
2. **The dispatcher thread steals actions.** ``Host.__init__`` starts timer
   threads that run pending actions in the background; a post can then return
   ``None`` because its action ran elsewhere. The runner uses no ``Host``: it
   drives the C engine (``durable_rules_engine``) itself, so no dispatcher or
   timer thread exists and every action is taken by the caller's post.
3. **1,024 live sessions per ruleset.** Every decision uses a fresh session id
   and the session is deleted in ``finally``, whatever happened.
4. **A name cannot be registered twice.** Each runner registers its own
   rulesets; a policy reload builds a new runner. Ruleset names and session ids are
   unique in the process (a serial per runner, one global session counter):
   a second host reusing the same names and ids aborted the process in
   ``delete_state`` (``free(): invalid pointer``, or a segfault) now and then.
   ``durable_rules_engine.delete_ruleset``
   is never called: freeing an old ruleset corrupted the heap and aborted the
   process later (``free(): invalid pointer`` in ``delete_state`` of another
   ruleset). An old policy's compiled rules therefore stay in memory (a few
   hundred KB per reload, measured in the tests); reloads are rare.
5. **A fact that matches no rule raises** ``MessageNotHandledException``,
   and ``delete_state`` after that corrupts the heap (abort or segfault a
   few calls later; reproduced 6 of 6 runs). Every ruleset therefore ends
   with a catch-all rule (``always == 1``, lowest priority) that records
   "no rule": every post is handled and every session can be deleted.
   Also: a fact (``assert_fact``) runs a rule's action once per matching
   ``$or`` branch, which made a decision cost ~36 actions. Everything is posted
   as an *event* with ``pri`` = row order: durable-rules runs exactly one
   action, the highest-priority match (the hit policy is applied by
   durable-rules itself).
6. **An exception inside an action is returned in the state, not raised.**
   No Python action runs at all: the rule that fired is the name of the action
   durable-rules starts for the event (``r<i>``, or ``none`` for the catch-all),
   and that action is completed at once. The library's own path (``Host.post``)
   ran a Python closure per post only to record that name, and serialised and
   parsed the session state around it: two thirds of a post's cost. A post
   that starts no action, or one of an unknown name, is a ``RulesFault``.
7. **Wide facts and leaks** (issues 300 and 306): callers post only the
   fields the rules read (``project``); memory is measured flat in the tests
   and in ``bench/rules.py``.
8. **``$m`` vs ``m`` in arithmetic** is handled by the compiler (``expr.py``).
9. **Numbers.** The C parser refuses an exponent without a fraction: ``1e-05``
   and ``1e+20`` (how Python's ``json`` writes 0.00001 and 10**20, so a model
   score of 3e-05 or a constant 0.00001) fail with error 204 in the post, or in
   the ruleset itself. Integers are read as 64-bit and silently saturate past
   2**63, and integer arithmetic wraps. Every number the rules read (fact,
   condition constant) is therefore posted as a double, and written by
   ``to_json`` in a form the parser reads exactly (``1.0e-05``, the shortest
   repr otherwise): the rules compute in IEEE doubles, like the Python twin of
   each condition (``Expr.py``), so both always decide alike. Strings and keys
   are written by orjson (the same JSON text as ``json.dumps(...,
   ensure_ascii=False)`` means, at a tenth of its cost per call).
"""
from __future__ import annotations

import itertools
import json
import math
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import durable_rules_engine
import orjson

from domain.errors import KredoError
from engine.rules.expr import ALWAYS


class RulesFault(KredoError):
    """durable-rules misbehaved (an action failed or no state came back)."""

    code = "rules_fault"
    title = "Rule engine fault"
    status = 500


# Process-wide: the C engine keeps state that outlives a Host; ruleset names
# and session ids that repeat across hosts crashed it (see trap 4).
_RUNNERS = itertools.count()
_SIDS = itertools.count()


def as_doubles(value: Any) -> Any:
    """``value`` with every number a float (bools stay bools): what the rules compute in (trap 9).

    Raises ``OverflowError`` for an integer beyond the double range and
    ``ValueError`` for NaN or infinity: those have no meaning in a rule.
    """
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return value
    if kind is str or kind is bool or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: as_doubles(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_doubles(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        return number
    return value


def _string(text: str) -> str:
    return orjson.dumps(text).decode()


def to_json(value: Any) -> str:
    """JSON text durable-rules' C parser reads as Python means it (trap 9).

    Like ``json.dumps``, except that a float is written so its exponent always
    follows a fraction (``1.0e-05``, never ``1e-05``); shortest-repr digits
    otherwise, so the parser's ``strtod`` gives back the same double.
    """
    kind = type(value)
    if kind is float:
        return _float(value)
    if kind is str:
        return _string(value)
    if kind is bool or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_string(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    return json.dumps(value, ensure_ascii=False)  # int (of any size), bool subclasses


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"durable-rules cannot read {value!r}")
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text


def project(facts: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """Only the fields the rules read (trap 7)."""
    return {k: facts[k] for k in fields}


_HANDLED = 0  # ``assert_event``'s first value: 1 is "no rule matched", 2 "already observed"


class DurableRunner:
    """Several rulesets registered with durable-rules; ``match`` returns the rule id that fired.

    ``rulesets`` maps a ruleset name to ``{rule_id: condition}``:
    ``condition`` is the durable-rules JSON for the ``m`` pattern and rules
    are in priority order; exactly the first matching rule fires. A decision
    is: post the facts as an event in a fresh session, read the name of the
    action durable-rules starts (trap 6), complete it, delete the session.
    Thread-safe.
    """

    def __init__(self, rulesets: Mapping[str, Mapping[str, dict[str, Any]]]) -> None:
        self._lock = threading.Lock()
        serial = next(_RUNNERS)
        self._handles: dict[str, int] = {}
        self._rule_ids: dict[str, dict[str, str | None]] = {}
        for i, (name, rules) in enumerate(rulesets.items()):
            definition = {f"r{k}": {"pri": k + 1, "all": [{"m": as_doubles(cond)}]}
                          for k, cond in enumerate(rules.values())}
            definition["none"] = {"pri": len(rules) + 1, "all": [{"m": {ALWAYS: 1.0}}]}
            self._handles[name] = durable_rules_engine.create_ruleset(f"rs{serial}x{i}", to_json(definition))
            self._rule_ids[name] = {**{f"r{k}": rid for k, rid in enumerate(rules)}, "none": None}

    def match(self, ruleset: str, facts: Mapping[str, Any]) -> str | None:
        """Post ``facts`` in a fresh session; the id of the rule that fired, if any.

        Numbers are posted as doubles (trap 9); ``ValueError`` for NaN or infinity.
        """
        handle, rule_ids = self._handles[ruleset], self._rule_ids[ruleset]
        message = as_doubles(facts)
        message[ALWAYS] = 1.0
        with self._lock:
            sid = str(next(_SIDS))
            message["sid"] = sid
            status, state = durable_rules_engine.assert_event(handle, to_json(message))
            if status != _HANDLED:  # no delete_state here: see trap 5
                raise RulesFault(f"durable-rules did not handle the facts in {ruleset} (status {status})")
            try:
                action = durable_rules_engine.start_action_for_state(handle, state)
                if action is not None:
                    durable_rules_engine.complete_and_start_action(handle, state)
            finally:
                durable_rules_engine.delete_state(handle, sid)
        if action is None:
            raise RulesFault(f"durable-rules started no action for the facts in {ruleset}")
        fired = action[1]  # '{"r3":{"m":{...the event...}}}': the action's name comes first
        name = fired[2:fired.find('"', 2)]
        if not fired.startswith('{"') or name not in rule_ids:
            raise RulesFault(f"durable-rules started an unknown action in {ruleset}: {fired[:40]!r}")
        return rule_ids[name]
