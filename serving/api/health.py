"""``/healthz`` (the process answers) and ``/readyz`` (model, policy and stores loaded).

Both are open: load balancers and orchestrators probe them without a key. An
anonymous ``/readyz`` gets only ``{"ready": ...}`` and its status code (200 or
503); the details (each check, the loader's errors, the model's and policy's
versions) need a key of a role in ``DETAILS`` and come redacted like problem
documents (no path, URL or host).
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from serving.access import caller, public
from serving.problems import redact
from serving.runtime import get_runtime

bp = Blueprint("health", __name__)
DETAILS = ("admin", "auditor")


@bp.get("/healthz")
@public
def healthz():  # noqa: ANN201
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@public
def readyz():  # noqa: ANN201
    """503 until a model and a policy are loaded and both stores answer (load balancers wait)."""
    runtime = get_runtime()
    state = runtime.readiness()
    status = 200 if state["ready"] else 503
    key = caller()
    if key is None or key.role not in DETAILS:
        return jsonify({"ready": state["ready"]}), status
    served = runtime.served
    if served is not None:
        info = served.model_info
        state["model"] = {"name": info.name, "version": str(info.version), "alias": info.alias}
        policy = served.rules.policy
        state["policy"] = {"version": policy.version, "hash": policy.content_hash}
    return jsonify(redact(state)), status
