"""The ledger's tables (SQLAlchemy Core): what credit management keeps, and the event log it is built from.

Why these shapes:

* Money is integer **cents** (``BigInteger``), never a float: sums and
  allocations are exact, and a payment either settles an invoice or it does not.
* Times are integer **microseconds** since 1970-01-01 in the ledger's business
  time (the same clock as the online features, ``ledger.events.to_us``): they
  order and compare exactly on SQLite and PostgreSQL alike, and the refold of a
  customer replays them in the same order as the feature fold.
* ``ledger_events`` is the append-only log every projection is derived from;
  ``event_id`` is unique (idempotency), ``seq`` records arrival order. The other
  tables are projections kept in the same transaction, so a read never sees an
  event without its effect.

The schema is created and upgraded only by Alembic (``ledger/migrations``), never
by ``create_all``; these definitions are what the migrations build and what the
code reads and writes.
"""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
Id = sa.String(128)
Cents = sa.BigInteger()
Micros = sa.BigInteger()

legal_entities = sa.Table(
    "legal_entities", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("parent_id", Id, sa.ForeignKey("legal_entities.id"), nullable=True),
    sa.Column("country", sa.String(2), nullable=False, server_default="NL"),
)

customers = sa.Table(
    "customers", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("legal_entity_id", Id, nullable=True, index=True),
    sa.Column("parent_id", Id, nullable=True, index=True),  # a group's parent company pays for its subsidiaries
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("type", sa.String(16), nullable=True),          # business / consumer; null while only a stub
    sa.Column("country", sa.String(2), nullable=True),
    sa.Column("sector", sa.String(64), nullable=True),
    sa.Column("size", sa.String(16), nullable=True),
    sa.Column("profile", sa.String(32), nullable=True),
    sa.Column("account_manager", sa.String(64), nullable=True),
    sa.Column("key_account", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("paperless", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("consent_email", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("consent_sms", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("consent_whatsapp", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("consent_letter", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("consent_phone", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("credit_limit_cents", Cents, nullable=True),     # an analyst's override of the policy's limit
    sa.Column("blocked", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("ibans", sa.Text(), nullable=False, server_default=""),  # known IBANs, space separated
    sa.Column("email", sa.String(254), nullable=True),          # (0006) where a sender delivers each channel
    sa.Column("phone", sa.String(32), nullable=True),           # E.164: SMS and WhatsApp
    sa.Column("postal_address", sa.Text(), nullable=True),      # lines separated by newlines: letters
    sa.Column("language", sa.String(2), nullable=True),         # the templates' language (nl, en); null: the policy's
    sa.Column("created_us", Micros, nullable=False),
    sa.Column("updated_us", Micros, nullable=False),
)

invoices = sa.Table(
    "invoices", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("customer_id", Id, nullable=False, index=True),
    sa.Column("legal_entity_id", Id, nullable=True, index=True),
    sa.Column("kind", sa.String(16), nullable=False, server_default="invoice"),  # invoice / credit_note
    sa.Column("issued_us", Micros, nullable=False, index=True),
    sa.Column("due_us", Micros, nullable=False, index=True),
    sa.Column("amount_cents", Cents, nullable=False),
    sa.Column("paid_cents", Cents, nullable=False, server_default="0"),
    sa.Column("currency", sa.String(3), nullable=False, server_default="EUR"),
    sa.Column("payment_terms_days", sa.Integer(), nullable=False),
    sa.Column("paperless", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("payment_reference", sa.String(64), nullable=True, index=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="open", index=True),  # open/paid/written_off
    sa.Column("paid_us", Micros, nullable=True, index=True),           # (0007: indexed) the last check's
    sa.Column("written_off_us", Micros, nullable=True, index=True),    # items: those closed since it
    sa.Column("disputed", sa.Boolean(), nullable=False, server_default=sa.false()),
    # (0004) the dunning run reads the open invoices of a range of customers: by status and customer together
    sa.Index("ix_invoices_status_customer_id", "status", "customer_id"),
    # (0007) the receivables report sums the open items per customer, bucket and last check from the index alone
    sa.Index("ix_invoices_open_items", "status", "customer_id", "due_us", "amount_cents", "paid_cents", "disputed",
             "legal_entity_id", "issued_us"),
)

#: (0007) Per legal entity ('' for none) and day: what the invoices issued that day add to the receivables and what
#: left them (payments allocated, by the day received; balances written off), with how many items each; kept by
#: the book as it books (``ledger.daily``) so a report reads a few thousand rows instead of every invoice.
receivable_days = sa.Table(
    "receivable_days", metadata,
    sa.Column("entity", Id, primary_key=True),
    sa.Column("day", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("issued_cents", Cents, nullable=False, server_default="0"),
    sa.Column("issued_items", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("leaving_cents", Cents, nullable=False, server_default="0"),
    sa.Column("leaving_items", sa.Integer(), nullable=False, server_default="0"),
)

#: The cash-in forecasts computed so far (``ledger.forecasts``): one row per legal entity (``*``: consolidated),
#: forecast day, model version and book version (the last booked event's ``seq``), the answer as JSON. Why kept:
#: a forecast reads the entity's whole history (seconds on a large book); a fresh worker answers the kept one.
forecasts = sa.Table(
    "forecasts", metadata,
    sa.Column("id", sa.String(320), primary_key=True),            # entity|day|model version|book version
    sa.Column("entity", Id, nullable=False),
    sa.Column("day", sa.String(10), nullable=False),               # YYYY-MM-DD, the forecast's first day
    sa.Column("model_version", sa.String(64), nullable=True),
    sa.Column("book_version", sa.BigInteger(), nullable=True),     # max(ledger_events.seq) it was computed on
    sa.Column("computed_us", Micros, nullable=False),              # server clock
    sa.Column("body", sa.Text(), nullable=False),                  # training.forecast.Forecast.to_dict()
    sa.Index("ix_forecasts_entity_day", "entity", "day", "book_version"),
)

payments = sa.Table(
    "payments", metadata,
    sa.Column("id", Id, primary_key=True),                     # the event id that brought it
    sa.Column("customer_id", Id, nullable=False, index=True),
    sa.Column("invoice_id", Id, nullable=True, index=True),    # the invoice it was sent for, if named
    sa.Column("received_us", Micros, nullable=False),
    sa.Column("amount_cents", Cents, nullable=False),
    sa.Column("allocated_cents", Cents, nullable=False, server_default="0"),
    sa.Column("currency", sa.String(3), nullable=False, server_default="EUR"),
    sa.Column("source", sa.String(16), nullable=False, server_default="api"),  # api / camt053 / mt940 / import
    sa.Column("reference", sa.String(140), nullable=True),
    sa.Column("iban", sa.String(34), nullable=True),
)

allocations = sa.Table(
    "allocations", metadata,
    sa.Column("payment_id", Id, primary_key=True),
    sa.Column("invoice_id", Id, primary_key=True, index=True),
    sa.Column("amount_cents", Cents, nullable=False),
)

disputes = sa.Table(
    "disputes", metadata,
    sa.Column("id", Id, primary_key=True),                     # the dispute_opened event id
    sa.Column("invoice_id", Id, nullable=False, index=True),
    sa.Column("customer_id", Id, nullable=False, index=True),
    sa.Column("reason", sa.String(32), nullable=False, server_default="other"),
    sa.Column("owner", sa.String(64), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("opened_us", Micros, nullable=False),
    sa.Column("resolved_us", Micros, nullable=True),
)

contacts = sa.Table(
    "contacts", metadata,
    sa.Column("id", Id, primary_key=True),                     # the event id that reported it
    sa.Column("customer_id", Id, nullable=False, index=True),
    sa.Column("invoice_id", Id, nullable=True, index=True),
    sa.Column("kind", sa.String(16), nullable=False),          # reminder / call / letter / final_notice
    sa.Column("channel", sa.String(16), nullable=True),
    sa.Column("at_us", Micros, nullable=False),
    sa.Column("step", sa.String(32), nullable=True),
    sa.Column("tone", sa.String(16), nullable=True),
    sa.Column("outcome", sa.String(32), nullable=True),
    sa.Column("decision_id", sa.String(64), nullable=True),
)

ledger_events = sa.Table(
    "ledger_events", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(200), nullable=False, unique=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("customer_id", Id, nullable=False, index=True),
    sa.Column("invoice_id", Id, nullable=True, index=True),
    sa.Column("at_us", Micros, nullable=False),
    sa.Column("received_us", Micros, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),        # of the canonical event: same id, other content
    sa.Column("body", sa.Text(), nullable=False),              # the event as received (canonical JSON)
)

decisions = sa.Table(
    "decisions", metadata,
    sa.Column("decision_id", sa.String(64), primary_key=True),  # the audit record's id (the record itself is there)
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("customer_id", Id, nullable=False, index=True),
    sa.Column("invoice_id", Id, nullable=True, index=True),
    sa.Column("outcome", sa.String(16), nullable=False, index=True),
    sa.Column("at_us", Micros, nullable=False, index=True),          # the business moment decided for
    sa.Column("received_us", Micros, nullable=False),                # the server's clock when it was asked
    sa.Column("summary", sa.Text(), nullable=False),                 # the answer's reasons, for timelines
)

# -- collections objects (revision 0002): data model here, behaviour in the collections workflow --
promises = sa.Table(
    "promises", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("customer_id", Id, nullable=False, index=True),
    sa.Column("invoice_id", Id, nullable=True, index=True),
    sa.Column("promised_for_us", Micros, nullable=False),
    sa.Column("amount_cents", Cents, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),  # open / kept / broken
    sa.Column("created_us", Micros, nullable=False),
    sa.Column("resolved_us", Micros, nullable=True),           # (0004) when the run found it kept or broken
)

payment_plans = sa.Table(
    "payment_plans", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("customer_id", Id, nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),  # active / completed / cancelled
    sa.Column("created_us", Micros, nullable=False),
    sa.Column("closed_us", Micros, nullable=True),             # (0004) when the run completed or cancelled it
)

plan_instalments = sa.Table(
    "plan_instalments", metadata,
    sa.Column("plan_id", Id, primary_key=True),
    sa.Column("number", sa.Integer(), primary_key=True),
    sa.Column("due_us", Micros, nullable=False),
    sa.Column("amount_cents", Cents, nullable=False),
    sa.Column("paid_cents", Cents, nullable=False, server_default="0"),
)

tasks = sa.Table(
    "tasks", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("type", sa.String(32), nullable=False),          # call / dispute / review / unmatched_payment / ...
    sa.Column("owner", sa.String(64), nullable=False, index=True),
    sa.Column("customer_id", Id, nullable=True, index=True),
    sa.Column("invoice_id", Id, nullable=True, index=True),     # (0004: indexed)
    sa.Column("due_us", Micros, nullable=False),
    sa.Column("priority", sa.Float(), nullable=False, server_default="0"),
    sa.Column("status", sa.String(16), nullable=False, server_default="open", index=True),
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    sa.Column("created_us", Micros, nullable=False),
)

notes = sa.Table(
    "notes", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("customer_id", Id, nullable=False, index=True),
    sa.Column("invoice_id", Id, nullable=True),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("at_us", Micros, nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
)


# -- access (revision 0003): API keys with roles; the secret itself is never stored, only its keyed hash --
api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", sa.String(32), primary_key=True),              # the public part of the key, shown in listings
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("secret_hash", sa.String(256), nullable=False),
    sa.Column("created_us", Micros, nullable=False),
    sa.Column("revoked_us", Micros, nullable=True),
)


# -- the dunning day (revision 0004): runs, the outbox they fill, the invoices a payment plan covers --
dunning_runs = sa.Table(
    "dunning_runs", metadata,
    sa.Column("id", sa.String(32), primary_key=True),              # run:YYYY-MM-DD
    sa.Column("business_date", sa.String(10), nullable=False, unique=True),  # one run per business day
    sa.Column("moment_us", Micros, nullable=False),                 # the business moment its decisions are for
    sa.Column("status", sa.String(16), nullable=False),             # running / done
    sa.Column("started_us", Micros, nullable=False),                # server clock
    sa.Column("finished_us", Micros, nullable=True),
    sa.Column("invoices", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("messages", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("tasks", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("summary", sa.Text(), nullable=False, server_default="{}"),  # counts per action, channel, ...
)

outbox_messages = sa.Table(  # the transactional outbox: written with the decisions it carries out
    "outbox_messages", metadata,
    sa.Column("id", sa.String(200), primary_key=True),             # deterministic; the delivery's idempotency key
    sa.Column("run_id", sa.String(32), nullable=True, index=True),
    sa.Column("customer_id", Id, nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),              # reminder / final_notice / payment_plan
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("tone", sa.String(16), nullable=True),
    sa.Column("decided_us", Micros, nullable=False),                # business moment of its decisions
    sa.Column("send_at_us", Micros, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="queued", index=True),
    sa.Column("status_us", Micros, nullable=False),                 # server clock of the last status change
    sa.Column("reason", sa.Text(), nullable=True),                  # why it was cancelled
    sa.Column("replaces", sa.String(200), nullable=True),           # the cancelled message it re-issues
    sa.Column("created_us", Micros, nullable=False),
    # (0006) the sender: deliveries tried, when the next may be, who holds the message until when, what rendered it
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_attempt_us", Micros, nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until_us", Micros, nullable=True),
    sa.Column("template_version", sa.String(64), nullable=True),
    sa.Column("content_digest", sa.String(64), nullable=True),     # sha256 of what left: subject, text, PDF
)

outbox_items = sa.Table(  # the invoices a message lists (a consolidated reminder lists several)
    "outbox_items", metadata,
    sa.Column("message_id", sa.String(200), primary_key=True),
    sa.Column("invoice_id", Id, primary_key=True, index=True),
    sa.Column("decision_id", sa.String(64), nullable=True),         # the decision it carries out
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("step", sa.String(32), nullable=False),
    sa.Column("amount_cents", Cents, nullable=False),               # open amount when decided
    sa.Column("collection_costs_cents", Cents, nullable=True),      # stated in a final notice
    sa.Column("lead", sa.Boolean(), nullable=False, server_default=sa.false()),  # its decision chose channel and time
)

outbox_history = sa.Table(  # (0006) every status a message went through, each attempt and its answer
    "outbox_history", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(200), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),             # a status, or ``retry`` (queued again, later)
    sa.Column("at_us", Micros, nullable=False),                     # server clock
    sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("detail", sa.Text(), nullable=True),                  # the receiver's answer, or why it stopped
)

plan_invoices = sa.Table(
    "plan_invoices", metadata,
    sa.Column("plan_id", Id, primary_key=True),
    sa.Column("invoice_id", Id, primary_key=True, index=True),
)

# -- the online store's backlog (revision 0005): customers whose online features fell behind the ledger --
store_backlog = sa.Table(
    "store_backlog", metadata,
    sa.Column("customer_id", Id, primary_key=True),
    sa.Column("marked_us", Micros, nullable=False),                 # the latest mark (a refold read after it clears it)
)
