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
   a policy reload builds a new runner. Ruleset names and session ids are
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
   The returned state is checked and turned into ``RulesFault``.
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
   each condition (``Expr.py``), so both always decide alike.
"""
from __future__ import annotations

import itertools
import json
import math
import threading
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import durable_rules_engine
from durable.engine import Host, MessageNotHandledException, Promise, Ruleset

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
    if kind is float or kind is int:
        return _double(value)
    if kind is str or kind is bool or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: as_doubles(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_doubles(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _double(value)
    return value


def _double(value: int | float) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


@lru_cache(maxsize=16_384)
def _string(text: str) -> str:
    """A JSON string as ``json.dumps(text, ensure_ascii=False)`` writes it (fact names and categories repeat)."""
    return json.dumps(text, ensure_ascii=False)


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"durable-rules cannot read {value!r}")
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text


def to_json(value: Any) -> str:
    """JSON text durable-rules' C parser reads as Python means it (trap 9).

    Like ``json.dumps``, except that a float is written so its exponent always
    follows a fraction (``1.0e-05``, never ``1e-05``); shortest-repr digits
    otherwise, so the parser's ``strtod`` gives back the same double. (Every
    decision posts its facts: the common types are written without the
    general encoder.)
    """
    kind = type(value)
    if kind is float:
        return _float(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is str:
        return _string(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_string(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, float):
        return _float(value)
    return json.dumps(value, ensure_ascii=False)  # int, None, str and bool subclasses


class _ExactRuleset(Ruleset):
    """A ``Ruleset`` whose definition and posted events are written by ``to_json`` (trap 9).

    ``Ruleset.__init__`` and ``assert_event`` serialise with ``json.dumps``;
    these two are the library's own code with that one call replaced.
    """

    def __init__(self, name: str, host: Host, definition: dict[str, Any]) -> None:
        self._actions = {rule: Promise(rule_def.pop("run")) for rule, rule_def in definition.items()}
        self._name, self._host, self._definition = name, host, definition
        self._handle = durable_rules_engine.create_ruleset(name, to_json(definition))

    def assert_event(self, message: dict[str, Any]) -> Any:
        return self._handle_result(durable_rules_engine.assert_event(self._handle, to_json(message)), message)


class _QuietHost(Host):
    """A ``Host`` without the background dispatcher and timer threads (trap 2), posting exact numbers (trap 9)."""

    def _run(self) -> None:
        return None

    def register_rulesets(self, ruleset_definitions: Mapping[str, dict[str, Any]]) -> None:
        for name, definition in ruleset_definitions.items():
            if name in self._ruleset_directory:
                raise RulesFault(f"ruleset {name} is already registered")
            self._ruleset_directory[name] = ruleset = _ExactRuleset(name, self, definition)
            self._ruleset_list.append(ruleset)


def project(facts: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """Only the fields the rules read (trap 7)."""
    return {k: facts[k] for k in fields}


class DurableRunner:
    """Several rulesets on one private durable-rules host; ``match`` returns the rule ids that fired.

    ``rulesets`` maps a ruleset name to ``{rule_id: condition}``:
    ``condition`` is the durable-rules JSON for the ``m`` pattern and rules
    are in priority order; exactly the first matching rule fires. Every
    action only records its rule id, so a decision is: post the facts, read
    the id. Thread-safe.
    """

    def __init__(self, rulesets: Mapping[str, Mapping[str, dict[str, Any]]]) -> None:
        self._host = _QuietHost()
        self._lock = threading.Lock()
        self._fired: list[str | None] = []
        serial = next(_RUNNERS)
        self._names = {name: f"rs{serial}x{i}" for i, name in enumerate(rulesets)}
        definitions = {
            self._names[name]: {
                **{f"r{i}": {"pri": i + 1, "all": [{"m": as_doubles(cond)}], "run": _recorder(self._fired, rid)}
                   for i, (rid, cond) in enumerate(rules.items())},
                "none": {"pri": len(rules) + 1, "all": [{"m": {ALWAYS: 1.0}}], "run": _recorder(self._fired, None)},
            }
            for name, rules in rulesets.items()
        }
        self._host.set_rulesets(definitions)

    def match(self, ruleset: str, facts: Mapping[str, Any]) -> str | None:
        """Post ``facts`` in a fresh session; the id of the rule that fired, if any.

        Numbers are posted as doubles (trap 9); ``ValueError`` for NaN or infinity.
        """
        ruleset = self._names[ruleset]
        message = {**as_doubles(facts), ALWAYS: 1.0}
        with self._lock:
            sid = str(next(_SIDS))
            message["sid"] = sid
            self._fired.clear()
            try:
                state = self._host.post(ruleset, message)
            except MessageNotHandledException as exc:  # no delete_state here: see trap 5
                raise RulesFault(f"no rule handled the facts in {ruleset}") from exc
            self._host.delete_state(ruleset, sid)
            fired = list(self._fired)
        if state is None:
            raise RulesFault("durable-rules returned no state: an action ran outside the caller")
        if "exception" in state:
            raise RulesFault(f"a rule action failed inside durable-rules: {state['exception']}")
        return fired[0] if fired else None


def _recorder(fired: list[str | None], rule_id: str | None):
    def record(_closure: Any) -> None:
        fired.append(rule_id)
    return record
