"""``/healthz`` (the process answers) and ``/readyz`` (model, policy and stores loaded)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from serving.runtime import get_runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # noqa: ANN201
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():  # noqa: ANN201
    """503 until a model and a policy are loaded and both stores answer (load balancers wait)."""
    runtime = get_runtime()
    state = runtime.readiness()
    served = runtime.served
    if served is not None:
        info = served.model_info
        state["model"] = {"name": info.name, "version": str(info.version), "alias": info.alias}
        policy = served.rules.policy
        state["policy"] = {"version": policy.version, "hash": policy.content_hash}
    return jsonify(state), (200 if state["ready"] else 503)
