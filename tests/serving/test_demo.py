"""``kredo demo``: idempotent preparation, then a real server answering the printed curl examples."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

from serving.cli import main
from tests.support.services import free_port


def _args(tmp: Path) -> list[str]:
    return ["demo", "--dir", str(tmp / "demo"), "--customers", "400", "--months", "12",
            "--tracking-uri", f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"]


def test_no_serve_prepares_once_and_is_idempotent(tmp_path: Path, capsys) -> None:
    assert main([*_args(tmp_path), "--no-serve"]) == 0
    first = capsys.readouterr().out
    assert "simulated ledger" in first and "champion: models:/payment-delay@champion (v1)" in first
    assert main([*_args(tmp_path), "--no-serve"]) == 0
    second = capsys.readouterr().out
    assert "ledger already in" in second and "champion model already registered: payment-delay v1" in second


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
        checkout = re.search(r"/v1/decisions/checkout .* -d '(.*)'", out).group(1)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        answer = requests.post(f"{base}/v1/decisions/checkout", json=json.loads(checkout), timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["outcome"] in {"accept", "prepay", "review", "reject"}
        assert body["risk"]["alias"] == "champion"
        record = requests.get(f"{base}/v1/decisions/{body['decision_id']}", timeout=10)
        assert record.status_code == 200
        customer = json.loads(checkout)["customer"]  # the ledger's record of a real customer
        features = record.json()["features"]
        assert features[f"profile_{customer['profile']}"] == 1.0 and features["invoices_issued"] > 0
        assert sum(v for k, v in features.items() if k.startswith("profile_")) == 1.0
        next_action = re.search(r"/v1/decisions/next-action .* -d '(.*)'", out).group(1)
        answer = requests.post(f"{base}/v1/decisions/next-action", json=json.loads(next_action), timeout=10)
        assert answer.status_code == 200, answer.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
