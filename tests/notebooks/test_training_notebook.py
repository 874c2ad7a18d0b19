"""The analyst notebook runs top to bottom on a fresh MLflow store (nbclient, real kernel)."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "retrain_and_compare.ipynb"


def test_retrain_and_compare_notebook_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent.parent)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "no champion yet" in outputs          # the first model becomes champion
    assert "refused: challenger v2 refused" in outputs  # the shallow challenger does not pass the gate
    assert "customer_mean" in outputs
