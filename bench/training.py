"""Training at scale and the served model's single-row latency.

1,000,000 simulated invoices: features + training + evaluation + MLflow logging
must finish in under 5 minutes on 2 cores. Then, for the served P(late) model
sizes considered (trees x depth), the test ROC-AUC and the single-row latency
(trained on a 150k-row sample of the training months) of ``predict_one`` (numpy forest, all five heads), the same via five
``inplace_predict`` calls (the named baseline), and ``explain_one`` (exact
TreeSHAP from per-leaf tables, :class:`training.forest.TreeShap`), p50/p99.

Usage: python bench/training.py [--customers 46300] [--months 24] [--json]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench._report import parser, report  # noqa: E402
from training.runs import train_and_log  # noqa: E402
from training.metrics import classification_metrics  # noqa: E402
from training.model import OUTPUTS, PaymentDelayModel  # noqa: E402
from training.pipeline import TrainConfig, build_dataset  # noqa: E402
from training.simulation import SimulationConfig, simulate  # noqa: E402

SIZES = ((50, 3), (100, 4), (200, 4), (200, 6))
SWEEP_ROWS = 150_000


def latency_us(fn, x_rows: np.ndarray, repeat: int = 2_000) -> tuple[float, float]:
    for x in x_rows[:50]:
        fn(x)
    times = np.empty(repeat)
    for i in range(repeat):
        x = x_rows[i % len(x_rows)]
        t0 = time.perf_counter()
        fn(x)
        times[i] = time.perf_counter() - t0
    return float(np.percentile(times, 50) * 1e6), float(np.percentile(times, 99) * 1e6)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--customers", type=int, default=46_300)
    p.add_argument("--months", type=int, default=24)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    figures: dict[str, float | int | str] = {}
    t0 = time.perf_counter()
    ledger = simulate(SimulationConfig(customers=args.customers, months=args.months, seed=args.seed))
    figures["invoices"] = len(ledger.invoices)
    figures["simulate_s"] = round(time.perf_counter() - t0, 2)
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        dataset = build_dataset(ledger, TrainConfig())
        figures["features_labels_split_s"] = round(time.perf_counter() - t1, 2)
        t2 = time.perf_counter()
        result, logged = train_and_log(dataset, TrainConfig(), f"sqlite:///{tmp}/mlflow.db", progress=False)
        figures["train_evaluate_log_s"] = round(time.perf_counter() - t2, 2)
    figures["pipeline_s (target < 300)"] = round(time.perf_counter() - t1, 2)
    for name in ("xgboost", "customer_mean", "logistic", "last_invoice"):
        figures[f"{name}.late.roc_auc"] = round(result.metrics[name]["late.roc_auc"], 4)
        figures[f"{name}.late.brier"] = round(result.metrics[name]["late.brier"], 4)

    print(f"pipeline: {figures}", flush=True)
    # Served-size sweep on a sample of the training rows (sizes are compared with each other, same rows).
    X = dataset.X
    rng = np.random.default_rng(args.seed)
    tr, va = dataset.rows("train"), dataset.rows("valid")
    tr &= rng.random(len(tr)) < SWEEP_ROWS / max(1, tr.sum())
    late_te = dataset.splits.mask("late", "test")
    rows = X[late_te].to_numpy(dtype=np.float64)[:1_000]
    y = dataset.labels["late"].to_numpy()[late_te]
    for trees, depth in SIZES:
        model = PaymentDelayModel(n_estimators=trees, max_depth=depth, early_stopping_rounds=trees).fit(
            X[tr], dataset.targets("train", tr), eval_set=(X[va], dataset.targets("valid", va)))
        key = f"{trees}x{depth}"
        figures[f"{key}.late.roc_auc"] = round(classification_metrics(y, model.predict(X[late_te])["p_late"])["roc_auc"], 4)
        p50, p99 = latency_us(model.predict_one, rows)
        figures[f"{key}.predict_one_us p50/p99"] = f"{p50:.0f}/{p99:.0f}"
        boosters = [model.boosters_[o] for o in OUTPUTS if model.boosters_[o] is not None]
        p50, p99 = latency_us(lambda x: [b.inplace_predict(x[None, :], predict_type="margin") for b in boosters], rows)
        figures[f"{key}.inplace_predict_x{len(boosters)}_us p50/p99"] = f"{p50:.0f}/{p99:.0f}"
        p50, p99 = latency_us(model.explain_one, rows)
        figures[f"{key}.explain_one_us p50/p99"] = f"{p50:.0f}/{p99:.0f}"
    report("training (1M invoices) and served-model latency", figures, args.json)


if __name__ == "__main__":
    main()
