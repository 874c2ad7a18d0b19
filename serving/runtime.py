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
receives it; the other workers follow within one interval).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from domain.calendar import PublicHolidays
from domain.errors import KredoError, ModelError, PolicyError
from engine.ports import ModelInfo, Served
from features.online import OnlineStore
from ledger.book import Book
from serving import bandit
from serving.audit import AuditLog
from serving.bandit import Bandit
from serving.metrics import Metrics, get_metrics


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
    policy: Any = None
    served: Served | None = None
    warmed: dict[str, float] = field(default_factory=dict)
    _model: tuple[Any, ModelInfo] | None = None
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
        try:
            if not force and self._model is not None and alias_version(uri, tracking) in (None, self._model[1].version):
                return "unchanged"
            model, info = load_model(uri, tracking)
            single_threaded(model)
        except KredoError as exc:
            self.errors["model"] = str(exc)
            self._metrics.reloads.labels("model", "refused").inc()
            refused["model"] = exc
            return "refused"
        self._model = (model, info)
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
        except KredoError as exc:
            self.errors["policy"] = str(exc)
            self._metrics.reloads.labels("policy", "refused").inc()
            refused["policy"] = exc
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
        """Re-check the alias and the policy every ``interval_s`` seconds until ``stop``."""
        while not self._stop.wait(interval_s):
            self.reload()

    def stop(self) -> None:
        self._stop.set()

    def readiness(self) -> dict[str, Any]:
        checks = {"model": self._model is not None, "policy": self.policy is not None,
                  "audit": _ok(self.audit.count), "store": _ok(lambda: self.store.aggregates("readyz-probe"))}
        return {"ready": all(checks.values()), "checks": checks, "errors": dict(self.errors)}


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


def _ok(probe: Any) -> bool:  # noqa: ANN401
    try:
        probe()
    except Exception:  # noqa: BLE001 - any failure of a store probe means "not ready"
        return False
    return True


def init_app(app: Flask) -> Runtime:
    """Open the stores, load model and policy, start the reload thread."""
    from features.online import from_url
    from ledger.database import open_ledger
    from serving.bootstrap import warm_store

    config = dict(app.config, _metrics=get_metrics(app))
    book = Book(open_ledger(config["LEDGER_URL"]))
    store = from_url(config["REDIS_URL"])
    runtime = Runtime(config, AuditLog.from_url(config["AUDIT_URL"]), book, store, bandit.build(config))
    if config["REDIS_URL"] is None:
        runtime.warmed = warm_store(store, book)  # the in-process store starts empty: fold the ledger into it
    runtime.reload(force=True)
    if config["RELOAD_INTERVAL_S"] > 0:
        threading.Thread(target=runtime.watch, args=(config["RELOAD_INTERVAL_S"],),
                         name="kredo-reload", daemon=True).start()
    app.extensions["kredo.runtime"] = runtime
    return runtime


def get_runtime() -> Runtime:
    return current_app.extensions["kredo.runtime"]


__all__ = ["ModelError", "NotReady", "ReloadReport", "Runtime", "get_runtime", "init_app"]
