"""Shared output for bench scripts: a human table, then one JSON line with ``--json``."""
from __future__ import annotations

import argparse
import json
import platform
import os
from typing import Any


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    return p


def report(title: str, figures: dict[str, Any], as_json: bool) -> None:
    print(f"== {title}  ({platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores)")
    width = max(map(len, figures))
    for key, value in figures.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        print(f"  {key:<{width}}  {shown}")
    if as_json:
        print(json.dumps(figures, sort_keys=True))
