"""Kredo works as installed, not only from a checkout: the wheel carries its data files, checks its
packaged default policy and answers a checkout decision with no source tree on the path; the image
that installs it passes hadolint."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, installed (without dependencies, which the venv has) into a folder of its own."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(ROOT)],
                   check=True, timeout=300)
    (wheel,) = (work / "dist").glob("kredo-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(work / "site"),
                    str(wheel)], check=True, timeout=300)
    return work / "site"


def _run(site: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``args`` run by the venv's Python with the installed wheel first on the path, outside the source tree."""
    environment = {"PATH": f"{BIN}:/usr/bin:/bin", "PYTHONPATH": str(site), "HOME": str(cwd), **env}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=600)


def test_the_installed_package_checks_its_packaged_default_policy(installed: Path, tmp_path: Path) -> None:
    result = _run(installed, tmp_path, "-c", "import engine, domain.resources as r; "
                  "print(engine.__file__); print(r.locate(r.DEFAULT_POLICY))")
    assert result.returncode == 0, result.stderr
    module, policy = result.stdout.split()
    assert module.startswith(str(installed)) and policy.startswith(str(installed)), result.stdout
    check = _run(installed, tmp_path, "-m", "serving.cli", "rules", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "OK:" in check.stdout and str(installed) in check.stdout and "risk.high" in check.stdout


def test_the_installed_package_answers_a_checkout(installed: Path, tmp_path: Path, champion: dict[str, str]) -> None:
    script = textwrap.dedent(f"""
        import json, serving
        from serving import create_app
        assert serving.__file__.startswith({str(installed)!r}), serving.__file__
        app = create_app({{"AUDIT_URL": "sqlite:///{tmp_path}/audit.db", "LEDGER_URL": "sqlite:///{tmp_path}/ledger.db",
                          "MLFLOW_TRACKING_URI": {champion['tracking']!r},
                          "MODEL_URI": {champion['uri']!r}, "RELOAD_INTERVAL_S": 0}})
        body = {{"request_id": "wheel-1", "customer": {{"id": "C-1", "type": "business", "country": "NL"}},
                "order": {{"amount": 800.0, "currency": "EUR"}}}}
        from serving.access import get_ring
        token = get_ring(app).create("checkout", "wheel").token  # as `kredo keys create` makes it
        answer = app.test_client().post("/v1/decisions/checkout", json=body,
                                        headers={{"Authorization": f"Bearer {{token}}"}})
        print(json.dumps({{"status": answer.status_code, **answer.get_json()}}))
    """)
    result = _run(installed, tmp_path, "-c", script)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200 and answer["outcome"] in ("accept", "prepay", "review", "reject")
    assert answer["rules_fired"][0].startswith("risk.") and answer["risk"]["version"] == champion["version"]


def test_the_image_definition_passes_hadolint() -> None:
    result = subprocess.run([str(BIN / "hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True,
                            timeout=60, env={"PATH": os.environ.get("PATH", "")})
    assert result.returncode == 0, result.stdout + result.stderr
    text = (ROOT / "Dockerfile").read_text()
    assert "pip wheel" in text and "/wheels/*.whl" in text and "HEALTHCHECK" in text and "USER 10001" in text


def test_the_image_builds_its_wheel_from_every_package() -> None:
    """The build stage copies each package ``pyproject.toml`` ships (``ledger`` was missing: the image's
    wheel would have been built without the system of record)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")
              and len(line.split()) == 3 and line.split()[1] == line.split()[2]}
    assert packages <= copied, sorted(packages - copied)


def test_the_installed_package_checks_its_templates_and_embeds_its_font(installed: Path, tmp_path: Path) -> None:
    """The templates (``rules/templates/*/*.j2``) and the letter font ship in the wheel: the check passes on
    the installed set and a 14-day letter renders with the font from the package, nothing from the checkout."""
    check = _run(installed, tmp_path, "-m", "serving.cli", "templates", "check", "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)
    assert report["ok"] and report["templates"] == 16
    script = textwrap.dedent("""
        from datetime import date
        from decimal import Decimal
        import serving.delivery.letter as letter
        from engine.notice import fourteen_day_notice
        notice = fourteen_day_notice("nl", 250000, date(2026, 11, 2), None, "NL", Decimal("6.00"))
        pdf = letter.letter_pdf(letter.Letter("B.V.", "Straat 1", "J. Jansen", "Laan 2", date(2026, 11, 2),
                                              "Aanmaning", "Geachte heer Jansen,", "nl", notice))
        print(letter.__file__, pdf[:5].decode(), b"/FontFile2" in pdf)
    """)
    rendered = _run(installed, tmp_path, "-c", script)
    assert rendered.returncode == 0, rendered.stderr
    module, magic, embedded = rendered.stdout.split()
    assert module.startswith(str(installed)) and magic == "%PDF-" and embedded == "True"


def test_the_installed_package_serves_its_pages_in_dutch(installed: Path, tmp_path: Path,
                                                         champion: dict[str, str]) -> None:
    """Templates, the stylesheet, the vendored htmx and the compiled Dutch catalog travel in the wheel."""
    script = textwrap.dedent(f"""
        import json, serving
        from serving import create_app
        app = create_app({{"AUDIT_URL": "sqlite:///{tmp_path}/audit.db", "LEDGER_URL": "sqlite:///{tmp_path}/ledger.db",
                          "MLFLOW_TRACKING_URI": {champion['tracking']!r}, "MODEL_URI": {champion['uri']!r},
                          "RELOAD_INTERVAL_S": 0, "SECRET_KEY": "wheel"}})
        client = app.test_client()
        login = client.get("/login", headers={{"Accept-Language": "nl"}})
        sizes = {{name: len(client.get(f"/static/{{name}}").data) for name in ("htmx.min.js", "kredo.css")}}
        print(json.dumps({{"status": login.status_code, "dutch": "Aanmelden" in login.text, **sizes}}))
    """)
    result = _run(installed, tmp_path, "-c", script)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200 and answer["dutch"] and answer["htmx.min.js"] > 40_000 and answer["kredo.css"]
