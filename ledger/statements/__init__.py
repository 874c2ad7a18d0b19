"""Bank statements in: CAMT.053 and MT940 files to typed lines, and payment references.

Why: the payments the ledger books come from the bank's daily statement; one
typed line per transaction is what matching (``engine.matching``) reads,
whatever the file's format.

Example::

    statements = read_statements(Path("2024-05-02.xml"))
    lines = [ln for st in statements for ln in st.lines]
"""
from __future__ import annotations

from pathlib import Path

from domain.errors import StatementError
from ledger.statements.camt053 import parse_camt053
from ledger.statements.lines import Statement, StatementLine, normalize_reference
from ledger.statements.mt940 import parse_mt940


def read_statements(path: str | Path) -> list[Statement]:
    """The statements of one file: CAMT.053 when it is XML, MT940 otherwise."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StatementError(f"{path}: cannot read the statement ({exc.strerror})", field="file",
                             extra={"file": str(path), "line": None}) from None
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return parse_camt053(data, source=str(path))
    return parse_mt940(data, source=str(path))


__all__ = ["Statement", "StatementLine", "normalize_reference", "parse_camt053", "parse_mt940",
           "read_statements"]
