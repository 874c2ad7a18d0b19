"""The Dutch 14-day letter (art. 6:96 lid 6 BW) as a PDF, read back: the amount due, the 14-day term from the
day after receipt, the BIK collection costs at every boundary of the scale, and the date; and the letter the
sender writes to the outgoing folder for a final notice."""
from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
import sqlalchemy as sa

from domain.calendar import PublicHolidays
from engine.notice import fourteen_day_notice
from ledger.outbox import Item, Message, queue
from serving.delivery.connectors import Envelope
from serving.delivery.letter import Letter, letter_pdf
from serving.dunning_view import micros
from tests.serving.delivery.test_sender import engine_of, reachable
from tests.support.api import routed
from tests.support.collections import issued, messages, post

DATED = date(2026, 11, 2)  # a Monday: received Tuesday 3 November, the term ends Tuesday 17 November


def text_of(pdf: bytes) -> str:
    """The PDF's text, its whitespace folded (a line break where the layout wrapped is a space)."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def notice_letter(principal_cents: int, language: str = "nl", dated: date = DATED) -> tuple[str, int]:
    notice = fourteen_day_notice(language, principal_cents, dated, PublicHolidays(), "NL", Decimal("6.00"))
    pdf = letter_pdf(Letter("Voorbeeld B.V.", "Straat 1\n1000 AA Amsterdam", "J. Jansen", "Laan 2\n3500 AB Utrecht",
                            dated, "Laatste aanmaning", "Geachte heer Jansen,", language, notice))
    assert pdf.startswith(b"%PDF-") and b"/FontFile2" in pdf  # the font is embedded, not referred to
    return text_of(pdf), notice.costs_cents


@pytest.mark.parametrize(("principal", "costs"), [
    ("€ 100,00", "€ 40,00"),               # below the minimum: EUR 40
    ("€ 266,66", "€ 40,00"),               # 15 % is 39.999: still the minimum
    ("€ 2.500,00", "€ 375,00"),            # the end of the 15 % bracket
    ("€ 2.500,01", "€ 375,00"),            # a cent into the 10 % bracket
    ("€ 5.000,00", "€ 625,00"),            # the end of the 10 % bracket
    ("€ 10.000,00", "€ 875,00"),           # the end of the 5 % bracket
    ("€ 200.000,00", "€ 2.775,00"),        # the end of the 1 % bracket
    ("€ 1.000.000,00", "€ 6.775,00"),      # 0.5 % of the rest reaches the cap exactly
    ("€ 2.000.000,00", "€ 6.775,00"),      # capped
])
def test_the_14_day_letter_states_the_bik_costs_at_every_boundary(principal: str, costs: str) -> None:
    cents = int(principal.replace("€ ", "").replace(".", "").replace(",", ""))
    text, computed = notice_letter(cents)
    assert computed == int(costs.replace("€ ", "").replace(".", "").replace(",", ""))
    assert "Veertiendagenbrief (artikel 6:96 lid 6 BW)" in text
    assert f"Openstaand bedrag: {principal}" in text
    assert "U heeft 14 dagen om dit bedrag te betalen, te rekenen vanaf de dag na ontvangst van deze brief." in text
    assert "Ontvangt u deze brief op 3 november 2026, dan is de laatste betaaldag 17 november 2026." in text
    assert f"buitengerechtelijke incassokosten in rekening van {costs}, berekend volgens het Besluit vergoeding " \
           "voor buitengerechtelijke incassokosten" in text
    assert "Datum: 2 november 2026" in text and "wettelijke rente" in text


def test_the_english_letter_states_the_same() -> None:
    text, _ = notice_letter(250000, "en")
    assert "Amount due: €2,500.00" in text and "collection costs of €375.00" in text
    assert "14 days to pay this amount, counted from the day after you receive this letter" in text
    assert "Date: 2 November 2026" in text and "the last day to pay is 17 November 2026" in text


def test_a_term_that_ends_on_a_holiday_runs_to_the_next_business_day() -> None:
    """Dated Thursday 10 December: received Friday 11th, 14 days later is Christmas Day; the next business
    day is Monday 28 December (Boxing Day is a Saturday; Algemene termijnenwet)."""
    text, _ = notice_letter(100000, dated=date(2026, 12, 10))
    assert "Ontvangt u deze brief op 11 december 2026, dan is de laatste betaaldag 28 december 2026." in text


def test_the_sender_writes_the_final_notice_to_the_outgoing_folder(app, sender, tmp_path: Path) -> None:
    client = routed(app)
    post(client, reachable("L-1"), issued("L-1", "L-1-A", "2026-09-15T00:00:00", amount=1800.0),
         issued("L-1", "L-1-B", "2026-09-20T00:00:00", amount=700.0))
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with engine_of(app).begin() as conn:  # as the run queues a final notice by letter
        queue(conn, [Message("msg:2026-11-02:L-1:0", None, "L-1", "final_notice", "letter", "firm",
                             micros(now), micros(now), (Item("L-1-A", None, "final_notice", "final_notice", 180000,
                                                             27000, True),
                                                        Item("L-1-B", None, "final_notice", "final_notice", 70000,
                                                             10500)))], micros(now))
    assert sender.run_once(now).outcomes == {"sent": 1}
    (pdf,) = (tmp_path / "letters").glob("*.pdf")
    text = text_of(pdf.read_bytes())
    assert "Klant L-1 Laan 2 3500 AB Utrecht" in text and "2 november 2026" in text
    assert "factuur L-1-A: € 1.800,00" in text and "factuur L-1-B: € 700,00" in text
    assert "Openstaand bedrag: € 2.500,00" in text  # one notice for both: the costs of the total
    assert "incassokosten in rekening van € 375,00" in text
    assert "laatste betaaldag 17 november 2026" in text
    (message,) = messages(engine_of(app))
    assert message["status"] == "sent"
    assert re.fullmatch(r"[0-9a-f]{64}", message["content_digest"])  # what left, for an auditor's comparison
    kept = Envelope(message["id"], "letter", "Laan 2", "s", "b", attachment=pdf.read_bytes())
    assert kept.digest() == Envelope(message["id"], "letter", "Laan 2", "s", "b", attachment=pdf.read_bytes()).digest()
    assert kept.digest() != Envelope(message["id"], "letter", "Laan 2", "s", "b", attachment=b"%PDF-other").digest()
    with engine_of(app).connect() as conn:
        assert conn.execute(sa.text("select count(*) from contacts where kind = 'final_notice'")).scalar() == 2
    original = pdf.read_bytes()  # a second try of the same message (a sender that died before recording it)
    again = sender.connectors["letter"].deliver(Envelope(message["id"], "letter", "Laan 2", "s", "b",
                                                         attachment=b"%PDF-other"))
    assert again.status == "sent" and again.detail.startswith("already in")
    assert pdf.read_bytes() == original and len(list((tmp_path / "letters").iterdir())) == 1
