"""Conditions and formulas in policy files: parse once, run on durable-rules and in Python.

Why: analysts write conditions the way they say them
(``p_late >= 0.35 and not key_account``), not durable-rules JSON. This module
parses that text with Python's own parser, allows only a small safe subset
(comparisons, ``and``/``or``/``not``, ``in [...]``, ``+ - *``; formulas may
also use ``/``, ``min``, ``max``, ``round``, ``abs``), checks every name and
type against the fact vocabulary, and emits two equivalent forms:

* the durable-rules JSON condition (what the engine runs), and
* a Python function (what the checker samples and the tests cross-check).

Numbers are IEEE doubles in both forms: constants are compiled as floats and
the Python twin reads every numeric field as a float, because durable-rules
is posted doubles (see trap 9 in ``durable.py``). So the twin decides exactly
as the engine, also for integers past 2**53 and sums past 2**63.

durable-rules trap handled here: in arithmetic a field must be written
``{"$m": "amount"}``. Written ``{"m": "amount"}`` it loads and silently gives
wrong answers, so the compiler is the only place that writes field references.
durable-rules also cannot put an expression on the left of a comparison and
``$neq`` never matches a missing or null field; comparisons are therefore
turned so a bare field is on the left, negations are pushed down to the
comparisons, and facts are posted with no null values (see ``facts.py``).

Example::

    e = parse_condition("open_exposure + order_amount > credit_limit", KINDS, {})
    to_durable(e.node)   # {'$lt': {'credit_limit': {'$add': {...}}}}
    e.py({"open_exposure": 10, "order_amount": 5, "credit_limit": 12})   # True
"""
from __future__ import annotations

import ast
import difflib
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

Kind = str  # "number" | "bool" | "str"


class ExprError(ValueError):
    """A condition or formula that cannot be compiled; ``hint`` says how to fix it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


# ---- the intermediate form: small tuples, easy to negate and to compile twice ----
# arithmetic: ("field", name) | ("const", value) | ("bin", op, l, r) | ("call", fn, (args...))
# boolean:    ("cmp", op, l, r) | ("and", (nodes...)) | ("or", (nodes...)) | ("not", node)
#             | ("const", True/False)
Node = tuple

CMP_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
BIN_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
FUNCS = {"min": min, "max": max, "round": round, "abs": abs}
NEGATED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
DURABLE_CMP = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
DURABLE_BIN = {"+": "$add", "-": "$sub", "*": "$mul", "/": "$div"}
LITERALS = {"true": True, "false": False, "True": True, "False": False}
ALWAYS = "always"  # a key posted with every fact (value 1) so constant conditions compile


@dataclass(frozen=True)
class Expr:
    """A checked expression: its source, tree, the fact fields it reads and a Python twin."""

    source: str
    node: Node
    fields: frozenset[str]
    py: Callable[[Mapping[str, Any]], Any]


def parse_condition(src: Union[str, bool], kinds: Mapping[str, Kind],
                    constants: Mapping[str, Any]) -> Expr:
    """Parse a boolean condition; ``true`` / ``false`` (YAML booleans too) are allowed."""
    if isinstance(src, bool):
        src = "true" if src else "false"
    node = _Parser(kinds, constants, formula=False).condition(_parse(src))
    to_durable(node)  # refuse now what durable-rules could not run later
    return _expr(src, node, kinds)


def parse_formula(src: Union[str, int, float], kinds: Mapping[str, Kind],
                  constants: Mapping[str, Any]) -> Expr:
    """Parse a numeric formula such as ``min(3 * avg_monthly_purchases, 20000)``."""
    if isinstance(src, bool):
        raise ExprError(f"expected a number or a formula, got {src!r}", "write e.g. 5000 or 2 * avg_monthly_purchases")
    if isinstance(src, (int, float)):
        src = repr(src)
    p = _Parser(kinds, constants, formula=True)
    node = p.arith(_parse(src))
    if p.kind_of(node) != "number":
        raise ExprError(f"formula {src!r} is not a number", "use numeric fields, numbers and + - * / min max round abs")
    return _expr(src, node, kinds)


def _parse(src: str) -> ast.expr:
    try:
        return ast.parse(src.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExprError(f"cannot parse {src!r}: {exc.msg}",
                        "use Python-like syntax: p_late >= 0.3 and customer_type == \"business\"") from exc


def _expr(src: str, node: Node, kinds: Mapping[str, Kind]) -> Expr:
    fn = eval(f"lambda f: {_py_source(node, kinds)}",  # noqa: S307 - whitelisted tree
              {"__builtins__": {}, "float": float, **FUNCS})
    return Expr(src, node, frozenset(_fields(node)), fn)


def _constant(value: Any, what: str) -> Node:
    """A literal or policy constant; a number becomes a finite float (what durable-rules computes in)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ExprError(f"{what} {value!r} is not a finite number",
                            f"use a number between -{sys.float_info.max:.3g} and {sys.float_info.max:.3g}")
        return ("const", number)
    return ("const", value)


class _Parser:
    """Turns a whitelisted Python AST into the intermediate form, checking names and types."""

    def __init__(self, kinds: Mapping[str, Kind], constants: Mapping[str, Any], formula: bool) -> None:
        self.kinds, self.constants, self.formula = kinds, constants, formula

    def condition(self, t: ast.expr) -> Node:
        if isinstance(t, ast.BoolOp):
            op = "and" if isinstance(t.op, ast.And) else "or"
            return (op, tuple(self.condition(v) for v in t.values))
        if isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.Not):
            return ("not", self.condition(t.operand))
        if isinstance(t, ast.Compare):
            parts, left = [], t.left
            for op, right in zip(t.ops, t.comparators):
                parts.append(self.compare(op, left, right))
                left = right
            return parts[0] if len(parts) == 1 else ("and", tuple(parts))
        leaf = self.arith(t)
        if self.kind_of(leaf) != "bool":
            raise ExprError(f"{ast.unparse(t)!r} is not a condition",
                            "compare it, e.g. overdue_amount > 0")
        return leaf if leaf[0] == "const" else ("cmp", "==", leaf, ("const", True))

    def compare(self, op: ast.cmpop, left: ast.expr, right: ast.expr) -> Node:
        if isinstance(op, (ast.In, ast.NotIn)):
            if not isinstance(right, (ast.List, ast.Tuple, ast.Set)) or not right.elts:
                raise ExprError(f"'in' needs a list: {ast.unparse(right)!r}", 'write e.g. country in ["NL", "BE"]')
            eqs = tuple(self.compare(ast.Eq(), left, e) for e in right.elts)
            node = ("or", eqs)
            return ("not", node) if isinstance(op, ast.NotIn) else node
        sym = CMP_OPS.get(type(op))
        if sym is None:
            raise ExprError(f"operator {type(op).__name__} is not allowed", "use == != < <= > >= in, not in")
        a, b = self.arith(left), self.arith(right)
        ka, kb = self.kind_of(a), self.kind_of(b)
        if ka != kb:
            raise ExprError(f"cannot compare {ast.unparse(left)} ({ka}) with {ast.unparse(right)} ({kb})",
                            _type_hint(ka, kb))
        if ka != "number" and sym not in ("==", "!="):
            raise ExprError(f"{ka} values can only be compared with == or !=", "use == or != (or in [...])")
        return ("cmp", sym, a, b)

    def arith(self, t: ast.expr) -> Node:
        if isinstance(t, ast.Constant) and isinstance(t.value, (bool, int, float, str)):
            return _constant(t.value, "number")
        if isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.USub):
            inner = self.arith(t.operand)
            if inner[0] == "const" and self.kind_of(inner) == "number":
                return ("const", -inner[1])
            return ("bin", "-", ("const", 0.0), inner)
        if isinstance(t, ast.Name):
            return self.name(t.id)
        if isinstance(t, ast.BinOp) and type(t.op) in BIN_OPS:
            sym = BIN_OPS[type(t.op)]
            if sym == "/" and not self.formula:
                raise ExprError("division is not allowed in conditions",
                                "multiply instead: overdue_amount > 0.5 * open_exposure")
            node = ("bin", sym, self.arith(t.left), self.arith(t.right))
            for side in node[2:]:
                if self.kind_of(side) != "number":
                    raise ExprError(f"arithmetic on a non-number in {ast.unparse(t)!r}", "use numeric fields only")
            return node
        if isinstance(t, ast.Call) and isinstance(t.func, ast.Name) and t.func.id in FUNCS and not t.keywords:
            if not self.formula:
                raise ExprError(f"{t.func.id}() is not allowed in conditions", "use it in a credit-limit formula")
            args = tuple(self.arith(a) for a in t.args)
            if not args or any(self.kind_of(a) != "number" for a in args):
                raise ExprError(f"{t.func.id}() needs numeric arguments", "e.g. min(2 * avg_monthly_purchases, 5000)")
            return ("call", t.func.id, args)
        raise ExprError(f"{ast.unparse(t)!r} is not allowed here",
                        "use fields, numbers, quoted strings, comparisons, and/or/not, + - *")

    def name(self, ident: str) -> Node:
        if ident in LITERALS:
            return ("const", LITERALS[ident])
        if ident in self.constants:
            return _constant(self.constants[ident], f"constant {ident}")
        if ident in self.kinds:
            return ("field", ident)
        close = difflib.get_close_matches(ident, [*self.kinds, *self.constants], n=1)
        hint = f"did you mean {close[0]!r}?" if close else "known fields are listed in rules/README.md"
        raise ExprError(f"unknown field {ident!r}", hint)

    def kind_of(self, node: Node) -> Kind:
        if node[0] == "field":
            return self.kinds[node[1]]
        if node[0] == "const":
            v = node[1]
            return "bool" if isinstance(v, bool) else "str" if isinstance(v, str) else "number"
        return "number"


def _type_hint(ka: Kind, kb: Kind) -> str:
    if "str" in (ka, kb):
        return 'put text in quotes: customer_type == "business"'
    if "bool" in (ka, kb):
        return "write a yes/no field alone (key_account) or with not (not key_account)"
    return "compare values of the same type"


def _fields(node: Node) -> set[str]:
    tag = node[0]
    if tag == "field":
        return {node[1]}
    if tag == "const":
        return set()
    if tag in ("bin", "cmp"):
        return _fields(node[2]) | _fields(node[3])
    if tag == "not":
        return _fields(node[1])
    children = node[2] if tag == "call" else node[1]
    return set().union(*(_fields(c) for c in children))


def _py_source(node: Node, kinds: Mapping[str, Kind]) -> str:
    tag = node[0]
    if tag == "field":
        return f"float(f[{node[1]!r}])" if kinds[node[1]] == "number" else f"f[{node[1]!r}]"
    if tag == "const":
        return repr(node[1])
    if tag in ("bin", "cmp"):
        return f"({_py_source(node[2], kinds)} {node[1]} {_py_source(node[3], kinds)})"
    if tag == "call":
        return f"{node[1]}({', '.join(_py_source(a, kinds) for a in node[2])})"
    if tag in ("and", "or"):
        return "(" + f" {tag} ".join(_py_source(n, kinds) for n in node[1]) + ")"
    if tag == "not":
        return f"(not {_py_source(node[1], kinds)})"
    raise AssertionError(tag)


def comparisons(nodes: Iterable[Node]) -> tuple[Node, ...]:
    """The distinct comparisons in the conditions ``nodes``, in first-seen order.

    Why: a condition is ``and``/``or``/``not`` over its comparisons, so which rows of a table match is
    a function of the truth of these alone (``truths``), however the numbers in them vary.
    """
    seen: dict[Node, None] = {}

    def walk(node: Node) -> None:
        if node[0] == "cmp":
            seen.setdefault(node)
        elif node[0] in ("and", "or"):
            for child in node[1]:
                walk(child)
        elif node[0] == "not":
            walk(node[1])

    for node in nodes:
        walk(node)
    return tuple(seen)


def truths(nodes: Iterable[Node], kinds: Mapping[str, Kind]) -> Callable[[Mapping[str, Any]], tuple[bool, ...]]:
    """One compiled function giving the truth of every comparison of ``nodes`` (``comparisons``) on a fact
    mapping: the Python twin of each, so in IEEE doubles like durable-rules."""
    body = "".join(f"{_py_source(c, kinds)}, " for c in comparisons(nodes))
    return eval(f"lambda f: ({body})",  # noqa: S307 - whitelisted tree
                {"__builtins__": {}, "float": float, **FUNCS})


# ---- negation and the durable-rules form ----

def negate(node: Node) -> Node:
    """``not node`` pushed down to comparisons (durable-rules has no ``$not``)."""
    tag = node[0]
    if tag == "const":
        return ("const", not node[1])
    if tag == "cmp":
        return ("cmp", NEGATED[node[1]], node[2], node[3])
    if tag == "not":
        return node[1]
    if tag in ("and", "or"):
        return ("or" if tag == "and" else "and", tuple(negate(n) for n in node[1]))
    raise AssertionError(tag)


def to_durable(node: Node) -> dict[str, Any]:
    """The durable-rules JSON for the ``m`` pattern of a rule."""
    tag = node[0]
    if tag == "not":
        return to_durable(negate(node[1]))
    if tag == "const":
        return {ALWAYS: 1 if node[1] else 0}
    if tag in ("and", "or"):
        parts = [to_durable(n) for n in node[1]]
        return parts[0] if len(parts) == 1 else {f"${tag}": parts}
    if tag == "cmp":
        return _durable_cmp(node[1], node[2], node[3])
    raise AssertionError(tag)


def _durable_cmp(op: str, left: Node, right: Node) -> dict[str, Any]:
    if left[0] == "const" and right[0] == "const":
        value = eval(f"{left[1]!r} {op} {right[1]!r}", {"__builtins__": {}})  # noqa: S307 - two literals
        return {ALWAYS: 1 if value else 0}
    if left[0] != "field":
        if right[0] != "field":
            raise ExprError("one side of a comparison must be a single field",
                            "rewrite it, e.g. credit_limit < open_exposure + order_amount")
        op, left, right = FLIPPED[op], right, left
    rhs = _durable_arith(right)
    if op == "==":
        return {left[1]: rhs}
    return {DURABLE_CMP[op]: {left[1]: rhs}}


def _durable_arith(node: Node) -> Any:
    if node[0] == "const":
        return node[1]
    if node[0] == "field":
        return {"$m": node[1]}  # never {"m": ...}: that loads and silently compares wrongly
    if node[0] == "bin":
        return {DURABLE_BIN[node[1]]: {"$l": _durable_arith(node[2]), "$r": _durable_arith(node[3])}}
    raise ExprError("functions are not allowed in conditions", "use them in a credit-limit formula")


def required_flags(node: Node) -> dict[str, bool]:
    """The yes/no fields a condition requires outright (``disputed and ...``: ``{"disputed": True}``): facts
    without them cannot make it true, whatever else they hold."""
    parts = node[1] if node[0] == "and" else (node,)
    return {p[2][1]: p[3][1] for p in parts
            if p[0] == "cmp" and p[1] == "==" and p[2][0] == "field" and p[3][0] == "const" and isinstance(p[3][1], bool)}


def comparison_constants(node: Node) -> dict[str, set[Any]]:
    """Per field, the constants it is compared with (the checker samples around them)."""
    out: dict[str, set[Any]] = {}
    if node[0] == "cmp":
        for a, b in ((node[2], node[3]), (node[3], node[2])):
            if a[0] == "field" and b[0] == "const":
                out.setdefault(a[1], set()).add(b[1])
    elif node[0] in ("and", "or"):
        for n in node[1]:
            for k, v in comparison_constants(n).items():
                out.setdefault(k, set()).update(v)
    elif node[0] == "not":
        return comparison_constants(node[1])
    return out
