"""``kredo outbox send`` on the configured ledger and connectors (from the environment, as an operator runs
it), and ``kredo templates check`` refusing a template with a missing variable."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from domain.resources import locate
from engine.templates import TEMPLATES
from ledger.book import Book
from ledger.database import open_ledger
from ledger.outbox import Item, Message, queue
from serving.cli import main
from serving.dunning_view import micros
from tests.serving.delivery.test_sender import SEND
from tests.support.collections import customer, issued, messages
from tests.support.receivers import PASSWORD, USER, SmtpServer, smtp_server


@pytest.fixture()
def smtp(tmp_path: Path) -> SmtpServer:
    with smtp_server(tmp_path) as server:
        yield server


def kredo(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_one_pass_sends_what_is_due(smtp: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    for name, value in {"KREDO_LEDGER_URL": url, "KREDO_POLICY": "rules/default.yaml", "KREDO_SMTP_HOST": smtp.host,
                        "KREDO_SMTP_PORT": str(smtp.port), "KREDO_SMTP_USER": USER,
                        "KREDO_SMTP_CA_FILE": smtp.ca_file, "KREDO_SMTP_PASSWORD": PASSWORD,
                        "KREDO_MAIL_FROM": "debiteuren@voorbeeld.nl"}.items():
        monkeypatch.setenv(name, value)
    book = Book(open_ledger(url))
    book.apply([customer("C-1", email="c1@example.nl", language="en"), issued("C-1", "INV-1", "2026-10-30T00:00:00")],
               received_us=1)
    with book.engine.begin() as conn:
        queue(conn, [Message("msg:1", None, "C-1", "reminder", "email", "neutral", micros(SEND), micros(SEND),
                             (Item("INV-1", None, "remind", "reminder_1", 10000, lead=True),))], micros(SEND))
    code, out, _ = kredo(capsys, "outbox", "send", "--now", SEND.isoformat(), "--json")
    assert code == 0 and json.loads(out)["outcomes"] == {"sent": 1}
    (mail,) = smtp.inbox.messages
    assert mail["Subject"] == "Reminder: payment due to Kredo demo B.V." and "€100.00" in mail.get_content()
    code, out, _ = kredo(capsys, "outbox", "send", "--now", SEND.isoformat())
    assert code == 0 and "0 messages claimed" in out and "nothing due" in out
    assert [m["status"] for m in messages(book.engine)] == ["sent"]


def test_send_refuses_without_a_channel_or_with_a_naive_moment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("KREDO_LEDGER_URL", f"sqlite:///{tmp_path}/ledger.db")
    code, _, err = kredo(capsys, "outbox", "send")
    assert code == 2 and "no channel is configured" in err
    code, _, err = kredo(capsys, "outbox", "send", "--now", "2026-11-09T09:00:00")
    assert code == 2 and "tz-aware" in err


def test_templates_check_passes_the_packaged_set_and_refuses_a_missing_variable(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = kredo(capsys, "templates", "check", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["templates"] == 16 and report["version"].startswith("tpl-")
    folder = tmp_path / "templates"
    shutil.copytree(locate(TEMPLATES), folder)
    path = folder / "en" / "final_notice.j2"
    path.write_text(path.read_text().replace("{{ pay_by|long_date(\"en\") }}", "{{ deadline }}"))
    code, out, _ = kredo(capsys, "templates", "check", "--dir", str(folder))
    assert code == 1 and "en/final_notice.j2: template_error" in out and "deadline" in out and "refused" in out
