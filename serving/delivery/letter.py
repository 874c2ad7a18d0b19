"""Letters as PDF: the company's letterhead, the customer's address, the template's text, and for a final
notice the statutory 14-day block (``engine.notice``), rendered with fpdf2.

Why a PDF: a letter goes to a print service or an outgoing folder a mail room
prints from, and the same file is what the company keeps as proof of what was
sent. The font (DejaVu Sans, from Debian's ``fonts-dejavu-core``, licence beside
it) is packaged and embedded, so the euro sign and Dutch diacritics print
everywhere and nothing is fetched at run time.

Example::

    pdf = letter_pdf(Letter(company, customer_address, dated, subject, body, notice))
    Path("out/msg-1.pdf").write_bytes(pdf)
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources

from fpdf import FPDF

from engine.notice import Notice
from engine.templates import long_date

FONT = "DejaVu"


@dataclass(frozen=True)
class Letter:
    company_name: str
    company_address: str
    recipient: str
    recipient_address: str
    dated: date
    subject: str
    body: str
    language: str = "nl"
    notice: Notice | None = None


def letter_pdf(letter: Letter) -> bytes:
    """The letter as PDF bytes (A4, one or more pages)."""
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_creator("Kredo")
    pdf.set_title(letter.subject)
    pdf.set_author(letter.company_name)
    pdf.set_creation_date(datetime(letter.dated.year, letter.dated.month, letter.dated.day, tzinfo=UTC))  # the
    # bytes follow the letter, not the clock: the same message, the same file
    with resources.as_file(resources.files("serving.delivery").joinpath("fonts/DejaVuSans.ttf")) as font:
        pdf.add_font(FONT, "", str(font))
    pdf.set_margins(22, 20, 22)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    pdf.set_font(FONT, size=14)
    pdf.cell(0, 8, letter.company_name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)
    pdf.multi_cell(0, 4.5, letter.company_address, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(14)
    pdf.set_font(FONT, size=10.5)
    pdf.multi_cell(0, 5.5, f"{letter.recipient}\n{letter.recipient_address}", align="L", new_x="LMARGIN",
                   new_y="NEXT")
    pdf.ln(10)
    pdf.cell(0, 6, long_date(letter.dated, letter.language), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(FONT, size=12)
    pdf.multi_cell(0, 6.5, letter.subject, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font(FONT, size=10.5)
    pdf.multi_cell(0, 5.5, letter.body, align="L", new_x="LMARGIN", new_y="NEXT")
    if letter.notice is not None:
        pdf.ln(6)
        pdf.set_draw_color(60, 60, 60)
        pdf.set_font(FONT, size=11.5)
        pdf.multi_cell(0, 6.5, letter.notice.title, border="T", align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, size=10.5)
        for line in letter.notice.lines:
            pdf.multi_cell(0, 5.5, line, align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
    return bytes(pdf.output())
