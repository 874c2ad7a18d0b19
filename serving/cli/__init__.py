"""The ``kredo`` command.

Why: one entry point for analysts and operators. Each module in this package
that defines ``register(subparsers)`` adds its subcommands, so an area (rules,
features, training, serving) owns its commands without touching the others.
Errors with codes (``domain.errors.KredoError``) end the command with exit
status 2 and a one-line message, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from domain.errors import KredoError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kredo", description="Kredo: credit decisions with reasons.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KredoError as exc:
        print(f"kredo: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
