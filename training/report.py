"""What a training run shows people: the metrics table, plots and the HTML model report.

Why: an analyst decides whether to trust a model from its comparison with the
baselines on the same test months, its calibration and what drives it. The
same figures go to the terminal (``kredo train``), to ``--report-json`` and,
as PNGs and one self-contained HTML page, to the MLflow run.
"""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

TABLE_METRICS = ("late.roc_auc", "late.pr_auc", "late.brier", "late.log_loss", "late.ece",
                 "late_30.roc_auc", "late_30.brier", "write_off.roc_auc", "write_off.brier",
                 "days_late.mae", "days_late.pinball_80")


def _fmt(value: float) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def metrics_table(metrics: dict[str, dict[str, float]], columns: tuple[str, ...] = TABLE_METRICS) -> str:
    """A fixed-width text table: one row per model, one column per metric."""
    names = list(metrics)
    width = max(len("model"), *map(len, names))
    cols = [c for c in columns if any(c in m for m in metrics.values())]
    head = f"{'model':<{width}}  " + "  ".join(f"{c:>{max(len(c), 7)}}" for c in cols)
    lines = [head, "-" * len(head)]
    for name in names:
        lines.append(f"{name:<{width}}  " + "  ".join(f"{_fmt(metrics[name].get(c, math.nan)):>{max(len(c), 7)}}"
                                                  for c in cols))
    return "\n".join(lines)


def jsonable(metrics: dict[str, dict[str, float]]) -> dict[str, dict[str, float | None]]:
    """NaN (a metric that cannot be computed) becomes ``null``."""
    return {m: {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}
            for m, d in metrics.items()}


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def curve_plots(y: np.ndarray, probabilities: dict[str, np.ndarray], out: Path, label: str = "P(late)") -> list[Path]:
    """ROC, precision-recall and calibration (reliability) plots of every model on the same rows."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    both = 0 < y.sum() < len(y)
    for kind in ("roc", "pr", "calibration"):
        fig, ax = plt.subplots(figsize=(5, 4))
        for name, p in probabilities.items():
            if kind == "roc" and both:
                fpr, tpr, _ = roc_curve(y, p)
                ax.plot(fpr, tpr, label=name)
            elif kind == "pr" and both:
                prec, rec, _ = precision_recall_curve(y, p)
                ax.plot(rec, prec, label=name)
            elif kind == "calibration":
                frac, mean = calibration_curve(y, np.clip(p, 0, 1), n_bins=10, strategy="uniform")
                ax.plot(mean, frac, marker="o", label=name)
        if kind == "roc":
            ax.plot([0, 1], [0, 1], "k:", lw=1)
            ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC {label}")
        elif kind == "pr":
            ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall {label}")
        else:
            ax.plot([0, 1], [0, 1], "k:", lw=1)
            ax.set(xlabel="mean predicted", ylabel="observed rate", title=f"Calibration {label}")
        ax.legend(fontsize=8)
        paths.append(_save(fig, out / f"{kind}_late.png"))
    return paths


CURVE_POINTS = 50


def curve_data(y: np.ndarray, probabilities: dict[str, np.ndarray], contributions: np.ndarray,
               feature_names: list[str], top: int = 15) -> dict[str, Any]:
    """The plots' numbers, for pages that draw them (``curves.json`` of a run): per model the ROC curve
    (at most ``CURVE_POINTS`` points) and the calibration bins (10 equal-width: mean predicted,
    observed rate, rows), and the global SHAP importance (mean |contribution| in log-odds, largest first)."""
    both = 0 < y.sum() < len(y)
    models: dict[str, Any] = {}
    for name, p in probabilities.items():
        p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
        roc: list[list[float]] = []
        if both:
            fpr, tpr, _ = roc_curve(y, p)
            keep = np.unique(np.linspace(0, len(fpr) - 1, min(CURVE_POINTS, len(fpr))).round().astype(int))
            roc = [[float(fpr[i]), float(tpr[i])] for i in keep]
        idx = np.minimum((p * 10).astype(int), 9)
        counts = np.bincount(idx, minlength=10)
        mean_p = np.bincount(idx, weights=p, minlength=10)
        seen = np.bincount(idx, weights=y, minlength=10)
        bins = [[float(mean_p[b] / counts[b]), float(seen[b] / counts[b]), int(counts[b])]
                for b in range(10) if counts[b]]
        models[name] = {"roc": roc, "calibration": bins}
    importance = np.abs(contributions).mean(axis=0)
    order = np.argsort(-importance)[:top]
    return {"label": "late", "rows": int(len(y)), "models": models,
            "shap_importance": [[feature_names[i], float(importance[i])] for i in order]}


def shap_summary_plot(contributions: np.ndarray, X: np.ndarray, feature_names: list[str], out: Path) -> Path:
    """SHAP beeswarm of P(late) (margin space) on a sample of test rows."""
    import shap

    shap.summary_plot(contributions, X, feature_names=feature_names, show=False, max_display=15)
    fig = plt.gcf()
    fig.suptitle("SHAP of P(late) (log-odds, before calibration)", fontsize=9)
    return _save(fig, out / "shap_summary_late.png")


def html_report(title: str, metrics: dict[str, dict[str, float]], facts: dict[str, Any], images: list[Path],
                notes: list[str]) -> str:
    """A short self-contained HTML page: facts, metrics table, notes, plots (inline PNG)."""
    cols = [c for c in TABLE_METRICS if any(c in m for m in metrics.values())]
    rows = "".join("<tr><th>" + html.escape(n) + "</th>" + "".join(f"<td>{_fmt(m.get(c, math.nan))}</td>" for c in cols)
                   + "</tr>" for n, m in metrics.items())
    fact_rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items())
    imgs = "".join(f'<img alt="{html.escape(p.stem)}" src="data:image/png;base64,'
                   f'{base64.b64encode(p.read_bytes()).decode()}">' for p in images)
    note_items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:45%;margin:4px}</style>"
            f"</head><body><h1>{html.escape(title)}</h1><table>{fact_rows}</table>"
            f"<h2>Test months: model vs baselines</h2><table><tr><th>model</th>"
            + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + f"</tr>{rows}</table>"
            f"<h2>Notes</h2><ul>{note_items}</ul><h2>Plots</h2>{imgs}</body></html>")
