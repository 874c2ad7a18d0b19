"""Packaged data files, found the same way in a checkout and in an installed wheel.

Why: a path built from ``__file__`` points into the source tree, which an
installed image does not have. Data files (the policy schema and default
policy, the statutory interest table, the Redis Lua script) ship as package
data and are read through ``importlib.resources``.

Example::

    from domain.resources import DEFAULT_POLICY, read_text
    yaml_text = read_text(DEFAULT_POLICY)
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Resource:
    """A data file inside an importable package."""

    package: str
    name: str

    def __str__(self) -> str:
        return f"{self.package}/{self.name}"


POLICY_SCHEMA = Resource("rules", "schema.json")
DEFAULT_POLICY = Resource("rules", "default.yaml")
STATUTORY_INTEREST = Resource("rules", "statutory_interest.yaml")
REDIS_FOLD_SCRIPT = Resource("features.online", "apply.lua")


def locate(resource: Resource) -> Path:
    """The file's path, in a checkout or an installed wheel (pip installs packages as real files)."""
    return Path(str(resources.files(resource.package).joinpath(resource.name)))


def read_text(resource: Resource) -> str:
    return locate(resource).read_text(encoding="utf-8")
