"""Message templates: per step, tone and language, sandboxed, versioned like the policy, checked before they serve.

Why: the wording of a reminder is the company's voice ("strict on process, soft on
the person") and an analyst's to change, without a deploy; a template that names a
variable the sender does not fill must never reach a customer as a blank. So the
templates are Jinja2 files in a directory (the packaged ``rules/templates`` or
``TEMPLATES_DIR``), rendered in a ``SandboxedEnvironment`` (a template cannot reach
Python's internals) with ``StrictUndefined`` (a missing variable is an error, not an
empty string). ``check`` renders every step x tone x language x channel with sample
data; ``TemplateHolder.reload`` swaps in a changed directory only when that check
passes, so a bad template is refused and the old set keeps serving. The version is
the content hash of the directory: each sent message records the one it was
rendered with.

Layout: ``<language>/<name>.j2``; for a message the first that exists of
``<step>.<tone>``, ``<step>``, ``<kind>.<tone>``, ``<kind>`` is used (a step of its
own wording, else the kind's). Each template renders one part per call (``part``:
``subject`` and ``email`` for e-mail, ``short`` for SMS and WhatsApp, ``letter``);
the packaged ones extend ``_base.j2``, which selects the part.

Example::

    templates = load_templates()
    text = templates.render(Key("nl", "reminder_1", "reminder", "friendly"), "short", context)
"""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from jinja2 import DictLoader, StrictUndefined, TemplateError, TemplateNotFound, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from domain.errors import PolicyError
from domain.resources import Resource, locate
from domain.vocabulary import LANGUAGES, MONTH_NAMES, TONES
from engine.calendar import Calendar, next_business_day
from engine.legal import collection_costs

TEMPLATES = Resource("rules", "templates")
#: The parts a channel's message is made of.
PARTS = {"email": ("subject", "email"), "sms": ("short",), "whatsapp": ("short",), "letter": ("letter",)}
#: Steps and kinds ``check`` renders (the policy's ladders, the plan reminder, and the fallbacks of a call).
STEPS = {"pre_due_nudge": "reminder", "reminder_1": "reminder", "reminder_2": "reminder", "call": "reminder",
         "plan_instalment": "reminder", "final_notice": "final_notice", "payment_plan": "payment_plan"}
#: The Dutch 14-day term (art. 6:96 lid 6 BW), counted from the day after receipt.
TERM_DAYS = 14
_DUTCH_MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
                 "oktober", "november", "december")


@dataclass(frozen=True)
class Key:
    """Which template a message needs."""

    language: str
    step: str
    kind: str
    tone: str

    def candidates(self) -> tuple[str, ...]:
        return tuple(f"{self.language}/{n}.j2" for n in (f"{self.step}.{self.tone}", self.step,
                                                         f"{self.kind}.{self.tone}", self.kind))


@dataclass(frozen=True)
class Finding:
    template: str
    code: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"template": self.template, "code": self.code, "detail": self.detail}


def money(amount_cents: int | None, language: str = "nl") -> str:
    """``€ 1.234,56`` (Dutch) or ``€1,234.56`` (English): exact from integer cents."""
    if amount_cents is None:
        raise TemplateError("money() of an undefined amount")
    sign, whole, cents = "-" if amount_cents < 0 else "", *divmod(abs(int(amount_cents)), 100)
    grouped = f"{whole:,}"
    if language == "nl":
        return f"{sign}€ {grouped.replace(',', '.')},{cents:02d}"
    return f"{sign}€{grouped}.{cents:02d}"


def long_date(day: date, language: str = "nl") -> str:
    """``2 november 2026`` / ``2 November 2026``."""
    months = _DUTCH_MONTHS if language == "nl" else MONTH_NAMES
    return f"{day.day} {months[day.month - 1]} {day.year}"


def _environment(sources: Mapping[str, str]) -> SandboxedEnvironment:
    env = SandboxedEnvironment(loader=DictLoader(dict(sources)), undefined=StrictUndefined, autoescape=False,
                               keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = money
    env.filters["long_date"] = long_date
    return env


@dataclass(frozen=True)
class TemplateSet:
    """One directory's templates, compiled; ``version`` is its content hash."""

    sources: Mapping[str, str]
    version: str
    source: str
    env: SandboxedEnvironment = field(repr=False, compare=False)

    def find(self, key: Key) -> str:
        found = next((name for name in key.candidates() if name in self.sources), None)
        if found is None:
            raise PolicyError(f"no template for {key} in {self.source} (tried {', '.join(key.candidates())})",
                              field="template", extra={"file": self.source, "line": None,
                                                       "hint": f"add {key.candidates()[-1]}"})
        return found

    def render(self, key: Key, part: str, context: Mapping[str, Any]) -> str:
        """One part of the message ``key`` names; a missing variable or a template error raises ``PolicyError``."""
        name = self.find(key)
        try:
            text = self.env.get_template(name).render({**context, "part": part})
        except TemplateError as exc:
            raise PolicyError(f"{name}: {exc}", field="template",
                              extra={"file": name, "line": getattr(exc, "lineno", None),
                                     "hint": "every variable a template uses must be filled in"}) from exc
        return text.strip()

    def render_message(self, key: Key, channel: str, context: Mapping[str, Any]) -> dict[str, str]:
        return {part: self.render(key, part, context) for part in PARTS[channel]}


def load_templates(path: str | Path | None = None) -> TemplateSet:
    """Read and compile every ``*.j2`` under ``path`` (default: the packaged ``rules/templates``)."""
    root, sources, version = _read(path)
    env = _environment(sources)
    for name in sources:
        try:
            env.get_template(name)
        except TemplateSyntaxError as exc:
            raise PolicyError(f"{name}:{exc.lineno}: {exc.message}", field="template",
                              extra={"file": name, "line": exc.lineno, "hint": "fix the Jinja2 syntax"}) from exc
        except TemplateNotFound as exc:
            raise PolicyError(f"{name}: includes or extends {exc.name}, which is not there", field="template",
                              extra={"file": name, "line": None, "hint": "keep the base templates"}) from exc
    return TemplateSet(sources, version, str(root), env)


def _read(path: str | Path | None) -> tuple[Path, dict[str, str], str]:
    """The directory's ``*.j2`` files and their version (the content hash), compiled nothing yet."""
    root = locate(TEMPLATES) if path is None else Path(path)
    if not root.is_dir():
        raise PolicyError(f"{root}: no template directory", field="templates",
                          extra={"file": str(root), "line": None, "hint": "set TEMPLATES_DIR to a directory"})
    sources = {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.j2"))}
    digest = hashlib.sha256()
    for name, text in sources.items():
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return root, sources, f"tpl-{digest.hexdigest()[:12]}"


def sample_context(language: str, tone: str, step: str, kind: str, channel: str) -> dict[str, Any]:
    """Everything the sender fills in, with sample values: what ``check`` renders every template with."""
    today = date(2026, 11, 2)
    invoices = [{"id": "INV-2026-0001", "amount_cents": 125000, "due": date(2026, 9, 30), "days_past_due": 33,
                 "reference": "1234567890123456"},
                {"id": "INV-2026-0002", "amount_cents": 37550, "due": date(2026, 10, 15), "days_past_due": 18,
                 "reference": None}]
    total = sum(i["amount_cents"] for i in invoices)
    return message_context(
        company={"name": "Voorbeeld B.V.", "iban": "NL91ABNA0417164300", "address": "Straat 1\n1000 AA Amsterdam",
                 "phone": "+31201234567", "email": "debiteuren@example.nl"},
        customer={"id": "C-1", "name": "J. Jansen", "type": "consumer", "postal_address": "Laan 2\n3500 AB Utrecht"},
        language=language, tone=tone, step=step, kind=kind, channel=channel, invoices=invoices, today=today,
        collection_costs_cents=_cents(collection_costs(Decimal(total) / 100)) if kind == "final_notice" else None,
        interest_percent=Decimal("6.00"), payment_link="https://pay.example.nl/p/C-1?ref=msg-1",
        unsubscribe_link="https://example.nl/unsubscribe/C-1", calendar=None, country="NL")


def _cents(euros: Decimal) -> int:
    return int((euros * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def pay_by(sent_on: date, calendar: Calendar | None, country: str) -> tuple[date, date]:
    """The day a letter sent on ``sent_on`` is taken as received (the next business day) and the last day of
    the 14-day term counted from the day after it, moved to the next business day when it falls on a weekend
    or public holiday (Algemene termijnenwet)."""
    received = next_business_day(calendar, country, sent_on + timedelta(days=1))
    return received, next_business_day(calendar, country, received + timedelta(days=TERM_DAYS))


def message_context(*, company: Mapping[str, Any], customer: Mapping[str, Any], language: str, tone: str, step: str,
                    kind: str, channel: str, invoices: list[dict[str, Any]], today: date,
                    collection_costs_cents: int | None, interest_percent: Decimal, payment_link: str,
                    unsubscribe_link: str, calendar: Calendar | None, country: str) -> dict[str, Any]:
    """The variables every template may use: the amounts in cents (``|money``), the dates (``|long_date``),
    the invoices of a consolidated reminder, the costs and statutory interest, the links."""
    total = sum(i["amount_cents"] for i in invoices)
    interest = sum(Decimal(i["amount_cents"]) * interest_percent / 100 * max(0, i["days_past_due"]) / 365
                   for i in invoices)
    received, last_day = pay_by(today, calendar, country)
    return {"company": dict(company), "customer": dict(customer), "language": language, "tone": tone, "step": step,
            "kind": kind, "channel": channel, "invoices": invoices, "total_cents": total, "today": today,
            "collection_costs_cents": collection_costs_cents,
            "total_with_costs_cents": total + (collection_costs_cents or 0),
            "interest_percent": interest_percent, "interest_cents": int(interest.quantize(Decimal(1), ROUND_HALF_UP)),
            "term_days": TERM_DAYS, "received_on": received, "pay_by": last_day,
            "payment_link": payment_link, "unsubscribe_link": unsubscribe_link}


def _legal_elements(context: Mapping[str, Any]) -> dict[str, str]:
    """What a final notice by e-mail must state (the letter carries ``engine.notice``'s fixed block): the amount
    due, the collection costs, the last day of the term, and the term itself."""
    language = context["language"]
    return {"amount due": money(context["total_cents"], language),
            "collection costs": money(context["collection_costs_cents"], language),
            "last day": long_date(context["pay_by"], language), "term": str(context["term_days"])}


def check(templates: TemplateSet, steps: Iterable[str] = STEPS) -> list[Finding]:
    """Render every step x tone x language x channel with sample data; each failure a finding. A final notice
    by e-mail that leaves out an element the law asks of it (``_legal_elements``) is refused too."""
    findings: list[Finding] = []
    for language in LANGUAGES:
        for step in steps:
            kind = STEPS.get(step, "reminder")
            for tone in TONES:
                for channel in PARTS:
                    key = Key(language, step, kind, tone)
                    context = sample_context(language, tone, step, kind, channel)
                    try:
                        parts = templates.render_message(key, channel, context)
                    except PolicyError as exc:
                        findings.append(Finding(exc.extra.get("file") or str(key), "template_error", exc.detail))
                        continue
                    if kind == "final_notice" and channel == "email":
                        missing = [name for name, text in _legal_elements(context).items()
                                   if text not in parts["email"]]
                        if missing:
                            findings.append(Finding(templates.find(key), "legal_element_missing",
                                                    f"the final notice by e-mail does not state the "
                                                    f"{', '.join(missing)} ({key})"))
                    empty = [p for p, text in parts.items() if not text]
                    if empty:
                        findings.append(Finding(templates.find(key), "empty_part",
                                                f"{', '.join(empty)} of {channel} renders empty for {key}"))
    return sorted(set(findings), key=lambda f: (f.template, f.detail))


@dataclass(frozen=True)
class TemplateReload:
    ok: bool
    version: str
    changed: bool
    findings: list[dict[str, str]] = field(default_factory=list)


class TemplateHolder:
    """Holds the current ``TemplateSet``; the initial load raises when the directory does not pass ``check``."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        current = load_templates(path)
        findings = check(current)
        if findings:
            raise PolicyError(f"templates refused: {findings[0].detail}", field="templates",
                              extra={"file": findings[0].template, "line": None,
                                     "hint": "run kredo templates check"})
        self._current = current

    @property
    def current(self) -> TemplateSet:
        return self._current

    def reload(self) -> TemplateReload:
        """Re-read the directory; swap only when it loads and every template renders."""
        with self._lock:
            old = self._current
            try:
                if _read(self.path)[2] == old.version:  # unchanged: nothing to compile (a sender asks every pass)
                    return TemplateReload(True, old.version, False)
                new = load_templates(self.path)
            except PolicyError as exc:
                return TemplateReload(False, old.version, False, [Finding(exc.extra.get("file") or "", "template_error",
                                                                          exc.detail).to_dict()])
            findings = check(new)
            if findings:
                return TemplateReload(False, old.version, False, [f.to_dict() for f in findings])
            self._current = new
            return TemplateReload(True, new.version, True)
