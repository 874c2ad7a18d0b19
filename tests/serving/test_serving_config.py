"""Configuration: defaults < environment < the dict given to ``create_app``."""
from __future__ import annotations

from serving.config import DEFAULTS, load


def test_defaults_are_the_embedded_set_up() -> None:
    config = load(environ={})
    assert config == DEFAULTS
    assert config["AUDIT_URL"].startswith("sqlite:///") and config["REDIS_URL"] is None


def test_environment_switches_to_real_services() -> None:
    env = {"DATABASE_URL": "postgresql+psycopg://u@h/db", "REDIS_URL": "redis://h:6379/0",
           "MLFLOW_TRACKING_URI": "http://mlflow:5000", "KREDO_MODEL_URI": "models:/payment-delay/3",
           "KREDO_POLICY": "/etc/kredo/policy.yaml", "KREDO_RELOAD_INTERVAL_S": "60",
           "KREDO_MAX_BODY_BYTES": "1024", "KREDO_CONTROL_SHARE": "0.2", "KREDO_KEYS_REFRESH_S": "2",
           "KREDO_KEY_PEPPER": "pepper", "KREDO_AUDIT_RETENTION_DAYS": "400"}
    config = load(environ=env)
    assert config["AUDIT_URL"] == env["DATABASE_URL"] and config["REDIS_URL"] == env["REDIS_URL"]
    assert config["MODEL_URI"] == "models:/payment-delay/3" and config["POLICY_PATH"] == env["KREDO_POLICY"]
    assert config["RELOAD_INTERVAL_S"] == 60.0 and config["MAX_CONTENT_LENGTH"] == 1024
    assert config["CONTROL_SHARE"] == 0.2
    assert (config["KEYS_REFRESH_S"], config["KEY_PEPPER"], config["AUDIT_RETENTION_DAYS"]) == (2.0, "pepper", 400)
    assert "ADMIN_TOKEN" not in config  # replaced by API keys with roles


def test_explicit_dict_wins_over_environment() -> None:
    config = load({"REDIS_URL": None, "RELOAD_INTERVAL_S": 0}, environ={"REDIS_URL": "redis://h/0"})
    assert config["REDIS_URL"] is None and config["RELOAD_INTERVAL_S"] == 0
