"""Ledger fixtures: a fresh database on each dialect, and handwritten bank statements.

Handwritten statements: CAMT.053 in two versions and MT940 in the Dutch banks' and a German layout.

Why handwritten: each sample shows one shape a real bank sends (batch booking,
a pending entry, ``Sts`` as text or as ``Sts/Cd``, ``:86:`` cut at 65
characters in the middle of a tag), small enough to read next to its test.
"""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of its own: a SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return new_database(request.getfixturevalue("postgres_url"))


@pytest.fixture()
def pg_ledger_url(postgres_url: str) -> str:
    """An empty database of its own on the test PostgreSQL server (what only PostgreSQL does: row locks)."""
    return new_database(postgres_url)


def new_database(base: str) -> str:
    """A new, empty database on ``base``'s server; its URL."""
    name = f"ledger_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return str(sa.engine.make_url(base).set(database=name))


CAMT_V02 = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2024-05-02T06:00:00+02:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>STMT-2024-05-02</Id>
      <Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id><Ccy>EUR</Ccy></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">1000.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-05-01</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">2175.55</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-05-02</Dt></Dt></Bal>
      <Ntry>
        <NtryRef>E1</NtryRef>
        <Amt Ccy="EUR">1234.56</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2024-05-02</Dt></BookgDt>
        <ValDt><Dt>2024-05-01</Dt></ValDt>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>E2E-77</EndToEndId></Refs>
          <RltdPties><Dbtr><Nm>Jansen B.V.</Nm></Dbtr>
            <DbtrAcct><Id><IBAN>NL44 RABO 0123 4567 89</IBAN></Id></DbtrAcct></RltdPties>
          <RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>ISO</Issr></Tp>
            <Ref>RF18 5390 0754 7034</Ref></CdtrRefInf></Strd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>
      <Ntry>
        <NtryRef>E2</NtryRef>
        <Amt Ccy="EUR">300.99</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><DtTm>2024-05-02T10:15:00+02:00</DtTm></BookgDt>
        <ValDt><Dt>2024-05-02</Dt></ValDt>
        <NtryDtls>
          <TxDtls>
            <Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
            <AmtDtls><TxAmt><Amt Ccy="EUR">100.00</Amt></TxAmt></AmtDtls>
            <RltdPties><Dbtr><Nm>A. Smit</Nm></Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct></RltdPties>
            <RmtInf><Ustrd>Rechnung Nr. 1234</Ustrd><Ustrd>danke</Ustrd></RmtInf>
          </TxDtls>
          <TxDtls>
            <AmtDtls><TxAmt><Amt Ccy="EUR">200.99</Amt></TxAmt></AmtDtls>
            <RltdPties><Dbtr><Nm>B. Visser</Nm></Dbtr></RltdPties>
            <RmtInf><Strd><CdtrRefInf><Ref>5010002167010010</Ref></CdtrRefInf></Strd></RmtInf>
          </TxDtls>
        </NtryDtls>
      </Ntry>
      <Ntry>
        <Amt Ccy="EUR">360.00</Amt>
        <CdtDbtInd>DBIT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2024-05-02</Dt></BookgDt>
        <ValDt><Dt>2024-05-02</Dt></ValDt>
        <AcctSvcrRef>BANK-3</AcctSvcrRef>
        <NtryDtls><TxDtls>
          <RltdPties><Cdtr><Nm>Kantoorhuur BV</Nm></Cdtr><CdtrAcct><Id><IBAN>NL39RABO0300065264</IBAN></Id></CdtrAcct></RltdPties>
          <RmtInf><Ustrd>Huur mei</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>
      <Ntry>
        <Amt Ccy="EUR">50.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>PDNG</Sts>
        <BookgDt><Dt>2024-05-02</Dt></BookgDt>
      </Ntry>
    </Stmt>
  </BkToCstmrStmt>
</Document>
"""

CAMT_V08 = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
 <BkToCstmrStmt>
  <GrpHdr><MsgId>MSG-8</MsgId><CreDtTm>2024-05-03T06:00:00+02:00</CreDtTm></GrpHdr>
  <Stmt>
   <Id>S8</Id>
   <Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id></Acct>
   <Ntry>
    <Amt Ccy="EUR">75.10</Amt><CdtDbtInd>CRDT</CdtDbtInd><RvslInd>false</RvslInd>
    <Sts><Cd>BOOK</Cd></Sts>
    <BookgDt><Dt>2024-05-03</Dt></BookgDt><ValDt><Dt>2024-05-03</Dt></ValDt>
    <NtryDtls><TxDtls>
     <Amt Ccy="EUR">75.10</Amt>
     <RltdPties><Dbtr><Pty><Nm>Peeters NV</Nm></Pty></Dbtr>
      <DbtrAcct><Id><IBAN>BE68539007547034</IBAN></Id></DbtrAcct></RltdPties>
     <RmtInf><Strd><CdtrRefInf><Ref>INV-00001234</Ref></CdtrRefInf><AddtlRmtInf>factuur mei</AddtlRmtInf></Strd></RmtInf>
    </TxDtls></NtryDtls>
   </Ntry>
   <Ntry>
    <Amt Ccy="EUR">12.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><RvslInd>true</RvslInd>
    <Sts><Cd>BOOK</Cd></Sts>
    <BookgDt><Dt>2024-05-03</Dt></BookgDt>
    <AddtlNtryInf>STORNO INCASSO</AddtlNtryInf>
   </Ntry>
  </Stmt>
 </BkToCstmrStmt>
</Document>
"""

# ING (Mijn ING zakelijk): /EREF/ /CNTP/IBAN/BIC/NAME/CITY/ /REMI/USTD// or /REMI/STRD/CUR/; cut at 65 characters.
MT940_ING = """{1:F01INGBNL2ABXXX0000000000}
{2:I940INGBNL2AXXXN}
{4:
:20:P240502000000001
:25:NL69INGB0123456789EUR
:28C:00123
:60F:C240501EUR1000,00
:61:2405020502C1234,56NTRFEREF//00000000001005
/TRCD/00100/
:86:/EREF/E2E-77//CNTP/NL44RABO0123456789/RABONL2U/JANSEN B.V.///REMI/U
STD//Factuur 00001234 en 00001235 dank u/
:61:2405020502C200,99NTRF5010002167010010//00000000001006
/TRCD/00108/
:86:/EREF/NOTPROVIDED//CNTP/NL32INGB0000012345/INGBNL2A/B. Visser///REM
I/STRD/CUR/5010002167010010/
:61:2405020502D360,00NTRFNONREF//00000000001007
:86:/CNTP/NL39RABO0300065264/RABONL2U/KANTOORHUUR BV///REMI/USTD//Huur/
:62F:C240502EUR2075,55
:64:C240502EUR2075,55
:86:/NAME/ING BANK N.V.//BIC/INGBNL2A//SUM/2/1/360,00/1435,55/
-}
"""

# ABN AMRO: /TRTP/ /IBAN/ /BIC/ /NAME/ /REMI/ (free text or /CDTRREFTP//CD/SCOR/ISSR/CUR/CDTRREF/) /EREF/.
MT940_ABN = """ABNANL2A
940
ABNANL2A
:20:ABN AMRO BANK NV
:25:417164300
:28:12301/1
:60F:C240502EUR500,00
:61:240503C99,50N654NONREF
:86:/TRTP/SEPA OVERBOEKING/IBAN/NL44RABO0123456789/BIC/RABONL2U/NAME/
P DE VRIES/REMI/INV-00004321 klant 88/EREF/NOTPROVIDED
:61:240503C10,00N654NONREF
:86:/TRTP/SEPA OVERBOEKING/IBAN/NL44RABO0123456789/BIC/RABONL2U/NAME/
P DE VRIES/REMI//CDTRREFTP//CD/SCOR/ISSR/CUR/CDTRREF/5010002167010010/E
REF/ABC123
:62F:C240503EUR609,50
-
"""

# Rabobank: /EREF/ ... /ORDP//NAME/ ... /REMI/ free text.
MT940_RABO = """:20:940S240503
:25:NL39RABO0300065264 EUR
:28C:0
:60F:C240502EUR0,00
:61:240503C42,00NTRFNONREF//RABO12345
/NL44RABO0123456789
:86:/EREF/20240503-1//ORDP//NAME/Bakker Groep/ADDR/Utrecht//REMI/factuurnr 77
:62F:C240503EUR42,00
"""

# A German bank: ?20 purpose with SEPA keywords, ?31 the IBAN, ?32 the name.
MT940_DE = """:20:STARTUMS
:25:37040044/0532013000
:28C:00001/001
:60F:C240502EUR0,00
:61:2405030503CR81,00NMSCNONREF
:86:166?00GUTSCHR. UEBERWEISUNG?109310?20EREF+E2E-DE-1?21SVWZ+Rechnung
 Nr. 1234?30COBADEFFXXX?31DE89370400440532013000?32Schmidt GmbH
:62F:C240503EUR81,00
"""


@pytest.fixture()
def camt_v02() -> bytes:
    return CAMT_V02.encode()


@pytest.fixture()
def camt_v08() -> bytes:
    return CAMT_V08.encode()


@pytest.fixture()
def mt940_ing() -> str:
    return MT940_ING


@pytest.fixture()
def mt940_abn() -> str:
    return MT940_ABN


@pytest.fixture()
def mt940_rabo() -> str:
    return MT940_RABO


@pytest.fixture()
def mt940_de() -> str:
    return MT940_DE
