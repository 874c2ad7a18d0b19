"""The fact vocabulary: every field a policy may read, its type and its default.

Why: a policy condition may only name a field listed here (the checker
refuses typos with a "did you mean"), and the engine normalises the caller's
facts to exactly these fields before they reach durable-rules. That
normalisation is also a durable-rules workaround: ``$neq`` never matches a
missing or null field, and users report crashes on wide input dicts (more than
28 keys, jruizgit/rules issue 300), so facts are posted with defaults instead
of nulls and with only the fields the rules read.

Unknown customers are new customers: missing history counts as zero.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidInput
from domain.vocabulary import CHANNELS, CUSTOMER_TYPES, DISPUTE_TYPES, PROFILES, SIZES


@dataclass(frozen=True)
class FactField:
    """One field: ``kind`` is number, bool or str; ``choices`` limit a str field."""

    name: str
    kind: str
    meaning: str
    default: Any = None
    choices: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.default is None:
            object.__setattr__(self, "default", {"number": 0, "bool": False, "str": ""}[self.kind])


F = FactField
#: Who the customer is, what its history says and what the model expects: what ``risk_segments`` may read,
#: so the one risk segment table decides the segment at checkout and in dunning alike.
RISK_FIELDS: tuple[FactField, ...] = (
    F("customer_type", "str", "business or consumer", "consumer", CUSTOMER_TYPES),
    F("country", "str", "ISO 3166 alpha-2 country, upper case"),
    F("profile", "str", "profile (student, young_family, adult, 60_plus, sme, enterprise); empty if unknown",
      choices=PROFILES),
    F("customer_size", "str", "small / medium / large company; consumer; empty if unknown", choices=SIZES),
    F("key_account", "bool", "important customer: the account manager decides"),
    F("is_new_customer", "bool", "no history yet (unknown customers are new)", True),
    F("open_exposure", "number", "open (unpaid) invoice amount before this decision (EUR)"),
    F("overdue_amount", "number", "open amount past its due date (EUR)"),
    F("avg_monthly_purchases", "number", "average invoiced amount per month (EUR)"),
    F("invoices_paid", "number", "number of invoices paid so far"),
    F("share_paid_late", "number", "share of paid invoices that were paid late (0..1)"),
    F("mean_days_late", "number", "mean days late of paid invoices"),
    F("open_disputes", "number", "number of open disputes"),
    F("max_days_overdue", "number", "days past due of the oldest overdue open invoice (0 if none)"),
    F("overdue_share", "number", "share of the open exposure past its due date (0..1)"),
    F("disputed_share", "number", "share of the open exposure under an open dispute (0..1)"),
    F("broken_promises", "number", "promises to pay broken so far"),
    F("in_escalation", "bool", "an open invoice is with a collection agency or lawyer"),
    F("p_late", "number", "model: probability the invoice is paid late"),
    F("p_late_30", "number", "model: probability of paying more than 30 days late"),
    F("expected_days_late", "number", "model: expected days late"),
)
CHECKOUT_FIELDS: tuple[FactField, ...] = (
    *RISK_FIELDS,
    F("customer_id", "str", "customer id (checked against the policy's block list)"),
    F("blocked", "bool", "customer is blocked (or listed in the policy's block_list)"),
    F("order_amount", "number", "amount of the order asked on credit (EUR)"),
    F("payment_terms_days", "number", "payment terms asked (days)", 30),
)
CHECKOUT_DERIVED: tuple[FactField, ...] = (
    F("segment", "str", "risk segment decided by risk_segments"),
    F("profile_segment", "str", "profile segment decided by profile_segments"),
    F("credit_limit", "number", "credit limit decided by credit_limits"),
    F("available_credit", "number", "credit_limit - open_exposure, at least 0"),
)
#: What the engine decides from the dunning facts before the guards and the ladder read them.
DUNNING_DERIVED: tuple[FactField, ...] = (
    F("segment", "str", "risk segment decided by risk_segments"),
    F("ladder_day", "number", "the day of the ladder: days past due minus days in dispute (a dispute pauses "
      "the ladder, its resolution resumes it where it stood)"),
    F("dispute_sla_days", "number", "the policy's SLA for the open dispute's type (disputes.types)"),
    F("dispute_resumes_after_sla", "bool", "the policy resumes dunning when that SLA has passed"),
)
DUNNING_FIELDS: tuple[FactField, ...] = (
    *RISK_FIELDS,
    F("account_manager", "str", "owner of the relationship, if any"),
    *(F(f"consent_{ch}", "bool", f"recorded consent for {ch}") for ch in CHANNELS),
    F("days_past_due", "number", "days since the due date (negative before it)"),
    F("amount", "number", "open amount of the invoice (EUR)"),
    F("reminders_sent", "number", "reminders already sent for this invoice"),
    F("days_since_last_reminder", "number", "days since the last reminder (0 if none)"),
    F("final_notice_sent", "bool", "the 14-day letter (or B2B final notice) was sent"),
    F("final_notice_days_ago", "number", "days since the final notice"),
    F("disputed", "bool", "the invoice has an open dispute"),
    F("dispute_days_open", "number", "days the dispute has been open"),
    F("dispute_type", "str", "what the open dispute is about (empty: none or not said)", choices=DISPUTE_TYPES),
    F("days_in_dispute", "number", "days past due the invoice spent disputed (resolved and open disputes)"),
    F("promise_pending", "bool", "a promise to pay runs: its date plus the grace has not passed"),
    F("promise_broken", "bool", "the invoice's last promise to pay was broken"),
    F("days_since_promise_broken", "number", "days since the broken promise's date plus the grace ran out"),
    F("under_plan", "bool", "the invoice is covered by an active payment plan"),
    F("plan_missed", "bool", "an instalment of the plan is unpaid past its due date plus the grace"),
    F("plan_missed_days", "number", "days since the first missed instalment's due date plus the grace"),
    *DUNNING_DERIVED,
)
del F


def kinds(fields: Iterable[FactField]) -> dict[str, str]:
    return {f.name: f.kind for f in fields}


ALL_KINDS: dict[str, str] = {**kinds(CHECKOUT_FIELDS), **kinds(CHECKOUT_DERIVED), **kinds(DUNNING_FIELDS)}
#: The dunning facts a caller gives; the engine derives the rest (``DUNNING_DERIVED``: the segment from
#: ``risk_segments``, the ladder day, the open dispute's SLA from ``disputes``).
DUNNING_INPUT: tuple[FactField, ...] = tuple(f for f in DUNNING_FIELDS if f not in DUNNING_DERIVED)


def normalize(facts: Mapping[str, Any], fields: tuple[FactField, ...]) -> dict[str, Any]:
    """Type-checked facts with every field present (defaults for missing or None).

    Extra keys are ignored, so callers may pass wide records. Raises
    ``InvalidInput`` naming the field for a wrong type, NaN, a number beyond
    the double range or an unknown choice. Numbers keep their type (an int
    reads as an int in a reason text); the rules compute in doubles.
    """
    if not isinstance(facts, Mapping):
        raise InvalidInput(f"facts must be a mapping, got {type(facts).__name__}", field="facts")
    known = _NORMALIZERS.get(id(fields))
    if known is None or known[0] is not fields:
        known = _NORMALIZERS[id(fields)] = (fields, _normalizer(fields))
    return known[1](facts.get)


#: The compiled ``normalize`` of each field list, by the list's identity (hashing a list of ~45 fields
#: on every call cost as much as checking them); the list is kept, so its id is never reused.
_NORMALIZERS: dict[int, tuple[tuple[FactField, ...], Callable[[Callable[[str], Any]], dict[str, Any]]]] = {}


def _normalizer(fields: tuple[FactField, ...]) -> Callable[[Callable[[str], Any]], dict[str, Any]]:
    """``normalize`` for one field list as one compiled function: straight-line checks per field and one dict
    display. Why: it runs on every decision (a dunning run's million), and a loop over the fields with a
    branch per kind was a tenth of a decision's CPU; ``tests/engine/test_rules_numbers.py`` holds its
    refusals and values to the rules of the docstring above."""
    lines, env = ["def normalized(get):"], {"_finite": _finite, "_refuse": _refuse}
    for i, f in enumerate(fields):
        env[f"d{i}"], name = f.default, repr(f.name)
        lines += [f"    v = get({name})", f"    if v is None:", f"        x{i} = d{i}"]
        if f.kind == "number":
            lines += ["    elif type(v) is float:",
                      "        if v - v != 0.0:",  # inf and NaN: the only floats whose difference is not 0
                      f"            _refuse({name}, 'a finite number', v)",
                      f"        x{i} = v",
                      "    elif isinstance(v, bool) or not isinstance(v, (int, float)) or not _finite(v):",
                      f"        _refuse({name}, 'a finite number', v)",
                      "    else:", f"        x{i} = v"]
        elif f.kind == "bool":
            lines += ["    elif v is True or v is False:", f"        x{i} = v",
                      "    else:", f"        _refuse({name}, 'true or false', v)"]
        else:
            lines += ["    elif not isinstance(v, str):", f"        _refuse({name}, 'a string', v)", "    else:"]
            if f.name == "country":
                lines += ["        v = v.upper()"]
            if f.choices is not None:
                env[f"c{i}"] = f.choices
                lines += [f"        if v and v not in c{i}:", f"            _refuse({name}, 'one of ' + str(list(c{i})), v)"]
            lines += [f"        x{i} = v"]
    lines.append("    return {" + ", ".join(f"{f.name!r}: x{i}" for i, f in enumerate(fields)) + "}")
    exec("\n".join(lines), env)  # noqa: S102 - the source is built here from the vocabulary's own names
    return env["normalized"]


def _refuse(name: str, what: str, value: Any) -> None:
    raise InvalidInput(f"{name} must be {what}, got {value!r}", field=name)


def _finite(value: int | float) -> bool:
    """A number the rules can compute with: finite as a double (an int past 1.8e308 is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
