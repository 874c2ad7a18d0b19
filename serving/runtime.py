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

from engine.errors import KredoError, ModelError
from serving import bandit
from serving.audit import AuditLog
from serving.bandit import Bandit
from serving.metrics import get_metrics


class NotReady(KredoError):
    code = "not_ready"
    title = "Service not ready"
    status = 503


@dataclass(frozen=True)
class Served:
    """One consistent view for one request: model, its identity, the policy's engine and the experiment."""

    model: Any
    model_info: Any
    rules: Any
    experiment: Any


@dataclass
class Runtime:
    """The app's long-lived parts (one per worker); see the module docstring."""

    config: dict[str, Any]
    audit: AuditLog
    store: Any
    bandit: Bandit
    policy: Any = None
    served: Served | None = None
    errors: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def snapshot(self) -> Served:
        served = self.served
        if served is None:
            raise NotReady("no model or policy loaded yet: " + "; ".join(
                f"{k}: {v}" for k, v in self.errors.items()) if self.errors else "starting")
        return served

    def reload(self, force: bool = False) -> dict[str, Any]:
        """Load the model alias and the policy again; swap what changed, refuse what is broken."""
        from engine.rules import RuleEngine
        from training.registry import load_model, resolve_version

        metrics = self._metrics
        report: dict[str, Any] = {}
        with self._lock:
            old = self.served
            model, info = (old.model, old.model_info) if old else (None, None)
            try:
                version = resolve_version(self.config["MODEL_URI"], self.config["MLFLOW_TRACKING_URI"])
                if force or info is None or str(info.version) != str(version):
                    model, info = load_model(self.config["MODEL_URI"], self.config["MLFLOW_TRACKING_URI"])
                    report["model"] = "loaded"
                    metrics.reloads.labels("model", "loaded").inc()
                    metrics.model_loaded(info.name, str(info.version), info.alias)
                else:
                    report["model"] = "unchanged"
                self.errors.pop("model", None)
            except KredoError as exc:
                report["model"] = f"refused: {exc}"
                self.errors["model"] = str(exc)
                metrics.reloads.labels("model", "refused").inc()
            rules = old.rules if old else None
            try:
                if self.policy is None:
                    from engine.rules import PolicyHolder

                    self.policy = PolicyHolder(self.config["POLICY_PATH"])
                    changed = True
                else:
                    changed = self.policy.reload()
                if changed or rules is None:
                    rules = RuleEngine(self.policy.current)
                    report["policy"] = "loaded"
                    metrics.reloads.labels("policy", "loaded").inc()
                    metrics.policy_loaded(str(self.policy.current.version), self.policy.current.hash)
                else:
                    report["policy"] = "unchanged"
                self.errors.pop("policy", None)
            except KredoError as exc:
                report["policy"] = f"refused: {exc}"
                self.errors["policy"] = str(exc)
                metrics.reloads.labels("policy", "refused").inc()
            if model is not None and rules is not None:
                self.served = Served(model, info, rules, self.bandit.experiment)
        if info is not None:
            report["model_version"] = str(info.version)
        return report

    @property
    def _metrics(self):  # noqa: ANN202
        return self.config["_metrics"]

    def watch(self, interval_s: float) -> None:
        """Re-check the alias and the policy every ``interval_s`` seconds until ``stop``."""
        while not self._stop.wait(interval_s):
            self.reload()

    def stop(self) -> None:
        self._stop.set()

    def readiness(self) -> dict[str, Any]:
        checks = {"model": self.served is not None, "policy": self.served is not None,
                  "audit": _ok(self.audit.count), "store": _ok(self.store.ping)}
        return {"ready": all(checks.values()), "checks": checks, "errors": dict(self.errors)}


def _ok(probe: Any) -> bool:  # noqa: ANN401
    try:
        probe()
    except Exception:  # noqa: BLE001 - any failure of a store probe means "not ready"
        return False
    return True


def init_app(app: Flask) -> Runtime:
    """Open the stores, load model and policy, start the reload thread."""
    from features.online import from_url

    config = dict(app.config, _metrics=get_metrics(app))
    runtime = Runtime(config, AuditLog.from_url(config["AUDIT_URL"]), from_url(config["REDIS_URL"]),
                      bandit.build(config))
    runtime.reload(force=True)
    if config["RELOAD_INTERVAL_S"] > 0:
        threading.Thread(target=runtime.watch, args=(config["RELOAD_INTERVAL_S"],),
                         name="kredo-reload", daemon=True).start()
    app.extensions["kredo.runtime"] = runtime
    return runtime


def get_runtime() -> Runtime:
    return current_app.extensions["kredo.runtime"]


__all__ = ["ModelError", "NotReady", "Runtime", "Served", "get_runtime", "init_app"]
