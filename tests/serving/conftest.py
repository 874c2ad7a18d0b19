"""API fixtures: an app on the session's champion (``tests/conftest.py``) with a replayed ledger."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.api import make_app


@pytest.fixture(scope="module")
def app(champion: dict[str, str], tmp_path_factory: pytest.TempPathFactory, small_ledger) -> Iterator:
    """One app per module (a policy compiles onto its own durable-rules host: build few)."""
    from ledger.events import ledger_to_events

    application = make_app(champion, tmp_path_factory.mktemp("app"))
    application.extensions["kredo.runtime"].store.apply(ledger_to_events(small_ledger))
    yield application
    application.extensions["kredo.runtime"].stop()


@pytest.fixture()
def client(app):  # noqa: ANN201
    return app.test_client()
