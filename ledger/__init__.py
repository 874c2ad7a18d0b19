"""The receivables ledger: Kredo's system of record (customers, invoices, payments, disputes, contacts...).

Why: credit management follows the whole process of every customer; the
integrator must not keep the book on its side. Events are written here first
(one transaction per batch, idempotent by ``event_id``); the online features and
the bandit's rewards follow from what the ledger says.

This package sits between ``features`` and ``domain``: the feature store refolds
a customer from it, and it imports nothing above it. Modules that talk to a
database import SQLAlchemy themselves; importing the package does not.
"""
