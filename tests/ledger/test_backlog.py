"""The online store's backlog: marks outlive their writer, a refold clears only what it covered."""
from __future__ import annotations

from ledger import backlog
from ledger.database import open_ledger


def test_marks_are_cleared_only_by_a_refold_that_read_after_them(ledger_url: str) -> None:
    engine = open_ledger(ledger_url)
    backlog.mark(engine, ["C-2", "C-1", "C-1"], at_us=100)
    marks = backlog.pending(engine)
    assert marks == [("C-1", 100), ("C-2", 100)]
    backlog.mark(engine, ["C-2"], at_us=200)  # C-2 fell behind again while the refold ran
    backlog.clear(engine, marks)
    assert backlog.pending(engine) == [("C-2", 200)]
    backlog.clear(engine, backlog.pending(engine))
    assert backlog.pending(engine) == []
    backlog.mark(engine, [], at_us=300)
    assert backlog.pending(engine) == []
    engine.dispose()
