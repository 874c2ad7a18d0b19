"""The layer contracts hold, and a back arrow breaks them (import-linter on a copy of the tree)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("domain", "ledger", "features", "engine", "training", "serving", "rules")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree)
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def test_layer_contracts_are_kept(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_back_import_breaks_the_layers(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    with (tree / "features" / "transform.py").open("a") as f:
        f.write("\nimport serving.app  # a back arrow: features must not know the web layer\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "features.transform -> serving.app" in result.stdout


def test_the_ground_layer_imports_nothing_of_the_project(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    with (tree / "domain" / "vocabulary.py").open("a") as f:
        f.write("\nimport ledger.tables\n")
    result = _lint(tree)
    assert result.returncode != 0 and "domain.vocabulary -> ledger.tables" in result.stdout
