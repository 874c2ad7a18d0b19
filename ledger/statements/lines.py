"""What a bank statement says, whatever its format: typed statements and their lines.

Why: CAMT.053 and MT940 carry the same facts in different shapes; matching,
the ledger and the unmatched queue read one shape. Amounts are exact
``Decimal``; dates are calendar dates (a booking day, not an instant).

Example::

    line.is_credit, line.amount, line.structured_refs   # True, Decimal('1234.56'), ('RF18539007547034',)
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from domain.errors import StatementError

Direction = Literal["credit", "debit"]


@dataclass(frozen=True)
class StatementLine:
    """One transaction on our account (a batch entry gives one line per transaction).

    ``line_id`` is unique within the file and stable across re-reads
    (statement id, entry number, transaction number), so an import can be
    idempotent. ``counterparty_*`` is the other party: the debtor (payer) of a
    credit, the creditor of a debit. ``structured_refs`` are the creditor
    references the payer gave in the structured field (normalised: no spaces,
    upper case), ``remittance`` the free text.
    """

    line_id: str
    statement_id: str
    account: str
    entry_ref: str
    booking_date: dt.date
    value_date: dt.date
    amount: Decimal
    currency: str
    direction: Direction
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    end_to_end_id: str | None = None
    structured_refs: tuple[str, ...] = ()
    remittance: str = ""
    reversal: bool = False

    @property
    def is_credit(self) -> bool:
        """Money in that is not the reversal of one of our own debits."""
        return self.direction == "credit" and not self.reversal


@dataclass(frozen=True)
class Statement:
    """One account statement (usually one booking day) and its lines, in bank order."""

    statement_id: str
    account: str
    currency: str
    opening_balance: Decimal | None
    closing_balance: Decimal | None
    lines: tuple[StatementLine, ...] = field(default_factory=tuple)


def check_balances(statement: Statement, source: str, where: str) -> None:
    """Refuse a statement whose lines do not carry the opening balance to the closing one.

    Why: a truncated or hand-edited file still parses; its balances do not
    add up, and a statement that lost lines must not be half-imported.
    """
    if statement.opening_balance is None or statement.closing_balance is None:
        return
    moved = sum((ln.amount if ln.direction == "credit" else -ln.amount for ln in statement.lines), Decimal(0))
    if statement.opening_balance + moved != statement.closing_balance:
        raise StatementError(
            f"{source}: statement {statement.statement_id}: opening balance {statement.opening_balance} "
            f"plus the lines ({moved:+}) is not the closing balance {statement.closing_balance}",
            field="balance", extra={"file": source, "element": where, "statement": statement.statement_id},
        )


def normalize_reference(text: str) -> str:
    """A reference as compared: spaces, dots and dashes removed, upper case (``RF18 5390`` -> ``RF185390``)."""
    return "".join(ch for ch in text.upper() if ch.isalnum())
