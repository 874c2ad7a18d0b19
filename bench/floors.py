"""The floors under a checkout's server CPU: what gunicorn alone and gunicorn with Flask cost per request.

Why: issue 17 asks for at most 0.8 ms of server CPU per checkout. How much of that any Python request
served this way costs depends on the machine (on the hosts of sessions 8-12 it moved by 2x), so
``bench/serving.py`` measures it in the same run as the checkout, with the same gunicorn settings
(``serving.server.gunicorn_options``), the same connections and the same request bodies:

- ``bare``: a WSGI callable that reads the body and answers a fixed JSON object (gunicorn's own
  parsing, environ, keep-alive and response writing: the floor of the HTTP server);
- ``flask``: a Flask app with one route at the checkout's path that parses the body as JSON and
  answers it with ``jsonify`` (the floor of the framework, without Kredo's hooks); ``GET /readyz``
  answers ``ok`` (the bare app answers every path).

Usage (what ``bench/serving.py`` runs): python -m bench.floors {bare,flask} --port P [--workers 2] [--threads 1]
"""
from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, jsonify, request
from gunicorn.app.base import BaseApplication

from serving.server import gunicorn_options

PATH = "/v1/decisions/checkout"  # the checkout's route: the floors answer where the decision does
_ANSWER = b'{"kind":"checkout","outcome":"accept"}'


def bare(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Read the whole body, answer a fixed JSON object."""
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(_ANSWER)))])
    return [_ANSWER]


def flask_app() -> Flask:
    """One route at the checkout's path: the body parsed as JSON, its request id answered."""
    app = Flask("kredo-floor")

    @app.post(PATH)
    def checkout():  # noqa: ANN202 - a Flask view
        body = request.get_json()
        return jsonify(kind="checkout", outcome="accept", request_id=body["request_id"])

    @app.get("/readyz")
    def readyz():  # noqa: ANN202 - a Flask view
        return "ok"

    return app


APPS: dict[str, Callable[[], Any]] = {"bare": lambda: bare, "flask": flask_app}


class _Floor(BaseApplication):
    def __init__(self, app: str, options: dict[str, Any]) -> None:
        self.app, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:  # noqa: ANN401 - a WSGI app
        return APPS[self.app]()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("app", choices=sorted(APPS))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    _Floor(args.app, gunicorn_options("127.0.0.1", args.port, args.workers, args.threads)).run()


if __name__ == "__main__":
    main()
