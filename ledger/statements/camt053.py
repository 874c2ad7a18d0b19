"""ISO 20022 CAMT.053 (``BkToCstmrStmt``) to typed statement lines, any version.

Why: CAMT.053 is how SEPA banks deliver the day's statement. The versions
(camt.053.001.02 ... .13) differ in their namespace and in a few element
shapes (``Sts`` as text or ``Sts/Cd``; ``Dbtr/Nm`` or ``Dbtr/Pty/Nm``; a
transaction amount in ``TxDtls/Amt`` or ``AmtDtls/TxAmt/Amt``), so elements are
read by their local name and both shapes are accepted.

Parser: the standard library's ElementTree behind ``defusedxml`` (no DTD, no
entity expansion, no external references: a statement is untrusted input and
must not be able to read local files or blow up memory). Bindings generated
from the XSDs (xsdata) would tie the code to one version per namespace; the
fields Kredo reads are few and stable across all of them.

A malformed file is refused whole with a ``StatementError`` that names the
file, the line and the element path; nothing is half-parsed. Entries that are
not booked (``PDNG``, ``INFO``) are not money yet and give no line. A batch
entry (several ``TxDtls``) gives one line per transaction; their amounts must
add up to the entry's.

Example::

    statements = parse_camt053(Path("2024-05-02.xml").read_bytes(), source="2024-05-02.xml")
    [ln.amount for st in statements for ln in st.lines if ln.is_credit]
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from domain.errors import StatementError
from ledger.statements.lines import Direction, Statement, StatementLine, check_balances, normalize_reference

_AMOUNT = re.compile(r"\d{1,18}(\.\d{1,5})?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_BOOKED = "BOOK"
_NOT_PROVIDED = "NOTPROVIDED"


class _LineTrackingParser(DefusedXMLParser):
    """A defused parser that remembers the source line of every element (for the error messages)."""

    def __init__(self) -> None:
        super().__init__(forbid_dtd=True, forbid_entities=True, forbid_external=True)
        self.lines: dict[int, int] = {}

    def _start(self, tag: str, attr_list: Any) -> Element:  # the pure-Python parser's start hook
        elem = super()._start(tag, attr_list)
        self.lines[id(elem)] = self.parser.CurrentLineNumber
        return elem


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class _Reader:
    """Walks one parsed document; every refusal names the file, line and element path."""

    def __init__(self, source: str, lines: dict[int, int]) -> None:
        self.source = source
        self.lines = lines

    def refuse(self, elem: Element | None, path: str, detail: str) -> StatementError:
        line = self.lines.get(id(elem)) if elem is not None else None
        where = f"{self.source}" + (f", line {line}" if line else "") + f", {path}"
        return StatementError(f"{where}: {detail}", field=path,
                              extra={"file": self.source, "line": line, "element": path})

    @staticmethod
    def children(elem: Element, name: str) -> list[Element]:
        return elem.findall(name)

    @staticmethod
    def child(elem: Element, *names: str) -> Element | None:
        return elem.find("/".join(names))

    def text(self, elem: Element, *names: str) -> str | None:
        found = self.child(elem, *names)
        if found is None or found.text is None or not found.text.strip():
            return None
        return " ".join(found.text.split())

    def required(self, elem: Element, path: str, *names: str) -> str:
        value = self.text(elem, *names)
        if value is None:
            raise self.refuse(elem, f"{path}/{'/'.join(names)}", "missing")
        return value

    def amount(self, elem: Element, path: str) -> tuple[Decimal, str]:
        """An ``Amt Ccy="EUR"`` element: a positive exact amount and its currency."""
        value = (elem.text or "").strip()
        if not _AMOUNT.fullmatch(value):
            raise self.refuse(elem, path, f"amount {value!r} is not a decimal number")
        currency = elem.get("Ccy", "")
        if not _CURRENCY.fullmatch(currency):
            raise self.refuse(elem, path, f"currency {currency!r} is not an ISO 4217 code")
        return Decimal(value), currency

    def direction(self, elem: Element, path: str) -> Direction:
        mark = self.required(elem, path, "CdtDbtInd")
        if mark not in ("CRDT", "DBIT"):
            raise self.refuse(self.child(elem, "CdtDbtInd"), f"{path}/CdtDbtInd",
                              f"{mark!r} is neither CRDT nor DBIT")
        return "credit" if mark == "CRDT" else "debit"

    def date(self, elem: Element, path: str, name: str) -> dt.date:
        holder = self.child(elem, name)
        if holder is None:
            raise self.refuse(elem, f"{path}/{name}", "missing")
        value = self.text(holder, "Dt") or self.text(holder, "DtTm")
        try:
            if value is None:
                raise ValueError("no Dt or DtTm")
            return dt.datetime.fromisoformat(value).date() if "T" in value else dt.date.fromisoformat(value)
        except ValueError as exc:
            raise self.refuse(holder, f"{path}/{name}", f"not a date: {exc}") from None


def parse_camt053(data: bytes | str, source: str = "<memory>") -> list[Statement]:
    """Every statement in a CAMT.053 document, in file order.

    Raises ``StatementError`` (code ``statement_invalid``) for anything that is
    not a well-formed, defused ``BkToCstmrStmt`` with consistent amounts and
    balances.
    """
    parser = _LineTrackingParser()
    try:
        parser.feed(data)
        root = parser.close()
    except ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise StatementError(f"{source}, line {line}: not well-formed XML: {exc}", field="xml",
                             extra={"file": source, "line": line, "element": None}) from None
    except DefusedXmlException as exc:
        raise StatementError(f"{source}: forbidden XML construct: {exc}", field="xml",
                             extra={"file": source, "line": None, "element": None}) from None
    except LookupError as exc:  # the declaration names an encoding Python does not know
        raise StatementError(f"{source}: unknown character encoding in the XML declaration: {exc}",
                             field="xml", extra={"file": source, "line": 1, "element": None}) from None
    for elem in root.iter():  # namespace-agnostic from here on: every version reads alike
        elem.tag = _local(elem.tag)
    reader = _Reader(source, parser.lines)
    if root.tag != "Document":
        raise reader.refuse(root, root.tag, "the root element is not an ISO 20022 Document")
    body = reader.child(root, "BkToCstmrStmt")
    if body is None:
        raise reader.refuse(root, "Document", "no BkToCstmrStmt: not a camt.053 statement")
    statements: list[Statement] = []
    seen: set[str] = set()
    for s_no, stmt in enumerate(reader.children(body, "Stmt"), start=1):
        statement = _statement(reader, stmt, f"Document/BkToCstmrStmt/Stmt[{s_no}]")
        if statement.statement_id in seen:
            raise reader.refuse(stmt, f"Document/BkToCstmrStmt/Stmt[{s_no}]/Id",
                                f"statement id {statement.statement_id!r} appears twice")
        seen.add(statement.statement_id)
        statements.append(statement)
    if not statements:
        raise reader.refuse(body, "Document/BkToCstmrStmt", "no Stmt")
    return statements


def _statement(r: _Reader, stmt: Element, path: str) -> Statement:
    statement_id = r.required(stmt, path, "Id")
    acct = r.child(stmt, "Acct")
    if acct is None:
        raise r.refuse(stmt, f"{path}/Acct", "missing")
    account = r.text(acct, "Id", "IBAN") or r.text(acct, "Id", "Othr", "Id")
    if account is None:
        raise r.refuse(acct, f"{path}/Acct/Id", "no IBAN or other account id")
    opening, closing, bal_currency = _balances(r, stmt, path)
    currency = r.text(acct, "Ccy") or bal_currency
    lines: list[StatementLine] = []
    for e_no, entry in enumerate(r.children(stmt, "Ntry"), start=1):
        lines.extend(_entry(r, entry, f"{path}/Ntry[{e_no}]", statement_id, account.replace(" ", ""), e_no))
    if currency is None:
        currency = lines[0].currency if lines else "EUR"
    statement = Statement(statement_id, account.replace(" ", ""), currency, opening, closing, tuple(lines))
    check_balances(statement, r.source, path)
    return statement


def _balances(r: _Reader, stmt: Element, path: str) -> tuple[Decimal | None, Decimal | None, str | None]:
    """Opening (``OPBD``, else ``PRCD``) and closing booked (``CLBD``) balances, signed."""
    found: dict[str, Decimal] = {}
    currency = None
    for b_no, bal in enumerate(r.children(stmt, "Bal"), start=1):
        where = f"{path}/Bal[{b_no}]"
        code = r.text(bal, "Tp", "CdOrPrtry", "Cd")
        amt = r.child(bal, "Amt")
        if code is None or amt is None:
            raise r.refuse(bal, where, "a balance needs Tp/CdOrPrtry/Cd and Amt")
        value, currency = r.amount(amt, f"{where}/Amt")
        found[code] = value if r.direction(bal, where) == "credit" else -value
    opening = found.get("OPBD", found.get("PRCD"))
    return opening, found.get("CLBD"), currency


def _status(r: _Reader, entry: Element) -> str:
    sts = r.child(entry, "Sts")
    if sts is None:
        return _BOOKED
    return r.text(sts, "Cd") or (sts.text or "").strip() or _BOOKED


def _entry(r: _Reader, entry: Element, path: str, statement_id: str, account: str,
           e_no: int) -> list[StatementLine]:
    amt = r.child(entry, "Amt")
    if amt is None:
        raise r.refuse(entry, f"{path}/Amt", "missing")
    amount, currency = r.amount(amt, f"{path}/Amt")
    direction = r.direction(entry, path)
    if _status(r, entry) != _BOOKED:
        return []
    booking = r.date(entry, path, "BookgDt")
    value_date = r.date(entry, path, "ValDt") if r.child(entry, "ValDt") is not None else booking
    reversal = (r.text(entry, "RvslInd") or "false").lower() == "true"
    entry_ref = r.text(entry, "NtryRef") or r.text(entry, "AcctSvcrRef") or str(e_no)
    txs = [tx for d in r.children(entry, "NtryDtls") for tx in r.children(d, "TxDtls")]
    common = dict(statement_id=statement_id, account=account, entry_ref=entry_ref, booking_date=booking,
                  value_date=value_date, currency=currency, reversal=reversal)
    if not txs:
        return [StatementLine(line_id=f"{statement_id}/{e_no}/1", amount=amount, direction=direction,
                              remittance=r.text(entry, "AddtlNtryInf") or "", **common)]
    if len(txs) == 1:
        return [_transaction(r, txs[0], f"{path}/NtryDtls/TxDtls[1]", amount, direction,
                             line_id=f"{statement_id}/{e_no}/1", **common)]
    lines = []
    for t_no, tx in enumerate(txs, start=1):
        where = f"{path}/NtryDtls/TxDtls[{t_no}]"
        tx_amt = r.child(tx, "Amt")
        if tx_amt is None:
            tx_amt = r.child(tx, "AmtDtls", "TxAmt", "Amt")
        if tx_amt is None:
            raise r.refuse(tx, where, "a batch entry's transaction needs its own amount")
        tx_amount, tx_currency = r.amount(tx_amt, f"{where}/Amt")
        if tx_currency != currency:
            raise r.refuse(tx_amt, f"{where}/Amt", f"currency {tx_currency} differs from the entry's {currency}")
        tx_direction = r.direction(tx, where) if r.child(tx, "CdtDbtInd") is not None else direction
        lines.append(_transaction(r, tx, where, tx_amount, tx_direction,
                                  line_id=f"{statement_id}/{e_no}/{t_no}", **common))
    signed = sum((ln.amount if ln.direction == direction else -ln.amount for ln in lines), Decimal(0))
    if signed != amount:
        raise r.refuse(entry, f"{path}/NtryDtls", f"the transactions add up to {signed}, the entry says {amount}")
    return lines


def _transaction(r: _Reader, tx: Element, path: str, amount: Decimal, direction: Direction,
                 **common: Any) -> StatementLine:
    party, account = ("Dbtr", "DbtrAcct") if direction == "credit" else ("Cdtr", "CdtrAcct")
    ultimate = "UltmtDbtr" if direction == "credit" else "UltmtCdtr"
    parties = r.child(tx, "RltdPties")
    name = iban = None
    if parties is not None:
        name = (r.text(parties, party, "Nm") or r.text(parties, party, "Pty", "Nm")
                or r.text(parties, ultimate, "Nm") or r.text(parties, ultimate, "Pty", "Nm"))
        iban = r.text(parties, account, "Id", "IBAN")
    e2e = r.text(tx, "Refs", "EndToEndId")
    refs: list[str] = []
    texts: list[str] = []
    rmt = r.child(tx, "RmtInf")
    if rmt is not None:
        texts.extend(" ".join(u.text.split()) for u in r.children(rmt, "Ustrd") if u.text and u.text.strip())
        for s_no, strd in enumerate(r.children(rmt, "Strd"), start=1):
            ref = r.text(strd, "CdtrRefInf", "Ref")
            if ref is not None:
                refs.append(normalize_reference(ref))
            elif r.child(strd, "CdtrRefInf") is not None:
                raise r.refuse(strd, f"{path}/RmtInf/Strd[{s_no}]/CdtrRefInf/Ref", "missing")
            texts.extend(" ".join(a.text.split()) for a in r.children(strd, "AddtlRmtInf")
                         if a.text and a.text.strip())
    return StatementLine(
        amount=amount, direction=direction, counterparty_name=name,
        counterparty_iban=normalize_reference(iban) if iban else None,
        end_to_end_id=None if e2e in (None, _NOT_PROVIDED) else e2e,
        structured_refs=tuple(refs), remittance=" ".join(texts), **common,
    )
