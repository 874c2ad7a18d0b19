"""Proof that the workflow collects cash: a closed 90-day loop on the simulator, Kredo against the static ladder.

Issue 13, item 8 (the issue's ``bench/collections.py``: a script of that name in ``bench/`` would shadow the
standard library's ``collections`` for every bench run as a script). One simulated ledger (``--customers`` x ``--months``, ``--seed``); the last ``--days`` of its
period are replayed twice on the same customers with the same random numbers
(``training.simulation.closed_loop``):

* ``kredo``: Kredo's own workflow through its own API, as a company runs it: the ledger of the period before
  the window imported, a champion trained on it; then every day ``POST /v1/dunning/runs`` (segments, ladders,
  consolidated messages, the bandit's channel and send time, tasks), each queued message delivered to the
  simulated customer at its send time unless the ledger cancelled it first (and booked back as
  ``reminder_sent``, which teaches the bandit), each open ``call`` task worked by a collector on business days
  with the outcome posted to ``POST /v1/tasks/{id}/outcome``, each ``escalation`` handed to the agency (a firm
  letter), and whatever the customers do (payments, disputes, write-offs) posted to ``POST /v1/events``;
* ``static``: the static ladder an ERP runs (reminders on days 1 and 14 by email, the final notice on day 28
  and the hand-over on day 45 by letter, 10:00 local, business days, one message per invoice, no calls);
* ``none``: nobody is contacted (the floor).

Figures per arm (``engine.receivables``): DSO by countback at the window's end, ADD, CEI over the window, share
of the window's due invoices paid within terms, cash collected, contacts (and per paid invoice), letters,
calls, collection costs charged. Then Kredo's gain over the static ladder.

Usage: python bench/closed_loop.py [--customers 1500] [--months 12] [--days 90] [--seed 20261201] [--json]
       [--plot docs/collections-loop.svg]
"""
from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import parser, report  # noqa: E402
from ledger import schema as t  # noqa: E402
from ledger.book import Book  # noqa: E402
from ledger.database import open_ledger  # noqa: E402
from ledger.events import to_us  # noqa: E402
from ledger.imports import import_ledger  # noqa: E402
from ledger.outbox import contact_id  # noqa: E402
from serving.bootstrap import ensure_champion  # noqa: E402
from serving.schemas import MAX_EVENTS  # noqa: E402
from tests.support.api import make_app, routed  # noqa: E402
from training.pipeline import TrainConfig  # noqa: E402
from training.simulation import SimulationConfig, simulate_with_truth  # noqa: E402
from training.simulation.closed_loop import World, history, static_ladder, window_start  # noqa: E402

_EPOCH = datetime(1970, 1, 1)
CALL_HOUR_UTC = 10  # collectors call late morning (11:00 in the Netherlands in winter)


def _naive(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


class KredoLoop:
    """Kredo's side of the loop: the app on the window's history, and what a company's people and sender do."""

    def __init__(self, hist, work: Path, seed: int) -> None:  # noqa: ANN001
        tracking = f"sqlite:///{work}/mlflow.db"
        champion = ensure_champion(hist, tracking, TrainConfig(n_estimators=60, max_depth=4, seed=seed))
        db = work / "history.db"
        book = Book(open_ledger(f"sqlite:///{db}"))
        import_ledger(book, hist)
        book.engine.dispose()
        self.app = make_app({"uri": champion["uri"], "tracking": tracking}, work, history=db)
        self.api = routed(self.app)
        self.engine = self.app.extensions["kredo.runtime"].book.engine
        self.refused: list[dict] = []
        self.escalated: set[str] = set()
        self.delivered = 0
        self.moot = 0  # deliveries that found their invoice already closed: the ledger should have cancelled them

    def close(self) -> None:
        self.app.extensions["kredo.runtime"].stop()

    def book(self, events: list[dict]) -> None:
        for start in range(0, len(events), MAX_EVENTS):
            answer = self.api.post("/v1/events", json={"events": events[start:start + MAX_EVENTS]})
            assert answer.status_code == 200, answer.get_json()
            self.refused += [r for r in answer.get_json()["results"] if r["status"] == "refused"]

    def day(self, world: World, day: date) -> None:
        midnight = datetime(day.year, day.month, day.day)
        self.book(world.events_until(midnight + timedelta(hours=6)))
        answer = self.api.post("/v1/dunning/runs", json={"date": day.isoformat()})
        assert answer.status_code in (200, 201), answer.get_json()
        for message_id, send_at_us in self._due(midnight + timedelta(days=1)):
            self.book(world.events_until(_naive(send_at_us)))
            self._deliver(world, message_id, send_at_us)
        if day.weekday() < 5:
            at = midnight + timedelta(hours=CALL_HOUR_UTC)
            self.book(world.events_until(at))
            for task in self._tasks("call", day):
                self._call(world, task, at)
            for task in self._tasks("escalation", day):
                if task["invoice_id"] and task["id"] not in self.escalated:
                    self.escalated.add(task["id"])
                    world.contact(task["invoice_id"], at, "letter", "firm", "escalate")
        self.book(world.events_until(midnight + timedelta(days=1)))

    def _due(self, before: datetime) -> list[tuple[str, int]]:
        m = t.outbox_messages
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(m.c.id, m.c.send_at_us).where(
                m.c.status == "queued", m.c.send_at_us < to_us(before)).order_by(m.c.send_at_us, m.c.id))
            return [(r.id, r.send_at_us) for r in rows]

    def _deliver(self, world: World, message_id: str, send_at_us: int) -> None:
        """What the sender does with a message still queued at its send time: claim it, hand it to the
        customer, book the contact (the lead invoice's with the decision that chose the arm)."""
        m, items = t.outbox_messages, t.outbox_items
        with self.engine.begin() as conn:
            claimed = conn.execute(sa.update(m).where(m.c.id == message_id, m.c.status == "queued")
                                   .values(status="sent", status_us=send_at_us)).rowcount
            if not claimed:
                return
            message = conn.execute(sa.select(m).where(m.c.id == message_id)).one()
            lines = conn.execute(sa.select(items).where(items.c.message_id == message_id)).all()
        at = _naive(send_at_us)
        events = []
        self.delivered += 1
        for line in lines:
            if world.contact(line.invoice_id, at, message.channel, message.tone or "neutral", message.kind) is None:
                self.moot += 1
            events.append({"event_id": contact_id(message_id, line.invoice_id), "type": "reminder_sent",
                           "customer_id": message.customer_id, "invoice_id": line.invoice_id, "at": at.isoformat(),
                           **({"decision_id": line.decision_id} if line.lead and line.decision_id else {})})
        self.book(events)

    def _tasks(self, kind: str, day: date) -> list[dict]:
        out, cursor = [], None
        while True:
            query = f"/v1/tasks?type={kind}&status=open&due={day.isoformat()}&limit=500"
            answer = self.api.get(query + (f"&cursor={cursor}" if cursor else "")).get_json()
            out += answer["tasks"]
            cursor = answer["next_cursor"]
            if not cursor:
                return out

    def _call(self, world: World, task: dict, at: datetime) -> None:
        if not task["invoice_id"] or task["invoice_id"] not in world.index:
            return
        result = world.call(task["invoice_id"], at)
        body: dict[str, Any] = {"outcome_id": f"call-{task['id']}-{at:%Y%m%d}", "outcome": result.outcome,
                                "at": at.replace(tzinfo=UTC).isoformat(), "by": "collector"}
        if result.promised is not None:
            i = world.index[task["invoice_id"]]
            body["promise"] = {"date": max(result.promised, at.date()).isoformat(),
                               "amount": world.open_cents[i] / 100}
        answer = self.api.post(f"/v1/tasks/{task['id']}/outcome", json=body)
        assert answer.status_code in (200, 201, 409), answer.get_json()


def run(customers: int, months: int, days: int, seed: int, arms: tuple[str, ...] = ("none", "static", "kredo"),
        ) -> dict[str, Any]:
    ledger, truth = simulate_with_truth(SimulationConfig(customers=customers, months=months, seed=seed,
                                                         start="2024-06-01"))
    start = window_start(ledger, days)
    figures: dict[str, Any] = {"customers": customers, "months": months, "window_days": days, "seed": seed,
                               "window_start": start.date().isoformat()}
    for arm in arms:
        world = World(ledger, truth, start, days, seed)
        t0 = time.perf_counter()
        if arm == "kredo":
            with tempfile.TemporaryDirectory(prefix="kredo-loop-") as work:
                loop = KredoLoop(history(ledger, start), Path(work), seed)
                try:
                    for day in world.days():
                        loop.day(world, day)
                finally:
                    loop.close()
                refused = Counter(f"{r['code']}:{r['field']}" for r in loop.refused)
                figures.update(kredo_refused_events=len(loop.refused), kredo_refused=dict(refused),
                               kredo_messages_delivered=loop.delivered,
                               kredo_items_delivered_after_close=loop.moot)
        else:
            for day in world.days():
                if arm == "static":
                    for contact in static_ladder(world, day):
                        world.contact(*contact)
            world.events_until(world.end)
        figures[arm] = world.figures()
        figures[f"{arm}_seconds"] = round(time.perf_counter() - t0, 1)
    if "kredo" in arms and "static" in arms:
        k, s = figures["kredo"], figures["static"]
        figures["dso_gain_days"] = round(s["dso"] - k["dso"], 2)
        figures["cei_gain_points"] = round(k["cei"] - s["cei"], 2)
        figures["cash_gain_eur"] = round(k["cash_collected_eur"] - s["cash_collected_eur"], 2)
    return figures


def plot(figures: dict[str, Any], path: Path) -> None:
    """Bars of the headline figures per arm, as SVG (no fonts or network needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [a for a in ("none", "static", "kredo") if a in figures]
    shown = (("dso", "DSO (days)"), ("cei", "CEI (%)"), ("paid_within_terms", "paid within terms"),
             ("contacts_per_paid_invoice", "contacts per paid invoice"))
    fig, axes = plt.subplots(1, len(shown), figsize=(12, 3))
    for ax, (key, title) in zip(axes, shown):
        ax.bar(arms, [figures[a][key] for a in arms], color=["#999", "#c84", "#27a"][:len(arms)])
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"closed loop, {figures['window_days']} days, {figures['customers']} customers, "
                 f"seed {figures['seed']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_500)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--seed", type=int, default=20261201)
    p.add_argument("--arms", default="none,static,kredo")
    p.add_argument("--plot", type=Path, default=None, help="write the figures as an SVG bar chart here")
    args = p.parse_args()
    figures = run(args.customers, args.months, args.days, args.seed, tuple(args.arms.split(",")))
    if args.plot:
        plot(figures, args.plot)
    flat = {f"{k}.{m}" if isinstance(v, dict) else k: (v[m] if isinstance(v, dict) else v)
            for k, v in figures.items() for m in (v if isinstance(v, dict) else [None])}
    report("collections: a closed 90-day loop, Kredo against the static ladder", flat, args.json)


if __name__ == "__main__":
    main()
