"""Read a policy file into a checked, compiled ``CreditPolicy`` — or into findings with lines.

Why: analysts edit the policy, so every mistake must come back as "file, line,
what is wrong, how to fix it", never as a stack trace or a silently different
decision. The YAML is composed with PyYAML's node API, which keeps the line of
every key and list item; JSON Schema errors, unknown fields and bad
conditions are mapped back to those lines.

The structure (tables of rows, hit policies, ladders) is described in
``rules/README.md`` and ``rules/schema.json``.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import string
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from domain.resources import POLICY_SCHEMA, read_text

from engine.rules import facts as vocab
from engine.rules.expr import Expr, ExprError, comparison_constants, parse_condition, parse_formula
from engine.rules.ladders import compile_dunning
from engine.rules.model import (CreditPolicy, DisputeRoute, DisputeSettings, Finding, Path_, Row, Table, dotted,
                                line_of)

# decided later in the same decision, so a reason text may show them
REASON_EXTRA = {f.name for f in vocab.CHECKOUT_DERIVED}
OUTCOME_KEY = {"risk_segments": "segment", "profile_segments": "segment", "credit_limits": "limit",
               "checkout": "outcome", "dunning.rules": "action"}


# ---- YAML with lines ----

def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], dups: list[tuple[Path_, int]]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            sub = (*path, key)
            if key in seen:
                dups.append((sub, key_node.start_mark.line + 1))
            seen.add(key)
            lines[sub] = key_node.start_mark.line + 1
            _walk(value_node, sub, lines, dups)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), lines, dups)


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(read_text(POLICY_SCHEMA))


class _Builder:
    """Collects findings while turning the raw document into a ``CreditPolicy``."""

    def __init__(self, file: str, lines: dict[Path_, int]) -> None:
        self.file, self.lines = file, lines
        self.findings: list[Finding] = []

    def error(self, code: str, message: str, path: Path_, hint: str, severity: str = "error",
              line: int | None = None) -> None:
        where = line if line is not None else line_of(self.lines, path)
        self.findings.append(Finding(severity, code, message, self.file, where, hint))

    # -- schema --
    def check_schema(self, data: Any) -> bool:
        validator = jsonschema.Draft202012Validator(schema())
        ok = True
        for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
            ok = False
            path = tuple(err.absolute_path)
            if err.validator == "additionalProperties":
                allowed = list(err.schema.get("properties", {}))
                for key in sorted(set(err.instance) - set(allowed)):
                    close = difflib.get_close_matches(key, allowed, n=1)
                    hint = f"did you mean {close[0]!r}?" if close else f"allowed here: {', '.join(allowed)}"
                    self.error("unknown_field", f"unknown field {key!r} at {dotted(path) or 'top level'}",
                               (*path, key), hint)
            elif err.validator == "required":
                self.error("missing_field", f"{dotted(path) or 'top level'}: {err.message}", path,
                           "add it; see rules/README.md")
            else:
                self.error("schema", f"{dotted(path) or 'top level'}: {err.message}", path,
                           _schema_hint(err))
        return ok

    # -- expressions --
    def condition(self, src: Any, kinds: Mapping[str, str], constants: Mapping[str, Any],
                  path: Path_) -> Expr | None:
        return self._expression("condition", parse_condition, src, kinds, constants, path)

    def formula(self, src: Any, kinds: Mapping[str, str], constants: Mapping[str, Any],
                path: Path_) -> Expr | None:
        return self._expression("formula", parse_formula, src, kinds, constants, path)

    def _expression(self, code: str, parse: Callable[..., Expr], src: Any, kinds: Mapping[str, str],
                    constants: Mapping[str, Any], path: Path_) -> Expr | None:
        """``parse(src, kinds, constants)``, or None after recording the error under ``code``."""
        try:
            return parse(src, kinds, constants)
        except ExprError as exc:
            self.error(code, f"{dotted(path)}: {exc}", path, exc.hint)
            return None

    def reason(self, text: str, names: set[str], path: Path_) -> None:
        try:
            used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as exc:
            self.error("reason", f"{dotted(path)}: bad placeholder: {exc}", path, "write {field} or {{ for a brace")
            return
        for name in sorted(used - names):
            close = difflib.get_close_matches(name, sorted(names), n=1)
            self.error("reason", f"{dotted(path)}: unknown placeholder {{{name}}}", path,
                       f"did you mean {{{close[0]}}}?" if close else "use a fact field name")

    # -- tables --
    def table(self, name: str, raw: Mapping[str, Any], path: Path_, kinds: Mapping[str, str],
              constants: Mapping[str, Any], extra_rows: list[Row] | None = None) -> Table:
        rows: list[Row] = list(extra_rows or [])
        hit = raw.get("hit", "first")
        for i, row in enumerate(raw["rules"]):
            rpath = (*path, "rules", i)
            when = self.condition(row["when"], kinds, constants, (*rpath, "when"))
            self.reason(row["reason"], set(kinds) | REASON_EXTRA | set(row), (*rpath, "reason"))
            key = OUTCOME_KEY[name]
            formula = None
            if key not in row:
                self.error("missing_field", f"{dotted(rpath)}: a {name} rule needs '{key}'", rpath,
                           f"add '{key}: ...' to rule {row['id']!r}")
            elif key == "limit":
                formula = self.formula(row["limit"], kinds, constants, (*rpath, "limit"))
            if when is None:
                continue
            sets = {k: v for k, v in row.items() if k not in ("id", "when", "reason")}
            rows.append(Row(row["id"], name, line_of(self.lines, rpath), when, sets, row["reason"], formula,
                            line_of(self.lines, (*rpath, "when"))))
        return Table(name, hit, tuple(rows), line_of(self.lines, path))


def _schema_hint(err: jsonschema.ValidationError) -> str:
    if err.validator == "enum":
        return "use one of: " + ", ".join(map(str, err.validator_value))
    if err.validator == "type":
        return f"write a value of type {err.validator_value}"
    if err.validator == "pattern":
        return "use lower case letters, digits, '_' and '.' (e.g. risk.high)"
    if err.validator == "minimum":
        return f"use at least {err.validator_value}"
    return "see rules/schema.json"


def read_document(path: str | Path) -> tuple[Any, dict[Path_, int], bytes, list[Finding]]:
    """The raw document, its line map, its bytes, and syntax findings (if any)."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return None, {}, b"", [Finding("error", "unreadable", f"cannot read policy: {exc.strerror}", file, None,
                                       "check the path")]
    try:
        loader = yaml.SafeLoader(raw.decode("utf-8"))
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except UnicodeDecodeError:
        return None, {}, raw, [Finding("error", "syntax", "policy is not UTF-8 text", file, None,
                                       "save the file as UTF-8")]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return None, {}, raw, [Finding("error", "syntax", f"YAML syntax: {exc.problem or exc.context}", file,
                                       mark.line + 1 if mark else None,
                                       "check indentation, colons and quotes on this line")]
    lines: dict[Path_, int] = {}
    dups: list[tuple[Path_, int]] = []
    if node is not None:
        _walk(node, (), lines, dups)
    found = [Finding("error", "duplicate_key", f"{dotted(p)} is given twice", file, ln,
                     "remove one of them (YAML would silently keep the last)") for p, ln in dups]
    return data, lines, raw, found


def parse_policy(path: str | Path) -> tuple[CreditPolicy | None, list[Finding]]:
    """Compile a policy file; returns ``(None, findings)`` when it has errors."""
    data, lines, raw, found = read_document(path)
    if found and data is None:
        return None, found
    b = _Builder(str(path), lines)
    b.findings.extend(found)
    if not b.check_schema(data):
        return None, b.findings
    constants = dict(data.get("constants") or {})
    clash = set(constants) & ({f.name for f in vocab.CHECKOUT_FIELDS + vocab.CHECKOUT_DERIVED}
                              | {f.name for f in vocab.DUNNING_FIELDS})
    for name in sorted(clash):
        b.error("constant", f"constant {name!r} has the name of a fact field", ("constants", name),
                "rename the constant")
    ids: dict[str, Path_] = {}
    for tname in ("risk_segments", "profile_segments", "credit_limits", "checkout"):
        _collect_ids(b, data[tname]["rules"], (tname, "rules"), ids)
    _collect_ids(b, (data["dunning"].get("rules") or {}).get("rules", []), ("dunning", "rules", "rules"), ids)

    ck = vocab.kinds(vocab.CHECKOUT_FIELDS)
    tables: dict[str, Table] = {
        "risk_segments": b.table("risk_segments", data["risk_segments"], ("risk_segments",),
                                 vocab.kinds(vocab.RISK_FIELDS), constants),
        "profile_segments": b.table("profile_segments", data["profile_segments"], ("profile_segments",), ck,
                                    constants),
    }
    derived = {**ck, **vocab.kinds(vocab.CHECKOUT_DERIVED)}
    limit_kinds = {k: v for k, v in derived.items() if k not in ("credit_limit", "available_credit")}
    tables["credit_limits"] = b.table("credit_limits", data["credit_limits"], ("credit_limits",), limit_kinds,
                                      constants)
    tables["checkout"] = b.table("checkout", data["checkout"], ("checkout",), derived, constants)

    disputes = _disputes(data.get("disputes") or {})
    settings, dunning_tables = compile_dunning(b, data["dunning"], constants,
                                               {r.sets["segment"] for r in tables["risk_segments"].rows}, disputes)
    tables.update(dunning_tables)
    _check_segment_values(b, tables)
    if any(f.severity == "error" for f in b.findings):
        return None, b.findings
    policy = CreditPolicy(
        version=data["version"], content_hash=hashlib.sha256(raw).hexdigest(), path=str(path),
        tables=tables, constants=constants, block_list=frozenset(data.get("block_list") or ()),
        dunning=settings, disputes=disputes, cases=tuple(data.get("tests") or ()), lines=lines,
    )
    return policy, b.findings


#: Where a dispute type goes when the policy does not say (the ``other`` route, unless given).
DEFAULT_ROUTE = {"department": "credit_management", "sla_days": 30, "resume_dunning_after_sla": True}


def _disputes(raw: Mapping[str, Any]) -> DisputeSettings:
    """The ``disputes`` section (the schema checked it): every type not listed takes the ``other`` route."""
    types = {name: DisputeRoute(**{**DEFAULT_ROUTE, **route}) for name, route in (raw.get("types") or {}).items()}
    types.setdefault("other", DisputeRoute(**DEFAULT_ROUTE))
    return DisputeSettings(task=raw.get("task", "resolve_dispute"), overdue_task=raw.get("overdue_task", "dispute_overdue"),
                           escalate_to=raw.get("escalate_to", "credit_manager"), types=types)


def _collect_ids(b: _Builder, rows: list[Mapping[str, Any]], path: Path_, ids: dict[str, Path_]) -> None:
    for i, row in enumerate(rows):
        if row["id"] in ids:
            b.error("duplicate_id", f"rule id {row['id']!r} is used twice (first at line "
                    f"{line_of(b.lines, ids[row['id']])})", (*path, i, "id"), "give every rule its own id")
        ids.setdefault(row["id"], (*path, i, "id"))


def _check_segment_values(b: _Builder, tables: Mapping[str, Table]) -> None:
    """Conditions may only compare a field with values it can take (segments the tables set, choices)."""
    known: dict[str, set[str]] = {
        "segment": {r.sets["segment"] for r in tables["risk_segments"].rows},
        "profile_segment": {r.sets["segment"] for r in tables["profile_segments"].rows},
    }
    for f in (*vocab.CHECKOUT_FIELDS, *vocab.DUNNING_FIELDS):
        if f.choices is not None:
            known[f.name] = set(f.choices)
    for t in tables.values():
        for row in t.rows:
            for fname, values in comparison_constants(row.when.node).items():
                if fname not in known:
                    continue
                for value in sorted(values - known[fname] - {""}, key=str):
                    close = difflib.get_close_matches(str(value), sorted(known[fname]), n=1)
                    b.error("unknown_value", f"rule {row.id!r} compares {fname} with {value!r}, a value it never has",
                            (), f"did you mean {close[0]!r}?" if close else
                            f"values are: {', '.join(sorted(known[fname]))}", line=row.when_line or row.line)
