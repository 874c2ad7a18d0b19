"""CAMT.053 in two versions to typed lines; malformed files refused whole, with file, line and element."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from domain.errors import StatementError
from ledger.statements import parse_camt053, read_statements
from tests.ledger.conftest import CAMT_V02


def test_v02_lines_amounts_dates_parties_and_references(camt_v02):
    (statement,) = parse_camt053(camt_v02, source="may.xml")
    assert (statement.statement_id, statement.account, statement.currency) == ("STMT-2024-05-02", "NL91ABNA0417164300", "EUR")
    assert (statement.opening_balance, statement.closing_balance) == (Decimal("1000.00"), Decimal("2175.55"))
    first, batch_a, batch_b, debit = statement.lines  # the pending entry gives no line
    assert first.amount == Decimal("1234.56") and isinstance(first.amount, Decimal)
    assert (first.booking_date, first.value_date) == (dt.date(2024, 5, 2), dt.date(2024, 5, 1))
    assert (first.counterparty_name, first.counterparty_iban) == ("Jansen B.V.", "NL44RABO0123456789")
    assert first.end_to_end_id == "E2E-77" and first.entry_ref == "E1"
    assert first.structured_refs == ("RF18539007547034",) and first.is_credit


def test_v02_batch_entry_gives_one_line_per_transaction(camt_v02):
    (statement,) = parse_camt053(camt_v02)
    _, a, b, _ = statement.lines
    assert [a.line_id, b.line_id] == ["STMT-2024-05-02/2/1", "STMT-2024-05-02/2/2"]
    assert [a.amount, b.amount] == [Decimal("100.00"), Decimal("200.99")]
    assert a.remittance == "Rechnung Nr. 1234 danke" and a.end_to_end_id is None  # NOTPROVIDED
    assert b.structured_refs == ("5010002167010010",) and b.counterparty_iban is None
    assert a.booking_date == dt.date(2024, 5, 2)  # from BookgDt/DtTm


def test_debit_keeps_the_creditor_as_counterparty(camt_v02):
    debit = parse_camt053(camt_v02)[0].lines[-1]
    assert (debit.direction, debit.counterparty_name, debit.entry_ref) == ("debit", "Kantoorhuur BV", "BANK-3")
    assert not debit.is_credit


def test_v08_is_read_alike(camt_v08):
    (statement,) = parse_camt053(camt_v08)
    line, reversal = statement.lines
    assert (line.counterparty_name, line.counterparty_iban, line.amount) == ("Peeters NV", "BE68539007547034", Decimal("75.10"))
    assert line.structured_refs == ("INV00001234",) and line.remittance == "factuur mei"
    assert reversal.reversal and not reversal.is_credit and reversal.remittance == "STORNO INCASSO"
    assert statement.opening_balance is None


def test_read_statements_detects_the_format(tmp_path, camt_v02, mt940_ing):
    (tmp_path / "a.xml").write_bytes(camt_v02)
    (tmp_path / "b.sta").write_text(mt940_ing)
    assert read_statements(tmp_path / "a.xml")[0].statement_id == "STMT-2024-05-02"
    assert read_statements(tmp_path / "b.sta")[0].statement_id == "P240502000000001/00123"


def _refused(data: str | bytes) -> StatementError:
    with pytest.raises(StatementError) as caught:
        parse_camt053(data, source="bad.xml")
    assert caught.value.code == "statement_invalid" and caught.value.extra["file"] == "bad.xml"
    return caught.value


def test_not_well_formed_names_the_line():
    err = _refused(CAMT_V02.replace("</Ntry>", "</Ntri>", 1))
    assert err.extra["line"] == CAMT_V02.splitlines().index("      </Ntry>") + 1


def test_a_dtd_or_entity_is_refused():
    bomb = '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><Document>&b;</Document>'
    assert "forbidden" in _refused(bomb).detail
    external = '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>'
    _refused(external)


def test_bad_amount_names_line_and_element():
    err = _refused(CAMT_V02.replace(">1234.56<", ">1234,56<"))
    assert err.extra["element"] == "Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/Amt"
    assert err.extra["line"] == next(i for i, t in enumerate(CAMT_V02.splitlines(), 1) if "1234.56" in t)


@pytest.mark.parametrize("broken, words", [
    (CAMT_V02.replace(">200.99</Amt></TxAmt>", ">200.98</Amt></TxAmt>"), "add up"),
    (CAMT_V02.replace(">2175.55<", ">2175.56<"), "closing balance"),
    (CAMT_V02.replace("<CdtDbtInd>DBIT</CdtDbtInd>", "<CdtDbtInd>DEBIT</CdtDbtInd>"), "neither CRDT nor DBIT"),
    (CAMT_V02.replace('Ccy="EUR">360.00', 'Ccy="euro">360.00'), "ISO 4217"),
    (CAMT_V02.replace("<BookgDt><Dt>2024-05-02</Dt></BookgDt>\n        <ValDt><Dt>2024-05-01", "<BookgDt><Dt>2024-02-30</Dt></BookgDt>\n        <ValDt><Dt>2024-05-01"), "not a date"),
    (CAMT_V02.replace("<Id>STMT-2024-05-02</Id>", ""), "missing"),
    (CAMT_V02.replace("BkToCstmrStmt", "BkToCstmrAcctRpt"), "not a camt.053"),
])
def test_inconsistent_files_are_refused(broken, words):
    assert words in _refused(broken).detail


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(CAMT_V02) - 1), st.integers(1, 40), st.text(max_size=8))
@example(CAMT_V02.index("UTF-8"), 1, "")  # 'encoding="TF-8"': an encoding Python does not know
def test_any_corruption_is_a_statement_error_never_a_crash(start, length, insert):
    """Cut or overwrite any part of a valid file: it parses whole, or it is refused with the code."""
    data = CAMT_V02[:start] + insert + CAMT_V02[start + length:]
    try:
        statements = parse_camt053(data.encode("utf-8", "surrogatepass"))
    except StatementError as err:
        assert err.code == "statement_invalid"
    else:
        assert all(line.amount > 0 for s in statements for line in s.lines)
