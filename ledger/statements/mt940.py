"""SWIFT MT940 statements to typed statement lines, with the Dutch banks' ``:86:`` layout.

Why: many banks still deliver MT940, and Dutch banks fill ``:86:`` with tagged
SEPA fields (``/EREF/``, ``/CNTP/`` or ``/IBAN/`` and ``/NAME/``, ``/REMI/``
with ``USTD//`` free text or ``STRD/`` a structured reference) whose layout
differs per bank. The tags are read by the ``mt-940`` library; the ``:86:``
details go through its processor pipeline: its own processor for the German
``?20`` layout (``Options.applicant_iban`` files ``?31`` as the IBAN) and
:func:`dutch_sepa_details`, registered beside it, for the Dutch slash-tagged
layouts (ING's ``/CNTP/IBAN/BIC/NAME/CITY/``, ABN AMRO's ``/IBAN/ /NAME/`` and
``/CDTRREF/``, Rabobank's ``/ORDP//NAME/`` with the account on the ``:61:``
line's second line). Details with neither layout are kept whole as free text.

A malformed file is refused whole (``StatementError`` naming the file, the
line and the tag): a tag the library cannot read, a statement without
``:25:`` or balances that the lines do not add up to.

Example::

    statements = parse_mt940(Path("ing.sta").read_bytes(), source="ing.sta")
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

import mt940
from mt940.models import Transaction, Transactions
from mt940.processors import transaction_details_post_processor

from domain.errors import StatementError
from ledger.statements.lines import Statement, StatementLine, check_balances, normalize_reference
from ledger.statements.references import is_valid_iban

#: Every ``/TAG/`` the Dutch banks put in ``:86:`` (ING, ABN AMRO, Rabobank, Triodos, ASN).
SEPA_TAGS = ("EREF", "PREF", "MARF", "CSID", "CNTP", "REMI", "PURP", "ULTC", "ULTD", "ULTB", "RTRN",
             "IBAN", "BIC", "NAME", "TRTP", "ORDP", "BENM", "ADDR", "ID", "ISDT", "SVCL", "BUSP",
             "EXCH", "OCMT", "CHGS", "SUM", "CDTRREFTP", "CDTRREF")
_SEPA_TAG = re.compile(r"/(" + "|".join(sorted(SEPA_TAGS, key=len, reverse=True)) + r")/")
_CDTRREF = re.compile(r"CDTRREF/([^/]+)")
_STATEMENT_START = re.compile(r"(?m)^:20:")
_TAG_LINE = re.compile(r"(?m)^:61:")
_CLOSING = re.compile(r"(?m)^:62[FM]?:")
_TRAILING_DETAILS = re.compile(r"(?ms)^:86:.*?(?=^:\d\d[A-Z]?:|\Z)")
_OPTIONS = mt940.Options.all()
_NOT_PROVIDED = "NOTPROVIDED"


def dutch_sepa_details(transactions: Transactions, tag: Any, tag_dict: dict[str, Any],
                       result: dict[str, Any]) -> dict[str, Any]:
    """``mt-940`` post-processor: the Dutch slash-tagged ``:86:`` fields as ``result['sepa']``.

    Lines of ``:86:`` are cut at 65 characters, also inside a tag, so they are
    joined without a separator before the tags are read.
    """
    details = "".join(part.strip("\r") for part in str(tag_dict.get("transaction_details") or "").splitlines())
    if not details.startswith("/"):
        return result
    marks = list(_SEPA_TAG.finditer(details))
    if not marks or marks[0].start() != 0:
        return result
    fields: dict[str, str] = {}
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(details)
        value = details[mark.end():end]
        fields.setdefault(mark.group(1), value[:-1] if value.endswith("/") else value)
    result["sepa"] = _sepa_fields(fields)
    return result


def _sepa_fields(raw: dict[str, str]) -> dict[str, Any]:
    """Payer, reference and text out of the raw tag values, whichever bank's layout."""
    iban = raw.get("IBAN") or None
    name = raw.get("NAME") or None
    if "CNTP" in raw:  # ING: IBAN/BIC/NAME/CITY
        parts = raw["CNTP"].split("/")
        iban = parts[0] or iban
        name = (parts[2] if len(parts) > 2 else "") or name
    refs: list[str] = []
    text = ""
    remi = raw.get("REMI", "")
    if "CDTRREF" in raw:  # ABN AMRO: /REMI//CDTRREFTP//CD/SCOR/ISSR/CUR/CDTRREF/<ref>
        refs.append(raw["CDTRREF"])
    elif remi.startswith("USTD/"):
        text = remi[len("USTD/"):].lstrip("/")
    elif remi.startswith("STRD/"):
        found = _CDTRREF.search(remi)
        parts = [p for p in remi.split("/") if p]
        refs.append(found.group(1) if found else parts[-1] if len(parts) > 1 else "")
    else:
        text = remi
    eref = raw.get("EREF") or None
    return {
        "iban": normalize_reference(iban) if iban else None,
        "name": " ".join(name.split()) if name else None,
        "end_to_end_id": None if eref in (None, _NOT_PROVIDED) else eref,
        "refs": tuple(normalize_reference(r) for r in refs if r.strip()),
        "text": " ".join(text.split()),
    }


PROCESSORS = {"post_transaction_details": [transaction_details_post_processor, dutch_sepa_details]}


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:  # older exports are Latin-1
        return data.decode("latin-1")


def parse_mt940(data: bytes | str, source: str = "<memory>") -> list[Statement]:
    """Every statement (``:20:`` block) in an MT940 file, in file order.

    Raises ``StatementError`` (code ``statement_invalid``) naming the file and line.
    """
    text = _decode(data)
    starts = [m.start() for m in _STATEMENT_START.finditer(text)]
    if not starts:
        raise StatementError(f"{source}: no :20: tag: not an MT940 statement", field=":20:",
                             extra={"file": source, "line": None, "element": ":20:"})
    statements: list[Statement] = []
    seen: set[str] = set()
    for b_no, start in enumerate(starts):
        end = starts[b_no + 1] if b_no + 1 < len(starts) else len(text)
        statement = _block(text[start:end], source, text.count("\n", 0, start) + 1)
        if statement.statement_id in seen:
            statement = Statement(f"{statement.statement_id}#{b_no + 1}", statement.account, statement.currency,
                                  statement.opening_balance, statement.closing_balance,
                                  _renumbered(statement.lines, f"{statement.statement_id}#{b_no + 1}"))
        seen.add(statement.statement_id)
        statements.append(statement)
    return statements


def _renumbered(lines: tuple[StatementLine, ...], statement_id: str) -> tuple[StatementLine, ...]:
    """The same lines under a statement id made unique (banks that reuse ``:20:`` and ``:28C:``)."""
    return tuple(replace(ln, statement_id=statement_id,
                         line_id=f"{statement_id}/{ln.line_id.rsplit('/', 2)[-2]}/1") for ln in lines)


def _refuse(source: str, line: int | None, tag: str, detail: str) -> StatementError:
    where = f"{source}" + (f", line {line}" if line else "")
    return StatementError(f"{where}, {tag}: {detail}", field=tag,
                          extra={"file": source, "line": line, "element": tag})


def _block(block: str, source: str, first_line: int) -> Statement:
    """One ``:20:`` block; ``first_line`` is its line in the file (for the messages)."""
    closing = _CLOSING.search(block)
    if closing:  # an :86: after the closing balance informs the account owner; it is not a transaction's
        block = block[:closing.start()] + _TRAILING_DETAILS.sub("", block[closing.start():])
    tx_lines = [first_line + block.count("\n", 0, m.start()) for m in _TAG_LINE.finditer(block)]
    transactions = Transactions(processors=PROCESSORS, options=_OPTIONS)
    try:
        transactions.parse(block)
    except (RuntimeError, ValueError, ArithmeticError, KeyError, TypeError) as exc:
        value = exc.args[2] if len(exc.args) > 2 and isinstance(exc.args[2], str) else ""
        at = block.find(value.splitlines()[0]) if value.strip() else -1
        line = first_line + block.count("\n", 0, at) if at >= 0 else first_line
        tag = f":{exc.args[1].id}:" if len(exc.args) > 1 and hasattr(exc.args[1], "id") else "tag"
        raise _refuse(source, line, tag, f"unreadable: {exc.args[0]}") from None
    data = transactions.data
    account_raw = data.get("account_identification")
    if not account_raw:
        raise _refuse(source, first_line, ":25:", "missing account identification")
    opening = data.get("final_opening_balance") or data.get("opening_balance") \
        or data.get("intermediate_opening_balance")
    closing_bal = data.get("final_closing_balance") or data.get("closing_balance") \
        or data.get("intermediate_closing_balance")
    if opening is None:
        raise _refuse(source, first_line, ":60F:", "missing opening balance")
    currency = transactions.currency or "EUR"
    account = _account(str(account_raw), currency)
    statement_id = str(data.get("transaction_reference") or "")
    number = data.get("statement_number")
    if number:
        statement_id = f"{statement_id}/{number}" + (f"/{data['sequence_number']}" if data.get("sequence_number") else "")
    lines = tuple(_line(t, i, statement_id, account, currency, source, tx_lines[i - 1] if i <= len(tx_lines) else None)
                  for i, t in enumerate(transactions, start=1))
    statement = Statement(statement_id, account, currency, Decimal(opening.amount.amount),
                          Decimal(closing_bal.amount.amount) if closing_bal is not None else None, lines)
    check_balances(statement, source, f"line {first_line}")
    return statement


def _account(raw: str, currency: str) -> str:
    """``:25:`` as an account id: ING appends the currency (``NL69INGB0123456789EUR``), some banks ``BIC/``."""
    account = raw.split("/")[-1].replace(" ", "")
    return account[:-3] if account.endswith(currency) and len(account) > 3 + 15 else account


def _line(t: Transaction, number: int, statement_id: str, account: str, currency: str, source: str,
          line: int | None) -> StatementLine:
    d = t.data
    if "amount" not in d:
        raise _refuse(source, line, ":86:", "details without a :61: statement line")
    amount = d["amount"]
    if amount.currency != currency:
        raise _refuse(source, line, ":61:", f"currency {amount.currency} differs from the statement's {currency}")
    mark = str(d["status"]).upper()
    if Decimal(amount.amount) == 0:
        raise _refuse(source, line, ":61:", "zero amount")
    sepa: dict[str, Any] = d.get("sepa") or {}
    raw_details = str(d.get("transaction_details") or "")
    german = d.get("purpose") is not None or d.get("applicant_iban") is not None
    if sepa:
        name, iban, e2e, refs, text = sepa["name"], sepa["iban"], sepa["end_to_end_id"], sepa["refs"], sepa["text"]
    elif german:
        name, iban = d.get("applicant_name"), d.get("applicant_iban")
        e2e = d.get("end_to_end_reference")
        refs, text = (), " ".join(str(d.get("purpose") or "").split())
    else:
        name = iban = e2e = None
        refs, text = (), " ".join(raw_details.split())
    if not iban:  # Rabobank writes the counterparty's account on the :61: line's second line
        extra = normalize_reference(str(d.get("extra_details") or ""))
        iban = extra if is_valid_iban(extra) else None
    value_date = d["date"]
    booking = d.get("entry_date") or value_date
    return StatementLine(
        line_id=f"{statement_id}/{number}/1", statement_id=statement_id, account=account,
        entry_ref=str(d.get("bank_reference") or d.get("customer_reference") or number),
        booking_date=_date(booking), value_date=_date(value_date), amount=abs(Decimal(amount.amount)),
        currency=currency, direction="credit" if mark in ("C", "RD") else "debit",
        counterparty_name=name or None, counterparty_iban=normalize_reference(iban) if iban else None,
        end_to_end_id=None if e2e in (None, _NOT_PROVIDED) else e2e, structured_refs=tuple(refs),
        remittance=text, reversal=mark.startswith("R"),
    )


def _date(value: Any) -> dt.date:
    return dt.date(value.year, value.month, value.day)
