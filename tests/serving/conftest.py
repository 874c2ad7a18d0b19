"""API fixtures: an app on the session's champion (``tests/conftest.py``) with the small ledger's book."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.api import Clients, make_app


@pytest.fixture(scope="module")
def app(champion: dict[str, str], tmp_path_factory: pytest.TempPathFactory, small_ledger_db) -> Iterator:
    """One app per module (a policy compiles onto its own durable-rules host: build few), on a copy of
    the small ledger's book: the in-process store warms itself from it."""
    application = make_app(champion, tmp_path_factory.mktemp("app"), history=small_ledger_db)
    yield application
    application.extensions["kredo.runtime"].stop()


@pytest.fixture()
def api(app) -> Clients:
    """Test clients by role: ``api.checkout``, ``api.dunning``, ``api.auditor``, ``api.admin``, ``api.anonymous``."""
    return Clients(app)
