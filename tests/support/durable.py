"""The durable-rules library as it ships, for tests that show its traps next to ``engine.rules.durable``.

Why: each workaround of the wrapper is proven against the raw library (its own ``Host``,
``json.dumps`` and Python actions); the raw host here only leaves out the dispatcher and timer
threads, so a test process does not keep them running.
"""
from __future__ import annotations

from durable.engine import Host


class RawHost(Host):
    """The library's own host and rulesets (``json.dumps``, Python actions), without its timer threads."""

    def _run(self) -> None:
        return None
