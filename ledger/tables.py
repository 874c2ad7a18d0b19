"""The ledger's data contract: tables, columns, dtypes and meaning.

Why: the simulator writes it, training reads it, the online store replays it
as events and the backtest re-decides it. One module says what every column
is, so all of them read the same schema, and a bad file is refused at the door
with the file, row and column named (never half-loaded and silently wrong).

All timestamps are naive ``datetime64[us]`` in the ledger's business time zone
(Europe/Amsterdam for the simulator); money is EUR as float64.

Example::

    ledger = load_ledger("/tmp/ledger")   # validates every table
    ledger.invoices["amount"].sum()
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from domain.errors import LedgerError
from domain.vocabulary import CHANNELS, CUSTOMER_TYPES, DAY_TYPES, PROFILES, SIZES, SLOTS, TONES

Kind = Literal["str", "int", "float", "bool", "datetime", "category"]



@dataclass(frozen=True)
class Column:
    """One column: its name, kind, meaning and the checks that apply."""

    name: str
    kind: Kind
    meaning: str
    nullable: bool = False
    non_negative: bool = False
    choices: tuple[str, ...] | None = None
    optional: bool = False
    """A column a file written before it existed may lack: read as empty (it must be nullable)."""


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    columns: tuple[Column, ...]
    meaning: str

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


C = Column
CUSTOMERS = Table(
    "customers",
    "customer_id",
    (
        C("customer_id", "str", "customer id"),
        C("type", "str", "business or consumer", choices=CUSTOMER_TYPES),
        C("country", "str", "ISO 3166 alpha-2 country"),
        C("sector", "str", "business sector; 'consumer' for consumers"),
        C("size", "str", "small / medium / large; 'consumer' for consumers", choices=SIZES),
        C("profile", "str", "profile segment", choices=PROFILES),
        C("account_manager", "str", "owner of the relationship, if any", nullable=True),
        C("key_account", "bool", "important customer: the account manager decides"),
        C("paperless", "bool", "receives electronic invoices"),
        *(C(f"consent_{ch}", "bool", f"recorded consent to be contacted by {ch}") for ch in CHANNELS),
        C("created_at", "datetime", "first contact (start of the relationship)"),
    ),
    "one row per customer; observable at decision time",
)

TRAITS = Table(
    "traits",
    "customer_id",
    (
        C("customer_id", "str", "customer id"),
        C("liquidity", "float", "hidden: ability to pay (0..1)", non_negative=True),
        C("forgetfulness", "float", "hidden: pays late by neglect, reacts to reminders (0..1)",
          non_negative=True),
        C("dispute_propensity", "float", "hidden: chance an invoice is disputed", non_negative=True),
        *(C(f"resp_{ch}", "float", f"hidden: log-odds response to {ch}") for ch in CHANNELS),
        C("peak_hour", "float", "hidden: hour of day at which messages land best"),
        C("weekend_affinity", "float", "hidden: log-odds bonus for weekend contact"),
        C("firm_effect", "float", "hidden: log-odds effect of a firm tone (negative: put off)"),
    ),
    "simulator ground truth; never a feature, only for regret and evaluation",
)

INVOICES = Table(
    "invoices",
    "invoice_id",
    (
        C("invoice_id", "str", "invoice id"),
        C("customer_id", "str", "customer id"),
        C("issued_at", "datetime", "issue time"),
        C("due_at", "datetime", "due time = issued_at + payment_terms_days"),
        C("amount", "float", "invoice amount (EUR)", non_negative=True),
        C("currency", "str", "ISO 4217 currency", choices=("EUR",)),
        C("payment_terms_days", "int", "payment terms in days", non_negative=True),
        C("paperless", "bool", "sent electronically"),
        C("paid_at", "datetime", "time of the final payment; empty while open or written off",
          nullable=True),
        C("written_off_at", "datetime", "time of write-off, if any", nullable=True),
    ),
    "one row per invoice; outcomes (paid_at, written_off_at) are labels, not features",
)

PAYMENTS = Table(
    "payments",
    "payment_id",
    (
        C("payment_id", "str", "payment id"),
        C("invoice_id", "str", "invoice paid"),
        C("customer_id", "str", "customer id"),
        C("paid_at", "datetime", "time the money arrived"),
        C("amount", "float", "amount received (EUR)", non_negative=True),
    ),
    "every (partial) payment; an invoice is paid when its payments reach its amount",
)

DISPUTES = Table(
    "disputes",
    "dispute_id",
    (
        C("dispute_id", "str", "dispute id"),
        C("invoice_id", "str", "disputed invoice"),
        C("customer_id", "str", "customer id"),
        C("opened_at", "datetime", "dispute raised"),
        C("resolved_at", "datetime", "dispute resolved; empty while open", nullable=True),
        C("reason", "str", "dispute type",
          choices=("quality", "delivery", "price", "duplicate", "other")),
    ),
    "disputes: dunning pauses while one is open",
)

REMINDERS = Table(
    "reminders",
    "reminder_id",
    (
        C("reminder_id", "str", "reminder id"),
        C("invoice_id", "str", "invoice reminded"),
        C("customer_id", "str", "customer id"),
        C("decided_at", "datetime", "the decision that chose the arm (the ladder day's dunning run)",
          nullable=True, optional=True),
        C("sent_at", "datetime", "time sent"),
        C("step", "int", "reminder number on the ladder (1..3)", non_negative=True),
        C("channel", "str", "channel", choices=CHANNELS),
        C("slot", "str", "send-time slot", choices=SLOTS),
        C("day_type", "str", "weekday or weekend", choices=DAY_TYPES),
        C("tone", "str", "tone", choices=TONES),
        C("propensity", "float", "probability of this arm under the logging policy",
          non_negative=True),
        C("paid_within_7d", "bool", "reward: invoice paid within 7 days of the decision (of the send, in logs "
          "without decided_at)"),
    ),
    "logged reminders with the logging policy's propensities (for off-policy evaluation)",
)
PROMISES = Table(
    "promises",
    "promise_id",
    (
        C("promise_id", "str", "promise id"),
        C("invoice_id", "str", "invoice promised"),
        C("customer_id", "str", "customer id"),
        C("made_at", "datetime", "time the customer promised"),
        C("promised_for", "datetime", "the day the customer promised to pay by (midnight)"),
        C("amount", "float", "amount promised (EUR)", non_negative=True),
    ),
    "promises to pay: kept when the amount is paid before the promised day ends, broken otherwise",
)

ESCALATIONS = Table(
    "escalations",
    "escalation_id",
    (
        C("escalation_id", "str", "escalation id"),
        C("invoice_id", "str", "invoice handed over"),
        C("customer_id", "str", "customer id"),
        C("escalated_at", "datetime", "time the invoice was handed over to collections"),
    ),
    "invoices handed over to a collection agency or lawyer",
)
del C

TABLES: dict[str, Table] = {
    t.name: t for t in (CUSTOMERS, TRAITS, INVOICES, PAYMENTS, DISPUTES, REMINDERS, PROMISES, ESCALATIONS)
}
#: Tables a ledger directory may leave out: ground truth only a simulator has, and collections
#: objects a source system may not keep (read as empty).
OPTIONAL = ("traits", "promises", "escalations")


def empty(table: Table) -> pd.DataFrame:
    """A table with no rows and its canonical dtypes."""
    return validate(table, pd.DataFrame({c.name: pd.Series([], dtype=_DTYPES[c.kind]) for c in table.columns}))


_DTYPES = {"str": object, "int": "int64", "float": "float64", "bool": bool, "datetime": "datetime64[us]",
           "category": object}


def _refuse(source: str, table: Table, column: str | None, row: int | None, detail: str) -> None:
    where = f"{source}" + (f", row {row}" if row is not None else "") + (
        f", column {column!r}" if column else ""
    )
    raise LedgerError(
        f"{where}: {detail}",
        field=column,
        extra={"file": source, "table": table.name, "row": row, "column": column},
    )


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def validate(table: Table, df: pd.DataFrame, source: str = "<memory>") -> pd.DataFrame:
    """Check ``df`` against ``table`` and return it with canonical dtypes.

    Raises ``LedgerError`` naming the file, the (0-based data) row and the
    column of the first violation: a missing column, a value of the wrong
    type, a negative amount, an unknown category, a duplicate key, or a due
    date before its issue date.
    """
    out: dict[str, pd.Series] = {}
    for col in table.columns:
        if col.name not in df.columns and col.optional:
            df = df.assign(**{col.name: pd.Series([None] * len(df), index=df.index, dtype=_DTYPES[col.kind])})
        if col.name not in df.columns:
            _refuse(source, table, col.name, None, "missing column")
        s = df[col.name]
        null = s.isna().to_numpy()
        if null.any() and not col.nullable:
            _refuse(source, table, col.name, _first_bad(null), "empty value in a required column")
        try:
            s = _coerce(s, col.kind)
        except (ValueError, TypeError) as exc:
            bad = _first_uncoercible(df[col.name], col.kind)
            _refuse(source, table, col.name, bad, f"expected {col.kind}: {exc}")
        if col.non_negative:
            neg = (s < 0).fillna(False).to_numpy(dtype=bool)
            if neg.any():
                _refuse(source, table, col.name, _first_bad(neg), "negative value")
        if col.choices is not None:
            bad = (~s.isin(col.choices) & s.notna()).to_numpy()
            if bad.any():
                i = _first_bad(bad)
                _refuse(source, table, col.name, i,
                        f"unknown value {s.iloc[i]!r}; expected one of {list(col.choices)}")
        out[col.name] = s
    result = pd.DataFrame(out, index=pd.RangeIndex(len(df)))
    dup = result[table.key].duplicated().to_numpy()
    if dup.any():
        i = _first_bad(dup)
        _refuse(source, table, table.key, i, f"duplicate key {result[table.key].iloc[i]!r}")
    if table is INVOICES:
        early = (result["due_at"] < result["issued_at"]).to_numpy()
        if early.any():
            _refuse(source, table, "due_at", _first_bad(early), "due date before invoice date")
    return result


def _coerce(s: pd.Series, kind: Kind) -> pd.Series:
    if kind == "str":
        if not (s.dtype == object or pd.api.types.is_string_dtype(s)):
            raise TypeError(f"got {s.dtype}")
        return s.astype(object).where(s.notna(), None)
    if kind == "int":
        if not pd.api.types.is_integer_dtype(s):
            raise TypeError(f"got {s.dtype}")
        return s.astype("int64")
    if kind == "float":
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            raise TypeError(f"got {s.dtype}")
        return s.astype("float64")
    if kind == "bool":
        if not pd.api.types.is_bool_dtype(s):
            raise TypeError(f"got {s.dtype}")
        return s.astype(bool)
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(s):
            if getattr(s.dt, "tz", None) is not None:
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            return s.astype("datetime64[us]")
        return pd.to_datetime(s, errors="raise", format="ISO8601").astype("datetime64[us]")
    raise ValueError(f"unknown kind {kind}")


def _first_uncoercible(s: pd.Series, kind: Kind) -> int | None:
    """Row of the first value that breaks ``kind`` (for the error message)."""
    for i, v in enumerate(s.to_numpy()):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        try:
            _coerce(pd.Series([v]), kind)
        except (ValueError, TypeError):
            return i
    return None


@dataclass
class Ledger:
    """The order-to-cash ledger: one DataFrame per contract table."""

    customers: pd.DataFrame
    invoices: pd.DataFrame
    payments: pd.DataFrame
    disputes: pd.DataFrame
    reminders: pd.DataFrame
    traits: pd.DataFrame | None = None
    promises: pd.DataFrame = field(default_factory=lambda: empty(PROMISES))
    escalations: pd.DataFrame = field(default_factory=lambda: empty(ESCALATIONS))

    def tables(self) -> dict[str, pd.DataFrame]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def known_at(self, cutoff: pd.Timestamp) -> "Ledger":
        """The ledger as it was known at ``cutoff``: every event after it deleted (a back-test's past).

        Invoices issued later are gone, payments and write-offs after it undone, disputes resolved
        later open again; the customers (master data) and the simulator's traits are kept.
        """
        inv = self.invoices[self.invoices["issued_at"] <= cutoff].copy()
        for col in ("paid_at", "written_off_at"):
            inv[col] = inv[col].where(inv[col] <= cutoff)
        dis = self.disputes[self.disputes["opened_at"] <= cutoff].copy()
        dis["resolved_at"] = dis["resolved_at"].where(dis["resolved_at"] <= cutoff)

        def before(df: pd.DataFrame, column: str) -> pd.DataFrame:
            return df[df[column] <= cutoff].reset_index(drop=True)
        return Ledger(customers=self.customers, invoices=inv.reset_index(drop=True),
                      payments=before(self.payments, "paid_at"), disputes=dis.reset_index(drop=True),
                      reminders=before(self.reminders, "sent_at"), traits=self.traits,
                      promises=before(self.promises, "made_at"), escalations=before(self.escalations, "escalated_at"))

    def validated(self) -> "Ledger":
        """A copy whose every table passed :func:`validate` and :func:`check_references`."""
        tables = {n: validate(TABLES[n], df) for n, df in self.tables().items()}
        check_references(tables)
        return Ledger(**tables)


def save_ledger(ledger: Ledger, out: str | Path, csv: bool = False) -> list[Path]:
    """Write each table as Parquet (and CSV when asked); returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in ledger.tables().items():
        path = out / f"{name}.parquet"
        df.to_parquet(path, index=False, compression="zstd")
        written.append(path)
        if csv:
            cpath = out / f"{name}.csv"
            df.to_csv(cpath, index=False, date_format="%Y-%m-%dT%H:%M:%S")
            written.append(cpath)
    return written


def load_ledger(src: str | Path) -> Ledger:
    """Read and validate a ledger directory (Parquet, else CSV per table).

    ``traits`` is optional (only simulated ledgers have ground truth).
    """
    src = Path(src)
    if not src.is_dir():
        raise LedgerError(f"{src}: not a ledger directory", field="ledger")
    tables: dict[str, pd.DataFrame] = {}
    sources: dict[str, str] = {}
    for name, table in TABLES.items():
        pq, csv = src / f"{name}.parquet", src / f"{name}.csv"
        if pq.exists():
            df, path = pd.read_parquet(pq), pq
        elif csv.exists():
            df, path = pd.read_csv(csv, dtype={c.name: object for c in table.columns if c.kind == "str"}), csv
        elif name in OPTIONAL:
            continue
        else:
            raise LedgerError(f"{src}: missing table {name} ({pq.name} or {csv.name})", field=name)
        tables[name] = validate(table, df, str(path))
        sources[name] = str(path)
    check_references(tables, sources)
    return Ledger(**tables)


#: (table, column, referenced table): every value must be a key of the referenced table.
REFERENCES = (("invoices", "customer_id", "customers"), ("payments", "invoice_id", "invoices"),
              ("disputes", "invoice_id", "invoices"), ("reminders", "invoice_id", "invoices"),
              ("traits", "customer_id", "customers"), ("promises", "invoice_id", "invoices"),
              ("escalations", "invoice_id", "invoices"))


def check_references(tables: dict[str, pd.DataFrame], sources: dict[str, str] | None = None) -> None:
    """Refuse a row that points at a customer or invoice the ledger does not have.

    Why: features read the customer record (type, profile, size, sector) of
    every invoice; an invoice of an unknown customer would be scored as
    "nobody", silently.
    """
    for name, column, target in REFERENCES:
        if name not in tables:
            continue
        known = tables[name][column].isin(tables[target][TABLES[target].key]).to_numpy()
        if not known.all():
            i = _first_bad(~known)
            _refuse((sources or {}).get(name, "<memory>"), TABLES[name], column, i,
                    f"{tables[name][column].iloc[i]!r} is not in the {target} table")
