"""Reward attribution: a reminder earns 1 if its invoice is paid within 7 days of the *decision*, else 0.

The window opens when the reminder was decided, not when it was sent: a send
slot days ahead delays the cash, and a reward counted from the send time would
cost the bandit nothing for it (the finding: 25 of 80 reminders planned more than
48 h ahead). A payment before the reminder went out still did not follow it.

Why: the reward is delayed and arrives as events. A reminder waits as the
invoice's *pending* reminder; a ``payment_received`` that settles the invoice
pays the pending reminder that preceded it (reward 1 within the window);
a reminder whose window passes unpaid, or that is followed by the next
reminder, earns 0. All bookkeeping goes through the injected ``BanditState``,
so every worker sees the same pending reminders and:

* recording the same reminder twice changes nothing (``put_pending`` remembers
  reminder ids);
* a payment event delivered twice pays once (``take_pending`` removes atomically);
* the policy update is keyed by the reminder id, so a reward is learned once
  even if two workers race to settle it;
* per experiment group, the number of rewarded reminders and their sum are
  kept in hash ``exp:{experiment}:{group}`` (fields ``n``, ``s``): the uplift report.

Example::

    attr = Attribution(state=state, policies={"thompson": ts, "static": FixedPreference()})
    attr.record_reminder("REM-1", "INV-1", sent_at=t0, context=ctx, choice=choice, decided_at=t0 - 3_600)
    attr.payment_received("EV-9", "INV-1", paid_at=t0 + 3 * 86_400)   # -> Settled(reward=1.0)
    attr.expire(now)                                                  # unpaid windows -> reward 0
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.bandits.arms import Arm
from engine.bandits.context import Context
from engine.bandits.policies import Choice, LearningPolicy
from engine.bandits.state import BanditState
from domain.errors import InvalidInput, NotFound

WINDOW_S = 7 * 86_400


@dataclass(frozen=True, slots=True)
class Settled:
    """A reminder whose reward is now known."""

    reminder_id: str
    invoice_id: str
    arm: Arm
    policy_name: str
    reward: float
    learned: bool


def _seconds(t: float | datetime, field: str) -> float:
    """Epoch seconds of a timestamp (naive datetimes are taken as UTC)."""
    if isinstance(t, datetime):
        return t.timestamp() if t.tzinfo else (t - datetime(1970, 1, 1)).total_seconds()
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        return float(t)
    raise InvalidInput(f"{field} must be a datetime or epoch seconds", field=field)


def _text(value: str, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    return value


@dataclass(frozen=True)
class Attribution:
    """Pending-reminder bookkeeping over ``state`` for the named ``policies``."""

    state: BanditState
    policies: Mapping[str, LearningPolicy]
    window_s: float = WINDOW_S

    def record_reminder(self, reminder_id: str, invoice_id: str, sent_at: float | datetime,
                        context: Context, choice: Choice, decided_at: float | datetime | None = None) -> list[Settled]:
        """Log a sent reminder as the invoice's pending one; its window runs from ``decided_at``
        (the decision that chose its arm; default: ``sent_at``) for ``window_s``.

        Returns the reminder it displaced (settled with reward 0: the next
        reminder was needed), if any. Replaying the same reminder id is a no-op.
        """
        _text(reminder_id, "reminder_id")
        _text(invoice_id, "invoice_id")
        if not isinstance(choice, Choice):
            raise InvalidInput("choice must be a Choice", field="choice")
        if choice.policy_name not in self.policies:
            raise NotFound(f"no policy named {choice.policy_name!r}", field="choice.policy_name")
        if not isinstance(context, Context):
            raise InvalidInput("context must be a Context", field="context")
        sent = _seconds(sent_at, "sent_at")
        decided = sent if decided_at is None else min(_seconds(decided_at, "decided_at"), sent)
        record = {"reminder_id": reminder_id, "invoice_id": invoice_id, "sent_at": sent, "decided_at": decided,
                  "context": context.to_dict(), **choice.to_dict()}
        stored, displaced = self.state.put_pending(invoice_id, record, decided + self.window_s)
        if not stored or displaced is None:
            return []
        return [self._settle(displaced, 0.0)]

    def payment_received(self, event_id: str, invoice_id: str, paid_at: float | datetime,
                         invoice_settled: bool = True) -> Settled | None:
        """Pay the invoice's pending reminder: 1 if paid within its window (from the decision), 0 if later.

        A partial payment (``invoice_settled=False``) pays nothing yet; a payment
        before the pending reminder was sent did not follow it and is ignored.
        ``event_id`` names the event in errors and logs; idempotence comes from
        the atomic take.
        """
        _text(event_id, "event_id")
        _text(invoice_id, "invoice_id")
        paid = _seconds(paid_at, "paid_at")
        if not invoice_settled:
            return None
        pending = self.state.get_pending(invoice_id)
        if pending is None or paid < pending["sent_at"]:
            return None
        taken = self.state.take_pending(invoice_id, pending["reminder_id"])
        if taken is None:
            return None
        start = taken.get("decided_at", taken["sent_at"])
        return self._settle(taken, 1.0 if paid <= start + self.window_s else 0.0)

    def awaiting(self, invoice_ids: Sequence[str]) -> set[str]:
        """The invoices among ``invoice_ids`` with a reminder waiting for its reward: a batch of payments
        asks once, and only those pay anything."""
        return self.state.awaiting(invoice_ids)

    def expire(self, now: float | datetime, limit: int = 1000) -> list[Settled]:
        """Settle with reward 0 every pending reminder whose window ended unpaid by ``now``."""
        return [self._settle(r, 0.0) for r in self.state.take_expired(_seconds(now, "now"), limit)]

    def group_stats(self, experiment: str, group: str) -> dict[str, float]:
        """Rewarded reminders ``n`` and paid ones ``s`` of one experiment group."""
        return self.state.read(f"exp:{experiment}:{group}")

    def _settle(self, record: Mapping, reward: float) -> Settled:
        arm = Arm.parse(record["arm"])
        policy = self.policies.get(record["policy_name"])
        if policy is None:
            raise NotFound(f"no policy named {record['policy_name']!r}", field="policy_name")
        learned = policy.update(Context.from_dict(record["context"]), arm, reward,
                                event_id=record["reminder_id"])
        if record.get("experiment"):
            self.state.increment(f"exp:{record['experiment']}:{record['group']}",
                                 {"n": 1.0, "s": reward}, once=f"exp:{record['reminder_id']}")
        return Settled(record["reminder_id"], record["invoice_id"], arm, record["policy_name"],
                       reward, learned)
