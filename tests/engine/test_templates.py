"""Message templates: every packaged step x tone x language x channel renders; a missing variable, a syntax
error or an attempt to leave the sandbox is refused; a changed directory is versioned and swapped in only when
it passes, the old set serving meanwhile."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from domain.errors import PolicyError
from domain.resources import locate
from domain.vocabulary import LANGUAGES, TONES
from engine.templates import (PARTS, STEPS, TEMPLATES, Key, TemplateHolder, check, load_templates, money,
                              sample_context)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(locate(TEMPLATES), target)
    return target


def test_every_packaged_template_renders_for_every_step_tone_language_and_channel() -> None:
    templates = load_templates()
    assert check(templates) == []
    for language in LANGUAGES:
        for step, kind in STEPS.items():
            for tone in TONES:
                for channel, parts in PARTS.items():
                    text = templates.render_message(Key(language, step, kind, tone), channel,
                                                    sample_context(language, tone, step, kind, channel))
                    assert set(text) == set(parts) and all(text.values())
                    assert "https://pay.example.nl/p/C-1" in "".join(text.values())  # the payment link


def test_the_tone_and_the_language_change_the_words() -> None:
    templates = load_templates()
    said = {(lang, tone): templates.render(Key(lang, "reminder_1", "reminder", tone), "email",
                                           sample_context(lang, tone, "reminder_1", "reminder", "email"))
            for lang in LANGUAGES for tone in TONES}
    assert len(set(said.values())) == len(said)
    assert said[("nl", "friendly")].startswith("Beste") and said[("en", "firm")].startswith("Dear")
    assert "€ 1.625,50" in said[("nl", "neutral")] and "€1,625.50" in said[("en", "neutral")]


def test_a_consolidated_final_notice_lists_each_invoice_the_costs_and_the_interest() -> None:
    text = load_templates().render(Key("nl", "final_notice", "final_notice", "firm"), "email",
                                   sample_context("nl", "firm", "final_notice", "final_notice", "email"))
    assert "factuur INV-2026-0001: € 1.250,00" in text and "factuur INV-2026-0002: € 375,50" in text
    assert "€ 243,83" in text and "binnen 14 dagen" in text and "17 november 2026" in text
    assert "wettelijke rente" in text


def test_money_is_exact_from_cents() -> None:
    assert [money(c, "nl") for c in (0, 5, 123456789, -1050)] == ["€ 0,00", "€ 0,05", "€ 1.234.567,89", "-€ 10,50"]
    assert money(100000000, "en") == "€1,000,000.00"


def test_a_missing_variable_is_refused(folder: Path) -> None:
    path = folder / "nl" / "reminder.friendly.j2"
    path.write_text(path.read_text().replace("{{ customer.name }}", "{{ customer.first_name }}"))
    findings = check(load_templates(folder))
    assert findings and {f.template for f in findings} == {"nl/reminder.friendly.j2"}
    assert "first_name" in findings[0].detail


def test_a_syntax_error_is_refused_with_its_line(folder: Path) -> None:
    (folder / "en" / "payment_plan.j2").write_text('{% extends "en/_base.j2" %}\n{% block subject %}{{ oops\n')
    with pytest.raises(PolicyError) as refused:
        load_templates(folder)
    assert refused.value.extra["file"] == "en/payment_plan.j2" and refused.value.extra["line"] == 2


def test_the_sandbox_keeps_a_template_away_from_python(folder: Path) -> None:
    path = folder / "en" / "reminder.neutral.j2"
    path.write_text(path.read_text().replace("{{ company.name }}", "{{ company.__class__.__mro__ }}", 1))
    findings = check(load_templates(folder))
    assert findings and all(f.template == "en/reminder.neutral.j2" and "unsafe" in f.detail for f in findings)


def test_a_missing_template_for_a_step_is_refused(folder: Path) -> None:
    (folder / "en" / "reminder.firm.j2").unlink()
    (folder / "en" / "reminder.neutral.j2").rename(folder / "en" / "reminder_1.neutral.j2")
    findings = check(load_templates(folder))
    assert any("en/reminder.j2" in f.detail for f in findings)


def test_a_changed_template_is_versioned_and_a_bad_one_keeps_the_old_serving(folder: Path) -> None:
    holder = TemplateHolder(folder)
    first = holder.current.version
    assert holder.reload().changed is False
    path = folder / "nl" / "reminder.friendly.j2"
    good = path.read_text().replace("Een vriendelijke herinnering", "Even een seintje")
    path.write_text(good)
    swapped = holder.reload()
    assert swapped.ok and swapped.changed and swapped.version != first == load_templates().version
    subject = holder.current.render(Key("nl", "reminder_1", "reminder", "friendly"), "subject",
                                    sample_context("nl", "friendly", "reminder_1", "reminder", "email"))
    assert subject.startswith("Even een seintje")
    path.write_text(good.replace("{{ payment_link }}", "{{ payment_url }}"))
    refused = holder.reload()
    assert not refused.ok and refused.version == swapped.version and refused.findings
    assert holder.current.version == swapped.version  # the old set keeps serving


def test_a_holder_refuses_to_start_on_a_bad_directory(folder: Path) -> None:
    path = folder / "nl" / "_invoices.j2"
    path.write_text(path.read_text().replace("total_cents", "totaal"))
    with pytest.raises(PolicyError):
        TemplateHolder(folder)


def test_a_final_notice_by_email_that_drops_a_legal_element_is_refused(folder: Path) -> None:
    """The letter's statutory block is fixed in code; the e-mail's wording is the analyst's, so the check
    refuses one that no longer states the costs (or the amount, the last day, the term)."""
    path = folder / "nl" / "final_notice.j2"
    costs = 'incassokosten verschuldigd van {{ collection_costs_cents|money("nl") }}'
    path.write_text(path.read_text().replace(costs, "incassokosten verschuldigd"))
    findings = [f for f in check(load_templates(folder)) if f.code == "legal_element_missing"]
    assert findings and {f.template for f in findings} == {"nl/final_notice.j2"}
    assert "collection costs" in findings[0].detail
