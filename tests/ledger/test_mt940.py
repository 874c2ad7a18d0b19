"""MT940 to typed lines: the Dutch banks' :86: layouts through the mt-940 processors, a German one, and refusals."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from domain.errors import StatementError
from ledger.statements import parse_mt940
from tests.ledger.conftest import MT940_ING


def test_ing_layout_with_tags_cut_at_65_characters(mt940_ing):
    (statement,) = parse_mt940(mt940_ing, source="ing.sta")
    assert (statement.statement_id, statement.account) == ("P240502000000001/00123", "NL69INGB0123456789")
    assert (statement.opening_balance, statement.closing_balance) == (Decimal("1000.00"), Decimal("2075.55"))
    text, structured, debit = statement.lines  # the :86: after :62F: is the owner's summary, not a line
    assert (text.counterparty_iban, text.counterparty_name, text.end_to_end_id) == ("NL44RABO0123456789", "JANSEN B.V.", "E2E-77")
    assert text.remittance == "Factuur 00001234 en 00001235 dank u"  # "/REMI/U" + "STD//..." joined
    assert text.amount == Decimal("1234.56") and text.booking_date == dt.date(2024, 5, 2)
    assert structured.structured_refs == ("5010002167010010",) and structured.end_to_end_id is None
    assert structured.remittance == ""
    assert debit.direction == "debit" and not debit.is_credit


def test_abn_amro_layout(mt940_abn):
    (statement,) = parse_mt940(mt940_abn)
    free, structured = statement.lines
    assert (free.counterparty_iban, free.counterparty_name, free.remittance) == (
        "NL44RABO0123456789", "P DE VRIES", "INV-00004321 klant 88")
    assert structured.structured_refs == ("5010002167010010",) and structured.end_to_end_id == "ABC123"


def test_rabobank_layout_account_on_the_statement_line(mt940_rabo):
    (line,) = parse_mt940(mt940_rabo)[0].lines
    assert (line.counterparty_name, line.counterparty_iban, line.remittance) == (
        "Bakker Groep", "NL44RABO0123456789", "factuurnr 77")
    assert line.end_to_end_id == "20240503-1"


def test_german_layout_through_the_library_processor(mt940_de):
    (line,) = parse_mt940(mt940_de)[0].lines
    assert (line.counterparty_name, line.counterparty_iban) == ("Schmidt GmbH", "DE89370400440532013000")
    assert line.end_to_end_id == "E2E-DE-1" and line.remittance == "Rechnung Nr. 1234"
    assert line.direction == "credit" and not line.reversal  # "CR": a credit with funds code R


def test_unstructured_details_are_free_text():
    data = ":20:X\n:25:NL91ABNA0417164300\n:28C:1\n:60F:C240502EUR0,00\n:61:240503C5,00NTRFNONREF\n:86:BETALING FACTUUR 77\n:62F:C240503EUR5,00\n"
    (line,) = parse_mt940(data)[0].lines
    assert line.remittance == "BETALING FACTUUR 77" and line.counterparty_iban is None


def test_two_statements_in_one_file_and_reused_ids_stay_unique(mt940_rabo):
    statements = parse_mt940(mt940_rabo + mt940_rabo)
    assert len(statements) == 2
    ids = [ln.line_id for s in statements for ln in s.lines]
    assert len(set(ids)) == 2


def _refused(data: str) -> StatementError:
    with pytest.raises(StatementError) as caught:
        parse_mt940(data, source="bad.sta")
    assert caught.value.code == "statement_invalid" and caught.value.extra["file"] == "bad.sta"
    return caught.value


def test_unreadable_statement_line_names_its_line():
    broken = MT940_ING.replace(":61:2405020502D360,00NTRFNONREF", ":61:24050X0502D360,00NTRFNONREF")
    err = _refused(broken)
    assert err.extra["line"] == next(i for i, t in enumerate(broken.splitlines(), 1) if "24050X" in t)
    assert err.extra["element"] == ":61:"


@pytest.mark.parametrize("broken, words", [
    (MT940_ING.replace(":25:NL69INGB0123456789EUR\n", ""), "account"),
    (MT940_ING.replace(":62F:C240502EUR2075,55", ":62F:C240502EUR2075,56"), "closing balance"),
    (MT940_ING.replace(":60F:C240501EUR1000,00\n", ""), "opening balance"),
    ("hello", "not an MT940"),
])
def test_inconsistent_files_are_refused(broken, words):
    assert words in _refused(broken).detail


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(MT940_ING) - 1), st.integers(1, 30), st.text(max_size=8))
def test_any_corruption_is_a_statement_error_never_a_crash(start, length, insert):
    data = MT940_ING[:start] + insert + MT940_ING[start + length:]
    try:
        statements = parse_mt940(data)
    except StatementError as err:
        assert err.code == "statement_invalid"
    else:
        assert all(line.amount > 0 for s in statements for line in s.lines)
