"""The sender's last look before a message leaves, and when a failed delivery is tried again.

Why: a message is queued hours before it is sent, and in between the customer may
pay, dispute, withdraw a consent, or the clock may run into the quiet hours. The
sender re-reads the facts right before it sends and asks ``gate``: send now, hold
(until the contact window opens), or stop (and why). Pure over those facts, so every
rule is a plain test; the sender (``serving.delivery.sender``) only reads the facts
from the ledger and carries the verdict out.

A delivery that fails for a reason that may pass (a timeout, a 4xx/5xx the receiver
calls temporary, a 429) is tried again after an exponential backoff with a jitter
fixed by the message id (two senders agree on it, and a test can name it), at least
the receiver's ``Retry-After``; after ``max_attempts`` the message is dead (status
``failed``: a person looks at it).

Example::

    verdict = gate(Facts("email", consent=True, consent_required=False, address="a@b.nl",
                         invoices=(InvoiceState("INV-1", "open", disputed=False),), window=window), now)
    verdict.action                                   # 'send'
    retry_at(Backoff(), "msg:1", attempt=2, now=now) # now + 120 s (+ up to 10 % jitter)
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

Action = Literal["send", "hold", "stop"]


class Window(Protocol):
    """The customer's contact hours (``engine.rules.engine.SendWindow`` is one)."""

    def allows(self, when: datetime, business_days_only: bool = False) -> bool: ...

    def earliest(self, now: datetime, business_days_only: bool = False) -> datetime: ...


@dataclass(frozen=True)
class InvoiceState:
    """One invoice of the message as the ledger has it now."""

    invoice_id: str
    status: str              # open / paid / written_off (or missing: the ledger lost it)
    disputed: bool
    committed: bool = False  # under a promise or payment plan made since the message was decided


@dataclass(frozen=True)
class Facts:
    """What the sender knows at the last moment."""

    channel: str
    consent: bool              # the customer's recorded consent for the channel
    consent_required: bool     # the policy's ``consent_required`` lists the channel
    address: str | None        # where the channel delivers (e-mail, phone, postal address)
    invoices: tuple[InvoiceState, ...]
    window: Window
    legal_letter: bool = False  # a final notice: business days only
    blocked: bool = False       # the customer is blocked: a person decides


@dataclass(frozen=True)
class Verdict:
    action: Action
    code: str                       # why, as a stable code (``ok``, ``invoice_closed``, ``consent_withdrawn``, ...)
    detail: str = ""
    until: datetime | None = None   # hold: when to look again
    moot: tuple[str, ...] = ()      # stop with ``invoice_closed``: the invoices that made it moot
    dead: bool = False              # stop as a dead letter (``failed``) rather than a cancellation


def gate(facts: Facts, now: datetime) -> Verdict:
    """Send now, hold, or stop: in this order, the invoices, the consent, the address, the quiet hours."""
    moot = tuple(i.invoice_id for i in facts.invoices if i.status != "open" or i.disputed or i.committed)
    if moot:
        return Verdict("stop", "invoice_closed", f"no longer to be reminded: {', '.join(moot)}", moot=moot)
    if facts.consent_required and not facts.consent:
        return Verdict("stop", "consent_withdrawn", f"no recorded consent for {facts.channel} any more")
    if facts.blocked:
        return Verdict("stop", "customer_blocked", "the customer is blocked: a person decides")
    if not facts.address:
        return Verdict("stop", "no_address", f"the ledger has no {facts.channel} address for the customer", dead=True)
    if not facts.window.allows(now, facts.legal_letter):
        until = facts.window.earliest(now, facts.legal_letter)
        return Verdict("hold", "quiet_hours", f"outside the contact hours until {until.isoformat()}", until=until)
    return Verdict("send", "ok")


@dataclass(frozen=True)
class Backoff:
    """Retries: ``base_s`` doubled per attempt up to ``cap_s``, plus up to ``jitter`` of it; dead after
    ``max_attempts`` deliveries."""

    base_s: float = 60.0
    cap_s: float = 6 * 3600.0
    max_attempts: int = 8
    jitter: float = 0.1


def retry_at(backoff: Backoff, message_id: str, attempt: int, now: datetime,
             retry_after_s: float | None = None) -> datetime | None:
    """When to try ``message_id`` again after its ``attempt``-th delivery failed (1 = the first), or None: dead."""
    if attempt >= backoff.max_attempts:
        return None
    delay = min(backoff.cap_s, backoff.base_s * 2 ** (attempt - 1))
    spread = int.from_bytes(hashlib.sha256(f"{message_id}:{attempt}".encode()).digest()[:4], "big") / 2 ** 32
    delay += delay * backoff.jitter * spread
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, backoff.cap_s))
    return now + timedelta(seconds=delay)
