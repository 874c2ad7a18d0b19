"""``kredo serve``: the decision API under gunicorn (or the Flask dev server with ``--dev``)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the decision API (gunicorn; --dev for the Flask dev server)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=None,
                   help="gunicorn worker processes (default: 2 with REDIS_URL, else 1: the in-process store "
                        "is one process's state, so more workers need Redis)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads per gthread worker (keep-alive connections; more threads mostly add GIL hand-offs)")
    p.add_argument("--dev", action="store_true", help="Flask's development server, one process")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from domain.errors import InvalidInput
    from serving.config import load

    shared = load()["REDIS_URL"] is not None
    args.workers = args.workers if args.workers is not None else (2 if shared else 1)
    if args.workers < 1 or args.threads < 1:
        raise InvalidInput("--workers and --threads must be at least 1", field="workers")
    if args.workers > 1 and not shared:
        raise InvalidInput(f"--workers {args.workers} without REDIS_URL would split the online features: each worker "
                           "would fold only the events it receives and answer from its own state. Set REDIS_URL "
                           "(shared by all workers) or run one worker", field="workers")
    if args.dev:
        from serving.app import create_app

        create_app().run(host=args.host, port=args.port, threaded=True)
        return 0
    from serving.server import serve

    serve(args.host, args.port, args.workers, args.threads)
    return 0
