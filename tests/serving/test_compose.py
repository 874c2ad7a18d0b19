"""``docker-compose.yml``: the production-like set-up, checked without a Docker engine.

This machine kind has the docker CLI but no engine and no compose plugin, so nothing is started
(docs/operations.md). Debian's ``docker-compose`` (1.29) validates the file against the Compose
schema and interpolates it (``config``: no engine needed); the rest reads the file itself: the four
services, ports on loopback only, data on named volumes, Redis with persistence, an MLflow server that
serves the artifacts, health checks, secrets only from the environment, and every variable handed to
Kredo one that ``serving.config`` reads.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from serving.config import ENVIRONMENT
from tests.support.system_packages import ensure

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
_FROM_ENVIRONMENT = re.compile(r"^\$\{[A-Z_]+:\?[^}]+\}$")


def compose_config(**secrets: str) -> subprocess.CompletedProcess[str]:
    ensure("docker-compose")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KREDO_")} | secrets
    return subprocess.run([shutil.which("docker-compose") or "docker-compose", "-f", str(ROOT / "docker-compose.yml"),
                           "config", "-q"], capture_output=True, text=True, env=env, timeout=120)


def test_the_file_is_valid_compose_and_needs_its_secrets() -> None:
    assert compose_config(KREDO_DB_PASSWORD="pw", KREDO_KEY_PEPPER="pepper").returncode == 0
    refused = compose_config()
    assert refused.returncode != 0 and "set KREDO_DB_PASSWORD" in refused.stderr


def test_the_four_parts() -> None:
    assert set(SERVICES) == {"kredo", "redis", "postgres", "mlflow"}
    assert SERVICES["kredo"]["build"] == "."
    assert {name: spec["condition"] for name, spec in SERVICES["kredo"]["depends_on"].items()} == \
        {"redis": "service_healthy", "postgres": "service_healthy", "mlflow": "service_healthy"}


def test_ports_are_bound_to_loopback_only() -> None:
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_data_lives_on_named_volumes() -> None:
    mounts = {name: [v.split(":")[1] for v in service.get("volumes", [])] for name, service in SERVICES.items()}
    assert mounts["redis"] == ["/data"] and mounts["postgres"] == ["/var/lib/postgresql/data"]
    assert mounts["mlflow"] == ["/mlflow"]
    assert set(COMPOSE["volumes"]) == {v.split(":")[0] for s in SERVICES.values() for v in s.get("volumes", [])}


def test_redis_persists_every_write() -> None:
    command = SERVICES["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "always"


def test_mlflow_serves_the_artifacts() -> None:
    command = SERVICES["mlflow"]["command"]
    assert "--serve-artifacts" in command and command[command.index("--artifacts-destination") + 1] == \
        "/mlflow/artifacts"
    assert "mlflow" in command[command.index("--allowed-hosts") + 1].split(",")
    assert SERVICES["kredo"]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_every_part_has_a_health_check() -> None:
    for name in ("redis", "postgres", "mlflow"):
        assert SERVICES[name]["healthcheck"]["test"][0] == "CMD", name
    assert "HEALTHCHECK" in (ROOT / "Dockerfile").read_text()  # kredo: the image's own


def test_secrets_come_only_from_the_environment() -> None:
    for name, service in SERVICES.items():
        for key, value in service.get("environment", {}).items():
            value = str(value)
            if re.search("PASSWORD|TOKEN|SECRET|PEPPER", key):
                assert _FROM_ENVIRONMENT.match(value), (name, key, value)
            for credentials in re.findall(r"//[^/@:]+:([^@]+)@", value):
                assert _FROM_ENVIRONMENT.match(credentials), (name, key)


def test_kredo_is_given_only_variables_it_reads() -> None:
    assert set(SERVICES["kredo"]["environment"]) <= set(ENVIRONMENT.values())
