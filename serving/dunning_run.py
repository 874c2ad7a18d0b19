"""The dunning run: every open invoice of the ledger decided for one business day, consolidated per customer.

Why: a dunning system should not have to ask invoice by invoice. The run decides
each open invoice through the very path of ``POST /v1/decisions/next-action`` by
invoice id (``serving.dunning_view.from_ledger`` builds the request,
``engine.decisions.decide_next_actions`` decides it: the same facts, rules, bandit
and answer), only in bulk: a partition of customers is read from the ledger in a
fixed number of queries, its features in one read of the store, scored and
explained in one model call each. Each decision's task is the one next-action
opens (``ledger.tasks.decision_task_row``, found on the worklist when it is open
already), so the answer the run records names its worklist task. Then
``engine.consolidation`` turns each customer's decisions into one message per
channel (five overdue invoices, one reminder), and everything a partition decided
is written together, where it was decided: the hash-chained audit records first
(one transaction, serialised with every other writer of the chain), then in one
ledger transaction the decision index, the outbox messages (``queued``), the
tasks, and what the day found of promises and payment plans.

Idempotent per business day: ids are fixed by the day and the invoice (request
``run:<day>:<invoice>``, its decision id, message ``msg:<day>:<customer>:<n>``, a
decision's task ``<type>:<invoice>:<due>``, the day's own ``task:<kind>:<key>``),
and ``dunning_runs`` keeps one row per day: a finished day answers its stored
report and writes nothing; a run that stopped half-way is resumed (a partition
adds only what is missing; its audit records, already written, are kept and the
ledger follows them).

Partitioned by customer (a customer's invoices are consolidated together), so a
partition is decided and written anywhere: in this process, or on a Dask cluster
(``workers``: a local cluster of that many processes; the result is the same).
Each worker builds its own model, policy, store, ledger and audit connections
from a picklable ``RunSpec`` and sends back only its counts; without a shared
store (Redis) a partition folds its customers' events from the ledger into a
store of its own (the features' one fold).

Example::

    report = run_day(date(2026, 3, 2), engine=engine, spec=RunSpec.from_config(config))
    report.to_dict()["summary"]["actions"]      # {'remind': 812, 'wait': 9120, ...}
"""
from __future__ import annotations

import json
import logging
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.construct import built
from domain.contract import DunningCustomer, NextActionAnswer, NextActionByInvoice, NextActionRequest, Task
from domain.errors import InvalidInput
from engine.consolidation import Bundle, Decided, consolidate
from engine.decisions import Decision, decide_next_actions
from engine.rules import CreditPolicy
from engine.ports import FeatureStore, Served
from features.online import MemoryStore
from ledger import runs
from ledger import schema as t
from ledger.book import Book, cents
from ledger.collections import open_tasks, settle_plans, settle_promises
from ledger.database import CHECKPOINT_INTERVAL_S, checkpoint_in_background, insert_or_skip
from ledger.outbox import Item, Message, queue
from ledger.tasks import decision_task_row, open_tasks_of
from ledger.views import InvoiceView, invoice_views
from serving.audit import AuditLog, Prepared
from serving.dunning_view import customer_of, from_ledger, micros
from serving.heap import settle
from serving.records import decision_entry, decision_id_for
from serving.workflow import DayState, day_state

#: The business moment of a day's run (UTC): before any country's contact hours, so a message can go out that day.
RUN_HOUR = 6
#: Open invoices per partition (customers are never split).
PARTITION_INVOICES = 2_000


def run_moment(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, RUN_HOUR, tzinfo=UTC)


def request_id(day: date, invoice_id: str) -> str:
    """The request id of the day's decision on an invoice (hashed where it would not fit the audit column)."""
    text = f"run:{day.isoformat()}:{invoice_id}"
    return text if len(text) <= 128 else decision_id_for(text).replace("dec_", f"run:{day.isoformat()}:")


@dataclass(frozen=True)
class RunSpec:
    """What a worker process needs to decide partitions on its own (picklable: it is sent to Dask workers)."""

    ledger_url: str
    audit_url: str
    policy_path: str
    model_uri: str
    tracking_uri: str
    redis_url: str | None
    experiment: str
    control_share: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RunSpec:
        return cls(config["LEDGER_URL"], config["AUDIT_URL"], config["POLICY_PATH"], config["MODEL_URI"],
                   config["MLFLOW_TRACKING_URI"], config["REDIS_URL"], config["EXPERIMENT_NAME"],
                   float(config["CONTROL_SHARE"]))


@dataclass(frozen=True)
class Deciding:
    """What partitions are decided with and written to; ``store`` None: each partition folds its customers
    from the ledger."""

    engine: Engine
    audit: AuditLog
    served: Served
    store: FeatureStore | None = None


@lru_cache(maxsize=2)
def deciding(spec: RunSpec) -> Deciding:
    """The model, policy, experiment and store of ``spec``, built once per process."""
    from engine.ports import Served
    from engine.rules import RuleEngine, load_policy
    from features.online import from_url
    from ledger.database import engine_for
    from serving.bandit import build
    from training.registry import load_model

    model, info = load_model(spec.model_uri, spec.tracking_uri)
    experiment = build({"REDIS_URL": spec.redis_url, "EXPERIMENT_NAME": spec.experiment,
                        "CONTROL_SHARE": spec.control_share}).experiment
    ctx = Deciding(engine_for(spec.ledger_url), AuditLog.from_url(spec.audit_url),
                   Served(model, info, RuleEngine(load_policy(spec.policy_path)), experiment),
                   from_url(spec.redis_url) if spec.redis_url else None)
    # a partition writes thousands of audit pages: copied back in a commit, under the audit's write lock,
    # they held up the other workers' partitions (1M invoices: 339 s of wall clock on 258 s of CPU per core)
    checkpoint_in_background([ctx.engine, ctx.audit.engine], CHECKPOINT_INTERVAL_S, threading.Event())
    return ctx


@dataclass(frozen=True)
class Partition:
    """The customers ``first`` to ``last`` (by id) and how many open invoices they have."""

    first: str
    last: str
    invoices: int


def partitions(engine: Engine, size: int = PARTITION_INVOICES) -> list[Partition]:
    """The customers with open invoices, cut into ranges of about ``size`` open invoices."""
    i = t.invoices.c
    with engine.connect() as conn:
        counts = conn.execute(sa.select(i.customer_id, sa.func.count()).where(i.status == "open")
                              .group_by(i.customer_id).order_by(i.customer_id)).all()
    out, first, n = [], None, 0
    for customer_id, count in counts:
        first = first or customer_id
        n += count
        if n >= size:
            out.append(Partition(first, customer_id, n))
            first, n = None, 0
    if first is not None:
        out.append(Partition(first, counts[-1][0], n))
    return out


@dataclass
class PartitionResult:
    """A decided partition: audit entries (payload text), the decisions as consolidated, the day's state."""

    entries: list[Prepared]
    decided: list[Decided]
    skipped: list[str]
    state: DayState
    cpu: Counter[str]           # CPU seconds per stage (this process's, or the worker's)
    seconds: float              # wall seconds deciding it


class _Stages:
    """CPU seconds per stage of a run (thread time: what a stage costs on a shared machine)."""

    def __init__(self) -> None:
        self.cpu: Counter[str] = Counter()
        self._t = time.thread_time()

    def lap(self, stage: str) -> None:
        now = time.thread_time()
        self.cpu[stage] += now - self._t
        self._t = now


def decide_partition(ctx: Deciding, day: date, part: Partition, received: datetime) -> PartitionResult:
    """Decide every open invoice of the partition's customers for ``day`` (nothing is written here)."""
    now = run_moment(day)
    now_us, received_us = micros(now), micros(received)
    policy = ctx.served.rules.policy
    i = t.invoices.c
    clock, t0 = _Stages(), time.perf_counter()
    with ctx.engine.connect() as conn:
        views = invoice_views(conn, sa.and_(i.status == "open", i.customer_id >= part.first,
                                            i.customer_id <= part.last))
        clock.lap("read")
        store = ctx.store if ctx.store is not None else _folded(conn, part)
        clock.lap("fold")
    requests, skipped = _requests(views, day, now, policy)
    clock.lap("requests")
    decisions = decide_next_actions(requests, store=store, served=ctx.served)
    clock.lap("decide")
    _name_tasks(ctx.engine, requests, decisions, now_us)
    clock.lap("tasks")
    state = day_state(views, policy, now_us, received_us)
    clock.lap("state")
    entries, decided, run = [], [], runs.run_id(day.isoformat())
    for request, decision in zip(requests, decisions):
        body = built(NextActionByInvoice, request_id=request.request_id, invoice_id=request.invoice.id, now=now)
        latency = round(sum(v for k, v in decision.record.timings.items() if not k.endswith("cpu_ms")), 3)
        entry, _ = decision_entry(body, decision, decision_id_for(request.request_id), latency, received, now,
                                  decided_on=request)
        entry.payload["run"] = run
        decided.append(decided_of(request, decision.answer, entry.decision_id))
        entries.append(Prepared.of(entry))
    clock.lap("records")
    return PartitionResult(entries, decided, skipped, state, clock.cpu, time.perf_counter() - t0)


def _requests(views: list[InvoiceView], day: date, now: datetime,
              policy: CreditPolicy) -> tuple[list[NextActionRequest], list[str]]:
    """The partition's next-action requests (``from_ledger``, each customer built once for all its invoices)
    and the invoices skipped: a customer without master data is not dunned (next-action says so, too)."""
    requests, skipped = [], []
    customers: dict[str, DunningCustomer | None] = {}
    now_us = micros(now)
    for view in views:
        customer_id = view.customer["id"]
        if customer_id not in customers:
            try:
                customers[customer_id] = customer_of(view, now_us, policy)
            except InvalidInput:
                customers[customer_id] = None
        customer = customers[customer_id]
        if customer is None:
            skipped.append(view.invoice["id"])
            continue
        requests.append(from_ledger(view, request_id(day, view.invoice["id"]), now, policy, customer=customer))
    return requests, skipped


def _name_tasks(engine: Engine, requests: list[NextActionRequest], decisions: list[Decision], now_us: int) -> None:
    """Give each decision's task its worklist id, as next-action does: the open task of its invoice and type
    (a dispute's, opened when it was booked), else its own row's (``_write`` opens it)."""
    tasks = [(r, d.answer.task) for r, d in zip(requests, decisions) if d.answer.task is not None]
    if not tasks:
        return
    with engine.connect() as conn:
        known = open_tasks_of(conn, [r.invoice.id for r, _ in tasks])
    for request, task in tasks:
        task.id = known.get((request.invoice.id, task.type)) or \
            decision_task_row(task, request.customer.id, request.invoice.id, now_us)["id"]


@dataclass
class Done:
    """What a partition did (or, dry, would do): the counts the run's report adds up."""

    invoices: int
    skipped: int
    messages: int
    tasks: int
    actions: Counter[str]
    channels: Counter[str]
    segments: Counter[str]
    assignees: Counter[str]
    promises: Counter[str]
    plans: Counter[str]
    cpu: Counter[str]
    seconds: float


def run_partition(ctx: Deciding, day: date, part: Partition, received: datetime, dry_run: bool) -> Done:
    """Decide a partition and (unless dry) write it: audit records, then one ledger transaction."""
    t0 = time.perf_counter()
    result = decide_partition(ctx, day, part, received)
    clock = _Stages()
    if dry_run:
        decided = result.decided
        messages, tasks = len(consolidate(decided)), len(_task_rows(decided, result.state, 0))
    else:
        decided = _recorded(ctx.audit, result)
        clock.lap("audit")
        messages, tasks = _write(ctx.engine, day, decided, result, micros(run_moment(day)), micros(received))
        clock.lap("ledger")
    state = result.state
    return Done(len(decided), len(result.skipped), messages, tasks, Counter(d.action for d in decided),
                Counter(d.channel or "none" for d in decided), Counter(d.segment for d in decided),
                Counter(d.assignee or "none" for d in decided), Counter(s.status for s in state.promises.values()),
                Counter(status for _, status in state.plans.values() if status is not None), result.cpu + clock.cpu,
                time.perf_counter() - t0)


def run_remote(part: Partition, spec: RunSpec, day: date, received: datetime, dry_run: bool) -> Done:
    """``run_partition`` in a worker process, on the model, policy, store and databases it opens from ``spec``
    (once per process; then the loaded heap is settled, ``serving.heap``)."""
    ctx = deciding(spec)
    settle()
    return run_partition(ctx, day, part, received, dry_run)


def _folded(conn: sa.Connection, part: Partition) -> MemoryStore:
    store = MemoryStore()
    store.apply_booked(Book.booked_events(conn, part.first, part.last))
    return store


def decided_of(request: NextActionRequest, answer: NextActionAnswer, decision_id: str) -> Decided:
    """A decision just taken as the day consolidates it: ``decided_from`` its recorded payload gives the same
    (a test holds them equal), without reading back the JSON the record was just written as."""
    invoice = request.invoice
    return Decided(invoice_id=invoice.id, customer_id=request.customer.id, decision_id=decision_id,
                   request_id=request.request_id, action=answer.action, step=answer.step, segment=answer.segment,
                   channel=answer.channel, send_at=answer.send_at, tone=answer.tone, assignee=answer.assignee,
                   task=answer.task, amount=float(invoice.amount), collection_costs=answer.collection_costs,
                   days_past_due=(request.now.date() - invoice.due_date).days,
                   reasons=tuple(r.text for r in answer.reasons[:6]))


def decided_from(payload: Mapping[str, Any]) -> Decided:
    """A recorded next-action decision as the day consolidates it (a resumed run reads the stored ones)."""
    r, on = payload["response"], payload["decided_on"]
    invoice, now = on["invoice"], datetime.fromisoformat(on["now"])
    return Decided(invoice_id=invoice["id"], customer_id=on["customer"]["id"], decision_id=r["decision_id"],
                   request_id=r["request_id"], action=r["action"], step=r["step"], segment=r["segment"],
                   channel=r["channel"], send_at=None if r["send_at"] is None else datetime.fromisoformat(r["send_at"]),
                   tone=r["tone"], assignee=r["assignee"],
                   task=None if r["task"] is None else Task.model_validate(r["task"]), amount=float(invoice["amount"]),
                   collection_costs=r["collection_costs"],
                   days_past_due=(now.date() - date.fromisoformat(invoice["due_date"])).days,
                   reasons=tuple(x["text"] for x in r["reasons"][:6]))


@dataclass
class RunReport:
    """What a run did (or, dry, would do): the day, counts, and the decisions per action, channel, segment
    and assignee."""

    run_id: str
    date: str
    dry_run: bool
    created: bool
    invoices: int = 0
    skipped: int = 0
    messages: int = 0
    tasks: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    segments: Counter[str] = field(default_factory=Counter)
    assignees: Counter[str] = field(default_factory=Counter)
    promises: Counter[str] = field(default_factory=Counter)
    plans: Counter[str] = field(default_factory=Counter)
    partitions: int = 0
    workers: int = 0
    seconds: float = 0.0
    cpu: Counter[str] = field(default_factory=Counter)
    partition_seconds: list[float] = field(default_factory=list)

    def add(self, done: Done) -> None:
        self.partitions += 1
        self.partition_seconds.append(done.seconds)
        self.invoices += done.invoices
        self.skipped += done.skipped
        self.messages += done.messages
        self.tasks += done.tasks
        for name in ("actions", "channels", "segments", "assignees", "promises", "plans", "cpu"):
            getattr(self, name).update(getattr(done, name))

    def to_dict(self) -> dict[str, Any]:
        sort = lambda c: dict(sorted(c.items()))  # noqa: E731
        return {"run_id": self.run_id, "date": self.date, "dry_run": self.dry_run, "created": self.created,
                "invoices": self.invoices, "skipped": self.skipped, "messages": self.messages, "tasks": self.tasks,
                "summary": {"actions": sort(self.actions), "channels": sort(self.channels),
                            "segments": sort(self.segments), "assignees": sort(self.assignees)},
                "promises": sort(self.promises), "plans": sort(self.plans), "partitions": self.partitions,
                "workers": self.workers, "seconds": self.seconds,
                "partition_p50_s": round(statistics.median(self.partition_seconds), 3) if self.partition_seconds
                else 0.0, "cpu_seconds": {k: round(v, 3) for k, v in sorted(self.cpu.items())}}


def run_day(day: date, *, engine: Engine, ctx: Deciding | None = None, spec: RunSpec | None = None,
            dry_run: bool = False, workers: int = 0, partition_size: int = PARTITION_INVOICES) -> RunReport:
    """Run the day on ``engine``'s ledger: in this process on ``ctx`` (or on ``spec``'s), or on a local Dask
    cluster of ``workers`` processes (needs ``spec``). A day already run answers its stored report
    (``created`` false)."""
    t0 = time.perf_counter()
    business_date, received = day.isoformat(), datetime.now(UTC)
    report = RunReport(runs.run_id(business_date), business_date, dry_run, created=not dry_run, workers=workers)
    if not dry_run:
        with engine.begin() as conn:
            if runs.begin(conn, business_date, micros(run_moment(day)), micros(received)) == "done":
                stored = runs.find(conn, business_date)
                assert stored is not None
                return _stored(stored["summary"])
    parts = partitions(engine, partition_size)
    if workers:
        if spec is None:
            raise InvalidInput("a run on Dask workers needs a RunSpec (each worker opens model, policy and "
                               "databases)", field="workers")
        done: Iterator[Done] = _on_dask(spec, day, parts, received, workers, dry_run)
    else:
        if ctx is None and spec is None:
            raise InvalidInput("give the run what it decides with (ctx or spec)", field="ctx")
        here = ctx if ctx is not None else deciding(spec)
        done = (run_partition(here, day, part, received, dry_run) for part in parts)
    for partition in done:
        report.add(partition)
    report.seconds = round(time.perf_counter() - t0, 3)
    if not dry_run:
        with engine.begin() as conn:
            runs.finish(conn, business_date, {**report.to_dict(), "created": True}, micros(datetime.now(UTC)))
    return report


def _stored(stored: Mapping[str, Any]) -> RunReport:
    """A finished day's report as stored, answered again (``created`` false: nothing new was written)."""
    counts = {name: Counter(stored["summary"][name]) for name in ("actions", "channels", "segments", "assignees")}
    return RunReport(**{k: stored[k] for k in ("run_id", "date", "invoices", "skipped", "messages", "tasks",
                                                "partitions", "workers", "seconds")},
                     dry_run=False, created=False, promises=Counter(stored["promises"]),
                     plans=Counter(stored["plans"]), cpu=Counter(stored["cpu_seconds"]),
                     partition_seconds=[stored["partition_p50_s"]] if stored["partitions"] else [], **counts)


def _on_dask(spec: RunSpec, day: date, parts: list[Partition], received: datetime, workers: int,
             dry_run: bool) -> Iterator[Done]:
    """Partitions decided and written on a local Dask cluster; their counts as they finish."""
    from dask.distributed import Client, LocalCluster, as_completed

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        futures = client.map(run_remote, parts, spec=spec, day=day, received=received, dry_run=dry_run, pure=False)
        for future in as_completed(futures):
            yield future.result()
            future.release()


def _recorded(audit: AuditLog, result: PartitionResult) -> list[Decided]:
    """Append the partition's audit records; a decision recorded before (a resumed run) is taken as recorded."""
    decided = {d.request_id: d for d in result.decided}
    for record in audit.append_many(result.entries):
        decided[record.request_id] = decided_from(record.payload)
    return list(decided.values())


def _write(engine: Engine, day: date, decided: list[Decided], result: PartitionResult, now_us: int,
           wall_us: int) -> tuple[int, int]:
    """One ledger transaction: the decision index, the outbox, the tasks, the promises and plans found.
    Returns the messages and tasks that are new."""
    bundles, state = consolidate(decided), result.state
    rid = runs.run_id(day.isoformat())
    with engine.begin() as conn:
        insert_or_skip(conn, t.decisions, [
            {"decision_id": d.decision_id, "request_id": d.request_id, "kind": "next_action",
             "customer_id": d.customer_id, "invoice_id": d.invoice_id, "outcome": d.action, "at_us": now_us,
             "received_us": wall_us, "summary": _summary(d)} for d in decided])
        messages = queue(conn, [_message(rid, day, b, n, now_us) for n, b in _numbered(bundles)], wall_us)
        new = open_tasks(conn, _task_rows(decided, state, now_us), once_per_invoice=True)
        settle_promises(conn, state.promises, wall_us)
        settle_plans(conn, state.plans, wall_us)
    return messages, new


def _summary(d: Decided) -> str:
    return json.dumps({"reasons": list(d.reasons)}, separators=(",", ":"))


def _numbered(bundles: list[Bundle]) -> Iterator[tuple[int, Bundle]]:
    """Each bundle with its number among its customer's (the message id's last part)."""
    seen: Counter[str] = Counter()
    for b in bundles:
        yield seen[b.customer_id], b
        seen[b.customer_id] += 1


def _message(rid: str, day: date, b: Bundle, n: int, now_us: int) -> Message:
    return Message(f"msg:{day.isoformat()}:{b.customer_id}:{n}", rid, b.customer_id, b.kind, b.channel, b.tone,
                   now_us, micros(b.send_at),
                   tuple(Item(d.invoice_id, d.decision_id, d.action, d.step, cents(d.amount),
                              None if d.collection_costs is None else cents(d.collection_costs), d is b.lead)
                         for d in b.decided))


def _task_rows(decided: list[Decided], state: DayState, now_us: int) -> list[dict[str, Any]]:
    """The day's tasks: the decisions' (each skipped while its invoice has an open task of its type, the id its
    answer recorded) and its state's (broken promises, disputes past their SLA)."""
    return [*(decision_task_row(d.task, d.customer_id, d.invoice_id, now_us) for d in decided if d.task is not None),
            *state.tasks]
