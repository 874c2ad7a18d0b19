"""Schemathesis over the app's own ``/openapi.json`` on loopback: every check, zero failures.

The tester's run (Schemathesis 4.32.5, ``--checks all --seed 20261201``) found 408 answers 500 of
3,650 cases and several answers that broke the published contract. This test runs the same engine
(examples, coverage, fuzzing and stateful phases) on the app with a fixed seed and a bounded
number of examples per operation, and fails on any failed check: no 5xx, every status, content type,
header and body as documented, schema-valid requests accepted and schema-invalid ones refused.

Every operation is called with a key of the first role its ``x-kredo-roles`` names (the same
declaration the app enforces); the ``ignored_auth`` check then proves that each one refuses a
request without a key and one with a wrong key. The app answers over HTTP from werkzeug's server
in a thread of this process: Schemathesis 4.32.5's in-process WSGI transport cannot send that
check's probes (it hands ``max_redirects`` to werkzeug's ``EnvironBuilder``, a ``TypeError``).

Two rules of the contract are not expressible in JSON Schema and are told to the generator here:
dates lie in the service's window (2000-01-01 to the horizon after the server clock; documented on
each field, refused with a 422 naming it) and an invoice is not due before it is issued. Out-of-window
dates are tested on their own (``test_serving_input.py``, ``tests/features/test_features_bounds.py``).
"""
from __future__ import annotations

import collections
import json
import logging
import threading
import time
from datetime import UTC, date, datetime, timedelta
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema
from schemathesis.specs.openapi import formats
from werkzeug.serving import WSGIRequestHandler, make_server

from domain.contract import EARLIEST
from domain.vocabulary import ROLES
from tests.support.api import make_app, make_key

SEED = 20261201
MAX_EXAMPLES = 100  # per operation and phase: 1,906 cases, 67 s of Schemathesis on two busy cores


def _window_strategies() -> dict[str, st.SearchStrategy[str]]:
    """RFC 3339 dates and times inside the default window (the latest day kept a day clear of the horizon)."""
    last = (datetime.now(UTC) + timedelta(days=365 * 5 - 2)).date()
    days = st.dates(min_value=max(EARLIEST + timedelta(days=1), date(2000, 1, 2)), max_value=last)
    clock = st.times().map(lambda t: t.replace(microsecond=0).isoformat())
    offset = st.sampled_from(["Z", "+00:00", "+01:00", "-05:00", "+14:00", "-12:00"])
    return {"date": days.map(date.isoformat),
            "date-time": st.builds(lambda d, t, z: f"{d.isoformat()}T{t}{z}", days, clock, offset)}


def _issue_before_due(body: Any) -> Any:
    """An invoice as documented: ``due_date`` not before ``issue_date`` (swapped when drawn the other way)."""
    invoice = body.get("invoice") if isinstance(body, dict) else None
    if isinstance(invoice, dict) and isinstance(invoice.get("issue_date"), str) \
            and isinstance(invoice.get("due_date"), str) and invoice["due_date"] < invoice["issue_date"]:
        invoice["issue_date"], invoice["due_date"] = invoice["due_date"], invoice["issue_date"]
    return body


@pytest.fixture()
def window_formats():  # noqa: ANN201
    saved = {name: formats.STRING_FORMATS.get(name) for name in ("date", "date-time")}
    for name, strategy in _window_strategies().items():
        schemathesis.openapi.format(name, strategy)
    yield
    for name, strategy in saved.items():
        formats.unregister_string_format(name)
        if strategy is not None:
            schemathesis.openapi.format(name, strategy)


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - one line per case is noise
        pass


@pytest.fixture()
def served(champion, tmp_path) -> Iterator[tuple[Any, str]]:  # noqa: ANN001
    """The app and its base URL on a free loopback port (werkzeug's threaded server)."""
    app = make_app(champion, tmp_path)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="schemathesis-app", daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        app.extensions["kredo.runtime"].stop()


def test_schemathesis_all_checks_report_no_failure(served, window_formats) -> None:  # noqa: ANN001
    app, base = served
    config = SchemathesisConfig()
    config.update(seed=SEED, max_failures=None)
    config.projects.override.checks.update(included_check_names=["all"])
    config.projects.override.generation.update(max_examples=MAX_EXAMPLES)
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", config=config)
    keys = {role: make_key(app, role, "schemathesis") for role in ROLES}

    @schema.auth(refresh_interval=None)
    class RoleKey:
        """The key of the role the operation declares; none for an open operation."""

        def get(self, case, context):  # noqa: ANN001, ANN201
            roles = context.operation.definition.raw.get("x-kredo-roles")
            return keys[roles[0]] if roles else None

        def set(self, case, data, context) -> None:  # noqa: ANN001
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    @schema.hook
    def map_body(context, body):  # noqa: ANN001, ANN202
        return _issue_before_due(body)

    failures: collections.Counter[tuple[str, str, str]] = collections.Counter()
    samples: dict[tuple[str, str, str], str] = {}
    errors: list[str] = []
    cases, operations = 0, set()
    started = time.perf_counter()
    logging.getLogger("kredo").disabled = True  # the forced 5xx of other tests log; nothing here should
    try:
        for event in from_schema(schema).execute():
            if isinstance(event, (events.ScenarioFinished, events.FuzzScenarioFinished)):
                cases += len(event.recorder.cases)
                for checks in event.recorder.checks.values():
                    for check in checks:
                        operations.add(event.recorder.label)
                        if check.failure_info is not None:
                            key = (event.recorder.label, check.name, check.failure_info.failure.title)
                            failures[key] += 1
                            samples.setdefault(key, check.failure_info.code_sample[:800])
            elif isinstance(event, (events.NonFatalError, events.FatalError)):
                errors.append(repr(getattr(event, "value", None) or getattr(event, "exception", event))[:500])
    finally:
        logging.getLogger("kredo").disabled = False
    seconds = time.perf_counter() - started
    print(json.dumps({"seed": SEED, "max_examples": MAX_EXAMPLES, "cases": cases,
                                   "operations": len(operations - {"Stateful tests"}),
                                   "seconds": round(seconds, 1), "failures": sum(failures.values())}))  # noqa: T201
    assert not errors, errors
    assert not failures, "\n".join(f"{n} x {k}\n    {samples[k]}" for k, n in failures.most_common())
    assert cases > 500 and len(operations) >= 8
