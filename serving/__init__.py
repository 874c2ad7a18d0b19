"""Serving: the Flask decision API, its CLI, audit log, model loading and metrics."""
from __future__ import annotations

from typing import Any


def create_app(config: dict[str, Any] | None = None):  # noqa: ANN201 - Flask is imported lazily
    """The app factory (see ``serving.app``); imported lazily so the CLI stays light."""
    from serving.app import create_app as _create_app

    return _create_app(config)
