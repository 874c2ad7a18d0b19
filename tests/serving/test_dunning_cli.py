"""``kredo dunning run`` on the configured ledger, audit log, model and policy: a day once, a dry run, refusals."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.book import Book
from ledger.database import open_ledger
from serving.cli import main
from tests.support.collections import counts, customer, issued, messages


@pytest.fixture()
def configured(champion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Book:
    monkeypatch.setenv("KREDO_LEDGER_URL", f"sqlite:///{tmp_path}/ledger.db")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/audit.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", champion["tracking"])
    monkeypatch.setenv("KREDO_MODEL_URI", champion["uri"])
    monkeypatch.setenv("KREDO_POLICY", "rules/default.yaml")
    book = Book(open_ledger(f"sqlite:///{tmp_path}/ledger.db"))
    book.apply([customer("C-5"), *(issued("C-5", f"INV-{n}", "2026-10-30T00:00:00") for n in range(5))], received_us=1)
    return book


def kredo(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def test_the_cli_runs_a_day_once(configured: Book, capsys: pytest.CaptureFixture) -> None:
    code, out = kredo(capsys, "dunning", "run", "--date", "2026-11-02", "--dry-run", "--json")
    dry = json.loads(out)
    assert code == 0 and (dry["dry_run"], dry["messages"], counts(configured.engine)["outbox_messages"]) == (True, 1, 0)
    code, out = kredo(capsys, "dunning", "run", "--date", "2026-11-02", "--json")
    first = json.loads(out)
    assert code == 0 and (first["created"], first["invoices"], first["messages"]) == (True, 5, 1)
    before = counts(configured.engine)
    code, out = kredo(capsys, "dunning", "run", "--date", "2026-11-02")
    assert code == 0 and "already run (nothing new)" in out and "remind 5" in out
    assert counts(configured.engine) == before and len(messages(configured.engine)) == 1


def test_the_cli_refuses_a_negative_worker_count(configured: Book, capsys: pytest.CaptureFixture) -> None:
    assert main(["dunning", "run", "--workers", "-1"]) == 2
    assert "workers" in capsys.readouterr().err
