"""Seeded bank statements of a simulated ledger, with the noise of real ones, and their truth.

Why: matching must be measured on what banks really deliver: references
missing or mistyped, several invoices in one payment, partial payments and
overpayments, a parent company paying for its subsidiary, texts in other
languages, money that is no customer's payment at all (interest, refunds,
tax) and debits. The generator knows what every line really pays, so a
benchmark can count wrong matches, not only matches.

From a ledger (``training.simulation.simulate``) it gives each customer one or
two IBANs, some business customers a parent company, each invoice its number
(the invoice id, "INV-00001234") and a structured payment reference (the
Dutch 16-digit one for Dutch customers, an ISO 11649 RF one for the others),
then writes the payments of the last ``window_days`` as daily statements, in
CAMT.053 and in MT940 (ING's ``:86:`` layout). Every draw comes from one
``random.Random(seed)``: the same ledger and seed give byte-identical files.

Example::

    generated = generate_statements(simulate(SimulationConfig(customers=3_000, months=12)))
    results = match_lines(lines_of(parse_camt053(generated.camt053)), generated.receivables)
"""
from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from xml.etree import ElementTree as ET

import pandas as pd

from engine.matching import Invoice, Receivables
from ledger.tables import Ledger
from ledger.statements.references import make_iban, make_nl16, make_rf

#: Noise kinds of the payments and their shares (a payment that leaves its invoice open is always "partial").
NOISE: Mapping[str, float] = {
    "structured": 0.28, "invoice_number": 0.16, "reference_in_text": 0.06, "no_reference": 0.10,
    "typo_reference": 0.05, "typo_number": 0.05, "combined": 0.05, "combined_no_reference": 0.03,
    "overpayment": 0.03, "parent_with_reference": 0.03, "parent_without_reference": 0.02,
    "new_iban": 0.04, "foreign_text": 0.05, "duplicate": 0.02,
}
#: Lines that pay no open invoice (their truth allocates nothing): a second payment of a paid
#: invoice (added beside the payment that drew "duplicate"), interest, refunds, a tax refund.
UNRELATED_KINDS = ("duplicate", "unrelated")
OUR_ACCOUNT = "NL91ABNA0417164300"
_NL_BANKS = (("ABNA", "ABNANL2A"), ("INGB", "INGBNL2A"), ("RABO", "RABONL2U"), ("SNSB", "SNSBNL2A"),
             ("TRIO", "TRIONL2U"), ("KNAB", "KNABNL2H"), ("BUNQ", "BUNQNL2A"), ("ASNB", "ASNBNL21"))
_SURNAMES = ("de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "de Boer", "Peeters",
             "Maes", "Muller", "Schmidt", "Schneider", "Dubois", "Martin", "Smith", "Jones", "van Dijk")
_FORMS = ("B.V.", "BV", "Holding B.V.", "NV", "GmbH", "SARL", "Ltd", "VOF", "& Zn.", "Groep")
_NUMBER_TEXTS = ("INV-{n8}", "inv {n}", "factuur {n8}", "Factuur nr. {n}", "invoice {n8}", "INV{n8}",
                 "fact. {n}", "Factuurnummer: {n8}", "inv#{n}", "betaling factuur INV-{n8}", "{name} INV-{n8}")
_FOREIGN_TEXTS = ("Rechnung Nr. {n}", "Rechnungsnr. {n8}", "Facture n° {n8}", "Factura {n}",
                  "Re: Invoice No. {n8}", "Rg.-Nr. {n}", "Zahlung Rechnung {n8} danke")
_COMBINED_TEXTS = ("{first}, {rest}", "facturen {nums}", "invoices {nums}", "Rechnungen {nums}")
_NO_REF_TEXTS = ("", "betaling", "Zahlung", "payment", "overboeking", "{name}", "maandbedrag")
_UNRELATED = (("RENTE 2E KWARTAAL", None), ("Terugbetaling bestelling 55{r4}", "refund"),
              ("refund order {r4}", "refund"), ("credit note inv {r4}", "refund"), ("Zinsen", None),
              ("cashback", "refund"), ("teruggaaf omzetbelasting", "tax"))
_DEBITS = ("Huur kantoor", "Leverancier factuur {r4}", "Bankkosten", "Salaris", "Energie", "Lease auto")
_SWIFT_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ ")


@dataclass(frozen=True)
class StatementConfig:
    """What to write: the window, the noise shares, the bank's CAMT version."""

    seed: int = 7
    window_days: int = 30
    noise: Mapping[str, float] = field(default_factory=lambda: dict(NOISE))
    unrelated_share: float = 0.03
    debit_share: float = 0.06
    batch_share: float = 0.05
    camt_version: str = "001.08"
    group_share: float = 0.12


@dataclass(frozen=True)
class TrueLine:
    """What a line really pays: ``allocations`` (invoice id, amount); the rest of the amount is unallocated."""

    kind: str
    allocations: tuple[tuple[str, Decimal], ...]
    unallocated: Decimal
    credit: bool


@dataclass(frozen=True)
class GeneratedStatements:
    """The files, what matching needs to know, and the truth per line id of each file."""

    camt053: bytes
    mt940: str
    receivables: Receivables
    truth_camt053: dict[str, TrueLine]
    truth_mt940: dict[str, TrueLine]


@dataclass
class _Line:
    """One logical transaction before it is written in a format."""

    day: dt.date
    amount: Decimal
    credit: bool
    kind: str
    name: str | None = None
    iban: str | None = None
    bic: str | None = None
    e2e: str | None = None
    refs: tuple[str, ...] = ()
    text: str = ""
    truth: tuple[tuple[str, Decimal], ...] = ()
    batchable: bool = False


@dataclass(frozen=True)
class _Invoices:
    """The ledger's invoices as exact amounts, by id."""

    customer: dict[str, str]
    amount: dict[str, Decimal]


def _money(x: float) -> Decimal:
    return Decimal(f"{x:.2f}")


class _Book:
    """The generated master data: IBANs, groups, numbers and references."""

    def __init__(self, ledger: Ledger, rng: random.Random, cfg: StatementConfig) -> None:
        customers = ledger.customers
        self.rng = rng
        self.country = dict(zip(customers["customer_id"], customers["country"]))
        self.name: dict[str, str] = {}
        self.ibans: dict[str, list[str]] = {}
        self.bic: dict[str, str] = {}
        for cid, ctype in zip(customers["customer_id"], customers["type"]):
            surname = rng.choice(_SURNAMES)
            self.name[cid] = f"{surname} {rng.choice(_FORMS)}" if ctype == "business" else \
                f"{rng.choice('ABCDEFGHJKLMNPRSTW')}. {surname}"
            self.ibans[cid] = [self.new_iban(cid) for _ in range(1 if rng.random() < 0.7 else 2)]
        business = [c for c, t in zip(customers["customer_id"], customers["type"]) if t == "business"]
        parents = [c for c, s in zip(customers["customer_id"], customers["size"]) if s in ("medium", "large")]
        self.groups: dict[str, str] = {}
        for cid in business:
            if parents and rng.random() < cfg.group_share:
                parent = rng.choice(parents)
                if parent != cid and self.groups.get(parent, parent) == parent and cid not in self.groups:
                    self.groups[cid] = parent
                    self.groups[parent] = parent
        self.children: dict[str, list[str]] = defaultdict(list)
        for child, parent in self.groups.items():
            if child != parent:
                self.children[parent].append(child)

    def new_iban(self, cid: str | None = None) -> str:
        rng = self.rng
        country = self.country.get(cid, "NL") if cid else rng.choice(("NL", "NL", "DE", "BE"))
        if country == "NL":
            bank, bic = rng.choice(_NL_BANKS)
            iban = make_iban("NL", f"{bank}{rng.randrange(10**10):010d}")
        elif country == "DE":
            iban, bic = make_iban("DE", f"{rng.randrange(10**8):08d}{rng.randrange(10**10):010d}"), "COBADEFFXXX"
        elif country == "BE":
            iban, bic = make_iban("BE", f"{rng.randrange(10**12):012d}"), "GEBABEBB"
        elif country == "FR":
            iban, bic = make_iban("FR", f"{rng.randrange(10**10):010d}{rng.randrange(10**13):013d}"), "BNPAFRPP"
        else:
            iban, bic = make_iban("GB", f"NWBK{rng.randrange(10**14):014d}"), "NWBKGB2L"
        self.bic[iban] = bic
        return iban

    def reference(self, invoice_id: str, customer_id: str) -> str:
        seq = int(invoice_id.rsplit("-", 1)[1])
        if self.country.get(customer_id) == "NL":
            return make_nl16(f"{seq:015d}")
        return make_rf(f"{seq:08d}")


def generate_statements(ledger: Ledger, cfg: StatementConfig = StatementConfig()) -> GeneratedStatements:
    """Statements of the ledger's last ``cfg.window_days`` of payments, in both formats, with their truth."""
    rng = random.Random(cfg.seed)
    book = _Book(ledger, rng, cfg)
    payments = ledger.payments.sort_values(["paid_at", "payment_id"], kind="stable")
    end = payments["paid_at"].max().normalize() + pd.Timedelta(days=1)
    start = end - pd.Timedelta(days=cfg.window_days)
    inv = ledger.invoices
    invoices = _Invoices(dict(zip(inv["invoice_id"], inv["customer_id"])),
                         {i: _money(a) for i, a in zip(inv["invoice_id"], inv["amount"])})
    paid_before: dict[str, Decimal] = defaultdict(Decimal)
    early = payments[payments["paid_at"] < start]
    for inv_id, amount in zip(early["invoice_id"], early["amount"]):
        paid_before[inv_id] += _money(amount)
    open_at_start: dict[str, Decimal] = {}
    recently_closed: list[str] = []
    live = inv[(inv["issued_at"] < end) & ~(inv["written_off_at"] < start)]
    closed_lately = set(live.loc[live["paid_at"] >= start - pd.Timedelta(days=60), "invoice_id"])
    for inv_id in live["invoice_id"]:
        left = invoices.amount[inv_id] - paid_before.get(inv_id, Decimal(0))
        if left > 0:
            open_at_start[inv_id] = left
        elif inv_id in closed_lately:
            recently_closed.append(inv_id)
    receivables = Receivables(
        invoices=tuple(Invoice(inv_id, invoices.customer[inv_id], inv_id,
                               book.reference(inv_id, invoices.customer[inv_id]), open_at_start.get(inv_id, Decimal(0)))
                       for inv_id in sorted([*open_at_start, *recently_closed])),
        ibans={c: tuple(v) for c, v in book.ibans.items()}, groups=dict(book.groups))
    window = payments[payments["paid_at"] >= start]
    lines = _payment_lines(window, invoices, open_at_start, recently_closed, book, cfg, rng)
    days = sorted({ln.day for ln in lines}) or [start.date()]
    n_extra = len(lines)
    lines += [_unrelated(rng.choice(days), rng, book) for _ in range(int(n_extra * cfg.unrelated_share))]
    lines += [_debit(rng.choice(days), rng, book) for _ in range(int(n_extra * cfg.debit_share))]
    lines.sort(key=lambda ln: ln.day)  # stable: the payments keep their order within a day
    camt, truth_camt = _write_camt(lines, cfg, rng)
    mt940, truth_mt940 = _write_mt940(lines)
    return GeneratedStatements(camt, mt940, receivables, truth_camt, truth_mt940)


def _payment_lines(window: pd.DataFrame, invoices: _Invoices, open_at_start: dict[str, Decimal],
                   recently_closed: list[str], book: _Book, cfg: StatementConfig,
                   rng: random.Random) -> list[_Line]:
    """One logical line per payment of the window (several for a combined payment), noise drawn per line."""
    kinds, weights = zip(*cfg.noise.items())
    open_now = dict(open_at_start)
    rows = list(window[["invoice_id", "customer_id", "paid_at", "amount"]].itertuples(index=False))
    by_customer: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_customer[row.customer_id].append(i)
    used: set[int] = set()
    lines: list[_Line] = []
    for i, row in enumerate(rows):
        if i in used:
            continue
        used.add(i)
        amount = _money(row.amount)
        partial = amount < open_now.get(row.invoice_id, Decimal(0))
        kind = "partial" if partial else rng.choices(kinds, weights)[0]
        group = [row]
        if kind in ("combined", "combined_no_reference"):
            mates = [j for j in by_customer[row.customer_id] if j > i and j not in used
                     and _money(rows[j].amount) == open_now.get(rows[j].invoice_id)]
            take = mates[:rng.randint(1, 3)]
            if not take:
                kind = "structured"
            for j in take:
                used.add(j)
                group.append(rows[j])
        if kind.startswith("parent") and row.customer_id not in book.groups or \
                kind.startswith("parent") and book.groups[row.customer_id] == row.customer_id:
            kind = "structured"
        truth = tuple((g.invoice_id, _money(g.amount)) for g in group)
        for inv_id, paid in truth:
            open_now[inv_id] = open_now.get(inv_id, Decimal(0)) - paid
        lines.append(_dress("structured" if kind == "duplicate" else kind, row, group, truth, book, rng))
        if kind == "duplicate" and recently_closed:
            lines.append(_duplicate(lines[-1], rng.choice(recently_closed), invoices, book, rng))
    return lines


def _dress(kind: str, row, group: list, truth: tuple[tuple[str, Decimal], ...], book: _Book,
           rng: random.Random) -> _Line:
    """The line as the payer's bank writes it, with this kind's noise."""
    cid = row.customer_id
    amount = sum((a for _, a in truth), Decimal(0))
    iban = rng.choice(book.ibans[cid])
    line = _Line(day=row.paid_at.date(), amount=amount, credit=True, kind=kind, name=book.name[cid], iban=iban,
                 bic=book.bic[iban], e2e=f"E2E{rng.randrange(10**12):012d}" if rng.random() < 0.6 else None,
                 truth=truth)
    refs = [book.reference(g.invoice_id, g.customer_id) for g in group]
    seqs = [int(g.invoice_id.rsplit("-", 1)[1]) for g in group]
    if kind in ("structured", "partial") and (kind == "structured" or rng.random() < 0.6):
        line.refs, line.batchable = (refs[0],), True
    elif kind == "partial" or kind == "invoice_number":
        line.text = _number_text(rng.choice(_NUMBER_TEXTS), seqs[0], book.name[cid])
        line.batchable = True
    elif kind == "reference_in_text":
        ref = refs[0]
        line.text = f"betalingskenmerk {'.'.join(ref[i:i + 4] for i in range(0, 16, 4))}" if ref.isdigit() \
            else " ".join(ref[i:i + 4] for i in range(0, len(ref), 4))
    elif kind == "no_reference":
        line.text = rng.choice(_NO_REF_TEXTS).format(name=book.name[cid])
    elif kind == "typo_reference":
        line.refs = (_typo(refs[0], rng),)
    elif kind == "typo_number":
        line.text = f"INV-{_typo(f'{seqs[0]:08d}', rng)}" if rng.random() < 0.5 else f"factuur {_typo(str(seqs[0]), rng)}"
    elif kind == "combined":
        if rng.random() < 0.4:
            line.refs = tuple(refs)
        else:
            template = rng.choice(_COMBINED_TEXTS)
            line.text = template.format(first=f"INV-{seqs[0]:08d}", rest=", ".join(f"INV-{s:08d}" for s in seqs[1:]),
                                        nums=", ".join(str(s) for s in seqs[:-1]) + f" en {seqs[-1]}")
    elif kind == "combined_no_reference":
        line.text = rng.choice(_NO_REF_TEXTS).format(name=book.name[cid])
    elif kind == "overpayment":
        extra = _money(rng.choice((0.5, 1, 5, 10, 25)) + rng.randrange(0, 100) / 100)
        line.amount, line.refs = amount + extra, (refs[0],)
    elif kind.startswith("parent"):
        parent = book.groups[cid]
        line.iban = rng.choice(book.ibans[parent])
        line.name, line.bic = book.name[parent], book.bic[line.iban]
        if kind == "parent_with_reference":
            line.refs = (refs[0],)
    elif kind == "new_iban":
        line.iban = book.new_iban(cid)
        line.bic = book.bic[line.iban]
        line.text = f"INV-{seqs[0]:08d}"
    elif kind == "foreign_text":
        line.text = _number_text(rng.choice(_FOREIGN_TEXTS), seqs[0], book.name[cid])
    return line


def _number_text(template: str, seq: int, name: str) -> str:
    return template.format(n=seq, n8=f"{seq:08d}", name=name)


def _typo(text: str, rng: random.Random) -> str:
    """One typing error: a changed character, two neighbours swapped, one dropped or one doubled."""
    while True:
        i = rng.randrange(len(text))
        how = rng.choice(("change", "swap", "drop", "double"))
        if how == "change":
            out = text[:i] + rng.choice("0123456789") + text[i + 1:]
        elif how == "swap" and i + 1 < len(text):
            out = text[:i] + text[i + 1] + text[i] + text[i + 2:]
        elif how == "drop" and len(text) > 2:
            out = text[:i] + text[i + 1:]
        else:
            out = text[:i] + text[i] + text[i:]
        if out != text:
            return out


def _duplicate(line: _Line, closed_id: str, invoices: _Invoices, book: _Book, rng: random.Random) -> _Line:
    """A second payment of an invoice that is paid already: nothing is open to allocate it to."""
    cid = invoices.customer[closed_id]
    iban = rng.choice(book.ibans[cid])
    return _Line(day=line.day, amount=invoices.amount[closed_id], credit=True, kind="duplicate",
                 name=book.name[cid], iban=iban, bic=book.bic[iban], refs=(book.reference(closed_id, cid),))


def _unrelated(day: dt.date, rng: random.Random, book: _Book) -> _Line:
    """Interest (no counterparty), a supplier's refund, or a tax refund with a valid reference that is not ours."""
    text, who = rng.choice(_UNRELATED)
    line = _Line(day=day, amount=_money(rng.lognormvariate(3.5, 1.2)), credit=True, kind="unrelated",
                 text=text.format(r4=rng.randrange(1000, 10_000)))
    if who == "tax":
        line.name, line.iban, line.bic = "Belastingdienst", "NL86INGB0002445588", "INGBNL2A"
        line.refs = (make_nl16(f"{rng.randrange(10**15):015d}"),)
    elif who == "refund":
        line.iban = book.new_iban()
        line.name, line.bic = f"{rng.choice(_SURNAMES)} Webshop", book.bic[line.iban]
    return line


def _debit(day: dt.date, rng: random.Random, book: _Book) -> _Line:
    iban = book.new_iban()
    return _Line(day=day, amount=_money(rng.lognormvariate(6.0, 1.3)), credit=False, kind="debit",
                 name=f"{rng.choice(_SURNAMES)} {rng.choice(_FORMS)}", iban=iban, bic=book.bic[iban],
                 text=rng.choice(_DEBITS).format(r4=rng.randrange(1000, 10_000)))


def _truth(line: _Line) -> TrueLine:
    allocated = sum((a for _, a in line.truth), Decimal(0))
    if line.kind in UNRELATED_KINDS or not line.credit:
        return TrueLine(line.kind, (), line.amount if line.credit else Decimal(0), line.credit)
    return TrueLine(line.kind, line.truth, line.amount - allocated, line.credit)


def _by_day(lines: list[_Line]) -> list[tuple[dt.date, list[_Line]]]:
    days: dict[dt.date, list[_Line]] = defaultdict(list)
    for ln in lines:
        days[ln.day].append(ln)
    return sorted(days.items())


def _statement_id(day: dt.date) -> tuple[str, str]:
    return f"KREDO{day:%Y%m%d}", f"{day.timetuple().tm_yday:05d}"


def _signed(line: _Line) -> Decimal:
    return line.amount if line.credit else -line.amount


# -- CAMT.053 -------------------------------------------------------------------------------------

def _write_camt(lines: list[_Line], cfg: StatementConfig, rng: random.Random) -> tuple[bytes, dict[str, TrueLine]]:
    v2 = cfg.camt_version.endswith(".02")

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, tag, attrs)  # unqualified: the root's default namespace applies
        if text is not None:
            el.text = text
        return el

    def party(parent: ET.Element, role: str, name: str) -> None:
        holder = sub(parent, role)
        sub(holder if v2 else sub(holder, "Pty"), "Nm", name)

    doc = ET.Element("Document", xmlns=f"urn:iso:std:iso:20022:tech:xsd:camt.053.{cfg.camt_version}")
    body = sub(doc, "BkToCstmrStmt")
    header = sub(body, "GrpHdr")
    sub(header, "MsgId", f"KREDO-{cfg.seed}")
    sub(header, "CreDtTm", "2025-01-01T06:00:00+01:00")
    truth: dict[str, TrueLine] = {}
    balance = Decimal("25000.00")
    for day, day_lines in _by_day(lines):
        ref, seq = _statement_id(day)
        stmt_id = f"{ref}/{seq}"
        stmt = sub(body, "Stmt")
        sub(stmt, "Id", stmt_id)
        sub(sub(sub(stmt, "Acct"), "Id"), "IBAN", OUR_ACCOUNT)
        closing = balance + sum((_signed(ln) for ln in day_lines), Decimal(0))
        for code, value in (("OPBD", balance), ("CLBD", closing)):
            bal = sub(stmt, "Bal")
            sub(sub(sub(bal, "Tp"), "CdOrPrtry"), "Cd", code)
            sub(bal, "Amt", f"{abs(value):.2f}", Ccy="EUR")
            sub(bal, "CdtDbtInd", "CRDT" if value >= 0 else "DBIT")
            sub(sub(bal, "Dt"), "Dt", day.isoformat())
        balance = closing
        entries = _batches(day_lines, cfg, rng)
        for e_no, group in enumerate(entries, start=1):
            first = group[0]
            entry = sub(stmt, "Ntry")
            sub(entry, "NtryRef", f"{stmt_id}-{e_no}")
            sub(entry, "Amt", f"{sum(ln.amount for ln in group):.2f}", Ccy="EUR")
            sub(entry, "CdtDbtInd", "CRDT" if first.credit else "DBIT")
            if v2:
                sub(entry, "Sts", "BOOK")
            else:
                sub(sub(entry, "Sts"), "Cd", "BOOK")
            sub(sub(entry, "BookgDt"), "Dt", day.isoformat())
            sub(sub(entry, "ValDt"), "Dt", day.isoformat())
            sub(entry, "AcctSvcrRef", f"BANK{day:%y%m%d}{e_no:06d}")
            if first.iban is None and len(group) == 1:
                sub(entry, "AddtlNtryInf", first.text)
                truth[f"{stmt_id}/{e_no}/1"] = _truth(first)
                continue
            details = sub(entry, "NtryDtls")
            for t_no, ln in enumerate(group, start=1):
                tx = sub(details, "TxDtls")
                refs = sub(tx, "Refs")
                sub(refs, "EndToEndId", ln.e2e or "NOTPROVIDED")
                if len(group) > 1:
                    if v2:
                        sub(sub(sub(tx, "AmtDtls"), "TxAmt"), "Amt", f"{ln.amount:.2f}", Ccy="EUR")
                    else:
                        sub(tx, "Amt", f"{ln.amount:.2f}", Ccy="EUR")
                if ln.iban:
                    parties = sub(tx, "RltdPties")
                    role, account = ("Dbtr", "DbtrAcct") if ln.credit else ("Cdtr", "CdtrAcct")
                    party(parties, role, ln.name or "")
                    sub(sub(sub(parties, account), "Id"), "IBAN", ln.iban)
                if ln.refs or ln.text:
                    rmt = sub(tx, "RmtInf")
                    if ln.text:
                        sub(rmt, "Ustrd", ln.text)
                    for r in ln.refs:
                        cri = sub(sub(rmt, "Strd"), "CdtrRefInf")
                        sub(sub(sub(cri, "Tp"), "CdOrPrtry"), "Cd", "SCOR")
                        sub(cri, "Ref", r)
                truth[f"{stmt_id}/{e_no}/{t_no}"] = _truth(ln)
    return ET.tostring(doc, encoding="utf-8", xml_declaration=True), truth


def _batches(day_lines: list[_Line], cfg: StatementConfig, rng: random.Random) -> list[list[_Line]]:
    """Entries of a day: some runs of batchable credits booked as one batch entry (CAMT only)."""
    out: list[list[_Line]] = []
    for ln in day_lines:
        prev = out[-1] if out else None
        if (prev is not None and ln.batchable and all(p.batchable for p in prev) and len(prev) < 4
                and (len(prev) > 1 or rng.random() < cfg.batch_share)):
            prev.append(ln)
        else:
            out.append([ln])
    return out


# -- MT940 (ING's layout) -------------------------------------------------------------------------

def _swift(text: str) -> str:
    """Text in the SWIFT character set (what an MT940 can carry)."""
    text = text.replace("°", "o").replace("&", "+").replace("#", " ")
    return "".join(ch if ch in _SWIFT_OK else " " for ch in text)


def _amount940(value: Decimal) -> str:
    return f"{abs(value):.2f}".replace(".", ",")


def _wrap(tag: str, value: str) -> str:
    """A tag value cut into lines of 65 characters, the first after the tag."""
    text = tag + value
    return "\n".join(text[i:i + 65] for i in range(0, len(text), 65))


def _write_mt940(lines: list[_Line]) -> tuple[str, dict[str, TrueLine]]:
    out: list[str] = []
    truth: dict[str, TrueLine] = {}
    balance = Decimal("25000.00")
    for day, day_lines in _by_day(lines):
        ref, seq = _statement_id(day)
        stmt_id = f"{ref}/{seq}"
        out += [":20:" + ref, f":25:{OUR_ACCOUNT}EUR", f":28C:{seq}",
                f":60F:{'C' if balance >= 0 else 'D'}{day:%y%m%d}EUR{_amount940(balance)}"]
        for n, ln in enumerate(day_lines, start=1):
            balance += _signed(ln)
            mark = "C" if ln.credit else "D"
            out.append(f":61:{day:%y%m%d}{day:%m%d}{mark}{_amount940(ln.amount)}NTRF"
                       f"{'EREF' if ln.e2e else 'NONREF'}//{day:%y%m%d}{n:08d}")
            fields = f"/EREF/{ln.e2e or 'NOTPROVIDED'}/"
            if ln.iban:
                fields += f"/CNTP/{ln.iban}/{ln.bic or ''}/{_swift(ln.name or '')}//"
            if len(ln.refs) == 1:
                issuer = "CUR" if ln.refs[0].isdigit() else "ISO"
                fields += f"/REMI/STRD/{issuer}/{ln.refs[0]}/"
            else:
                text = " ".join([*ln.refs, ln.text]).strip()
                fields += f"/REMI/USTD//{_swift(text)}/"
            out.append(_wrap(":86:", fields))
            truth[f"{stmt_id}/{n}/1"] = _truth(ln)
        out.append(f":62F:{'C' if balance >= 0 else 'D'}{day:%y%m%d}EUR{_amount940(balance)}")
    return "\n".join(out) + "\n", truth
