"""``kredo demo``: idempotent preparation, then a real server answering the printed curl examples
with the keys it made (one per role, in a file of mode 0600; no key committed anywhere)."""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import requests

from domain.vocabulary import ROLES
from serving.cli import main
from tests.support.api import bearer
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = re.compile(r"kredo_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def _keys(path: Path) -> dict[str, str]:
    """The demo's keys file: ``KREDO_KEY_<ROLE>=<key>`` per role."""
    pairs = (line.partition("=") for line in path.read_text().splitlines() if not line.startswith("#"))
    return {name.removeprefix("KREDO_KEY_").lower(): value for name, _, value in pairs}


def _args(tmp: Path) -> list[str]:
    return ["demo", "--dir", str(tmp / "demo"), "--customers", "400", "--months", "12",
            "--tracking-uri", f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"]


def test_no_serve_prepares_once_and_is_idempotent(tmp_path: Path, capsys) -> None:
    assert main([*_args(tmp_path), "--no-serve"]) == 0
    first = capsys.readouterr().out
    assert "simulated ledger" in first and "champion: models:/payment-delay@champion (v1)" in first
    keys_file = tmp_path / "demo" / "api-keys.env"
    assert f"API keys, one per role, in {keys_file}" in first and "made: checkout, dunning" in first
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    keys = _keys(keys_file)
    assert sorted(keys) == sorted(ROLES) and all(TOKEN.fullmatch(k) for k in keys.values())
    assert not TOKEN.search(first)  # printed: where the keys are, never a key
    assert main([*_args(tmp_path), "--no-serve"]) == 0
    second = capsys.readouterr().out
    assert "ledger already in" in second and "champion model already registered: payment-delay v1" in second
    assert "kept from the last run" in second and _keys(keys_file) == keys
    assert main(["keys", "revoke", keys["auditor"].split("_")[1], "--url",
                 f"sqlite:///{(tmp_path / 'demo' / 'ledger.db').resolve()}"]) == 0
    assert main([*_args(tmp_path), "--no-serve"]) == 0
    assert "made: auditor" in capsys.readouterr().out
    renewed = _keys(keys_file)
    assert renewed["auditor"] != keys["auditor"] and renewed["checkout"] == keys["checkout"]


def test_demo_serves_the_printed_examples(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, KREDO_RELOAD_INTERVAL_S="0")
    proc = subprocess.Popen([sys.executable, "-m", "serving.cli", *_args(tmp_path), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "demo exited early:\n" + "".join(lines)
            lines.append(line)
            if "/openapi.json" in line:
                break
        out = "".join(lines)
        keys_file = Path(re.search(r"^\. (\S+)", out, re.M).group(1))
        keys = _keys(keys_file)
        assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600 and not TOKEN.search(out)
        checkout = re.search(r"/v1/decisions/checkout .* -d '(.*)'", out).group(1)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert requests.post(f"{base}/v1/decisions/checkout", json=json.loads(checkout), timeout=10).status_code == 401
        answer = requests.post(f"{base}/v1/decisions/checkout", json=json.loads(checkout), timeout=10,
                               headers=bearer(keys["checkout"]))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["outcome"] in {"accept", "prepay", "review", "reject"}
        assert body["risk"]["alias"] == "champion"
        record = requests.get(f"{base}/v1/decisions/{body['decision_id']}", timeout=10,
                              headers=bearer(keys["auditor"]))
        assert record.status_code == 200
        customer = json.loads(checkout)["customer"]  # the ledger's record of a real customer
        features = record.json()["features"]
        assert features[f"profile_{customer['profile']}"] == 1.0 and features["invoices_issued"] > 0
        assert sum(v for k, v in features.items() if k.startswith("profile_")) == 1.0
        next_action = re.search(r"/v1/decisions/next-action .* -d '(.*)'", out).group(1)
        answer = requests.post(f"{base}/v1/decisions/next-action", json=json.loads(next_action), timeout=10,
                               headers=bearer(keys["dunning"]))
        assert answer.status_code == 200, answer.text
        person = requests.Session()  # the pages: the demo made a session secret, a credit manager signs in
        login = person.get(f"{base}/login", timeout=10)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
        dashboard = person.post(f"{base}/login", timeout=60, data={"key": keys["credit_manager"], "csrf_token": csrf,
                                                                   "next": "/dashboard"})
        assert dashboard.status_code == 200 and dashboard.url.endswith("/dashboard") and "DSO" in dashboard.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_no_key_is_committed() -> None:
    """No file of the source tree (what git would hold) carries a key; the demo's go under var/ (ignored)."""
    skip = {".git", ".venv", "var", "mlruns", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis"}
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip and not d.endswith(".egg-info")]
        for name in files:
            path = Path(folder, name)
            if path.stat().st_size < 2_000_000 and TOKEN.search(path.read_text(errors="ignore")):
                found.append(str(path.relative_to(ROOT)))
    assert not found
    assert "var/" in (ROOT / ".gitignore").read_text().split()
