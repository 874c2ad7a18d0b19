"""``POST /v1/dunning/runs``: the day's dunning run, in this process (role ``dunning``).

Why an endpoint beside ``kredo dunning run``: a scheduler or a dunning system can
start the day over HTTP on the service's own model, policy, store and bandit
state, and read what it did: decisions per action, channel, segment and assignee,
the messages queued in the outbox and the tasks opened. The run is the one of
``serving.dunning_run`` (``created`` false: the day had been run, its stored
report is answered and nothing is written). It runs in the request, partition by
partition; a book too large for one request is run with ``kredo dunning run
--workers N`` on Dask.
"""
from __future__ import annotations

from flask import Blueprint, Response, g

from serving.access import requires
from serving.api._body import parse
from serving.audit import json_bytes
from serving.dunning_run import Deciding, run_day
from serving.runtime import get_runtime
from serving.schemas import DunningRunRequest

bp = Blueprint("dunning", __name__, url_prefix="/v1/dunning")


@bp.post("/runs")
@requires("dunning")
def post_run() -> Response:
    body = parse(DunningRunRequest)
    runtime = get_runtime()
    ctx = Deciding(runtime.book.engine, runtime.audit, runtime.snapshot(), runtime.store)
    report = run_day(body.date or g.received.date(), engine=runtime.book.engine, ctx=ctx, dry_run=body.dry_run)
    return Response(json_bytes(report.to_dict()), status=201 if report.created else 200, mimetype="application/json")
