"""What a decision runs on: the served model, the policy, the stores, and their hot swap.

Why: a request must see one consistent model and one consistent policy from
start to end, even while an analyst promotes a new champion. Each request
takes one :class:`Served` snapshot (an immutable value read by one attribute
access); a reload builds the new model or policy completely off to the side
and then swaps one reference, so no request is dropped or sees half a swap.
A model or policy that fails to load is refused (``ModelError`` /
``PolicyError``) and the old one keeps serving.

The alias is checked every ``RELOAD_INTERVAL_S`` by a daemon thread in each
worker and on ``POST /v1/admin/reload`` (which acts at once in the worker that
receives it; the other workers follow within one interval). The checks run at
a fixed rate (an interval is counted from the previous check's start, not its
end), and nothing a reload meets ends the thread: a model that raises anything
while loading or scoring its probe rows is refused like a corrupt one (its
version is remembered, so a bad alias is not downloaded again every interval),
and an error outside the model and the policy is logged and counted
(``kredo_reloads_total{part="loop"}``). So every worker serves the alias's
version within one interval of the alias moving (issue 15, F5).

The online store's state (ready, warming, unavailable) is the keeper's
(``serving.keeper``); ``readiness`` reads it and probes the audit log and the
ledger with a bounded lock wait, so ``/readyz`` never blocks on a lock.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, request

from domain.calendar import PublicHolidays
from domain.errors import KredoError, ModelError, PolicyError
from engine.ports import ModelInfo, Served
from features.online import OnlineStore
from ledger.book import Book
from ledger.database import checkpoint_in_background, probe
from ledger.schema import store_backlog
from serving import bandit
from serving.audit import AuditLog
from serving.bandit import Bandit
from serving.decision_index import IndexWriter, recover
from serving.keeper import StoreKeeper
from serving.metrics import Metrics, get_metrics

log = logging.getLogger(__name__)


class NotReady(KredoError):
    code = "not_ready"
    title = "Service not ready"
    status = 503


@dataclass(frozen=True)
class ReloadReport:
    """What one reload did to the model and the policy; a refusal keeps its error value (code and detail)."""

    model: str
    policy: str
    model_version: str | None = None
    policy_version: str | None = None
    refused: dict[str, KredoError] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "policy": self.policy}
        if self.model_version is not None:
            out["model_version"] = self.model_version
        if self.policy_version is not None:
            out["policy_version"] = self.policy_version
        return out


@dataclass
class Runtime:
    """The app's long-lived parts (one per worker); see the module docstring."""

    config: dict[str, Any]
    audit: AuditLog
    book: Book
    store: OnlineStore
    bandit: Bandit
    keeper: StoreKeeper
    index: IndexWriter
    policy: Any = None
    served: Served | None = None
    _model: tuple[Any, ModelInfo] | None = None
    _refused: tuple[str, KredoError] | None = None  # the alias version last refused, and why
    errors: dict[str, str] = field(default_factory=dict)
    calendar: PublicHolidays = field(default_factory=PublicHolidays)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def snapshot(self) -> Served:
        served = self.served
        if served is None:
            why = "; ".join(f"{k}: {v}" for k, v in self.errors.items()) or "starting"
            raise NotReady(f"no model or policy loaded yet: {why}")
        return served

    def reload(self, force: bool = False) -> ReloadReport:
        """Check the model alias and the policy file; swap what changed, refuse what is broken."""
        refused: dict[str, KredoError] = {}
        with self._lock:
            model, policy = self._reload_model(force, refused), self._reload_policy(refused)
            if self._model is not None and self.policy is not None:
                self.served = Served(self._model[0], self._model[1], self.policy.current,
                                     self.bandit.experiment, self.calendar)
        return ReloadReport(model, policy, None if self._model is None else self._model[1].version,
                            None if self.policy is None else self.policy.current.policy.version, refused)

    def _reload_model(self, force: bool, refused: dict[str, KredoError]) -> str:
        from training.registry import load_model

        uri, tracking = self.config["MODEL_URI"], self.config["MLFLOW_TRACKING_URI"]
        version = None
        try:
            version = alias_version(uri, tracking)
            if not force and self._model is not None and version in (None, self._model[1].version):
                self.errors.pop("model", None)
                return "unchanged"
            if not force and self._refused is not None and version is not None and version == self._refused[0]:
                refused["model"] = self._refused[1]
                return "refused"
            model, info = load_model(uri, tracking)
            single_threaded(model)
        except Exception as exc:  # noqa: BLE001 - whatever a model raises, it is refused, never the thread's end
            error = exc if isinstance(exc, KredoError) else ModelError(
                f"{uri}: loading failed ({type(exc).__name__})", field="model")
            if not isinstance(exc, KredoError):
                log.exception("model %s (version %s) refused", uri, version)
            self.errors["model"] = str(error)
            self._metrics.reloads.labels("model", "refused").inc()
            self._refused = None if version is None else (version, error)
            refused["model"] = error
            return "refused"
        self._model, self._refused = (model, info), None
        self.errors.pop("model", None)
        self._metrics.reloads.labels("model", "loaded").inc()
        self._metrics.model_loaded(info.name, info.version, info.alias)
        return "loaded"

    def _reload_policy(self, refused: dict[str, KredoError]) -> str:
        from engine.rules import PolicyHolder

        try:
            if self.policy is None:
                self.policy = PolicyHolder(self.config["POLICY_PATH"])
                result = "loaded"
            else:
                outcome = self.policy.reload()
                if not outcome.ok:
                    raise PolicyError("; ".join(e.get("message", str(e)) for e in outcome.errors) or "refused",
                                      field="policy", extra={"findings": outcome.errors})
                result = "loaded" if outcome.changed else "unchanged"
        except Exception as exc:  # noqa: BLE001 - as for the model: refused, never the thread's end
            error = exc if isinstance(exc, KredoError) else PolicyError(
                f"the policy could not be loaded ({type(exc).__name__})", field="policy")
            if not isinstance(exc, KredoError):
                log.exception("policy %s refused", self.config["POLICY_PATH"])
            self.errors["policy"] = str(error)
            self._metrics.reloads.labels("policy", "refused").inc()
            refused["policy"] = error
            return "refused"
        self.errors.pop("policy", None)
        if result == "loaded":
            policy = self.policy.current.policy
            self._metrics.reloads.labels("policy", "loaded").inc()
            self._metrics.policy_loaded(policy.version, policy.content_hash)
        return result

    @property
    def _metrics(self) -> Metrics:
        return self.config["_metrics"]

    def watch(self, interval_s: float) -> None:
        """Re-check the alias and the policy every ``interval_s`` seconds (at a fixed rate) until ``stop``;
        no exception ends the loop."""
        due = time.monotonic() + interval_s
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due = max(due + interval_s, time.monotonic())
            try:
                self.reload()
            except Exception:  # noqa: BLE001 - the next interval tries again
                log.exception("reload check failed")
                self._metrics.reloads.labels("loop", "error").inc()

    def start_background(self) -> None:
        """A serving worker's threads (``serving.server``): one that keeps the SQLite write-ahead logs of the audit
        log and the ledger short (``ledger.database.checkpoint_in_background`` every ``CHECKPOINT_INTERVAL_S``),
        so that no request's commit copies them back, and the decision index's writer
        (``serving.decision_index``). A process that does not serve keeps SQLite's checkpoints in its commits
        and writes each index row at once."""
        checkpoint_in_background([self.audit.engine, self.book.engine], float(self.config["CHECKPOINT_INTERVAL_S"]),
                                 self._stop)
        self.index.start()

    def stop(self) -> None:
        self._stop.set()
        self.keeper.stop()
        self.index.close()

    def readiness(self) -> dict[str, Any]:
        """What ``/readyz`` says; no check waits for a lock longer than ``ledger.database.PROBE_TIMEOUT_S``."""
        checks = {"model": self._model is not None, "policy": self.policy is not None,
                  "audit": _ok(self.audit.probe),
                  "ledger": _ok(lambda: probe(self.book.engine, store_backlog.name)), "store": self.keeper.ready}
        errors = dict(self.errors)
        if not self.keeper.ready:
            errors["store"] = self.keeper.detail
        return {"ready": all(checks.values()), "checks": checks, "errors": errors}


def single_threaded(model: Any) -> None:  # noqa: ANN401
    """One row per request: OpenMP threads only add hand-off and spin-wait cost, and gunicorn
    already runs one worker per core, so every booster predicts (and explains) on one thread."""
    for booster in model.boosters_.values():
        if booster is not None:
            booster.set_param({"nthread": 1})


def alias_version(uri: str, tracking_uri: str) -> str | None:
    """The version an alias URI points at now (one registry query), or None for a version URI."""
    from training.registry import client

    name, sep, alias = uri.removeprefix("models:/").partition("@")
    if not sep:
        return None
    try:
        return str(client(tracking_uri).get_model_version_by_alias(name, alias).version)
    except Exception as exc:  # noqa: BLE001 - an unreachable registry is reported like a bad model
        raise ModelError(f"{uri}: cannot resolve the alias ({type(exc).__name__}: {exc})", field="uri") from None


def _ok(check: Any) -> bool:  # noqa: ANN401
    try:
        check()
    except Exception:  # noqa: BLE001 - any failure of a store probe means "not ready"
        return False
    return True


def init_app(app: Flask) -> Runtime:
    """Open the stores, load model and policy, start the reload thread."""
    from features.online import from_url
    from ledger.database import open_ledger

    config = dict(app.config, _metrics=get_metrics(app))
    lock_timeout = config["LOCK_TIMEOUT_S"]
    book = Book(open_ledger(config["LEDGER_URL"], lock_timeout))
    store = from_url(config["REDIS_URL"], timeout_s=config["REDIS_TIMEOUT_S"])
    keeper = StoreKeeper(store, book, config["STORE_CHECK_INTERVAL_S"])
    audit = AuditLog.from_url(config["AUDIT_URL"], lock_timeout)
    index = IndexWriter(book.engine, float(config["INDEX_INTERVAL_S"]))
    recover(audit, index)  # what a worker that died left unindexed
    runtime = Runtime(config, audit, book, store, bandit.build(config), keeper, index)
    keeper.start(watch=config["STORE_CHECK_INTERVAL_S"] > 0)  # warms an empty store from the ledger first
    runtime.reload(force=True)
    if config["RELOAD_INTERVAL_S"] > 0:
        threading.Thread(target=runtime.watch, args=(config["RELOAD_INTERVAL_S"],),
                         name="kredo-reload", daemon=True).start()
    if config["OUTBOX_IN_SERVICE"]:
        start_sender(runtime)
    app.extensions["kredo.runtime"] = runtime

    @app.before_request
    def _index_shown() -> None:
        """What this worker decided is in the decision search and timelines it shows (``serving.decision_index``)."""
        if request.method == "GET":
            runtime.index.flush()

    return runtime


def start_sender(runtime: Runtime) -> None:
    """The outbox sender as a thread of this worker (``OUTBOX_IN_SERVICE``): the lease keeps it apart from
    the other workers' and from any ``kredo worker``; it pays this process's bandit for what went out."""
    from serving.delivery.sender import Sender, payer

    def policy() -> Any:  # noqa: ANN401
        if runtime.policy is None:
            raise NotReady("no policy loaded yet: the sender waits")
        return runtime.policy.current

    sender = Sender.from_config(runtime.book.engine, runtime.config, policy=policy,
                                on_booked=payer(runtime.bandit.attribution, runtime.audit))
    if not sender.connectors:
        log.warning("OUTBOX_IN_SERVICE is set but no channel is configured: no sender started")
        return

    def loop() -> None:
        try:
            sender.run(runtime._stop.is_set)
        finally:
            sender.close()
    threading.Thread(target=loop, name="kredo-outbox", daemon=True).start()


def get_runtime() -> Runtime:
    return current_app.extensions["kredo.runtime"]


__all__ = ["ModelError", "NotReady", "ReloadReport", "Runtime", "get_runtime", "init_app"]
